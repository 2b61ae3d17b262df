// Sends the dashboard's cancel and retry forms to the API with fetch, so the
// operator stays on the job's page, where the API's own error message shows. The
// page's Content-Security-Policy forbids inline scripts and event handlers,
// which is why this file is served from the same origin instead.
//
// Without JavaScript the forms still post to the same API routes, and the
// browser shows the API's JSON response.
"use strict";

function showProblem(message) {
  const output = document.getElementById("action-problem");
  if (output) {
    output.textContent = message;
  }
}

async function describeFailure(response) {
  // The API's errors are {"error": {"message": ...}}; API Gateway's own
  // (missing authentication, throttling) are {"message": ...}.
  try {
    const body = await response.json();
    const message = (body && body.error && body.error.message) || (body && body.message);
    if (message) {
      return `${response.status}: ${message}`;
    }
  } catch (error) {
    // The body was not JSON; the status alone is reported below.
  }
  return `The request failed with HTTP status ${response.status}.`;
}

async function submitAction(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) {
    return;
  }

  const button = form.querySelector("button");
  button.disabled = true;
  showProblem("");
  try {
    const response = await fetch(form.action, {
      method: "POST",
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (response.ok) {
      window.location.assign(form.dataset.next);
      return;
    }
    showProblem(await describeFailure(response));
  } catch (error) {
    showProblem(`The request did not reach the API: ${error.message}`);
  }
  button.disabled = false;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-api-action]")) {
    form.addEventListener("submit", submitAction);
  }
});

"""The dashboard in headless Chromium, against the local stack on 127.0.0.1.

Playwright drives Debian's Chromium (``make browser`` installs it) at a
phone's viewport: the test loads the dashboard, filters the list, opens a
job, cancels it and retries it with the page's buttons, and checks the
database after each step. It also fails on any console error, which is
where Chromium reports a Content-Security-Policy violation.

Set ``DASHBOARD_SCREENSHOTS`` to a folder to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from jobqueue.enqueue import NewJob, enqueue
from tests.integration.helpers import job_row
from tests.local_stack import running_stack

CHROMIUM = Path("/usr/bin/chromium")
# A phone's CSS viewport (iPhone 12 to 15).
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(tmp_path: Path):
    """A Chromium page at phone size; collects console errors in ``page.console_errors``."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; run `make browser` (it installs Debian's chromium).")
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        pytest.fail("The playwright package is missing; run `make venv` to install requirements-dev.txt.")

    with sync_playwright() as playwright:
        # A persistent context because Chromium's --user-data-dir may only be set this way in Playwright.
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("DASHBOARD_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def fits_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_dashboard_in_chromium(database, conn, browser_page, tmp_path: Path) -> None:
    page = browser_page
    notifications = [
        enqueue(conn, NewJob("NOTIFICATION", {"incidentId": "inc_1", "userId": f"u_{n}", "channel": "EMAIL",
                                              "message": "CPU <high>"}, delay_seconds=3600)).id
        for n in range(3)
    ]
    escalation = enqueue(conn, NewJob("ESCALATION", {"incidentId": "inc_1", "stepIndex": 0}, delay_seconds=3600)).id
    failed = enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"})).id
    conn.execute(
        """UPDATE "BackgroundJob" SET status = 'FAILED', attempts = 3, error = 'task raised ValueError: bad input',
               "failedAt" = now() AT TIME ZONE 'UTC' WHERE id = %s""",
        (failed,),
    )

    with running_stack(database) as stack:
        # The overview: statistics and every job, readable without sideways scrolling.
        page.goto(f"{stack.url}/dashboard")
        assert page.title() == "Job queue"
        assert page.locator(".counts a", has_text="PENDING").inner_text().split() == ["PENDING", "4"]
        assert page.locator("table.jobs tbody tr").count() == 5
        assert fits_width(page)
        screenshot(page, tmp_path, "dashboard-phone")

        # Filter: pending notifications only.
        page.select_option("select[name=status]", "PENDING")
        page.select_option("select[name=type]", "NOTIFICATION")
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard?status=PENDING&type=NOTIFICATION*")
        listed = page.locator("table.jobs td.id code").all_inner_texts()
        assert sorted(listed) == sorted(notifications)
        assert escalation not in page.content()

        # One job: its payload, escaped, and a cancel button.
        target = listed[0]
        page.click(f"text={target}")
        page.wait_for_url(f"**/dashboard/jobs/{target}")
        assert page.locator("h1").inner_text() == f"Job {target}"
        assert '"message": "CPU <high>"' in page.locator("pre").first.inner_text()
        assert fits_width(page)
        screenshot(page, tmp_path, "job-phone")

        # Cancel through the API, confirming the browser's dialog.
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("text=Cancel job")
        page.wait_for_url("**?notice=cancelled")
        assert page.locator(".notice").inner_text() == "The job was cancelled."
        assert page.locator(".fields .status").inner_text() == "CANCELLED"
        assert job_row(conn, target)["status"] == "CANCELLED"
        assert job_row(conn, notifications[1] if target != notifications[1] else notifications[0])["status"] == "PENDING"

        # A dismissed dialog sends nothing.
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click("text=Retry job")
        page.wait_for_timeout(500)
        assert job_row(conn, target)["status"] == "CANCELLED"

        # Retry the cancelled job.
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("text=Retry job")
        page.wait_for_url("**?notice=retried")
        assert job_row(conn, target)["status"] == "PENDING"

        assert page.console_errors == []

        # The failed job shows its error, and the API's refusal shows on the page.
        page.goto(f"{stack.url}/dashboard/jobs/{failed}")
        assert "task raised ValueError: bad input" in page.locator("pre").nth(1).inner_text()
        conn.execute("""UPDATE "BackgroundJob" SET status = 'COMPLETED' WHERE id = %s""", (failed,))
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("text=Retry job")
        page.wait_for_selector("#action-problem:not(:empty)")
        assert page.locator("#action-problem").inner_text().startswith("409: ")
        screenshot(page, tmp_path, "job-problem-phone")
        # Chromium reports the 409 response itself on the console, and nothing else may appear.
        assert [error for error in page.console_errors if "409" not in error] == []
        page.console_errors.clear()

        # Back to the list at desktop width.
        page.set_viewport_size({"width": 1280, "height": 800})
        page.click("text=All jobs")
        page.wait_for_url("**/dashboard")
        screenshot(page, tmp_path, "dashboard-desktop")

    assert page.console_errors == []

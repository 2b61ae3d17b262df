"""ESCALATION jobs: notify one step's targets of an open incident, then schedule the next step.

Payload: ``{"incidentId": str, "stepIndex": int}``.

The incident row stays locked (``FOR UPDATE``) until the job's transaction
commits, so an acknowledgement made meanwhile waits for this job, and a
job that runs after the acknowledgement reads it and notifies no one. The
NOTIFICATION jobs, the incident event, the incident's step and the next
ESCALATION job are written in the job's transaction: they all commit
with the job's completion, or none of them does.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from jobqueue import incident_jobs
from jobqueue.enqueue import NewJob
from jobqueue.errors import PermanentError
from jobqueue.jobs import Job
from jobqueue.outcomes import Cancel, Complete, JobContext, Outcome
from jobqueue.sql import queries
from jobqueue.states import JobType

SECONDS_PER_MINUTE = 60


@dataclass(frozen=True)
class _Step:
    incident_id: str
    step_index: int


def handle(job: Job, ctx: JobContext) -> Outcome | None:
    """Notify the targets of escalation step ``stepIndex`` unless the incident left OPEN.

    Returns ``Cancel`` when the incident does not exist, a ``Complete``
    whose result names why nothing was sent when the incident is not OPEN
    or its policy has no rule at this step, and otherwise
    ``Complete({"notified": n, "nextStep": k or None})``.
    """
    step = _read_payload(job.payload)

    incident = ctx.conn.execute(queries["lock_incident"], {"incident_id": step.incident_id}).fetchone()
    if incident is None:
        ctx.logger.warning(
            "escalation cancelled: incident not found", action="incident_not_found", incident_id=step.incident_id
        )
        return Cancel(f"incident {step.incident_id!r} not found")
    if incident["status"] != "OPEN":
        ctx.logger.info(
            "escalation skipped: incident is not open",
            action="escalation_skipped",
            incident_id=step.incident_id,
            incident_status=incident["status"],
        )
        return Complete(result={"skipped": f"incident is {incident['status']}"})

    policy_id = incident["incident_policy_id"] or incident["service_policy_id"]
    rules = []
    if policy_id is not None:
        rules = ctx.conn.execute(
            queries["list_escalation_rules"],
            {"policy_id": policy_id, "step_index": step.step_index, "next_step_index": step.step_index + 1},
        ).fetchall()
    step_rules = [rule for rule in rules if rule["step_index"] == step.step_index]
    next_rules = [rule for rule in rules if rule["step_index"] == step.step_index + 1]
    if not step_rules:
        ctx.logger.info(
            "escalation policy exhausted",
            action="escalation_exhausted",
            incident_id=step.incident_id,
            policy_id=policy_id,
            step_index=step.step_index,
        )
        return Complete(result={"skipped": "policy exhausted", "policyId": policy_id})

    recipients = _recipients(ctx, step_rules)
    if not recipients:
        ctx.logger.warning(
            "escalation step has no one to notify: its rules target no user, or only empty teams",
            action="escalation_no_targets",
            incident_id=step.incident_id,
            policy_id=policy_id,
            step_index=step.step_index,
        )
    message = _message(incident, step.step_index)
    ctx.enqueue_many(
        [
            NewJob(
                JobType.NOTIFICATION,
                {
                    "incidentId": step.incident_id,
                    "userId": user_id,
                    "channel": channel,
                    "message": message,
                    # The policy chose these channels, so the NOTIFICATION job ignores the user's preferences.
                    "source": "escalation",
                },
                dedup_key=f"escalation:{step.incident_id}:{step.step_index}:{user_id}:{channel}",
            )
            for user_id, channel in recipients
        ]
    )

    user_ids = list(dict.fromkeys(user_id for user_id, _ in recipients))
    channels = list(dict.fromkeys(channel for _, channel in recipients))
    ctx.conn.execute(
        queries["insert_incident_event"],
        {
            "id": str(uuid.uuid4()),
            "incident_id": step.incident_id,
            "type": "ESCALATED",
            "message": message,
            "data": json.dumps(
                {"step": step.step_index, "policyId": policy_id, "userIds": user_ids, "channels": channels}
            ),
        },
    )
    ctx.conn.execute(
        queries["set_incident_escalation_step"], {"incident_id": step.incident_id, "step_index": step.step_index}
    )

    next_step = None
    if next_rules:
        next_step = step.step_index + 1
        # Several rules may share a step, and the step starts when its earliest rule is due.
        delay_minutes = min(rule["delay_minutes"] for rule in next_rules)
        incident_jobs.schedule_escalation(
            ctx.conn,
            step.incident_id,
            next_step,
            delay_seconds=max(delay_minutes, 0) * SECONDS_PER_MINUTE,
            max_payload_bytes=ctx.settings.max_payload_bytes,
        )

    ctx.logger.info(
        "incident escalated",
        action="incident_escalated",
        incident_id=step.incident_id,
        policy_id=policy_id,
        step_index=step.step_index,
        notifications=len(recipients),
        next_step=next_step,
    )
    return Complete(result={"notified": len(recipients), "nextStep": next_step})


def _read_payload(payload: Any) -> _Step:
    if not isinstance(payload, dict):
        raise PermanentError(f"payload must be a JSON object, got {type(payload).__name__}")
    incident_id = payload.get("incidentId")
    if not isinstance(incident_id, str) or not incident_id.strip():
        raise PermanentError(f"payload.incidentId must be a non-empty string, got {incident_id!r}")
    step_index = payload.get("stepIndex")
    if isinstance(step_index, bool) or not isinstance(step_index, int) or step_index < 0:
        raise PermanentError(f"payload.stepIndex must be a whole number >= 0, got {step_index!r}")
    return _Step(incident_id, step_index)


def _recipients(ctx: JobContext, rules: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Return the (user id, channel) pairs the step's rules name, each pair once, in rule order."""
    team_ids = [rule["target_id"] for rule in rules if rule["target_type"] == "TEAM"]
    members: dict[str, list[str]] = {}
    if team_ids:
        for row in ctx.conn.execute(queries["list_team_member_ids"], {"team_ids": team_ids}):
            members.setdefault(row["team_id"], []).append(row["user_id"])

    pairs: dict[tuple[str, str], None] = {}
    for rule in rules:
        if rule["target_type"] == "USER":
            user_ids = [rule["target_id"]]
        elif rule["target_type"] == "TEAM":
            user_ids = members.get(rule["target_id"], [])
        else:
            ctx.logger.warning(
                "escalation rule skipped: its target type is neither USER nor TEAM",
                action="escalation_rule_skipped",
                rule_id=rule["id"],
                target_type=rule["target_type"],
            )
            continue
        for user_id in user_ids:
            for channel in rule["channels"] or []:
                pairs[(user_id, channel)] = None
    return list(pairs)


def _message(incident: dict[str, Any], step_index: int) -> str:
    service = f" (service {incident['service_name']})" if incident["service_name"] else ""
    return f"[{incident['urgency']}] {incident['title']}{service} is unacknowledged: escalation step {step_index}"

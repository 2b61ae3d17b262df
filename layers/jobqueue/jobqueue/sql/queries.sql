-- Every SQL statement of the job queue.
--
-- Format: a "-- name: <name>" line, a one-line "--" purpose, then the
-- statement with %(param)s placeholders. Names start with a verb.
--
-- Time: the queue's columns are timestamp(3) holding UTC, as the
-- application's ORM creates them. Every statement takes "now" from the
-- database clock as now() AT TIME ZONE 'UTC' and converts timestamptz
-- parameters the same way, so neither the session's time zone nor the
-- caller's clock changes a due time.
--
-- Fencing: a statement that records a run's outcome matches the job's
-- status, lease owner and attempt number. A processor whose lease expired
-- therefore changes nothing and learns it from the empty RETURNING.

-- name: enqueue_job
-- Insert one job, or return the active job that has the same deduplication key.
SELECT job_id, created
FROM jobqueue_enqueue(
    p_type => %(type)s::"JobType",
    p_payload => %(payload)s::jsonb,
    p_run_at => %(run_at)s::timestamptz,
    p_delay_seconds => %(delay_seconds)s::float8,
    p_max_attempts => %(max_attempts)s::integer,
    p_priority => %(priority)s::integer,
    p_dedup_key => %(dedup_key)s::text
);

-- name: enqueue_jobs
-- Insert many jobs in one statement; rows whose deduplication key is taken are skipped.
INSERT INTO "BackgroundJob" AS job (
    id, type, status, payload, "scheduledAt", attempts, "maxAttempts",
    priority, "dedupKey", "errorHistory", "createdAt", "updatedAt"
)
SELECT
    item.id,
    item.type::"JobType",
    'PENDING',
    item.payload::jsonb,
    coalesce(
        item.run_at AT TIME ZONE 'UTC',
        (now() AT TIME ZONE 'UTC') + make_interval(secs => item.delay_seconds)
    ),
    0,
    item.max_attempts,
    item.priority,
    item.dedup_key,
    '[]'::jsonb,
    now() AT TIME ZONE 'UTC',
    now() AT TIME ZONE 'UTC'
FROM unnest(
    %(ids)s::text[], %(types)s::text[], %(payloads)s::text[], %(run_ats)s::timestamptz[],
    %(delays)s::float8[], %(max_attempts)s::integer[], %(priorities)s::integer[], %(dedup_keys)s::text[]
) WITH ORDINALITY AS item(id, type, payload, run_at, delay_seconds, max_attempts, priority, dedup_key, position)
ORDER BY item.position
ON CONFLICT ("dedupKey") WHERE "dedupKey" IS NOT NULL AND status IN ('PENDING', 'PROCESSING')
DO NOTHING
RETURNING job.id;

-- name: find_active_jobs_by_dedup_keys
-- Return the id of the active (PENDING or PROCESSING) job for each deduplication key.
SELECT id, "dedupKey" AS dedup_key
FROM "BackgroundJob"
WHERE "dedupKey" = ANY(%(dedup_keys)s::text[])
  AND status IN ('PENDING', 'PROCESSING');

-- name: claim_due_jobs
-- Claim up to a batch of due PENDING jobs, highest priority then oldest first (see jobqueue_claim).
SELECT *
FROM jobqueue_claim(
    p_owner => %(owner)s::text,
    p_limit => %(limit)s::integer,
    p_lease_seconds => %(lease_seconds)s::float8,
    p_types => %(types)s::"JobType"[]
);

-- name: complete_job
-- Mark one leased job COMPLETED with its result.
UPDATE "BackgroundJob"
SET status = 'COMPLETED',
    "completedAt" = now() AT TIME ZONE 'UTC',
    "leaseExpiresAt" = NULL,
    result = %(result)s::jsonb,
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(id)s AND status = 'PROCESSING' AND "leaseOwner" = %(owner)s AND attempts = %(attempt)s
RETURNING id;

-- name: complete_jobs
-- Mark many leased jobs COMPLETED in one statement; returns the ids it changed.
UPDATE "BackgroundJob" AS job
SET status = 'COMPLETED',
    "completedAt" = now() AT TIME ZONE 'UTC',
    "leaseExpiresAt" = NULL,
    result = done.result::jsonb,
    "updatedAt" = now() AT TIME ZONE 'UTC'
FROM unnest(%(ids)s::text[], %(attempts)s::integer[], %(results)s::text[]) AS done(id, attempt, result)
WHERE job.id = done.id
  AND job.status = 'PROCESSING'
  AND job."leaseOwner" = %(owner)s
  AND job.attempts = done.attempt
RETURNING job.id;

-- name: schedule_retry
-- Return a leased job to PENDING after a delay, recording the attempt's error.
UPDATE "BackgroundJob"
SET status = 'PENDING',
    "scheduledAt" = (now() AT TIME ZONE 'UTC') + make_interval(secs => %(delay_seconds)s),
    "leaseExpiresAt" = NULL,
    error = %(error)s,
    "errorHistory" = "errorHistory" || jsonb_build_array(jsonb_build_object(
        'attempt', attempts, 'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'kind', %(kind)s::text, 'error', %(error)s::text)),
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(id)s AND status = 'PROCESSING' AND "leaseOwner" = %(owner)s AND attempts = %(attempt)s
RETURNING id;

-- name: fail_job
-- Mark a leased job FAILED for good, recording the attempt's error.
UPDATE "BackgroundJob"
SET status = 'FAILED',
    "failedAt" = now() AT TIME ZONE 'UTC',
    "leaseExpiresAt" = NULL,
    error = %(error)s,
    "errorHistory" = "errorHistory" || jsonb_build_array(jsonb_build_object(
        'attempt', attempts, 'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'kind', %(kind)s::text, 'error', %(error)s::text)),
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(id)s AND status = 'PROCESSING' AND "leaseOwner" = %(owner)s AND attempts = %(attempt)s
RETURNING id;

-- name: cancel_leased_job
-- Mark a leased job CANCELLED because its handler decided it has nothing left to do.
UPDATE "BackgroundJob"
SET status = 'CANCELLED',
    "completedAt" = now() AT TIME ZONE 'UTC',
    "leaseExpiresAt" = NULL,
    result = jsonb_build_object('cancelled', %(reason)s::text),
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(id)s AND status = 'PROCESSING' AND "leaseOwner" = %(owner)s AND attempts = %(attempt)s
RETURNING id;

-- name: snooze_job
-- Return a leased job to PENDING at a new time without spending its attempt.
UPDATE "BackgroundJob"
SET status = 'PENDING',
    attempts = attempts - 1,
    "scheduledAt" = greatest(%(run_at)s::timestamptz AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'),
    "leaseExpiresAt" = NULL,
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(id)s AND status = 'PROCESSING' AND "leaseOwner" = %(owner)s AND attempts = %(attempt)s
RETURNING id;

-- name: release_jobs
-- Hand back leased jobs that were claimed but never started, without spending an attempt.
UPDATE "BackgroundJob" AS job
SET status = 'PENDING',
    attempts = job.attempts - 1,
    "leaseExpiresAt" = NULL,
    "updatedAt" = now() AT TIME ZONE 'UTC'
FROM unnest(%(ids)s::text[], %(attempts)s::integer[]) AS held(id, attempt)
WHERE job.id = held.id
  AND job.status = 'PROCESSING'
  AND job."leaseOwner" = %(owner)s
  AND job.attempts = held.attempt
RETURNING job.id;

-- name: rescue_expired_leases
-- Return up to a batch of PROCESSING jobs whose lease expired: to PENDING, or FAILED on the last attempt.
WITH expired AS (
    SELECT id
    FROM "BackgroundJob"
    WHERE status = 'PROCESSING'
      AND coalesce(
            "leaseExpiresAt",
            "startedAt" + make_interval(secs => %(default_lease_seconds)s),
            "updatedAt" + make_interval(secs => %(default_lease_seconds)s)
          ) < now() AT TIME ZONE 'UTC'
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE "BackgroundJob" AS job
SET status = CASE WHEN job.attempts >= job."maxAttempts" THEN 'FAILED' ELSE 'PENDING' END::"JobStatus",
    "failedAt" = CASE WHEN job.attempts >= job."maxAttempts" THEN now() AT TIME ZONE 'UTC' ELSE job."failedAt" END,
    "scheduledAt" = CASE WHEN job.attempts >= job."maxAttempts" THEN job."scheduledAt" ELSE now() AT TIME ZONE 'UTC' END,
    "leaseExpiresAt" = NULL,
    error = %(error)s,
    "errorHistory" = job."errorHistory" || jsonb_build_array(jsonb_build_object(
        'attempt', job.attempts, 'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'kind', 'lease_expired', 'error', %(error)s::text, 'owner', job."leaseOwner")),
    "updatedAt" = now() AT TIME ZONE 'UTC'
FROM expired
WHERE job.id = expired.id
RETURNING job.id, job.status, job.type, job.attempts, job."leaseOwner" AS lease_owner;

-- name: get_job
-- Return one job by id.
SELECT * FROM "BackgroundJob" WHERE id = %(id)s;

-- name: list_jobs
-- Return a page of jobs, newest first, after an optional keyset cursor (createdAt, id).
SELECT *
FROM "BackgroundJob"
WHERE (%(status)s::"JobStatus" IS NULL OR status = %(status)s::"JobStatus")
  AND (%(type)s::"JobType" IS NULL OR type = %(type)s::"JobType")
  AND (
        %(after_created_at)s::timestamp IS NULL
        OR ("createdAt", id) < (%(after_created_at)s::timestamp, %(after_id)s::text)
      )
ORDER BY "createdAt" DESC, id DESC
LIMIT %(limit)s;

-- name: cancel_job
-- Cancel one PENDING job; returns nothing when the job is missing or not PENDING.
UPDATE "BackgroundJob"
SET status = 'CANCELLED',
    "completedAt" = now() AT TIME ZONE 'UTC',
    result = jsonb_build_object('cancelled', %(reason)s::text),
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(id)s AND status = 'PENDING'
RETURNING *;

-- name: cancel_jobs_by_dedup_key
-- Cancel the PENDING job that has a deduplication key.
UPDATE "BackgroundJob"
SET status = 'CANCELLED',
    "completedAt" = now() AT TIME ZONE 'UTC',
    result = jsonb_build_object('cancelled', %(reason)s::text),
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE "dedupKey" = %(dedup_key)s AND status = 'PENDING'
RETURNING *;

-- name: retry_job
-- Return a FAILED or CANCELLED job to PENDING, due now, with its attempts reset.
UPDATE "BackgroundJob"
SET status = 'PENDING',
    attempts = 0,
    "scheduledAt" = now() AT TIME ZONE 'UTC',
    "failedAt" = NULL,
    "completedAt" = NULL,
    "leaseExpiresAt" = NULL,
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(id)s AND status IN ('FAILED', 'CANCELLED')
RETURNING *;

-- name: count_jobs_by_type_and_status
-- Count jobs for each (type, status) pair from the maintained counts and their pending deltas.
SELECT type, status, sum(count)::bigint AS count
FROM (
    SELECT type, status, count FROM "_jobqueue_counts"
    UNION ALL
    SELECT type, status, delta FROM "_jobqueue_count_deltas"
) AS counts
GROUP BY type, status
HAVING sum(count) <> 0;

-- name: fold_count_deltas
-- Move the pending count deltas into the maintained counts, in one statement.
WITH folded AS (
    DELETE FROM "_jobqueue_count_deltas" RETURNING type, status, delta
)
INSERT INTO "_jobqueue_counts" AS counts (type, status, count)
SELECT type, status, sum(delta) FROM folded GROUP BY type, status ORDER BY type, status
ON CONFLICT (type, status) DO UPDATE SET count = counts.count + excluded.count;

-- name: get_oldest_due_job_age
-- Return the age in seconds of the oldest due PENDING job, or NULL when none is due.
SELECT extract(epoch FROM (now() AT TIME ZONE 'UTC') - min("scheduledAt"))::float8 AS age_seconds
FROM "BackgroundJob"
WHERE status = 'PENDING' AND "scheduledAt" <= now() AT TIME ZONE 'UTC';

-- name: count_active_jobs
-- Count PENDING jobs (all and due now) and PROCESSING jobs, and the oldest due job's age, reading only active rows.
SELECT
    count(*) FILTER (WHERE status = 'PENDING') AS pending,
    count(*) FILTER (WHERE status = 'PENDING' AND "scheduledAt" <= now() AT TIME ZONE 'UTC') AS due,
    count(*) FILTER (WHERE status = 'PROCESSING') AS processing,
    extract(epoch FROM (now() AT TIME ZONE 'UTC') - min("scheduledAt") FILTER (
        WHERE status = 'PENDING' AND "scheduledAt" <= now() AT TIME ZONE 'UTC'
    ))::float8 AS oldest_due_age_seconds
FROM "BackgroundJob"
WHERE status IN ('PENDING', 'PROCESSING');

-- name: delete_finished_jobs
-- Delete up to a batch of COMPLETED or CANCELLED jobs that finished before the cutoff.
WITH doomed AS (
    SELECT id
    FROM "BackgroundJob"
    WHERE status IN ('COMPLETED', 'CANCELLED')
      AND coalesce("completedAt", "updatedAt") < (now() AT TIME ZONE 'UTC') - make_interval(days => %(retention_days)s)
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM "BackgroundJob" AS job
USING doomed
WHERE job.id = doomed.id;

-- name: delete_failed_jobs
-- Delete up to a batch of FAILED jobs that failed before the cutoff.
WITH doomed AS (
    SELECT id
    FROM "BackgroundJob"
    WHERE status = 'FAILED'
      AND coalesce("failedAt", "updatedAt") < (now() AT TIME ZONE 'UTC') - make_interval(days => %(retention_days)s)
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM "BackgroundJob" AS job
USING doomed
WHERE job.id = doomed.id;

-- name: lock_migrations
-- Serialize migration runs across processes with a session advisory lock.
SELECT pg_advisory_lock(%(key)s);

-- name: unlock_migrations
-- Release the migration advisory lock.
SELECT pg_advisory_unlock(%(key)s);

-- name: create_migrations_table
-- Create the table that records applied migrations.
CREATE TABLE IF NOT EXISTS "_jobqueue_migrations" (
    name text PRIMARY KEY,
    "appliedAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- name: find_migrations_table
-- Return whether the table that records applied migrations exists.
SELECT to_regclass('"_jobqueue_migrations"') IS NOT NULL AS present;

-- name: list_applied_migrations
-- Return the names of the migrations already applied.
SELECT name FROM "_jobqueue_migrations" ORDER BY name;

-- name: record_migration
-- Record one applied migration.
INSERT INTO "_jobqueue_migrations" (name) VALUES (%(name)s);

-- Incident domain: statements the job handlers run.
--
-- These tables belong to the application, whose ORM may declare status,
-- type and channel columns as enums and fills ids itself. So the handlers
-- pass every id, write status values as literals or untyped parameters,
-- and read enum columns back as text.

-- name: lock_incident
-- Lock one incident until the job's transaction ends, and return it with its service and snooze state.
SELECT
    incident.id,
    incident.title,
    incident.status::text AS status,
    incident.urgency::text AS urgency,
    incident."escalationPolicyId" AS incident_policy_id,
    incident."snoozedUntil" AS snoozed_until,
    coalesce(incident."snoozedUntil" > now() AT TIME ZONE 'UTC', false) AS snooze_pending,
    service.name AS service_name,
    service."escalationPolicyId" AS service_policy_id
FROM "Incident" AS incident
LEFT JOIN "Service" AS service ON service.id = incident."serviceId"
WHERE incident.id = %(incident_id)s
FOR UPDATE OF incident;

-- name: get_incident_summary
-- Return one incident with its service's name, without locking it.
SELECT
    incident.id,
    incident.title,
    incident.status::text AS status,
    incident.urgency::text AS urgency,
    service.name AS service_name
FROM "Incident" AS incident
LEFT JOIN "Service" AS service ON service.id = incident."serviceId"
WHERE incident.id = %(incident_id)s;

-- name: list_escalation_rules
-- Return a policy's rules at one step and at the step after it, step first.
SELECT
    id,
    "stepIndex" AS step_index,
    "delayMinutes" AS delay_minutes,
    "targetType"::text AS target_type,
    "targetId" AS target_id,
    channels::text[] AS channels
FROM "EscalationRule"
WHERE "policyId" = %(policy_id)s
  AND "stepIndex" IN (%(step_index)s, %(next_step_index)s)
ORDER BY "stepIndex", id;

-- name: list_team_member_ids
-- Return the user ids of the members of the given teams.
SELECT "teamId" AS team_id, "userId" AS user_id
FROM "TeamMember"
WHERE "teamId" = ANY(%(team_ids)s::text[])
ORDER BY "teamId", "userId";

-- name: insert_incident_event
-- Add one entry to an incident's event log.
INSERT INTO "IncidentEvent" (id, "incidentId", type, message, data, "createdAt")
VALUES (%(id)s, %(incident_id)s, %(type)s, %(message)s, %(data)s::jsonb, now() AT TIME ZONE 'UTC');

-- name: set_incident_escalation_step
-- Record the escalation step an incident has reached.
UPDATE "Incident"
SET "currentEscalationStep" = %(step_index)s,
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(incident_id)s;

-- name: reopen_snoozed_incident
-- Return a SNOOZED incident to OPEN and clear its snooze deadline.
UPDATE "Incident"
SET status = 'OPEN',
    "snoozedUntil" = NULL,
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(incident_id)s AND status = 'SNOOZED'
RETURNING id;

-- name: get_user_contact
-- Return the user a notification goes to, with the contact details and channel preferences transports need.
SELECT
    id,
    name,
    email,
    phone,
    "emailEnabled" AS email_enabled,
    "smsEnabled" AS sms_enabled,
    "pushEnabled" AS push_enabled
FROM "User"
WHERE id = %(user_id)s;

-- name: find_sent_notification
-- Return the SENT notification a job already recorded, if any.
SELECT id, "providerMessageId" AS provider_message_id
FROM "Notification"
WHERE "jobId" = %(job_id)s AND status = 'SENT'
LIMIT 1;

-- name: insert_notification
-- Add one entry to the notification log, stamping sentAt when the entry records a send.
INSERT INTO "Notification" (
    id, "incidentId", "userId", channel, message, status, "jobId",
    "providerMessageId", error, "createdAt", "updatedAt", "sentAt"
)
VALUES (
    %(id)s, %(incident_id)s, %(user_id)s, %(channel)s, %(message)s, %(status)s, %(job_id)s,
    %(provider_message_id)s, %(error)s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC',
    CASE WHEN %(sent)s::boolean THEN now() AT TIME ZONE 'UTC' END
);

-- name: cancel_pending_escalations
-- Cancel an incident's PENDING escalation steps, before its escalation restarts at step 0.
UPDATE "BackgroundJob"
SET status = 'CANCELLED',
    "completedAt" = now() AT TIME ZONE 'UTC',
    result = jsonb_build_object('cancelled', %(reason)s::text),
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE type = 'ESCALATION' AND status = 'PENDING' AND payload->>'incidentId' = %(incident_id)s
RETURNING id;

-- Notification delivery: the log row's moves, device endpoints and webhooks.
--
-- A NOTIFICATION job keeps one log row, found by its job id. The row moves
-- SENDING (committed on its own before the provider is called) -> SENT,
-- FAILED, or RETRYING (the attempt failed and the job will run again).

-- name: find_latest_notification
-- Return a job's newest notification log row, if any.
SELECT id, status::text AS status, "providerMessageId" AS provider_message_id
FROM "Notification"
WHERE "jobId" = %(job_id)s
ORDER BY "createdAt" DESC, id DESC
LIMIT 1;

-- name: update_notification
-- Move one notification log row to a new status, stamping sentAt when it records a send.
UPDATE "Notification"
SET status = %(status)s,
    "userId" = %(user_id)s,
    "providerMessageId" = %(provider_message_id)s,
    error = %(error)s,
    "updatedAt" = now() AT TIME ZONE 'UTC',
    "sentAt" = CASE WHEN %(sent)s::boolean THEN now() AT TIME ZONE 'UTC' END
WHERE id = %(id)s;

-- name: list_enabled_user_devices
-- Return a user's enabled push devices, oldest first.
SELECT id, "endpointArn" AS endpoint_arn, platform
FROM "UserDevice"
WHERE "userId" = %(user_id)s AND enabled
ORDER BY "createdAt", id;

-- name: disable_user_device
-- Disable one push device with the reason SNS gave, so later notifications skip it.
UPDATE "UserDevice"
SET enabled = false,
    "disabledReason" = %(reason)s,
    "updatedAt" = now() AT TIME ZONE 'UTC'
WHERE id = %(id)s AND enabled
RETURNING id;

-- name: get_user_webhook
-- Return a user's webhook for one channel (WEBHOOK or SLACK), if any.
SELECT id, url, enabled
FROM "Webhook"
WHERE "userId" = %(user_id)s AND channel = %(channel)s;

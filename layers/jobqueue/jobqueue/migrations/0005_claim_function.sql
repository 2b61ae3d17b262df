-- jobqueue_claim: claim up to p_limit due PENDING jobs for p_owner.
--
-- The claim lives in a function so that it can carry its own planner
-- settings without changing the session's (a session SET would pin the
-- connection in RDS Proxy). Right after a burst of enqueues the table's
-- statistics are stale, and the planner then sorts every due job to take
-- the first few. With sorting off it walks "BackgroundJob_claim_idx" in
-- order instead, so a claim costs the same with 50 or 500,000 due jobs.

CREATE OR REPLACE FUNCTION jobqueue_claim(
    p_owner text,
    p_limit integer,
    p_lease_seconds double precision,
    p_types "JobType"[] DEFAULT NULL
) RETURNS SETOF "BackgroundJob"
LANGUAGE sql
SET enable_sort = off
SET enable_bitmapscan = off
AS $$
    WITH due AS (
        SELECT id
        FROM "BackgroundJob"
        WHERE status = 'PENDING'
          AND "scheduledAt" <= now() AT TIME ZONE 'UTC'
          AND (p_types IS NULL OR type = ANY(p_types))
        ORDER BY priority DESC, "scheduledAt", id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE "BackgroundJob" AS job
    SET status = 'PROCESSING',
        attempts = job.attempts + 1,
        "startedAt" = now() AT TIME ZONE 'UTC',
        "leaseOwner" = p_owner,
        "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') + make_interval(secs => p_lease_seconds),
        "updatedAt" = now() AT TIME ZONE 'UTC'
    FROM due
    WHERE job.id = due.id
    RETURNING job.*;
$$;

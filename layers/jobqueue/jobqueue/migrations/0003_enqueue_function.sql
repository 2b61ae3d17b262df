-- jobqueue_enqueue: enqueue a job from SQL, inside the caller's own
-- transaction, from any language. Returns the job's id and whether this
-- call created it (false: an active job with the same deduplication key
-- already exists, and its id is returned).
--
--   SELECT * FROM jobqueue_enqueue('NOTIFICATION', '{"incidentId": "i1"}', p_delay_seconds => 30);

CREATE OR REPLACE FUNCTION jobqueue_enqueue(
    p_type "JobType",
    p_payload jsonb,
    p_run_at timestamptz DEFAULT NULL,
    p_delay_seconds double precision DEFAULT 0,
    p_max_attempts integer DEFAULT 3,
    p_priority integer DEFAULT 0,
    p_dedup_key text DEFAULT NULL
) RETURNS TABLE (job_id text, created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    new_id text;
    utc_now timestamp(3) := now() AT TIME ZONE 'UTC';
BEGIN
    IF p_payload IS NULL OR jsonb_typeof(p_payload) <> 'object' THEN
        RAISE EXCEPTION 'payload must be a JSON object, got %', coalesce(jsonb_typeof(p_payload), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_max_attempts IS NULL OR p_max_attempts < 1 THEN
        RAISE EXCEPTION 'maxAttempts must be at least 1, got %', p_max_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_delay_seconds IS NULL OR p_delay_seconds < 0 OR p_delay_seconds = 'NaN'::float8 THEN
        RAISE EXCEPTION 'delay must be a number of seconds >= 0, got %', p_delay_seconds
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The loop ends on the first pass unless the active job holding the
    -- key finished between the INSERT and the SELECT; then insert again.
    LOOP
        INSERT INTO "BackgroundJob" AS job (
            id, type, status, payload, "scheduledAt", attempts, "maxAttempts",
            priority, "dedupKey", "errorHistory", "createdAt", "updatedAt"
        ) VALUES (
            gen_random_uuid()::text, p_type, 'PENDING', p_payload,
            coalesce(p_run_at AT TIME ZONE 'UTC', utc_now + make_interval(secs => p_delay_seconds)),
            0, p_max_attempts, coalesce(p_priority, 0), p_dedup_key, '[]'::jsonb, utc_now, utc_now
        )
        ON CONFLICT ("dedupKey") WHERE "dedupKey" IS NOT NULL AND status IN ('PENDING', 'PROCESSING')
        DO NOTHING
        RETURNING job.id INTO new_id;

        IF new_id IS NOT NULL THEN
            job_id := new_id;
            created := true;
            RETURN NEXT;
            RETURN;
        END IF;

        SELECT existing.id INTO new_id
        FROM "BackgroundJob" AS existing
        WHERE existing."dedupKey" = p_dedup_key AND existing.status IN ('PENDING', 'PROCESSING');

        IF new_id IS NOT NULL THEN
            job_id := new_id;
            created := false;
            RETURN NEXT;
            RETURN;
        END IF;
    END LOOP;
END
$$;

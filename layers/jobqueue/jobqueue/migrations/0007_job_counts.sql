-- Job counts by type and status that stay cheap with millions of finished
-- jobs. Counting "BackgroundJob" itself reads every row. Instead, a
-- statement-level trigger appends one delta row per (type, status) that a
-- statement changed to "_jobqueue_count_deltas". Appending never waits on
-- a lock, so concurrent processors do not serialize on a shared counter.
-- The processor folds the deltas into "_jobqueue_counts" at the start of
-- each run; statistics add the two tables. The triggers also count the
-- application's own writes.

CREATE TABLE IF NOT EXISTS "_jobqueue_counts" (
    type "JobType" NOT NULL,
    status "JobStatus" NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (type, status)
);

CREATE TABLE IF NOT EXISTS "_jobqueue_count_deltas" (
    type "JobType" NOT NULL,
    status "JobStatus" NOT NULL,
    delta bigint NOT NULL
);

CREATE OR REPLACE FUNCTION jobqueue_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "_jobqueue_count_deltas" (type, status, delta)
    SELECT type, status, count(*) FROM new_rows GROUP BY type, status;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION jobqueue_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "_jobqueue_count_deltas" (type, status, delta)
    SELECT type, status, sum(delta)
    FROM (
        SELECT type, status, 1 AS delta FROM new_rows
        UNION ALL
        SELECT type, status, -1 FROM old_rows
    ) AS changes
    GROUP BY type, status
    HAVING sum(delta) <> 0;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION jobqueue_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "_jobqueue_count_deltas" (type, status, delta)
    SELECT type, status, -count(*) FROM old_rows GROUP BY type, status;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION jobqueue_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM "_jobqueue_count_deltas";
    DELETE FROM "_jobqueue_counts";
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS jobqueue_count_inserted ON "BackgroundJob";
CREATE TRIGGER jobqueue_count_inserted AFTER INSERT ON "BackgroundJob"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobqueue_count_inserted();
DROP TRIGGER IF EXISTS jobqueue_count_updated ON "BackgroundJob";
CREATE TRIGGER jobqueue_count_updated AFTER UPDATE ON "BackgroundJob"
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jobqueue_count_updated();
DROP TRIGGER IF EXISTS jobqueue_count_deleted ON "BackgroundJob";
CREATE TRIGGER jobqueue_count_deleted AFTER DELETE ON "BackgroundJob"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION jobqueue_count_deleted();
DROP TRIGGER IF EXISTS jobqueue_count_truncated ON "BackgroundJob";
CREATE TRIGGER jobqueue_count_truncated AFTER TRUNCATE ON "BackgroundJob"
    FOR EACH STATEMENT EXECUTE FUNCTION jobqueue_count_truncated();

-- The triggers above lock the table against writes until this migration
-- commits, so the starting counts below miss no concurrent change.
DELETE FROM "_jobqueue_count_deltas";
DELETE FROM "_jobqueue_counts";
INSERT INTO "_jobqueue_counts" (type, status, count)
SELECT type, status, count(*) FROM "BackgroundJob" GROUP BY type, status;

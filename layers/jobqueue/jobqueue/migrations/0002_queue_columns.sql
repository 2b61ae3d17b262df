-- Columns and indexes the queue needs beyond the application's table. Each
-- column has a default, so the application's own inserts keep working.

ALTER TABLE "BackgroundJob"
    ADD COLUMN IF NOT EXISTS priority integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "dedupKey" text,
    ADD COLUMN IF NOT EXISTS "leaseOwner" text,
    ADD COLUMN IF NOT EXISTS "leaseExpiresAt" timestamp(3),
    ADD COLUMN IF NOT EXISTS "errorHistory" jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN IF NOT EXISTS result jsonb;

-- Claiming reads only PENDING rows, so finished history does not slow it.
CREATE INDEX IF NOT EXISTS "BackgroundJob_claim_idx"
    ON "BackgroundJob" (priority DESC, "scheduledAt", id)
    WHERE status = 'PENDING';

-- At most one active job per deduplication key, enforced by the database.
CREATE UNIQUE INDEX IF NOT EXISTS "BackgroundJob_dedupKey_active_key"
    ON "BackgroundJob" ("dedupKey")
    WHERE "dedupKey" IS NOT NULL AND status IN ('PENDING', 'PROCESSING');

CREATE INDEX IF NOT EXISTS "BackgroundJob_processing_idx"
    ON "BackgroundJob" ("leaseExpiresAt")
    WHERE status = 'PROCESSING';

CREATE INDEX IF NOT EXISTS "BackgroundJob_finished_idx"
    ON "BackgroundJob" ((coalesce("completedAt", "updatedAt")))
    WHERE status IN ('COMPLETED', 'CANCELLED');

CREATE INDEX IF NOT EXISTS "BackgroundJob_failed_idx"
    ON "BackgroundJob" ((coalesce("failedAt", "updatedAt")))
    WHERE status = 'FAILED';

CREATE INDEX IF NOT EXISTS "BackgroundJob_createdAt_id_idx"
    ON "BackgroundJob" ("createdAt" DESC, id DESC);

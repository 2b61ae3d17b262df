-- The jobs table and its enums, as the application's ORM (Prisma) creates
-- them. On an application database they already exist and every statement
-- here changes nothing: nothing is dropped or retyped.

DO $$
BEGIN
    CREATE TYPE "JobType" AS ENUM ('ESCALATION', 'NOTIFICATION', 'AUTO_UNSNOOZE', 'SCHEDULED_TASK');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$
BEGIN
    CREATE TYPE "JobStatus" AS ENUM ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- An older application enum may lack a value the queue uses.
ALTER TYPE "JobType" ADD VALUE IF NOT EXISTS 'ESCALATION';
ALTER TYPE "JobType" ADD VALUE IF NOT EXISTS 'NOTIFICATION';
ALTER TYPE "JobType" ADD VALUE IF NOT EXISTS 'AUTO_UNSNOOZE';
ALTER TYPE "JobType" ADD VALUE IF NOT EXISTS 'SCHEDULED_TASK';
ALTER TYPE "JobStatus" ADD VALUE IF NOT EXISTS 'PENDING';
ALTER TYPE "JobStatus" ADD VALUE IF NOT EXISTS 'PROCESSING';
ALTER TYPE "JobStatus" ADD VALUE IF NOT EXISTS 'COMPLETED';
ALTER TYPE "JobStatus" ADD VALUE IF NOT EXISTS 'FAILED';
ALTER TYPE "JobStatus" ADD VALUE IF NOT EXISTS 'CANCELLED';

CREATE TABLE IF NOT EXISTS "BackgroundJob" (
    id text NOT NULL,
    type "JobType" NOT NULL,
    status "JobStatus" NOT NULL DEFAULT 'PENDING',
    payload jsonb NOT NULL,
    "scheduledAt" timestamp(3) NOT NULL,
    "startedAt" timestamp(3),
    "completedAt" timestamp(3),
    "failedAt" timestamp(3),
    attempts integer NOT NULL DEFAULT 0,
    "maxAttempts" integer NOT NULL DEFAULT 3,
    error text,
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" timestamp(3) NOT NULL,
    CONSTRAINT "BackgroundJob_pkey" PRIMARY KEY (id)
);

CREATE INDEX IF NOT EXISTS "BackgroundJob_type_status_scheduledAt_idx"
    ON "BackgroundJob" (type, status, "scheduledAt");
CREATE INDEX IF NOT EXISTS "BackgroundJob_status_scheduledAt_idx"
    ON "BackgroundJob" (status, "scheduledAt");
CREATE INDEX IF NOT EXISTS "BackgroundJob_scheduledAt_idx"
    ON "BackgroundJob" ("scheduledAt");

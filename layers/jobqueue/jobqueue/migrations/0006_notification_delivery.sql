-- What real delivery needs: users' per-channel preferences, their push
-- device endpoints and their webhooks. Everything is added only where it is
-- missing, so the application's own tables and columns stay as they are.

-- Per-channel preferences. A disabled channel records the notification as
-- SKIPPED, except for escalations, whose policy names the channels.
ALTER TABLE "User" ADD COLUMN IF NOT EXISTS "emailEnabled" boolean NOT NULL DEFAULT true;
ALTER TABLE "User" ADD COLUMN IF NOT EXISTS "smsEnabled" boolean NOT NULL DEFAULT true;
ALTER TABLE "User" ADD COLUMN IF NOT EXISTS "pushEnabled" boolean NOT NULL DEFAULT true;

-- One row per device a user registered for push notifications: the ARN of
-- its Amazon SNS platform endpoint. A PUSH notification goes to every
-- enabled device. When SNS reports an endpoint disabled or deleted, the
-- row is disabled with the reason, and later notifications skip it.
CREATE TABLE IF NOT EXISTS "UserDevice" (
    id text PRIMARY KEY,
    "userId" text NOT NULL REFERENCES "User" (id) ON DELETE CASCADE,
    "endpointArn" text NOT NULL UNIQUE,
    platform text NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    "disabledReason" text,
    "createdAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "updatedAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

CREATE INDEX IF NOT EXISTS "UserDevice_userId_idx" ON "UserDevice" ("userId");

-- A user's webhook for the WEBHOOK or SLACK channel, at most one per
-- channel. The signing secret never lives here: it is in the Secrets
-- Manager secret named by WEBHOOK_SECRETS_ARN, under the webhook's id. A
-- NULL url means the URL is kept in that secret too (a Slack incoming
-- webhook URL contains a token).
CREATE TABLE IF NOT EXISTS "Webhook" (
    id text PRIMARY KEY,
    "userId" text NOT NULL REFERENCES "User" (id) ON DELETE CASCADE,
    channel text NOT NULL CHECK (channel IN ('WEBHOOK', 'SLACK')),
    url text,
    enabled boolean NOT NULL DEFAULT true,
    "createdAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "updatedAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    UNIQUE ("userId", channel)
);

-- The notification log gains an updatedAt, because a row now moves
-- SENDING -> SENT or FAILED instead of being written once.
ALTER TABLE "Notification" ADD COLUMN IF NOT EXISTS "updatedAt" timestamp(3);

-- The application's ORM may declare "Notification".status as an enum. The
-- handler writes SENDING and RETRYING besides SENT, FAILED and SKIPPED, so
-- an enum gets whichever of these values it lacks. PostgreSQL 12 and newer
-- accept ALTER TYPE ... ADD VALUE inside a transaction, as long as the new
-- value is not used before the transaction commits.
DO $$
DECLARE
    status_type regtype;
    status_value text;
BEGIN
    SELECT a.atttypid::regtype INTO status_type
    FROM pg_attribute AS a
    JOIN pg_type AS t ON t.oid = a.atttypid
    WHERE a.attrelid = '"Notification"'::regclass AND a.attname = 'status' AND t.typtype = 'e';
    IF status_type IS NOT NULL THEN
        FOREACH status_value IN ARRAY ARRAY['SENDING', 'SENT', 'RETRYING', 'FAILED', 'SKIPPED'] LOOP
            EXECUTE format('ALTER TYPE %s ADD VALUE IF NOT EXISTS %L', status_type, status_value);
        END LOOP;
    END IF;
END
$$;

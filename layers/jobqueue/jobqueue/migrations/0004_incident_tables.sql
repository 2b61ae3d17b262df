-- A minimal version of the incident tables the handlers read and write,
-- for a standalone install. On the application's database these tables
-- already exist and nothing here changes them.

CREATE TABLE IF NOT EXISTS "User" (
    id text PRIMARY KEY,
    name text NOT NULL,
    email text,
    phone text,
    "createdAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "updatedAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

CREATE TABLE IF NOT EXISTS "Team" (
    id text PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE IF NOT EXISTS "TeamMember" (
    id text PRIMARY KEY,
    "teamId" text NOT NULL REFERENCES "Team" (id) ON DELETE CASCADE,
    "userId" text NOT NULL REFERENCES "User" (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS "EscalationPolicy" (
    id text PRIMARY KEY,
    name text NOT NULL
);

-- One step of a policy: after "delayMinutes", notify a user or every
-- member of a team on the given channels.
CREATE TABLE IF NOT EXISTS "EscalationRule" (
    id text PRIMARY KEY,
    "policyId" text NOT NULL REFERENCES "EscalationPolicy" (id) ON DELETE CASCADE,
    "stepIndex" integer NOT NULL,
    "delayMinutes" integer NOT NULL DEFAULT 0,
    "targetType" text NOT NULL CHECK ("targetType" IN ('USER', 'TEAM')),
    "targetId" text NOT NULL,
    channels text[] NOT NULL DEFAULT ARRAY['EMAIL']
);

CREATE TABLE IF NOT EXISTS "Service" (
    id text PRIMARY KEY,
    name text NOT NULL,
    "escalationPolicyId" text REFERENCES "EscalationPolicy" (id)
);

CREATE TABLE IF NOT EXISTS "Incident" (
    id text PRIMARY KEY,
    title text NOT NULL,
    status text NOT NULL DEFAULT 'OPEN',
    urgency text NOT NULL DEFAULT 'HIGH',
    "serviceId" text REFERENCES "Service" (id),
    "escalationPolicyId" text REFERENCES "EscalationPolicy" (id),
    "currentEscalationStep" integer NOT NULL DEFAULT 0,
    "snoozedUntil" timestamp(3),
    "acknowledgedAt" timestamp(3),
    "resolvedAt" timestamp(3),
    "createdAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "updatedAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

CREATE TABLE IF NOT EXISTS "IncidentEvent" (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    "incidentId" text NOT NULL REFERENCES "Incident" (id) ON DELETE CASCADE,
    type text NOT NULL,
    message text NOT NULL,
    data jsonb,
    "createdAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

CREATE INDEX IF NOT EXISTS "IncidentEvent_incidentId_idx" ON "IncidentEvent" ("incidentId");

-- The notification log: one row per delivery a NOTIFICATION job makes.
CREATE TABLE IF NOT EXISTS "Notification" (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    "incidentId" text REFERENCES "Incident" (id) ON DELETE CASCADE,
    "userId" text REFERENCES "User" (id) ON DELETE SET NULL,
    channel text NOT NULL,
    message text NOT NULL,
    status text NOT NULL,
    "jobId" text,
    "providerMessageId" text,
    error text,
    "createdAt" timestamp(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "sentAt" timestamp(3)
);

CREATE INDEX IF NOT EXISTS "Notification_jobId_idx" ON "Notification" ("jobId");

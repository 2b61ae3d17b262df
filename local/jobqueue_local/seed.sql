-- Demo data for `make run`: a small incident with an escalation policy.
-- Running it again resets the demo rows (and their jobs) to the same state.

DELETE FROM "BackgroundJob" WHERE payload->>'incidentId' IN ('inc_01HZX3V6J8Q2', 'inc_01HZX3V6J8Q3');
DELETE FROM "Notification" WHERE "incidentId" IN ('inc_01HZX3V6J8Q2', 'inc_01HZX3V6J8Q3');
DELETE FROM "Incident" WHERE id IN ('inc_01HZX3V6J8Q2', 'inc_01HZX3V6J8Q3');

INSERT INTO "User" (id, name, email, phone) VALUES
    ('user_alice', 'Alice Example', 'alice@example.com', '+15555550100'),
    ('user_bob', 'Bob Example', 'bob@example.com', '+15555550101')
ON CONFLICT (id) DO NOTHING;

-- Alice's Slack webhook, for the sample notification. The demo's log
-- transport never calls it.
INSERT INTO "Webhook" (id, "userId", channel, url) VALUES
    ('wh_alice_slack', 'user_alice', 'SLACK', 'https://hooks.slack.com/services/T0000/B0000/demo')
ON CONFLICT (id) DO NOTHING;

INSERT INTO "Team" (id, name) VALUES ('team_ops', 'Operations') ON CONFLICT (id) DO NOTHING;
INSERT INTO "TeamMember" (id, "teamId", "userId") VALUES
    ('tm_ops_alice', 'team_ops', 'user_alice'),
    ('tm_ops_bob', 'team_ops', 'user_bob')
ON CONFLICT (id) DO NOTHING;

INSERT INTO "EscalationPolicy" (id, name) VALUES ('pol_checkout', 'Checkout on-call') ON CONFLICT (id) DO NOTHING;
INSERT INTO "EscalationRule" (id, "policyId", "stepIndex", "delayMinutes", "targetType", "targetId", channels) VALUES
    ('rule_checkout_0', 'pol_checkout', 0, 0, 'USER', 'user_alice', ARRAY['EMAIL', 'SMS']),
    ('rule_checkout_1', 'pol_checkout', 1, 10, 'TEAM', 'team_ops', ARRAY['SLACK'])
ON CONFLICT (id) DO NOTHING;

INSERT INTO "Service" (id, name, "escalationPolicyId") VALUES ('svc_checkout', 'checkout', 'pol_checkout')
ON CONFLICT (id) DO NOTHING;

INSERT INTO "Incident" (id, title, status, urgency, "serviceId") VALUES
    ('inc_01HZX3V6J8Q2', 'Checkout error rate above 5%', 'OPEN', 'HIGH', 'svc_checkout');
INSERT INTO "Incident" (id, title, status, urgency, "serviceId", "snoozedUntil") VALUES
    ('inc_01HZX3V6J8Q3', 'Payment latency p99 above 2 s', 'SNOOZED', 'LOW', 'svc_checkout',
     (now() AT TIME ZONE 'UTC') - interval '1 minute');

-- One transaction per row change: pgbench runs this script in a loop, and
-- each run updates one random row of t (10,000 rows) and commits. Its rate
-- is the commit rate the server sustains when every row change commits on
-- its own, the ceiling for a queue that commits once per job.
\set id random(1, 10000)
UPDATE t SET v = v + 1 WHERE id = :id;

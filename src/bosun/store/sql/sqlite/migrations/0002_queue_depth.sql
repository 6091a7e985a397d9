-- Per-queue depth for autoscalers and operators (see the PostgreSQL migration of the same
-- number). Scale on `ready + in_flight`.
CREATE VIEW queue_depth AS
WITH now AS (SELECT (julianday('now') - 2440587.5) * 86400.0 AS t)
SELECT queue,
       SUM(status IN ('queued', 'suspended') AND ready_at <= now.t) AS ready,
       SUM(status = 'running') AS in_flight,
       SUM(status = 'suspended' AND (ready_at IS NULL OR ready_at > now.t)) AS waiting,
       COALESCE(now.t - MIN(CASE WHEN status IN ('queued', 'suspended') AND ready_at <= now.t
                                 THEN ready_at END), 0) AS oldest_ready_age
FROM runs, now
WHERE status IN ('queued', 'running', 'suspended')
GROUP BY queue;

-- Per-queue depth for autoscalers (KEDA's postgresql scaler) and operators.
-- Scale on `ready + in_flight`: counting in-flight work keeps a pool from scaling in (or to
-- zero) under runs it is still executing. `waiting` runs (timers, signals, children) hold no
-- worker and need none.
CREATE VIEW queue_depth AS
WITH now AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS t)
SELECT queue,
       count(*) FILTER (WHERE status IN ('queued', 'suspended') AND ready_at <= now.t) AS ready,
       count(*) FILTER (WHERE status = 'running') AS in_flight,
       count(*) FILTER (WHERE status = 'suspended' AND (ready_at IS NULL OR ready_at > now.t))
           AS waiting,
       COALESCE(now.t - min(ready_at) FILTER (WHERE status IN ('queued', 'suspended')
                                               AND ready_at <= now.t), 0) AS oldest_ready_age
FROM runs, now
WHERE status IN ('queued', 'running', 'suspended')
GROUP BY queue, now.t;

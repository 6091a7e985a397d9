-- queue_depth gains `runnable`: the runs of a queue that can execute now (see the
-- PostgreSQL migration of the same name): the in-flight runs plus the ready runs that the
-- queue's limit and their concurrency keys admit. Without limits it is `ready + in_flight`;
-- for a queue limited to N, LEAST(ready + in_flight, N) and never less than `in_flight`.
-- The view also lists limited queues and the queues of registered workers, with zeros.
DROP VIEW queue_depth;

CREATE VIEW queue_depth AS
WITH now AS (SELECT (julianday('now') - 2440587.5) * 86400.0 AS t),
depth AS (
    SELECT queue,
           SUM(status IN ('queued', 'suspended') AND ready_at <= now.t) AS ready,
           SUM(status = 'running') AS in_flight,
           SUM(status = 'suspended' AND (ready_at IS NULL OR ready_at > now.t)) AS waiting,
           COALESCE(now.t - MIN(CASE WHEN status IN ('queued', 'suspended') AND ready_at <= now.t
                                     THEN ready_at END), 0) AS oldest_ready_age,
           SUM(status IN ('queued', 'suspended') AND ready_at <= now.t
               AND (concurrency_key IS NULL OR started_at IS NOT NULL)) AS ready_unkeyed
    FROM runs, now
    WHERE status IN ('queued', 'running', 'suspended')
    GROUP BY queue
), waiting_keys AS (
    SELECT queue, concurrency_key, COUNT(*) AS ready,
           COALESCE(MAX(concurrency_limit), 0) AS slots
    FROM runs, now
    WHERE status IN ('queued', 'suspended') AND ready_at <= now.t
      AND concurrency_key IS NOT NULL AND started_at IS NULL
    GROUP BY queue, concurrency_key
), keyed AS (
    SELECT w.queue,
           SUM(MIN(w.ready, MAX(w.slots - (
               SELECT COUNT(*) FROM runs AS k
               WHERE k.concurrency_key = w.concurrency_key AND k.started_at IS NOT NULL
                 AND k.status NOT IN ('completed', 'failed', 'cancelled')), 0))) AS admitted
    FROM waiting_keys AS w
    GROUP BY w.queue
), known(queue) AS (
    SELECT queue FROM depth
    UNION SELECT queue FROM queue_limits
    UNION SELECT wq.value FROM workers AS w, json_each(w.queues) AS wq
)
SELECT k.queue,
       COALESCE(d.ready, 0) AS ready,
       COALESCE(d.in_flight, 0) AS in_flight,
       COALESCE(d.waiting, 0) AS waiting,
       COALESCE(d.oldest_ready_age, 0) AS oldest_ready_age,
       COALESCE(d.in_flight, 0) + CASE
           WHEN l.max_running IS NULL THEN COALESCE(d.ready_unkeyed, 0) + COALESCE(a.admitted, 0)
           ELSE MIN(COALESCE(d.ready_unkeyed, 0) + COALESCE(a.admitted, 0),
                    MAX(l.max_running - COALESCE(d.in_flight, 0), 0))
       END AS runnable
FROM known AS k
LEFT JOIN depth AS d ON d.queue = k.queue
LEFT JOIN keyed AS a ON a.queue = k.queue
LEFT JOIN queue_limits AS l ON l.queue = k.queue;

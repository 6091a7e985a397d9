-- queue_depth gains `runnable`: the runs of a queue that can execute now, which is what a
-- pool should scale on. Flow control holds the other ready runs back, and a worker started
-- for them finds nothing to claim: `runnable` is the in-flight runs plus the ready runs that
-- the queue's limit (queue_limits.max_running, counted against the running runs) and their
-- concurrency keys (each key's limit less its started, unfinished runs) admit. Without
-- limits it is `ready + in_flight`; for a queue limited to N it is LEAST(ready + in_flight,
-- N), and never less than `in_flight`, so lowering a limit does not scale a pool in under
-- the runs it executes.
--
-- The view also lists the queues known without unfinished runs, with zeros: limited queues
-- and the queues of registered workers (as `bosun queues` does), so an idle queue reads 0
-- rather than nothing. The columns before `runnable` are unchanged.
CREATE OR REPLACE VIEW queue_depth AS
WITH now AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS t),
depth AS (
    SELECT queue,
           count(*) FILTER (WHERE status IN ('queued', 'suspended') AND ready_at <= now.t)
               AS ready,
           count(*) FILTER (WHERE status = 'running') AS in_flight,
           count(*) FILTER (WHERE status = 'suspended' AND (ready_at IS NULL OR ready_at > now.t))
               AS waiting,
           COALESCE(now.t - min(ready_at) FILTER (WHERE status IN ('queued', 'suspended')
                                                   AND ready_at <= now.t), 0) AS oldest_ready_age,
           -- Ready runs no key holds back: without a key, or started (a started run keeps
           -- its key's slot).
           count(*) FILTER (WHERE status IN ('queued', 'suspended') AND ready_at <= now.t
                              AND (concurrency_key IS NULL OR started_at IS NOT NULL))
               AS ready_unkeyed
    FROM runs, now
    WHERE status IN ('queued', 'running', 'suspended')
    GROUP BY queue, now.t
), keyed AS (
    -- Ready runs waiting for a slot of their key: as many as the key has free (the claim's
    -- key_admits counts the same started, unfinished runs).
    SELECT w.queue, sum(LEAST(w.ready, GREATEST(w.slots - held.n, 0)))::bigint AS admitted
    FROM (
        SELECT queue, concurrency_key, count(*) AS ready,
               COALESCE(max(concurrency_limit), 0) AS slots
        FROM runs, now
        WHERE status IN ('queued', 'suspended') AND ready_at <= now.t
          AND concurrency_key IS NOT NULL AND started_at IS NULL
        GROUP BY queue, concurrency_key
    ) AS w
    CROSS JOIN LATERAL (
        SELECT count(*) AS n FROM runs AS k
        WHERE k.concurrency_key = w.concurrency_key AND k.started_at IS NOT NULL
          AND k.status NOT IN ('completed', 'failed', 'cancelled')
    ) AS held
    GROUP BY w.queue
), known AS (
    SELECT queue FROM depth
    UNION SELECT queue FROM queue_limits
    UNION SELECT unnest(queues) FROM workers
)
SELECT k.queue,
       COALESCE(d.ready, 0) AS ready,
       COALESCE(d.in_flight, 0) AS in_flight,
       COALESCE(d.waiting, 0) AS waiting,
       COALESCE(d.oldest_ready_age, 0) AS oldest_ready_age,
       COALESCE(d.in_flight, 0) + CASE
           WHEN l.max_running IS NULL THEN COALESCE(d.ready_unkeyed, 0) + COALESCE(a.admitted, 0)
           ELSE LEAST(COALESCE(d.ready_unkeyed, 0) + COALESCE(a.admitted, 0),
                      GREATEST(l.max_running - COALESCE(d.in_flight, 0), 0))
       END AS runnable
FROM known AS k
LEFT JOIN depth AS d ON d.queue = k.queue
LEFT JOIN keyed AS a ON a.queue = k.queue
LEFT JOIN queue_limits AS l ON l.queue = k.queue;

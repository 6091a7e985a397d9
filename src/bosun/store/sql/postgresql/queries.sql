-- name: insert_run
WITH inserted AS (
    INSERT INTO bosun.runs (id, workflow, queue, status, priority, input, idempotency_key,
                      parent_id, parent_seq, deadline, concurrency_key, concurrency_limit,
                      fairness_key, tenant, session, webhook_url, ready_at, created_at,
                      updated_at, traceparent)
    VALUES (%(id)s, %(workflow)s, %(queue)s, 'queued', %(priority)s, %(input)s,
            %(idempotency_key)s, %(parent_id)s, %(parent_seq)s, %(deadline)s,
            %(concurrency_key)s, %(concurrency_limit)s, %(fairness_key)s, %(tenant)s,
            %(session)s, %(webhook_url)s, %(now)s, %(now)s, %(now)s, %(traceparent)s)
    ON CONFLICT DO NOTHING
    RETURNING id, queue
)
SELECT id, pg_notify('bosun_work', queue) AS notified FROM inserted;

-- name: insert_claimed_run
INSERT INTO bosun.runs (id, workflow, queue, status, priority, input, idempotency_key, parent_id,
                  parent_seq, deadline, concurrency_key, concurrency_limit, fairness_key,
                  tenant, session, webhook_url, ready_at, lease_owner, lease_token,
                  lease_expires_at, attempts, started_at, created_at, updated_at, version,
                  traceparent)
VALUES (%(id)s, %(workflow)s, %(queue)s, 'running', %(priority)s, %(input)s,
        %(idempotency_key)s, %(parent_id)s, %(parent_seq)s, %(deadline)s,
        %(concurrency_key)s, %(concurrency_limit)s, %(fairness_key)s, %(tenant)s,
        %(session)s, %(webhook_url)s, %(expires)s, %(owner)s, %(owner)s || ':1',
        %(expires)s, 1, %(now)s, %(now)s, %(now)s, %(version)s, %(traceparent)s)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: conflicting_run
-- The run an insert collided with: this very run (an earlier attempt of the same insert
-- went through) or the one holding the idempotency key.
SELECT id FROM bosun.runs WHERE id = %(id)s OR idempotency_key = %(key)s
ORDER BY id = %(id)s DESC LIMIT 1;

-- name: get_run
SELECT * FROM bosun.runs WHERE id = %(id)s;

-- name: finished_runs
SELECT * FROM bosun.runs
WHERE id = ANY(%(ids)s) AND status IN ('completed', 'failed', 'cancelled');

-- name: set_queue_limit
INSERT INTO bosun.queue_limits (queue, max_running, updated_at)
VALUES (%(queue)s, %(max_running)s, %(now)s)
ON CONFLICT (queue) DO UPDATE SET max_running = excluded.max_running,
                                  updated_at = excluded.updated_at;

-- name: delete_queue_limit
DELETE FROM bosun.queue_limits WHERE queue = %(queue)s;

-- name: claim_ready
SELECT * FROM bosun.claim_ready(%(owner)s, %(queues)s, %(limit)s, %(window)s, %(expires)s, %(now)s,
                          %(versions)s::text[], %(workflows)s::text[]);

-- name: journals_of
SELECT * FROM bosun.journal WHERE run_id = ANY(%(run_ids)s) ORDER BY pos;

-- name: journal_of
SELECT * FROM bosun.journal WHERE run_id = %(run_id)s ORDER BY pos;

-- name: journal_of_in_status
SELECT * FROM bosun.journal WHERE run_id = %(run_id)s AND status = %(status)s ORDER BY pos;

-- name: pending_signals_of
SELECT id, run_id, name, payload, created_at FROM bosun.signals
WHERE run_id = ANY(%(run_ids)s) AND consumed_seq IS NULL ORDER BY id;

-- name: save_progress_batch
-- A JSON array of save_progress arguments, as one call (see functions/save_progress_batch.sql).
SELECT i, final_status FROM bosun.save_progress_batch(%s::jsonb) ORDER BY i;

-- name: renew_leases
-- A lease whose token was voided (its worker was found dead) is not renewed: it is lost.
UPDATE bosun.runs SET lease_expires_at = %(expires)s, ready_at = %(expires)s
WHERE id = ANY(%(run_ids)s) AND lease_owner = %(owner)s AND status = 'running'
  AND lease_token IS NOT NULL
RETURNING id, lease_token;

-- name: release_leases
WITH released AS (
    UPDATE bosun.runs
    SET status = 'queued', ready_at = %(now)s, lease_owner = NULL, lease_token = NULL,
        lease_expires_at = NULL, updated_at = %(now)s
    WHERE id = ANY(%(run_ids)s) AND lease_owner = %(owner)s AND status = 'running'
    RETURNING queue
), notified AS (
    SELECT pg_notify('bosun_work', queue) FROM (SELECT DISTINCT queue FROM released) q
)
SELECT (SELECT count(*) FROM released) AS released, (SELECT count(*) FROM notified) AS n;

-- name: lock_run
SELECT * FROM bosun.runs WHERE id = %(id)s FOR UPDATE;

-- name: wait_is_open
-- The journal entry at seq still waits, its deadline (if any) has not passed, and no signal
-- of that name is pending to answer it. Past the deadline the wait has timed out, whether or
-- not a worker has written so yet: a signal sent then would be taken by nobody.
SELECT 1 FROM bosun.journal
WHERE run_id = %(run_id)s AND seq = %(seq)s AND status = 'waiting'
  AND (wake_at IS NULL OR wake_at > %(now)s)
  AND NOT EXISTS (SELECT 1 FROM bosun.signals
                  WHERE run_id = %(run_id)s AND name = %(name)s AND consumed_seq IS NULL);

-- name: insert_signal
INSERT INTO bosun.signals (run_id, name, payload, created_at)
VALUES (%(run_id)s, %(name)s, %(payload)s, %(now)s);

-- name: wake_run
UPDATE bosun.runs
SET wake_seq = wake_seq + 1,
    ready_at = CASE WHEN status = 'suspended' THEN %(now)s ELSE ready_at END,
    updated_at = %(now)s
WHERE id = %(run_id)s
RETURNING pg_notify('bosun_work', queue);

-- name: unfinished_tree
WITH RECURSIVE tree(id) AS (
    SELECT %(run_id)s::text
    UNION ALL
    SELECT runs.id FROM bosun.runs JOIN tree ON runs.parent_id = tree.id
)
SELECT runs.id FROM bosun.runs JOIN tree ON runs.id = tree.id
WHERE runs.status NOT IN ('completed', 'failed', 'cancelled');

-- name: cancel_many
UPDATE bosun.runs
SET status = 'cancelled', ready_at = NULL, lease_owner = NULL, lease_token = NULL,
    lease_expires_at = NULL, updated_at = %(now)s, finished_at = %(now)s
WHERE id = ANY(%(ids)s) AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING id, pg_notify('bosun_finished', id);

-- name: settle_parent
SELECT bosun.settle_parent(%(parent_id)s, %(parent_seq)s, %(status)s, %(output)s, %(error)s, %(now)s);

-- name: resume_run
UPDATE bosun.runs SET status = 'queued', ready_at = %(now)s, error = NULL, updated_at = %(now)s
WHERE id = %(run_id)s AND status = 'blocked'
RETURNING pg_notify('bosun_work', queue);

-- name: events_of
SELECT * FROM bosun.events WHERE run_id = %(run_id)s AND seq > %(after)s ORDER BY seq
LIMIT %(limit)s;

-- name: append_events
SELECT bosun.append_events(%(run_id)s, %(events)s, %(now)s);

-- name: insert_api_key
INSERT INTO bosun.api_keys (id, tenant, name, hash, scopes, created_at)
VALUES (%(id)s, %(tenant)s, %(name)s, %(hash)s, %(scopes)s, %(created_at)s);

-- name: get_api_key
SELECT * FROM bosun.api_keys WHERE id = %(id)s;

-- name: list_api_keys
SELECT * FROM bosun.api_keys WHERE %(tenant)s::text IS NULL OR tenant = %(tenant)s
ORDER BY created_at, id;

-- name: revoke_api_key
UPDATE bosun.api_keys SET revoked_at = %(now)s WHERE id = %(id)s AND revoked_at IS NULL;

-- name: queue_stats
-- The queue_depth view's numbers, of one tenant's runs or (tenant NULL) of all, for every
-- known queue, with zeros where no run is unfinished: queues with unfinished runs or a run
-- that finished since `since` (of those runs; through the finished index), and, whatever
-- the tenant, the queues of listed workers, limited queues and `known` (the queues the
-- caller's app declares). `runnable`: the in-flight runs plus the ready runs the queue's
-- limit and their concurrency keys admit (limits and key slots are shared by every tenant).
WITH depth AS (
    SELECT queue,
           count(*) FILTER (WHERE status IN ('queued', 'suspended') AND ready_at <= %(now)s)
               AS ready,
           count(*) FILTER (WHERE status = 'running') AS in_flight,
           count(*) FILTER (WHERE status = 'suspended'
                              AND (ready_at IS NULL OR ready_at > %(now)s)) AS waiting,
           COALESCE(%(now)s - min(ready_at) FILTER (WHERE status IN ('queued', 'suspended')
                                                      AND ready_at <= %(now)s), 0)
               AS oldest_ready_age,
           count(*) FILTER (WHERE status IN ('queued', 'suspended') AND ready_at <= %(now)s
                              AND (concurrency_key IS NULL OR started_at IS NOT NULL))
               AS ready_unkeyed
    FROM bosun.runs
    WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
      AND status IN ('queued', 'running', 'suspended')
    GROUP BY queue
), keyed AS (
    SELECT w.queue, sum(LEAST(w.ready, GREATEST(w.slots - held.n, 0)))::bigint AS admitted
    FROM (
        SELECT queue, concurrency_key, count(*) AS ready,
               COALESCE(max(concurrency_limit), 0) AS slots
        FROM bosun.runs
        WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
          AND status IN ('queued', 'suspended') AND ready_at <= %(now)s
          AND concurrency_key IS NOT NULL AND started_at IS NULL
        GROUP BY queue, concurrency_key
    ) AS w
    CROSS JOIN LATERAL (
        SELECT count(*) AS n FROM bosun.runs AS k
        WHERE k.concurrency_key = w.concurrency_key AND k.started_at IS NOT NULL
          AND k.status NOT IN ('completed', 'failed', 'cancelled')
    ) AS held
    GROUP BY w.queue
), known AS (
    SELECT queue FROM depth
    UNION SELECT queue FROM bosun.runs
    WHERE finished_at >= %(since)s
      AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
    UNION SELECT unnest(queues) FROM bosun.workers
    UNION SELECT queue FROM bosun.queue_limits
    UNION SELECT unnest(%(known)s::text[])
)
SELECT k.queue, COALESCE(d.ready, 0) AS ready, COALESCE(d.in_flight, 0) AS in_flight,
       COALESCE(d.waiting, 0) AS waiting, COALESCE(d.oldest_ready_age, 0) AS oldest_ready_age,
       COALESCE(d.in_flight, 0) + CASE
           WHEN l.max_running IS NULL THEN COALESCE(d.ready_unkeyed, 0) + COALESCE(a.admitted, 0)
           ELSE LEAST(COALESCE(d.ready_unkeyed, 0) + COALESCE(a.admitted, 0),
                      GREATEST(l.max_running - COALESCE(d.in_flight, 0), 0))
       END AS runnable
FROM known AS k
LEFT JOIN depth AS d ON d.queue = k.queue
LEFT JOIN keyed AS a ON a.queue = k.queue
LEFT JOIN bosun.queue_limits AS l ON l.queue = k.queue
ORDER BY k.queue;

-- name: unserved_work
-- Claimable runs, by queue and workflow, that no live, non-draining worker serves (a worker
-- without a workflow list, of an earlier release, serves any), once the oldest has waited
-- %(grace)s seconds. The runs are grouped first, so workers are looked up once per group.
SELECT g.queue, g.workflow, g.ready, %(now)s - g.oldest AS oldest_ready_age
FROM (
    SELECT queue, workflow, count(*) AS ready, min(ready_at) AS oldest
    FROM bosun.runs
    WHERE ready_at <= %(now)s AND status IN ('queued', 'suspended', 'running')
      AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
    GROUP BY queue, workflow
) AS g
WHERE g.oldest <= %(now)s - %(grace)s
  AND NOT EXISTS (
    SELECT 1 FROM bosun.workers AS w
    WHERE g.queue = ANY(w.queues) AND w.expires_at > %(now)s AND NOT w.draining
      AND (w.workflows IS NULL OR g.workflow = ANY(w.workflows)))
ORDER BY g.queue, g.workflow;

-- schedules

-- name: insert_schedule
INSERT INTO bosun.schedules (name, workflow, cron, timezone, input, queue, missed, max_catch_up,
                       next_tick, source, created_at, updated_at)
VALUES (%(name)s, %(workflow)s, %(cron)s, %(timezone)s, %(input)s, %(queue)s, %(missed)s,
        %(max_catch_up)s, %(next_tick)s, %(source)s, %(now)s, %(now)s)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: declare_schedule
-- A schedule declared in code keeps its next tick (and an operator's pause) unless its cron
-- expression or time zone changed; an unchanged one is not written at all.
INSERT INTO bosun.schedules AS s (name, workflow, cron, timezone, input, queue, missed,
                            max_catch_up, next_tick, source, created_at, updated_at)
VALUES (%(name)s, %(workflow)s, %(cron)s, %(timezone)s, %(input)s, %(queue)s, %(missed)s,
        %(max_catch_up)s, %(next_tick)s, 'code', %(now)s, %(now)s)
ON CONFLICT (name) DO UPDATE SET
    workflow = excluded.workflow, cron = excluded.cron, timezone = excluded.timezone,
    input = excluded.input, queue = excluded.queue, missed = excluded.missed,
    max_catch_up = excluded.max_catch_up, source = 'code', updated_at = excluded.updated_at,
    next_tick = CASE WHEN s.cron = excluded.cron AND s.timezone = excluded.timezone
                     THEN s.next_tick ELSE excluded.next_tick END
WHERE (s.workflow, s.cron, s.timezone, s.input, s.queue, s.missed, s.max_catch_up, s.source)
      IS DISTINCT FROM
      (excluded.workflow, excluded.cron, excluded.timezone, excluded.input, excluded.queue,
       excluded.missed, excluded.max_catch_up, 'code');

-- name: delete_undeclared_schedules
DELETE FROM bosun.schedules
WHERE source = 'code' AND workflow = ANY(%(workflows)s) AND name <> ALL(%(names)s);

-- name: get_schedule
SELECT * FROM bosun.schedules WHERE name = %(name)s;

-- name: list_schedules
SELECT * FROM bosun.schedules ORDER BY name;

-- name: set_schedule_paused
UPDATE bosun.schedules
SET paused = %(paused)s, next_tick = COALESCE(%(next_tick)s::bigint, next_tick),
    updated_at = %(now)s
WHERE name = %(name)s
RETURNING *;

-- name: delete_schedule
DELETE FROM bosun.schedules WHERE name = %(name)s RETURNING name;

-- name: due_schedules
SELECT * FROM bosun.schedules
WHERE NOT paused AND next_tick <= %(now)s AND workflow = ANY(%(workflows)s)
ORDER BY next_tick
LIMIT %(limit)s;

-- name: advance_schedule
-- The compare-and-set: only a scheduler that read `expected` moves the schedule on. Under
-- READ COMMITTED a racing UPDATE waits for the winner's row lock, then re-checks `next_tick`
-- against the committed value and updates nothing.
UPDATE bosun.schedules
SET next_tick = %(next_tick)s, last_tick = COALESCE(%(last_tick)s::bigint, last_tick),
    last_error = %(error)s, updated_at = %(now)s
WHERE name = %(name)s AND next_tick = %(expected)s AND NOT paused
RETURNING name;

-- name: set_schedule_last_run
UPDATE bosun.schedules SET last_run_id = %(run_id)s WHERE name = %(name)s;

-- rate limits

-- name: fence_run
-- Lock the run and prove the lease, for writes made outside save_progress.
SELECT 1 FROM bosun.runs
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'running'
FOR UPDATE;

-- name: upsert_rate_limit
-- Copy the limit from the code, lock the row and return the buckets; a new name starts
-- full. Without a caller's clock the database's is used, the same for every worker.
INSERT INTO bosun.rate_limits (name, request_capacity, token_capacity, per, requests, tokens,
                         updated_at)
VALUES (%(name)s, %(request_capacity)s::integer, %(token_capacity)s::bigint,
        %(per)s::double precision, %(request_capacity)s::integer, %(token_capacity)s::bigint,
        COALESCE(%(now)s::double precision,
                 EXTRACT(EPOCH FROM clock_timestamp())::double precision))
ON CONFLICT (name) DO UPDATE SET
    request_capacity = excluded.request_capacity, token_capacity = excluded.token_capacity,
    per = excluded.per
RETURNING requests, tokens, updated_at,
    COALESCE(%(now)s::double precision,
             EXTRACT(EPOCH FROM clock_timestamp())::double precision) AS now;

-- name: save_rate_buckets
UPDATE bosun.rate_limits SET requests = %(requests)s, tokens = %(tokens)s, updated_at = %(updated_at)s
WHERE name = %(name)s;

-- name: get_rate_buckets
SELECT requests, tokens, updated_at FROM bosun.rate_limits WHERE name = %(name)s;

-- name: upsert_journal_entry
INSERT INTO bosun.journal (run_id, seq, kind, name, status, output, error, attempt, started_at,
                     finished_at, wake_at, child_id)
VALUES (%(run_id)s, %(seq)s, %(kind)s, %(name)s, %(status)s, %(output)s, %(error)s,
        %(attempt)s, %(started_at)s, %(finished_at)s, %(wake_at)s, %(child_id)s)
ON CONFLICT (run_id, seq) DO UPDATE SET
    status = excluded.status, output = excluded.output, error = excluded.error,
    attempt = excluded.attempt, finished_at = excluded.finished_at,
    wake_at = excluded.wake_at, child_id = excluded.child_id;

-- retention
-- name: prune_batch
-- One batch of finished runs older than the cutoff, with everything recorded about them.
WITH doomed AS (
    SELECT id FROM bosun.runs
    WHERE finished_at < %(before)s AND status IN ('completed', 'failed', 'cancelled')
    ORDER BY finished_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), j AS (
    DELETE FROM bosun.journal WHERE run_id IN (SELECT id FROM doomed)
), s AS (
    DELETE FROM bosun.signals WHERE run_id IN (SELECT id FROM doomed)
), e AS (
    DELETE FROM bosun.events WHERE run_id IN (SELECT id FROM doomed)
), r AS (
    DELETE FROM bosun.runs WHERE id IN (SELECT id FROM doomed) RETURNING 1
)
SELECT count(*) AS pruned FROM r;

-- usage

-- name: usage_totals
SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,
       COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
       COALESCE(SUM(cached_tokens), 0) AS cached_tokens, COALESCE(SUM(cost), 0) AS cost
FROM bosun.usage
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
  AND (%(session)s::text IS NULL OR session = %(session)s)
  AND (%(run_id)s::text IS NULL OR run_id = %(run_id)s)
  AND created_at >= %(since)s;

-- sessions

-- name: ensure_session
INSERT INTO bosun.sessions (tenant, id, metadata, created_at, updated_at)
VALUES (%(tenant)s, %(id)s, COALESCE(%(metadata)s::text, '{}'), %(now)s, %(now)s)
ON CONFLICT (tenant, id) DO UPDATE SET
    metadata = COALESCE(%(metadata)s::text, sessions.metadata),
    updated_at = CASE WHEN %(metadata)s::text IS NULL THEN sessions.updated_at ELSE %(now)s END
RETURNING *;

-- name: get_session
SELECT * FROM bosun.sessions WHERE tenant = %(tenant)s AND id = %(id)s;

-- name: list_sessions
SELECT * FROM bosun.sessions
WHERE tenant = %(tenant)s
  AND (%(before_at)s::double precision IS NULL OR (updated_at, id) < (%(before_at)s, %(before_id)s))
ORDER BY updated_at DESC, id DESC
LIMIT %(limit)s;

-- name: update_session
UPDATE bosun.sessions
SET state = COALESCE(%(state)s::text, state), metadata = COALESCE(%(metadata)s::text, metadata),
    updated_at = %(now)s
WHERE tenant = %(tenant)s AND id = %(id)s
RETURNING *;

-- name: delete_session
DELETE FROM bosun.sessions WHERE tenant = %(tenant)s AND id = %(id)s;

-- name: delete_session_messages
DELETE FROM bosun.session_messages WHERE tenant = %(tenant)s AND session_id = %(id)s;

-- name: delete_session_memories
-- A session's memories go with it (tenant-wide memories stay).
DELETE FROM bosun.memories WHERE tenant = %(tenant)s AND namespace = 'session:' || %(id)s;

-- name: append_session_messages
-- A JSON array of appends (functions/append_session_messages.sql), in the caller's transaction.
SELECT bosun.append_session_messages(%(appends)s::jsonb, %(now)s);

-- name: session_messages
SELECT seq, run_id, message, created_at FROM bosun.session_messages
WHERE tenant = %(tenant)s AND session_id = %(id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s;

-- name: drop_run_messages
DELETE FROM bosun.session_messages WHERE tenant = %(tenant)s AND session_id = %(id)s AND run_id = %(run_id)s;

-- name: session_runs
SELECT * FROM bosun.runs
WHERE tenant = %(tenant)s AND session = %(id)s
ORDER BY created_at, id;

-- memories

-- name: add_memory
-- 'added', 'exists' or 'dims:N' (functions/add_memory.sql).
SELECT bosun.add_memory(%(id)s, %(tenant)s, %(namespace)s, %(text)s, %(metadata)s,
                  %(embedding)s::double precision[], %(model)s, %(now)s) AS outcome;

-- name: search_memories
-- On the path the database uses (functions/search_memories.sql).
SELECT * FROM bosun.search_memories(%(tenant)s, %(namespace)s, %(query)s::double precision[], %(k)s);

-- name: announce_worker
INSERT INTO bosun.workers (id, host, pid, queues, workflows, concurrency, busy, version, compatible,
                     draining, started_at, last_seen, expires_at, pid_namespace, pid_started)
VALUES (%(id)s, %(host)s, %(pid)s, %(queues)s, %(workflows)s, %(concurrency)s, %(busy)s,
        %(version)s, %(compatible)s, %(draining)s, %(started_at)s, %(last_seen)s,
        %(expires_at)s, %(pid_namespace)s, %(pid_started)s)
ON CONFLICT (id) DO UPDATE SET
    busy = excluded.busy, draining = excluded.draining, last_seen = excluded.last_seen,
    expires_at = excluded.expires_at;

-- name: expire_worker_leases
-- The leases of a worker found dead (its process is gone) end now, and their tokens with
-- them: its runs are claimable at once (a claim of them is a takeover, as after expiry),
-- and a late write under its token fails the fence. Workers are woken for the runs' queues;
-- its registry row counts as gone from now.
WITH expired AS (
    UPDATE bosun.runs
    SET lease_token = NULL, lease_expires_at = %(now)s, ready_at = %(now)s,
        updated_at = %(now)s
    WHERE status = 'running' AND lease_owner = %(owner)s
    RETURNING id, queue
), notified AS (
    SELECT pg_notify('bosun_work', queue) FROM (SELECT DISTINCT queue FROM expired) AS q
), gone AS (
    UPDATE bosun.workers SET expires_at = LEAST(expires_at, %(now)s) WHERE id = %(owner)s
)
SELECT id, (SELECT count(*) FROM notified) AS n FROM expired;

-- name: leases_held_by
-- Runs of these queues and workflows that these workers hold leases on, soonest to expire
-- first (only running runs are read, through the status index).
SELECT id, lease_owner, lease_token, lease_expires_at FROM bosun.runs
WHERE status = 'running' AND lease_owner = ANY(%(owners)s) AND lease_expires_at > %(now)s
  AND queue = ANY(%(queues)s) AND workflow = ANY(%(workflows)s)
ORDER BY lease_expires_at LIMIT %(limit)s;

-- name: forget_dead_workers
DELETE FROM bosun.workers WHERE expires_at < %(before)s;

-- name: retire_worker
DELETE FROM bosun.workers WHERE id = %(id)s;

-- name: list_workers
SELECT * FROM bosun.workers ORDER BY started_at, id;

-- workload (bosun plan --from-db)

-- name: workload_hourly
SELECT floor(created_at / 3600)::bigint AS hour, COUNT(*) AS runs, MIN(created_at) AS first
FROM bosun.runs WHERE created_at >= %(since)s
GROUP BY 1 ORDER BY 1;

-- name: workload_queues
SELECT DISTINCT queue FROM bosun.runs WHERE created_at >= %(since)s ORDER BY queue;

-- name: workload_runs
SELECT r.queue, r.status, r.attempts, r.created_at, r.finished_at,
       MIN(j.started_at) AS started_at,
       COUNT(*) FILTER (WHERE j.kind IN ('step', 'tool')) AS steps,
       COUNT(*) FILTER (WHERE j.kind = 'llm') AS llm_calls,
       COALESCE(SUM(j.finished_at - j.started_at)
                FILTER (WHERE j.kind IN ('sleep', 'signal', 'child')), 0) AS waiting_s,
       COALESCE(MAX(j.finished_at - j.started_at)
                FILTER (WHERE j.kind IN ('step', 'tool', 'llm')), 0) AS longest_step_s,
       COALESCE(SUM(octet_length(j.output)), 0) + octet_length(r.input)
         + COALESCE(octet_length(r.result), 0) AS state_bytes
FROM (SELECT * FROM bosun.runs WHERE created_at >= %(since)s
      ORDER BY created_at DESC LIMIT %(limit)s) AS r
LEFT JOIN bosun.journal AS j ON j.run_id = r.id
GROUP BY r.id, r.queue, r.status, r.attempts, r.created_at, r.finished_at, r.input, r.result
ORDER BY r.created_at DESC;

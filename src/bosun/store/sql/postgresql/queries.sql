-- name: insert_run
WITH inserted AS (
    INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key,
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
INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key, parent_id,
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
SELECT id FROM runs WHERE id = %(id)s OR idempotency_key = %(key)s
ORDER BY id = %(id)s DESC LIMIT 1;

-- name: get_run
SELECT * FROM runs WHERE id = %(id)s;

-- name: set_queue_limit
INSERT INTO queue_limits (queue, max_running, updated_at)
VALUES (%(queue)s, %(max_running)s, %(now)s)
ON CONFLICT (queue) DO UPDATE SET max_running = excluded.max_running,
                                  updated_at = excluded.updated_at;

-- name: delete_queue_limit
DELETE FROM queue_limits WHERE queue = %(queue)s;

-- name: claim_ready
SELECT * FROM claim_ready(%(owner)s, %(queues)s, %(limit)s, %(window)s, %(expires)s, %(now)s,
                          %(versions)s::text[], %(workflows)s::text[]);

-- name: journals_of
SELECT * FROM journal WHERE run_id = ANY(%(run_ids)s) ORDER BY pos;

-- name: journal_of
SELECT * FROM journal WHERE run_id = %(run_id)s ORDER BY pos;

-- name: pending_signals_of
SELECT id, run_id, name, payload, created_at FROM signals
WHERE run_id = ANY(%(run_ids)s) AND consumed_seq IS NULL ORDER BY id;

-- name: save_progress_batch
-- A JSON array of save_progress arguments, as one call (see migration 0015).
SELECT i, final_status FROM save_progress_batch(%s::jsonb) ORDER BY i;

-- name: renew_leases
UPDATE runs SET lease_expires_at = %(expires)s, ready_at = %(expires)s
WHERE id = ANY(%(run_ids)s) AND lease_owner = %(owner)s AND status = 'running'
RETURNING id, lease_token;

-- name: release_leases
WITH released AS (
    UPDATE runs
    SET status = 'queued', ready_at = %(now)s, lease_owner = NULL, lease_token = NULL,
        lease_expires_at = NULL, updated_at = %(now)s
    WHERE id = ANY(%(run_ids)s) AND lease_owner = %(owner)s AND status = 'running'
    RETURNING queue
), notified AS (
    SELECT pg_notify('bosun_work', queue) FROM (SELECT DISTINCT queue FROM released) q
)
SELECT (SELECT count(*) FROM released) AS released, (SELECT count(*) FROM notified) AS n;

-- name: lock_run
SELECT * FROM runs WHERE id = %(id)s FOR UPDATE;

-- name: insert_signal
INSERT INTO signals (run_id, name, payload, created_at)
VALUES (%(run_id)s, %(name)s, %(payload)s, %(now)s);

-- name: wake_run
UPDATE runs
SET wake_seq = wake_seq + 1,
    ready_at = CASE WHEN status = 'suspended' THEN %(now)s ELSE ready_at END,
    updated_at = %(now)s
WHERE id = %(run_id)s
RETURNING pg_notify('bosun_work', queue);

-- name: unfinished_tree
WITH RECURSIVE tree(id) AS (
    SELECT %(run_id)s::text
    UNION ALL
    SELECT runs.id FROM runs JOIN tree ON runs.parent_id = tree.id
)
SELECT runs.id FROM runs JOIN tree ON runs.id = tree.id
WHERE runs.status NOT IN ('completed', 'failed', 'cancelled');

-- name: cancel_many
UPDATE runs
SET status = 'cancelled', ready_at = NULL, lease_owner = NULL, lease_token = NULL,
    lease_expires_at = NULL, updated_at = %(now)s, finished_at = %(now)s
WHERE id = ANY(%(ids)s) AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING id, pg_notify('bosun_finished', id);

-- name: settle_parent
SELECT settle_parent(%(parent_id)s, %(parent_seq)s, %(status)s, %(output)s, %(error)s, %(now)s);

-- name: resume_run
UPDATE runs SET status = 'queued', ready_at = %(now)s, error = NULL, updated_at = %(now)s
WHERE id = %(run_id)s AND status = 'blocked'
RETURNING pg_notify('bosun_work', queue);

-- name: events_of
SELECT * FROM events WHERE run_id = %(run_id)s AND seq > %(after)s ORDER BY seq
LIMIT %(limit)s;

-- name: append_events
SELECT append_events(%(run_id)s, %(events)s, %(now)s);

-- name: insert_api_key
INSERT INTO api_keys (id, tenant, name, hash, scopes, created_at)
VALUES (%(id)s, %(tenant)s, %(name)s, %(hash)s, %(scopes)s, %(created_at)s);

-- name: get_api_key
SELECT * FROM api_keys WHERE id = %(id)s;

-- name: list_api_keys
SELECT * FROM api_keys WHERE %(tenant)s::text IS NULL OR tenant = %(tenant)s
ORDER BY created_at, id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = %(now)s WHERE id = %(id)s AND revoked_at IS NULL;

-- name: queue_stats
-- The queue_depth view's numbers, of one tenant's runs or (tenant NULL) of all.
SELECT queue,
       count(*) FILTER (WHERE status IN ('queued', 'suspended') AND ready_at <= %(now)s) AS ready,
       count(*) FILTER (WHERE status = 'running') AS in_flight,
       count(*) FILTER (WHERE status = 'suspended'
                          AND (ready_at IS NULL OR ready_at > %(now)s)) AS waiting,
       COALESCE(%(now)s - min(ready_at) FILTER (WHERE status IN ('queued', 'suspended')
                                                  AND ready_at <= %(now)s), 0)
           AS oldest_ready_age
FROM runs
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
  AND status IN ('queued', 'running', 'suspended')
GROUP BY queue ORDER BY queue;

-- name: unserved_work
-- Claimable runs, by queue and workflow, that no live, non-draining worker serves (a worker
-- without a workflow list, of an earlier release, serves any), once the oldest has waited
-- %(grace)s seconds. The runs are grouped first, so workers are looked up once per group.
SELECT g.queue, g.workflow, g.ready, %(now)s - g.oldest AS oldest_ready_age
FROM (
    SELECT queue, workflow, count(*) AS ready, min(ready_at) AS oldest
    FROM runs
    WHERE ready_at <= %(now)s AND status IN ('queued', 'suspended', 'running')
      AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
    GROUP BY queue, workflow
) AS g
WHERE g.oldest <= %(now)s - %(grace)s
  AND NOT EXISTS (
    SELECT 1 FROM workers AS w
    WHERE g.queue = ANY(w.queues) AND w.expires_at > %(now)s AND NOT w.draining
      AND (w.workflows IS NULL OR g.workflow = ANY(w.workflows)))
ORDER BY g.queue, g.workflow;

-- schedules

-- name: insert_schedule
INSERT INTO schedules (name, workflow, cron, timezone, input, queue, missed, max_catch_up,
                       next_tick, source, created_at, updated_at)
VALUES (%(name)s, %(workflow)s, %(cron)s, %(timezone)s, %(input)s, %(queue)s, %(missed)s,
        %(max_catch_up)s, %(next_tick)s, %(source)s, %(now)s, %(now)s)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: declare_schedule
-- A schedule declared in code keeps its next tick (and an operator's pause) unless its cron
-- expression or time zone changed; an unchanged one is not written at all.
INSERT INTO schedules AS s (name, workflow, cron, timezone, input, queue, missed,
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
DELETE FROM schedules
WHERE source = 'code' AND workflow = ANY(%(workflows)s) AND name <> ALL(%(names)s);

-- name: get_schedule
SELECT * FROM schedules WHERE name = %(name)s;

-- name: list_schedules
SELECT * FROM schedules ORDER BY name;

-- name: set_schedule_paused
UPDATE schedules
SET paused = %(paused)s, next_tick = COALESCE(%(next_tick)s::bigint, next_tick),
    updated_at = %(now)s
WHERE name = %(name)s
RETURNING *;

-- name: delete_schedule
DELETE FROM schedules WHERE name = %(name)s RETURNING name;

-- name: due_schedules
SELECT * FROM schedules
WHERE NOT paused AND next_tick <= %(now)s AND workflow = ANY(%(workflows)s)
ORDER BY next_tick
LIMIT %(limit)s;

-- name: advance_schedule
-- The compare-and-set: only a scheduler that read `expected` moves the schedule on. Under
-- READ COMMITTED a racing UPDATE waits for the winner's row lock, then re-checks `next_tick`
-- against the committed value and updates nothing.
UPDATE schedules
SET next_tick = %(next_tick)s, last_tick = COALESCE(%(last_tick)s::bigint, last_tick),
    last_error = %(error)s, updated_at = %(now)s
WHERE name = %(name)s AND next_tick = %(expected)s AND NOT paused
RETURNING name;

-- name: set_schedule_last_run
UPDATE schedules SET last_run_id = %(run_id)s WHERE name = %(name)s;

-- rate limits

-- name: fence_run
-- Lock the run and prove the lease, for writes made outside save_progress.
SELECT 1 FROM runs
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'running'
FOR UPDATE;

-- name: upsert_rate_limit
-- Copy the limit from the code, lock the row and return the buckets; a new name starts
-- full. Without a caller's clock the database's is used, the same for every worker.
INSERT INTO rate_limits (name, request_capacity, token_capacity, per, requests, tokens,
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
UPDATE rate_limits SET requests = %(requests)s, tokens = %(tokens)s, updated_at = %(updated_at)s
WHERE name = %(name)s;

-- name: get_rate_buckets
SELECT requests, tokens, updated_at FROM rate_limits WHERE name = %(name)s;

-- name: upsert_journal_entry
INSERT INTO journal (run_id, seq, kind, name, status, output, error, attempt, started_at,
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
    SELECT id FROM runs
    WHERE finished_at < %(before)s AND status IN ('completed', 'failed', 'cancelled')
    ORDER BY finished_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), j AS (
    DELETE FROM journal WHERE run_id IN (SELECT id FROM doomed)
), s AS (
    DELETE FROM signals WHERE run_id IN (SELECT id FROM doomed)
), e AS (
    DELETE FROM events WHERE run_id IN (SELECT id FROM doomed)
), r AS (
    DELETE FROM runs WHERE id IN (SELECT id FROM doomed) RETURNING 1
)
SELECT count(*) AS pruned FROM r;

-- usage

-- name: usage_totals
SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,
       COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
       COALESCE(SUM(cached_tokens), 0) AS cached_tokens, COALESCE(SUM(cost), 0) AS cost
FROM usage
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
  AND (%(session)s::text IS NULL OR session = %(session)s)
  AND (%(run_id)s::text IS NULL OR run_id = %(run_id)s)
  AND created_at >= %(since)s;

-- sessions

-- name: ensure_session
INSERT INTO sessions (tenant, id, metadata, created_at, updated_at)
VALUES (%(tenant)s, %(id)s, COALESCE(%(metadata)s::text, '{}'), %(now)s, %(now)s)
ON CONFLICT (tenant, id) DO UPDATE SET
    metadata = COALESCE(%(metadata)s::text, sessions.metadata),
    updated_at = CASE WHEN %(metadata)s::text IS NULL THEN sessions.updated_at ELSE %(now)s END
RETURNING *;

-- name: get_session
SELECT * FROM sessions WHERE tenant = %(tenant)s AND id = %(id)s;

-- name: list_sessions
SELECT * FROM sessions
WHERE tenant = %(tenant)s
  AND (%(before_at)s::double precision IS NULL OR (updated_at, id) < (%(before_at)s, %(before_id)s))
ORDER BY updated_at DESC, id DESC
LIMIT %(limit)s;

-- name: update_session
UPDATE sessions
SET state = COALESCE(%(state)s::text, state), metadata = COALESCE(%(metadata)s::text, metadata),
    updated_at = %(now)s
WHERE tenant = %(tenant)s AND id = %(id)s
RETURNING *;

-- name: delete_session
DELETE FROM sessions WHERE tenant = %(tenant)s AND id = %(id)s;

-- name: delete_session_messages
DELETE FROM session_messages WHERE tenant = %(tenant)s AND session_id = %(id)s;

-- name: delete_session_memories
-- A session's memories go with it (tenant-wide memories stay).
DELETE FROM memories WHERE tenant = %(tenant)s AND namespace = 'session:' || %(id)s;

-- name: take_message_seqs
UPDATE sessions SET last_seq = last_seq + %(n)s, updated_at = %(now)s
WHERE tenant = %(tenant)s AND id = %(id)s
RETURNING last_seq;

-- name: insert_session_message
INSERT INTO session_messages (tenant, session_id, seq, run_id, source, message, created_at)
VALUES (%(tenant)s, %(id)s, %(seq)s, %(run_id)s, %(source)s, %(message)s, %(now)s)
ON CONFLICT DO NOTHING;

-- name: session_messages
SELECT seq, run_id, message, created_at FROM session_messages
WHERE tenant = %(tenant)s AND session_id = %(id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s;

-- name: drop_run_messages
DELETE FROM session_messages WHERE tenant = %(tenant)s AND session_id = %(id)s AND run_id = %(run_id)s;

-- name: session_runs
SELECT * FROM runs
WHERE tenant = %(tenant)s AND session = %(id)s
ORDER BY created_at, id;

-- memories

-- name: insert_memory
INSERT INTO memories (id, tenant, namespace, text, metadata, embedding, model, created_at)
VALUES (%(id)s, %(tenant)s, %(namespace)s, %(text)s, %(metadata)s, %(embedding)s, %(model)s,
        %(now)s)
ON CONFLICT (id) DO NOTHING;

-- name: search_memories
-- Exact cosine similarity; stored vectors are normalised, so it is a dot product.
SELECT m.id, m.text, m.metadata, m.created_at,
       (SELECT sum(a * b) FROM unnest(m.embedding, %(query)s::double precision[]) AS t(a, b))
           AS score
FROM memories AS m
WHERE m.tenant = %(tenant)s AND m.namespace = %(namespace)s
  AND cardinality(m.embedding) = cardinality(%(query)s::double precision[])
ORDER BY score DESC, m.created_at DESC
LIMIT %(k)s;

-- name: announce_worker
INSERT INTO workers (id, host, pid, queues, workflows, concurrency, busy, version, compatible,
                     draining, started_at, last_seen, expires_at)
VALUES (%(id)s, %(host)s, %(pid)s, %(queues)s, %(workflows)s, %(concurrency)s, %(busy)s,
        %(version)s, %(compatible)s, %(draining)s, %(started_at)s, %(last_seen)s,
        %(expires_at)s)
ON CONFLICT (id) DO UPDATE SET
    busy = excluded.busy, draining = excluded.draining, last_seen = excluded.last_seen,
    expires_at = excluded.expires_at;

-- name: forget_dead_workers
DELETE FROM workers WHERE expires_at < %(before)s;

-- name: retire_worker
DELETE FROM workers WHERE id = %(id)s;

-- name: list_workers
SELECT * FROM workers ORDER BY started_at, id;

-- workload (bosun plan --from-db)

-- name: workload_hourly
SELECT floor(created_at / 3600)::bigint AS hour, COUNT(*) AS runs, MIN(created_at) AS first
FROM runs WHERE created_at >= %(since)s
GROUP BY 1 ORDER BY 1;

-- name: workload_queues
SELECT DISTINCT queue FROM runs WHERE created_at >= %(since)s ORDER BY queue;

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
FROM (SELECT * FROM runs WHERE created_at >= %(since)s
      ORDER BY created_at DESC LIMIT %(limit)s) AS r
LEFT JOIN journal AS j ON j.run_id = r.id
GROUP BY r.id, r.queue, r.status, r.attempts, r.created_at, r.finished_at, r.input, r.result
ORDER BY r.created_at DESC;

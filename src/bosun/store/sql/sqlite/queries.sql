-- name: insert_run
INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key, parent_id,
                  parent_seq, deadline, concurrency_key, concurrency_limit, fairness_key,
                  tenant, session, webhook_url, ready_at, created_at, updated_at, traceparent)
VALUES (:id, :workflow, :queue, 'queued', :priority, :input, :idempotency_key, :parent_id,
        :parent_seq, :deadline, :concurrency_key, :concurrency_limit, :fairness_key,
        :tenant, :session, :webhook_url, :now, :now, :now, :traceparent)
ON CONFLICT DO NOTHING;

-- name: insert_claimed_run
INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key, parent_id,
                  parent_seq, deadline, concurrency_key, concurrency_limit, fairness_key,
                  tenant, session, webhook_url, ready_at, lease_owner, lease_token,
                  lease_expires_at, attempts, started_at, created_at, updated_at, version,
                  traceparent)
VALUES (:id, :workflow, :queue, 'running', :priority, :input, :idempotency_key, :parent_id,
        :parent_seq, :deadline, :concurrency_key, :concurrency_limit, :fairness_key,
        :tenant, :session, :webhook_url, :expires, :owner, :owner || ':1', :expires, 1, :now,
        :now, :now, :version, :traceparent)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: conflicting_run
-- The run an insert collided with: this very run (an earlier attempt of the same insert
-- went through) or the one holding the idempotency key.
SELECT id FROM runs WHERE id = :id OR idempotency_key = :key
ORDER BY id = :id DESC LIMIT 1;

-- name: get_run
SELECT * FROM runs WHERE id = :id;

-- name: finished_runs
SELECT * FROM runs
WHERE id IN (SELECT value FROM json_each(:ids)) AND status IN ('completed', 'failed', 'cancelled');

-- name: claim_candidates
-- Ready runs in claim order: priority, then round robin across fairness keys, then age.
-- Reads every ready run of the queues: used when one has a fairness key, or for a claim of
-- any workflow (tools, not workers).
-- A run with a concurrency key starts only while its key has a free slot, and only after
-- every older run waiting on the same key (FIFO per key); once started it keeps its slot.
SELECT id, queue, status FROM (
    SELECT r.id, r.queue, r.status, r.priority, r.ready_at,
           ROW_NUMBER() OVER (PARTITION BY r.fairness_key ORDER BY r.priority DESC, r.ready_at)
               AS fair_rank
    FROM runs AS r
    WHERE r.queue IN (SELECT value FROM json_each(:queues))
      AND r.ready_at <= :now
      AND r.status IN ('queued', 'suspended', 'running')
      AND (:any_workflow OR r.workflow IN (SELECT value FROM json_each(:workflows)))
      AND (r.concurrency_key IS NULL OR r.started_at IS NOT NULL OR (
            (SELECT COUNT(*) FROM runs AS k
             WHERE k.concurrency_key = r.concurrency_key AND k.started_at IS NOT NULL
               AND k.status NOT IN ('completed', 'failed', 'cancelled')) < r.concurrency_limit
            AND NOT EXISTS (
             SELECT 1 FROM runs AS o
             WHERE o.concurrency_key = r.concurrency_key AND o.started_at IS NULL
               AND o.status = 'queued' AND (o.created_at, o.id) < (r.created_at, r.id))))
      AND (:any_version OR r.version IS NULL
           OR r.version IN (SELECT value FROM json_each(:versions))
           OR NOT EXISTS (
             SELECT 1 FROM workers AS w, json_each(w.queues) AS wq
             WHERE w.version = r.version AND wq.value = r.queue
               AND w.expires_at > :now AND NOT w.draining))
)
ORDER BY priority DESC, fair_rank, ready_at
LIMIT :window;

-- name: claim_candidates_fast
-- The same choice when no ready run in these queues has a fairness key, for one queue and
-- workflow at a time (the caller merges them): a scan of runs_ready in priority order that
-- stops after :window runs. `queue IN (...)`, or an index on status (`+` keeps it out),
-- would read and sort every ready run instead.
SELECT r.id, r.queue, r.status, r.priority, r.ready_at
FROM runs AS r
WHERE r.queue = :queue AND r.workflow = :workflow
      AND r.ready_at <= :now
      AND +r.status IN ('queued', 'suspended', 'running')
      AND (r.concurrency_key IS NULL OR r.started_at IS NOT NULL OR (
            (SELECT COUNT(*) FROM runs AS k
             WHERE k.concurrency_key = r.concurrency_key AND k.started_at IS NOT NULL
               AND k.status NOT IN ('completed', 'failed', 'cancelled')) < r.concurrency_limit
            AND NOT EXISTS (
             SELECT 1 FROM runs AS o
             WHERE o.concurrency_key = r.concurrency_key AND o.started_at IS NULL
               AND o.status = 'queued' AND (o.created_at, o.id) < (r.created_at, r.id))))
      AND (:any_version OR r.version IS NULL
           OR r.version IN (SELECT value FROM json_each(:versions))
           OR NOT EXISTS (
             SELECT 1 FROM workers AS w, json_each(w.queues) AS wq
             WHERE w.version = r.version AND wq.value = r.queue
               AND w.expires_at > :now AND NOT w.draining))
ORDER BY r.priority DESC, r.ready_at
LIMIT :window;

-- name: fair_runs_ready
SELECT EXISTS (
    SELECT 1 FROM runs AS r
    WHERE r.queue IN (SELECT value FROM json_each(:queues))
      AND r.fairness_key IS NOT NULL AND r.ready_at IS NOT NULL AND r.ready_at <= :now
) AS fair;

-- name: running_per_queue
SELECT queue, COUNT(*) AS running FROM runs
WHERE status = 'running' AND queue IN (SELECT value FROM json_each(:queues))
GROUP BY queue;

-- name: queue_limits_of
SELECT queue, max_running FROM queue_limits WHERE queue IN (SELECT value FROM json_each(:queues));

-- name: set_queue_limit
INSERT INTO queue_limits (queue, max_running, updated_at) VALUES (:queue, :max_running, :now)
ON CONFLICT (queue) DO UPDATE SET max_running = excluded.max_running,
                                  updated_at = excluded.updated_at;

-- name: delete_queue_limit
DELETE FROM queue_limits WHERE queue = :queue;

-- name: claim_runs
UPDATE runs
SET status = 'running',
    lease_owner = :owner,
    attempts = attempts + 1,
    lease_token = :owner || ':' || (attempts + 1),
    lease_expires_at = :expires,
    ready_at = :expires,
    started_at = COALESCE(started_at, :now),
    updated_at = :now,
    version = COALESCE(:version, version)
-- By primary key only: `+` keeps the status and ready_at indexes (a scan of every queued
-- run) out of it.
WHERE id IN (SELECT value FROM json_each(:run_ids))
  AND +ready_at <= :now
  AND +status IN ('queued', 'suspended', 'running')
RETURNING *;

-- name: journal_of
SELECT * FROM journal WHERE run_id = :run_id ORDER BY rowid;

-- name: journal_of_in_status
SELECT * FROM journal WHERE run_id = :run_id AND status = :status ORDER BY rowid;

-- name: journals_of
SELECT * FROM journal WHERE run_id IN (SELECT value FROM json_each(:run_ids)) ORDER BY rowid;

-- name: pending_signals_of
SELECT id, run_id, name, payload, created_at FROM signals
WHERE run_id IN (SELECT value FROM json_each(:run_ids)) AND consumed_seq IS NULL ORDER BY id;

-- name: check_lease
-- Inside the write transaction nobody else can move the token, so a read is a fence.
-- Leases are extended by heartbeats, not here, to keep index pages out of each commit.
SELECT 1 FROM runs WHERE id = :run_id AND lease_token = :token AND status = 'running';

-- name: upsert_journal
INSERT INTO journal (run_id, seq, kind, name, status, output, error, attempt, started_at,
                     finished_at, wake_at, child_id)
VALUES (:run_id, :seq, :kind, :name, :status, :output, :error, :attempt, :started_at,
        :finished_at, :wake_at, :child_id)
ON CONFLICT (run_id, seq) DO UPDATE SET
    status = excluded.status, output = excluded.output, error = excluded.error,
    attempt = excluded.attempt, finished_at = excluded.finished_at,
    wake_at = excluded.wake_at, child_id = excluded.child_id;

-- name: consume_signal
UPDATE signals SET consumed_seq = :seq WHERE id = :id AND consumed_seq IS NULL;

-- name: take_event_seqs
-- Reserve `n` event positions of a run (inside the writer's transaction); returns the last.
UPDATE runs SET event_seq = event_seq + :n WHERE id = :run_id RETURNING event_seq;

-- name: take_event_seqs_fenced
-- take_event_seqs under the lease (check_lease's fence): no row if it is no longer held.
UPDATE runs SET event_seq = event_seq + :n
WHERE id = :run_id AND lease_token = :token AND status = 'running'
RETURNING event_seq;

-- name: insert_event
-- Positional: executemany with one tuple per event (store.insert_events).
INSERT INTO events (run_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?);

-- name: suspend_run
-- A wake-up that arrived while the run was running (wake_seq moved) makes it ready at once.
UPDATE runs
SET status = 'suspended',
    ready_at = CASE WHEN wake_seq <> :wake_seq THEN :now ELSE :wake_at END,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = :now
WHERE id = :run_id AND lease_token = :token AND status = 'running';

-- name: release_run
UPDATE runs
SET status = 'queued', ready_at = :now,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = :now
WHERE id = :run_id AND lease_token = :token AND status = 'running';

-- name: finish_run
UPDATE runs
SET status = :status, result = :result, error = :error, ready_at = NULL,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
    updated_at = :now, finished_at = :finished_at
WHERE id = :run_id AND lease_token = :token AND status = 'running'
RETURNING parent_id, parent_seq;

-- name: settle_child_entry
UPDATE journal SET status = :status, output = :output, error = :error, finished_at = :now
WHERE run_id = :parent_id AND seq = :parent_seq AND status = 'waiting';

-- name: wake_run
UPDATE runs
SET wake_seq = wake_seq + 1,
    ready_at = CASE WHEN status = 'suspended' THEN :now ELSE ready_at END,
    updated_at = :now
WHERE id = :run_id;

-- name: renew_leases
-- A lease whose token was voided (its worker was found dead) is not renewed: it is lost.
UPDATE runs SET lease_expires_at = :expires, ready_at = :expires
WHERE id IN (SELECT value FROM json_each(:run_ids))
  AND lease_owner = :owner AND status = 'running' AND lease_token IS NOT NULL
RETURNING id, lease_token;

-- name: release_leases
UPDATE runs
SET status = 'queued', ready_at = :now,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:run_ids))
  AND lease_owner = :owner AND status = 'running';

-- name: wait_is_open
-- The journal entry at :seq still waits, its deadline (if any) has not passed, and no signal
-- :name is pending to answer it. Past the deadline the wait has timed out, whether or not a
-- worker has written so yet: a signal sent then would be taken by nobody.
SELECT 1 FROM journal
WHERE run_id = :run_id AND seq = :seq AND status = 'waiting'
  AND (wake_at IS NULL OR wake_at > :now)
  AND NOT EXISTS (SELECT 1 FROM signals
                  WHERE run_id = :run_id AND name = :name AND consumed_seq IS NULL);

-- name: insert_signal
INSERT INTO signals (run_id, name, payload, created_at) VALUES (:run_id, :name, :payload, :now);

-- name: unfinished_tree
WITH RECURSIVE tree(id) AS (
    SELECT :run_id
    UNION ALL
    SELECT runs.id FROM runs JOIN tree ON runs.parent_id = tree.id
)
SELECT runs.id FROM runs JOIN tree ON runs.id = tree.id
WHERE runs.status NOT IN ('completed', 'failed', 'cancelled');

-- name: cancel_one
UPDATE runs
SET status = 'cancelled', ready_at = NULL, lease_owner = NULL, lease_token = NULL,
    lease_expires_at = NULL, updated_at = :now, finished_at = :now
WHERE id = :id AND status NOT IN ('completed', 'failed', 'cancelled');

-- name: resume_run
UPDATE runs SET status = 'queued', ready_at = :now, error = NULL, updated_at = :now
WHERE id = :run_id AND status = 'blocked';

-- name: events_of
SELECT * FROM events WHERE run_id = :run_id AND seq > :after ORDER BY seq LIMIT :limit;

-- name: insert_api_key
INSERT INTO api_keys (id, tenant, name, hash, scopes, created_at)
VALUES (:id, :tenant, :name, :hash, :scopes, :created_at);

-- name: get_api_key
SELECT * FROM api_keys WHERE id = :id;

-- name: list_api_keys
SELECT * FROM api_keys WHERE :tenant IS NULL OR tenant = :tenant ORDER BY created_at, id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL;

-- name: queue_stats
-- The queue_depth view's numbers, of one tenant's runs or (:tenant NULL) of all, at the
-- caller's :now: SQLite's own clock ('now') has millisecond resolution, so a run created
-- this instant could count as not yet ready. Through the status index: `+` keeps the
-- tenant's index, which holds every finished run too, out of it.
-- Every known queue has a row, with zeros where no run is unfinished: queues with
-- unfinished runs or a run that finished since `since` (of those runs; through the
-- finished index), and, whatever the tenant, the queues of listed workers, limited queues
-- and `known` (the queues the caller's app declares). `runnable`: the in-flight runs plus
-- the ready runs the queue's limit and their concurrency keys admit (limits and key slots
-- are shared by every tenant).
WITH depth AS (
    SELECT queue,
           SUM(status IN ('queued', 'suspended') AND ready_at <= :now) AS ready,
           SUM(status = 'running') AS in_flight,
           SUM(status = 'suspended' AND (ready_at IS NULL OR ready_at > :now)) AS waiting,
           COALESCE(:now - MIN(CASE WHEN status IN ('queued', 'suspended') AND ready_at <= :now
                                   THEN ready_at END), 0) AS oldest_ready_age,
           SUM(status IN ('queued', 'suspended') AND ready_at <= :now
               AND (concurrency_key IS NULL OR started_at IS NOT NULL)) AS ready_unkeyed
    FROM runs
    WHERE (:tenant IS NULL OR +tenant = :tenant) AND status IN ('queued', 'running', 'suspended')
    GROUP BY queue
), waiting_keys AS (
    SELECT queue, concurrency_key, COUNT(*) AS ready,
           COALESCE(MAX(concurrency_limit), 0) AS slots
    FROM runs
    WHERE (:tenant IS NULL OR +tenant = :tenant) AND status IN ('queued', 'suspended')
      AND ready_at <= :now AND concurrency_key IS NOT NULL AND started_at IS NULL
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
    UNION SELECT queue FROM runs
    WHERE finished_at >= :since AND (:tenant IS NULL OR +tenant = :tenant)
    UNION SELECT wq.value FROM workers AS w, json_each(w.queues) AS wq
    UNION SELECT queue FROM queue_limits
    UNION SELECT value FROM json_each(:known)
)
SELECT k.queue, COALESCE(d.ready, 0) AS ready, COALESCE(d.in_flight, 0) AS in_flight,
       COALESCE(d.waiting, 0) AS waiting, COALESCE(d.oldest_ready_age, 0) AS oldest_ready_age,
       COALESCE(d.in_flight, 0) + CASE
           WHEN l.max_running IS NULL THEN COALESCE(d.ready_unkeyed, 0) + COALESCE(a.admitted, 0)
           ELSE MIN(COALESCE(d.ready_unkeyed, 0) + COALESCE(a.admitted, 0),
                    MAX(l.max_running - COALESCE(d.in_flight, 0), 0))
       END AS runnable
FROM known AS k
LEFT JOIN depth AS d ON d.queue = k.queue
LEFT JOIN keyed AS a ON a.queue = k.queue
LEFT JOIN queue_limits AS l ON l.queue = k.queue
ORDER BY k.queue;

-- name: unserved_work
-- Claimable runs, by queue and workflow, that no live, non-draining worker serves (a worker
-- without a workflow list, of an earlier release, serves any), once the oldest has waited
-- :grace seconds. The runs are grouped first, so workers are looked up once per group.
SELECT g.queue, g.workflow, g.ready, :now - g.oldest AS oldest_ready_age
FROM (
    SELECT queue, workflow, COUNT(*) AS ready, MIN(ready_at) AS oldest
    FROM runs
    WHERE ready_at <= :now AND status IN ('queued', 'suspended', 'running')
      AND (:tenant IS NULL OR tenant = :tenant)
    GROUP BY queue, workflow
) AS g
WHERE g.oldest <= :now - :grace
  AND NOT EXISTS (
    SELECT 1 FROM workers AS w, json_each(w.queues) AS wq
    WHERE wq.value = g.queue AND w.expires_at > :now AND NOT w.draining
      AND (w.workflows IS NULL
           OR EXISTS (SELECT 1 FROM json_each(w.workflows) AS ww WHERE ww.value = g.workflow)))
ORDER BY g.queue, g.workflow;

-- schedules

-- name: insert_schedule
INSERT INTO schedules (name, workflow, cron, timezone, input, queue, missed, max_catch_up,
                       next_tick, source, created_at, updated_at)
VALUES (:name, :workflow, :cron, :timezone, :input, :queue, :missed, :max_catch_up,
        :next_tick, :source, :now, :now)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: declare_schedule
-- A schedule declared in code keeps its next tick (and an operator's pause) unless its cron
-- expression or time zone changed; an unchanged one is not written at all.
INSERT INTO schedules (name, workflow, cron, timezone, input, queue, missed, max_catch_up,
                       next_tick, source, created_at, updated_at)
VALUES (:name, :workflow, :cron, :timezone, :input, :queue, :missed, :max_catch_up,
        :next_tick, 'code', :now, :now)
ON CONFLICT (name) DO UPDATE SET
    workflow = excluded.workflow, cron = excluded.cron, timezone = excluded.timezone,
    input = excluded.input, queue = excluded.queue, missed = excluded.missed,
    max_catch_up = excluded.max_catch_up, source = 'code', updated_at = excluded.updated_at,
    next_tick = CASE WHEN schedules.cron = excluded.cron
                          AND schedules.timezone = excluded.timezone
                     THEN schedules.next_tick ELSE excluded.next_tick END
WHERE schedules.workflow IS NOT excluded.workflow OR schedules.cron IS NOT excluded.cron
   OR schedules.timezone IS NOT excluded.timezone OR schedules.input IS NOT excluded.input
   OR schedules.queue IS NOT excluded.queue OR schedules.missed IS NOT excluded.missed
   OR schedules.max_catch_up IS NOT excluded.max_catch_up OR schedules.source IS NOT 'code';

-- name: delete_undeclared_schedules
DELETE FROM schedules
WHERE source = 'code'
  AND workflow IN (SELECT value FROM json_each(:workflows))
  AND name NOT IN (SELECT value FROM json_each(:names));

-- name: get_schedule
SELECT * FROM schedules WHERE name = :name;

-- name: list_schedules
SELECT * FROM schedules ORDER BY name;

-- name: set_schedule_paused
UPDATE schedules
SET paused = :paused, next_tick = COALESCE(:next_tick, next_tick), updated_at = :now
WHERE name = :name
RETURNING *;

-- name: delete_schedule
DELETE FROM schedules WHERE name = :name;

-- name: due_schedules
SELECT * FROM schedules
WHERE paused = 0 AND next_tick <= :now
  AND workflow IN (SELECT value FROM json_each(:workflows))
ORDER BY next_tick
LIMIT :limit;

-- name: advance_schedule
-- The compare-and-set: only a scheduler that read `expected` moves the schedule on.
UPDATE schedules
SET next_tick = :next_tick, last_tick = COALESCE(:last_tick, last_tick), last_error = :error,
    updated_at = :now
WHERE name = :name AND next_tick = :expected AND paused = 0;

-- name: set_schedule_last_run
UPDATE schedules SET last_run_id = :run_id WHERE name = :name;

-- rate limits

-- name: upsert_rate_limit
-- Copy the limit from the code and return the buckets; a new name starts full.
INSERT INTO rate_limits (name, request_capacity, token_capacity, per, requests, tokens,
                         updated_at)
VALUES (:name, :request_capacity, :token_capacity, :per, :request_capacity, :token_capacity,
        :now)
ON CONFLICT (name) DO UPDATE SET
    request_capacity = excluded.request_capacity, token_capacity = excluded.token_capacity,
    per = excluded.per
RETURNING requests, tokens, updated_at;

-- name: save_rate_buckets
UPDATE rate_limits SET requests = :requests, tokens = :tokens, updated_at = :updated_at
WHERE name = :name;

-- name: get_rate_buckets
SELECT requests, tokens, updated_at FROM rate_limits WHERE name = :name;

-- retention
-- name: prunable_runs
SELECT id FROM runs
WHERE finished_at < :before AND status IN ('completed', 'failed', 'cancelled')
ORDER BY finished_at
LIMIT :batch;

-- name: prune_journal
DELETE FROM journal WHERE run_id IN (SELECT value FROM json_each(:run_ids));

-- name: prune_signals
DELETE FROM signals WHERE run_id IN (SELECT value FROM json_each(:run_ids));

-- name: prune_events
DELETE FROM events WHERE run_id IN (SELECT value FROM json_each(:run_ids));

-- name: prune_runs
DELETE FROM runs WHERE id IN (SELECT value FROM json_each(:run_ids));

-- large payloads

-- name: upsert_payload
INSERT INTO run_payloads (run_id, field, data, size) VALUES (:run_id, :field, :data, :size)
ON CONFLICT (run_id, field) DO UPDATE SET data = excluded.data, size = excluded.size;

-- name: payloads_of
SELECT run_id, field, data FROM run_payloads
WHERE run_id IN (SELECT value FROM json_each(:run_ids));

-- name: prune_payloads
DELETE FROM run_payloads WHERE run_id IN (SELECT value FROM json_each(:run_ids));

-- usage

-- name: usage_totals
SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,
       COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
       COALESCE(SUM(cached_tokens), 0) AS cached_tokens, COALESCE(SUM(cost), 0) AS cost
FROM usage
WHERE (:tenant IS NULL OR tenant = :tenant)
  AND (:session IS NULL OR session = :session)
  AND (:run_id IS NULL OR run_id = :run_id)
  AND created_at >= :since;

-- sessions

-- name: ensure_session
INSERT INTO sessions (tenant, id, metadata, created_at, updated_at)
VALUES (:tenant, :id, COALESCE(:metadata, '{}'), :now, :now)
ON CONFLICT (tenant, id) DO UPDATE SET
    metadata = COALESCE(:metadata, sessions.metadata),
    updated_at = CASE WHEN :metadata IS NULL THEN sessions.updated_at ELSE :now END
RETURNING *;

-- name: get_session
SELECT * FROM sessions WHERE tenant = :tenant AND id = :id;

-- name: list_sessions
SELECT * FROM sessions
WHERE tenant = :tenant
  AND (:before_at IS NULL OR (updated_at, id) < (:before_at, :before_id))
ORDER BY updated_at DESC, id DESC
LIMIT :limit;

-- name: update_session
UPDATE sessions
SET state = COALESCE(:state, state), metadata = COALESCE(:metadata, metadata),
    updated_at = :now
WHERE tenant = :tenant AND id = :id
RETURNING *;

-- name: delete_session
DELETE FROM sessions WHERE tenant = :tenant AND id = :id;

-- name: delete_session_messages
DELETE FROM session_messages WHERE tenant = :tenant AND session_id = :id;

-- name: delete_session_memories
-- A session's memories go with it (tenant-wide memories stay).
DELETE FROM memories WHERE tenant = :tenant AND namespace = 'session:' || :id;

-- name: take_message_seqs
UPDATE sessions SET last_seq = last_seq + :n, updated_at = :now
WHERE tenant = :tenant AND id = :id
RETURNING last_seq;

-- name: insert_session_message
INSERT INTO session_messages (tenant, session_id, seq, run_id, source, message, created_at)
VALUES (:tenant, :id, :seq, :run_id, :source, :message, :now)
ON CONFLICT DO NOTHING;

-- name: session_messages
SELECT seq, run_id, message, created_at FROM session_messages
WHERE tenant = :tenant AND session_id = :id AND seq > :after
ORDER BY seq
LIMIT :limit;

-- name: drop_run_messages
DELETE FROM session_messages WHERE tenant = :tenant AND session_id = :id AND run_id = :run_id;

-- name: session_runs
SELECT * FROM runs
WHERE tenant = :tenant AND session = :id
ORDER BY created_at, id;

-- memories

-- name: insert_memory
INSERT INTO memories (id, tenant, namespace, text, metadata, embedding, dims, model, created_at)
VALUES (:id, :tenant, :namespace, :text, :metadata, :embedding, :dims, :model, :now)
ON CONFLICT (id) DO NOTHING;

-- name: namespace_memories
SELECT id, text, metadata, embedding, created_at FROM memories
WHERE tenant = :tenant AND namespace = :namespace AND dims = :dims;

-- name: namespace_dims
-- The dimension count of the namespace's memories (of one of them: they share it).
SELECT dims FROM memories WHERE tenant = :tenant AND namespace = :namespace LIMIT 1;

-- name: namespace_dims_other_than
-- The dimension count of some memory of the namespace that has not `dims` (NULL if none).
SELECT dims FROM memories
WHERE tenant = :tenant AND namespace = :namespace AND dims <> :dims
LIMIT 1;

-- name: announce_worker
INSERT INTO workers (id, host, pid, queues, workflows, concurrency, busy, version, compatible,
                     draining, started_at, last_seen, expires_at, pid_namespace, pid_started)
VALUES (:id, :host, :pid, :queues, :workflows, :concurrency, :busy, :version, :compatible,
        :draining, :started_at, :last_seen, :expires_at, :pid_namespace, :pid_started)
ON CONFLICT (id) DO UPDATE SET
    busy = excluded.busy, draining = excluded.draining, last_seen = excluded.last_seen,
    expires_at = excluded.expires_at;

-- name: expire_worker_leases
-- The leases of a worker found dead (its process is gone) end now, and their tokens with
-- them: its runs are claimable at once (a claim of them is a takeover, as after expiry),
-- and a late write under its token fails the fence. Through the status index: only running
-- runs are read.
UPDATE runs
SET lease_token = NULL, lease_expires_at = :now, ready_at = :now, updated_at = :now
WHERE status = 'running' AND lease_owner = :owner
RETURNING id;

-- name: mark_worker_gone
UPDATE workers SET expires_at = MIN(expires_at, :now) WHERE id = :id;

-- name: leases_held_by
-- Runs of these queues and workflows that these workers hold leases on, soonest to expire
-- first. Through the status index (`+` keeps the queue indexes out): only running runs are
-- read.
SELECT id, lease_owner, lease_token, lease_expires_at FROM runs
WHERE status = 'running' AND lease_owner IN (SELECT value FROM json_each(:owners))
  AND lease_expires_at > :now
  AND +queue IN (SELECT value FROM json_each(:queues))
  AND +workflow IN (SELECT value FROM json_each(:workflows))
ORDER BY lease_expires_at LIMIT :limit;

-- name: forget_dead_workers
DELETE FROM workers WHERE expires_at < :before;

-- name: retire_worker
DELETE FROM workers WHERE id = :id;

-- name: list_workers
SELECT * FROM workers ORDER BY started_at, id;

-- workload (bosun plan --from-db)

-- name: workload_hourly
SELECT CAST(created_at / 3600 AS INTEGER) AS hour, COUNT(*) AS runs, MIN(created_at) AS first
FROM runs WHERE created_at >= :since
GROUP BY hour ORDER BY hour;

-- name: workload_queues
SELECT DISTINCT queue FROM runs WHERE created_at >= :since ORDER BY queue;

-- name: workload_runs
SELECT r.queue, r.status, r.attempts, r.created_at, r.finished_at,
       MIN(j.started_at) AS started_at,
       COUNT(*) FILTER (WHERE j.kind IN ('step', 'tool')) AS steps,
       COUNT(*) FILTER (WHERE j.kind = 'llm') AS llm_calls,
       COALESCE(SUM(j.finished_at - j.started_at)
                FILTER (WHERE j.kind IN ('sleep', 'signal', 'child')), 0) AS waiting_s,
       COALESCE(MAX(j.finished_at - j.started_at)
                FILTER (WHERE j.kind IN ('step', 'tool', 'llm')), 0) AS longest_step_s,
       COALESCE(SUM(length(CAST(j.output AS BLOB))), 0)
         + CASE WHEN r.input = '@offloaded'
                THEN (SELECT size FROM run_payloads WHERE run_id = r.id AND field = 'input')
                ELSE length(CAST(r.input AS BLOB)) END
         + CASE WHEN r.result = '@offloaded'
                THEN (SELECT size FROM run_payloads WHERE run_id = r.id AND field = 'result')
                ELSE COALESCE(length(CAST(r.result AS BLOB)), 0) END AS state_bytes
FROM (SELECT * FROM runs WHERE created_at >= :since
      ORDER BY created_at DESC LIMIT :limit) AS r
LEFT JOIN journal AS j ON j.run_id = r.id
GROUP BY r.id
ORDER BY r.created_at DESC;

-- name: fair_cursor
-- Where this queue and workflow's rotation across fairness keys resumes: after this key.
SELECT last_key FROM fair_cursors WHERE queue = :queue AND workflow = :workflow;

-- name: fair_priority
-- The highest priority below :below at which a run with a fairness key is ready, for one
-- queue and workflow (runs_fair_turns, in priority order).
SELECT r.priority FROM runs AS r
WHERE r.queue = :queue AND r.workflow = :workflow AND r.fairness_key IS NOT NULL
  AND r.ready_at <= :now AND r.priority < :below
ORDER BY r.priority DESC LIMIT 1;

-- name: fair_first_key
-- The first fairness key, in key order, with a ready run at this priority.
SELECT r.fairness_key FROM runs AS r
WHERE r.queue = :queue AND r.workflow = :workflow AND r.priority = :priority
  AND r.fairness_key IS NOT NULL AND r.ready_at <= :now
ORDER BY r.fairness_key LIMIT 1;

-- name: fair_next_key
-- The next fairness key after :after with a ready run at this priority: one probe of
-- runs_fair_turns, past only the key's runs that are not ready.
SELECT r.fairness_key FROM runs AS r
WHERE r.queue = :queue AND r.workflow = :workflow AND r.priority = :priority
  AND r.fairness_key > :after AND r.ready_at <= :now
ORDER BY r.fairness_key LIMIT 1;

-- name: fair_key_candidates
-- One key's oldest ready runs at one priority, as claim_candidates_fast admits them.
SELECT r.id, r.queue, r.status, r.workflow, r.fairness_key, r.priority, r.ready_at
FROM runs AS r
WHERE r.queue = :queue AND r.workflow = :workflow AND r.priority = :priority
      AND r.fairness_key = :key AND r.ready_at <= :now
      AND +r.status IN ('queued', 'suspended', 'running')
      AND (r.concurrency_key IS NULL OR r.started_at IS NOT NULL OR (
            (SELECT COUNT(*) FROM runs AS k
             WHERE k.concurrency_key = r.concurrency_key AND k.started_at IS NOT NULL
               AND k.status NOT IN ('completed', 'failed', 'cancelled')) < r.concurrency_limit
            AND NOT EXISTS (
             SELECT 1 FROM runs AS o
             WHERE o.concurrency_key = r.concurrency_key AND o.started_at IS NULL
               AND o.status = 'queued' AND (o.created_at, o.id) < (r.created_at, r.id))))
      AND (:any_version OR r.version IS NULL
           OR r.version IN (SELECT value FROM json_each(:versions))
           OR NOT EXISTS (
             SELECT 1 FROM workers AS w, json_each(w.queues) AS wq
             WHERE w.version = r.version AND wq.value = r.queue
               AND w.expires_at > :now AND NOT w.draining))
ORDER BY r.ready_at
LIMIT :per_key;

-- name: fair_unkeyed_candidates
-- A queue and workflow's runs without a fairness key, when among its :window oldest ready
-- runs (finding them elsewhere would mean reading the keyed backlog).
SELECT * FROM (
    SELECT r.id, r.queue, r.status, r.workflow, r.fairness_key, r.priority, r.ready_at
    FROM runs AS r
    WHERE r.queue = :queue AND r.workflow = :workflow
          AND r.ready_at <= :now
          AND +r.status IN ('queued', 'suspended', 'running')
          AND (r.concurrency_key IS NULL OR r.started_at IS NOT NULL OR (
                (SELECT COUNT(*) FROM runs AS k
                 WHERE k.concurrency_key = r.concurrency_key AND k.started_at IS NOT NULL
                   AND k.status NOT IN ('completed', 'failed', 'cancelled'))
                   < r.concurrency_limit
                AND NOT EXISTS (
                 SELECT 1 FROM runs AS o
                 WHERE o.concurrency_key = r.concurrency_key AND o.started_at IS NULL
                   AND o.status = 'queued' AND (o.created_at, o.id) < (r.created_at, r.id))))
          AND (:any_version OR r.version IS NULL
               OR r.version IN (SELECT value FROM json_each(:versions))
               OR NOT EXISTS (
                 SELECT 1 FROM workers AS w, json_each(w.queues) AS wq
                 WHERE w.version = r.version AND wq.value = r.queue
                   AND w.expires_at > :now AND NOT w.draining))
    ORDER BY r.priority DESC, r.ready_at
    LIMIT :window
) WHERE fairness_key IS NULL;

-- name: set_fair_cursor
INSERT INTO fair_cursors (queue, workflow, last_key) VALUES (:queue, :workflow, :key)
ON CONFLICT (queue, workflow) DO UPDATE SET last_key = excluded.last_key;

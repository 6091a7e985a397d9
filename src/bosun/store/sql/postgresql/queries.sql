-- name: insert_run
INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key, parent_id,
                  parent_seq, deadline, ready_at, created_at, updated_at)
VALUES (%(id)s, %(workflow)s, %(queue)s, 'queued', %(priority)s, %(input)s,
        %(idempotency_key)s, %(parent_id)s, %(parent_seq)s, %(deadline)s, %(now)s, %(now)s,
        %(now)s)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: insert_claimed_run
INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key, parent_id,
                  parent_seq, deadline, ready_at, lease_owner, lease_token, lease_expires_at,
                  attempts, created_at, updated_at)
VALUES (%(id)s, %(workflow)s, %(queue)s, 'running', %(priority)s, %(input)s,
        %(idempotency_key)s, %(parent_id)s, %(parent_seq)s, %(deadline)s, %(expires)s,
        %(owner)s, %(owner)s || ':1', %(expires)s, 1, %(now)s, %(now)s)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: run_id_by_key
SELECT id FROM runs WHERE idempotency_key = %(key)s;

-- name: get_run
SELECT * FROM runs WHERE id = %(id)s;

-- name: claim_runs
UPDATE runs
SET status = 'running',
    lease_owner = %(owner)s,
    attempts = runs.attempts + 1,
    lease_token = %(owner)s || ':' || (runs.attempts + 1),
    lease_expires_at = %(expires)s,
    ready_at = %(expires)s,
    updated_at = %(now)s
FROM (
    SELECT id FROM runs
    WHERE queue = ANY(%(queues)s)
      AND ready_at <= %(now)s
      AND status IN ('queued', 'suspended', 'running')
    ORDER BY priority DESC, ready_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS picked
WHERE runs.id = picked.id
RETURNING runs.*;

-- name: journals_of
SELECT * FROM journal WHERE run_id = ANY(%(run_ids)s) ORDER BY pos;

-- name: journal_of
SELECT * FROM journal WHERE run_id = %(run_id)s ORDER BY pos;

-- name: pending_signals_of
SELECT id, run_id, name, payload, created_at FROM signals
WHERE run_id = ANY(%(run_ids)s) AND consumed_seq IS NULL ORDER BY id;

-- name: save_progress
SELECT * FROM save_progress(%(run_id)s, %(token)s, %(wake_seq)s, %(now)s, %(journal)s,
                            %(consumed)s, %(events)s, %(children)s, %(outcome)s);

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
SELECT * FROM events WHERE run_id = %(run_id)s AND id > %(after)s ORDER BY id;

-- name: queue_stats
SELECT * FROM queue_depth ORDER BY queue;

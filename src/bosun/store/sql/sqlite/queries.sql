-- name: insert_run
INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key, parent_id,
                  parent_seq, deadline, ready_at, created_at, updated_at)
VALUES (:id, :workflow, :queue, 'queued', :priority, :input, :idempotency_key, :parent_id,
        :parent_seq, :deadline, :now, :now, :now)
ON CONFLICT DO NOTHING;

-- name: insert_claimed_run
INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key, parent_id,
                  parent_seq, deadline, ready_at, lease_owner, lease_token, lease_expires_at,
                  attempts, created_at, updated_at)
VALUES (:id, :workflow, :queue, 'running', :priority, :input, :idempotency_key, :parent_id,
        :parent_seq, :deadline, :expires, :owner, :owner || ':1', :expires, 1, :now, :now)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: run_id_by_key
SELECT id FROM runs WHERE idempotency_key = :key;

-- name: get_run
SELECT * FROM runs WHERE id = :id;

-- name: claim_runs
UPDATE runs
SET status = 'running',
    lease_owner = :owner,
    attempts = attempts + 1,
    lease_token = :owner || ':' || (attempts + 1),
    lease_expires_at = :expires,
    ready_at = :expires,
    updated_at = :now
WHERE id IN (
    SELECT id FROM runs
    WHERE queue IN (SELECT value FROM json_each(:queues))
      AND ready_at <= :now
      AND status IN ('queued', 'suspended', 'running')
    ORDER BY priority DESC, ready_at
    LIMIT :limit
)
RETURNING *;

-- name: journal_of
SELECT * FROM journal WHERE run_id = :run_id ORDER BY rowid;

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

-- name: insert_event
INSERT INTO events (run_id, type, data, created_at) VALUES (:run_id, :type, :data, :now);

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
UPDATE runs SET lease_expires_at = :expires, ready_at = :expires
WHERE id IN (SELECT value FROM json_each(:run_ids))
  AND lease_owner = :owner AND status = 'running'
RETURNING id, lease_token;

-- name: release_leases
UPDATE runs
SET status = 'queued', ready_at = :now,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:run_ids))
  AND lease_owner = :owner AND status = 'running';

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
SELECT * FROM events WHERE run_id = :run_id AND id > :after ORDER BY id;

-- name: queue_stats
SELECT * FROM queue_depth ORDER BY queue;

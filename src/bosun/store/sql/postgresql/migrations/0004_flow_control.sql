-- Flow control: per-queue limits on running runs, per-key concurrency, fairness keys.
ALTER TABLE runs ADD COLUMN concurrency_key text;
ALTER TABLE runs ADD COLUMN concurrency_limit integer;
ALTER TABLE runs ADD COLUMN fairness_key text;
ALTER TABLE runs ADD COLUMN started_at double precision;

CREATE INDEX runs_concurrency_key ON runs (concurrency_key, created_at)
    WHERE concurrency_key IS NOT NULL;

CREATE INDEX runs_fair ON runs (queue, ready_at)
    WHERE fairness_key IS NOT NULL AND ready_at IS NOT NULL;

CREATE TABLE queue_limits (
    queue       text PRIMARY KEY,
    max_running integer NOT NULL CHECK (max_running >= 0),
    updated_at  double precision NOT NULL
);

-- save_progress inserts child runs; it now carries their flow-control keys.
CREATE OR REPLACE FUNCTION insert_children(p_children jsonb, p_now double precision)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key,
                      parent_id, parent_seq, deadline, concurrency_key, concurrency_limit,
                      fairness_key, ready_at, created_at, updated_at)
    SELECT c.id, c.workflow, c.queue, 'queued', c.priority, c.input, c.idempotency_key,
           c.parent_id, c.parent_seq, c.deadline, c.concurrency_key, c.concurrency_limit,
           c.fairness_key, p_now, p_now, p_now
    FROM jsonb_to_recordset(p_children) AS c(id text, workflow text, queue text,
         priority integer, input text, idempotency_key text, parent_id text,
         parent_seq text, deadline double precision, concurrency_key text,
         concurrency_limit integer, fairness_key text)
    ON CONFLICT DO NOTHING;
$$;

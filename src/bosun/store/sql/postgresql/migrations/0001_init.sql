-- Runs, their journals, signals and events, in the `bosun` schema.
-- Same model as the SQLite schema: times are UNIX seconds, `ready_at` is when a run next needs
-- a worker (a queued run's start, a timer, or a running run's lease expiry); NULL: nothing due.

CREATE TABLE runs (
    id               text PRIMARY KEY,
    workflow         text NOT NULL,
    queue            text NOT NULL,
    status           text NOT NULL CHECK (status IN
                       ('queued','running','suspended','completed','failed','cancelled','blocked')),
    priority         integer NOT NULL DEFAULT 0,
    input            text NOT NULL,
    result           text,
    error            text,
    idempotency_key  text UNIQUE,
    parent_id        text,
    parent_seq       text,
    deadline         double precision,
    ready_at         double precision,
    lease_owner      text,
    lease_token      text,
    lease_expires_at double precision,
    wake_seq         bigint NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL,
    finished_at      double precision
);

CREATE INDEX runs_ready ON runs (queue, priority DESC, ready_at) WHERE ready_at IS NOT NULL;
CREATE INDEX runs_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_status_created ON runs (status, created_at DESC);
CREATE INDEX runs_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE journal (
    pos         bigserial PRIMARY KEY,
    run_id      text NOT NULL,
    seq         text NOT NULL,
    kind        text NOT NULL,
    name        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('completed','failed','waiting','retrying')),
    output      text,
    error       text,
    attempt     integer NOT NULL DEFAULT 1,
    started_at  double precision,
    finished_at double precision,
    wake_at     double precision,
    child_id    text,
    UNIQUE (run_id, seq)
);

CREATE TABLE signals (
    id           bigserial PRIMARY KEY,
    run_id       text NOT NULL,
    name         text NOT NULL,
    payload      text NOT NULL,
    created_at   double precision NOT NULL,
    consumed_seq text
);

CREATE INDEX signals_pending ON signals (run_id, id) WHERE consumed_seq IS NULL;

CREATE TABLE events (
    id         bigserial PRIMARY KEY,
    run_id     text NOT NULL,
    type       text NOT NULL,
    data       text NOT NULL,
    created_at double precision NOT NULL
);

CREATE INDEX events_run ON events (run_id, id);

-- Record a finished child's outcome in its parent's journal and wake the parent.
CREATE FUNCTION settle_parent(p_parent text, p_seq text, p_status text, p_output text,
                              p_error text, p_now double precision) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_queue text;
BEGIN
    UPDATE journal SET status = p_status, output = p_output, error = p_error,
                       finished_at = p_now
    WHERE run_id = p_parent AND seq = p_seq AND status = 'waiting';
    UPDATE runs
    SET wake_seq = wake_seq + 1,
        ready_at = CASE WHEN status = 'suspended' THEN p_now ELSE ready_at END,
        updated_at = p_now
    WHERE id = p_parent
    RETURNING queue INTO v_queue;
    IF v_queue IS NOT NULL THEN
        PERFORM pg_notify('bosun_work', v_queue);
    END IF;
END $$;

-- Child runs created by a worker's write (redefined when runs gain columns).
CREATE FUNCTION insert_children(p_children jsonb, p_now double precision)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key,
                      parent_id, parent_seq, deadline, ready_at, created_at, updated_at)
    SELECT c.id, c.workflow, c.queue, 'queued', c.priority, c.input, c.idempotency_key,
           c.parent_id, c.parent_seq, c.deadline, p_now, p_now, p_now
    FROM jsonb_to_recordset(p_children) AS c(id text, workflow text, queue text,
         priority integer, input text, idempotency_key text, parent_id text,
         parent_seq text, deadline double precision)
    ON CONFLICT DO NOTHING;
$$;

-- Everything one fenced write of a worker records for one run, atomically.
-- Returns final_status 'lease_lost' when the lease is no longer held (nothing is written).
CREATE FUNCTION save_progress(p_run_id text, p_token text, p_wake_seq bigint,
                              p_now double precision, p_journal jsonb, p_consumed jsonb,
                              p_events jsonb, p_children jsonb, p_outcome jsonb)
RETURNS TABLE (final_status text, woke_parent boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_kind text := p_outcome ->> 'kind';
    v_status text;
    v_parent text;
    v_parent_seq text;
BEGIN
    PERFORM 1 FROM runs
    WHERE id = p_run_id AND lease_token = p_token AND status = 'running' FOR UPDATE;
    IF NOT FOUND THEN
        -- Reported, not raised: writes of several runs share one transaction (group
        -- commit), and one run's lost lease must not undo the others'.
        RETURN QUERY SELECT 'lease_lost'::text, false;
        RETURN;
    END IF;

    IF jsonb_array_length(p_children) > 0 THEN
        PERFORM insert_children(p_children, p_now);
        PERFORM pg_notify('bosun_work', q)
        FROM (SELECT DISTINCT value ->> 'queue' AS q FROM jsonb_array_elements(p_children)) qs;
    END IF;

    -- Each part only when there is something to write: an empty statement still costs.
    IF jsonb_array_length(p_journal) > 0 THEN
        INSERT INTO journal (run_id, seq, kind, name, status, output, error, attempt,
                             started_at, finished_at, wake_at, child_id)
        SELECT p_run_id, j.seq, j.kind, j.name, j.status, j.output, j.error, j.attempt,
               j.started_at, j.finished_at, j.wake_at, j.child_id
        FROM jsonb_to_recordset(p_journal) AS j(seq text, kind text, name text, status text,
             output text, error text, attempt integer, started_at double precision,
             finished_at double precision, wake_at double precision, child_id text)
        ON CONFLICT (run_id, seq) DO UPDATE SET
            status = excluded.status, output = excluded.output, error = excluded.error,
            attempt = excluded.attempt, finished_at = excluded.finished_at,
            wake_at = excluded.wake_at, child_id = excluded.child_id;
    END IF;

    IF jsonb_array_length(p_consumed) > 0 THEN
        UPDATE signals SET consumed_seq = c.seq
        FROM jsonb_to_recordset(p_consumed) AS c(id bigint, seq text)
        WHERE signals.id = c.id AND signals.consumed_seq IS NULL;
    END IF;

    IF jsonb_array_length(p_events) > 0 THEN
        INSERT INTO events (run_id, type, data, created_at)
        SELECT p_run_id, e.value ->> 0, e.value ->> 1, p_now
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(value, n)
        ORDER BY e.n;
    END IF;

    IF v_kind IS NULL THEN
        RETURN QUERY SELECT NULL::text, false;
        RETURN;
    ELSIF v_kind = 'suspend' THEN
        UPDATE runs
        SET status = 'suspended',
            ready_at = CASE WHEN wake_seq <> p_wake_seq THEN p_now
                            ELSE (p_outcome ->> 'wake_at')::double precision END,
            lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = p_now
        WHERE id = p_run_id;
        RETURN QUERY SELECT NULL::text, false;
        RETURN;
    ELSIF v_kind = 'release' THEN
        UPDATE runs
        SET status = 'queued', ready_at = p_now, lease_owner = NULL, lease_token = NULL,
            lease_expires_at = NULL, updated_at = p_now
        WHERE id = p_run_id;
        PERFORM pg_notify('bosun_work', (SELECT queue FROM runs WHERE id = p_run_id));
        RETURN QUERY SELECT NULL::text, false;
        RETURN;
    END IF;

    v_status := CASE v_kind WHEN 'complete' THEN 'completed' WHEN 'fail' THEN 'failed'
                            ELSE 'blocked' END;
    UPDATE runs
    SET status = v_status, result = p_outcome ->> 'result', error = p_outcome ->> 'error',
        ready_at = NULL, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
        updated_at = p_now, finished_at = CASE WHEN v_status = 'blocked' THEN NULL ELSE p_now END
    WHERE id = p_run_id
    RETURNING parent_id, parent_seq INTO v_parent, v_parent_seq;
    IF v_status <> 'blocked' THEN
        PERFORM pg_notify('bosun_finished', p_run_id);
    END IF;
    IF v_parent IS NOT NULL AND v_status <> 'blocked' THEN
        PERFORM settle_parent(v_parent, v_parent_seq,
                              CASE WHEN v_status = 'completed' THEN 'completed' ELSE 'failed' END,
                              p_outcome ->> 'result', p_outcome ->> 'error', p_now);
        RETURN QUERY SELECT v_status, true;
        RETURN;
    END IF;
    RETURN QUERY SELECT v_status, false;
END $$;

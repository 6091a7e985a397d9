-- The HTTP API: tenants, sessions and webhooks on runs; per-run event positions for
-- resumable streams; hashed API keys.
ALTER TABLE runs ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE runs ADD COLUMN session text;
ALTER TABLE runs ADD COLUMN webhook_url text;
-- The last event position handed out for the run; moved under the run's row lock, so
-- positions are gap-free and in commit order (a bigserial is neither per run nor ordered
-- by commit).
ALTER TABLE runs ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;

CREATE INDEX runs_tenant_created ON runs (tenant, created_at DESC, id DESC);
CREATE INDEX runs_tenant_session ON runs (tenant, session, created_at DESC)
    WHERE session IS NOT NULL;

ALTER TABLE events ADD COLUMN seq bigint;
UPDATE events SET seq = n.seq
FROM (SELECT id, row_number() OVER (PARTITION BY run_id ORDER BY id) AS seq FROM events) AS n
WHERE events.id = n.id;
UPDATE runs SET event_seq = m.seq
FROM (SELECT run_id, max(seq) AS seq FROM events GROUP BY run_id) AS m
WHERE runs.id = m.run_id;
ALTER TABLE events ALTER COLUMN seq SET NOT NULL;
DROP INDEX events_run;
CREATE UNIQUE INDEX events_run_seq ON events (run_id, seq);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    tenant       text NOT NULL,
    name         text NOT NULL DEFAULT '',
    hash         text NOT NULL,
    scopes       text NOT NULL,
    created_at   double precision NOT NULL,
    revoked_at   double precision
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- Append events ([type, data] pairs) to a run whose row the caller has locked or is about
-- to update, and tell stream readers in every process.
CREATE FUNCTION append_events(p_run_id text, p_events jsonb, p_now double precision)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_base bigint;
BEGIN
    UPDATE runs SET event_seq = event_seq + jsonb_array_length(p_events)
    WHERE id = p_run_id
    RETURNING event_seq - jsonb_array_length(p_events) INTO v_base;
    IF v_base IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO events (run_id, seq, type, data, created_at)
    SELECT p_run_id, v_base + e.n, e.value ->> 0, e.value ->> 1, p_now
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(value, n);
    PERFORM pg_notify('bosun_events', p_run_id);
END $$;

-- Child runs carry their parent's tenant.
CREATE OR REPLACE FUNCTION insert_children(p_children jsonb, p_now double precision)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO runs (id, workflow, queue, status, priority, input, idempotency_key,
                      parent_id, parent_seq, deadline, concurrency_key, concurrency_limit,
                      fairness_key, tenant, session, webhook_url, ready_at, created_at,
                      updated_at)
    SELECT c.id, c.workflow, c.queue, 'queued', c.priority, c.input, c.idempotency_key,
           c.parent_id, c.parent_seq, c.deadline, c.concurrency_key, c.concurrency_limit,
           c.fairness_key, COALESCE(c.tenant, 'default'), c.session, c.webhook_url,
           p_now, p_now, p_now
    FROM jsonb_to_recordset(p_children) AS c(id text, workflow text, queue text,
         priority integer, input text, idempotency_key text, parent_id text,
         parent_seq text, deadline double precision, concurrency_key text,
         concurrency_limit integer, fairness_key text, tenant text, session text,
         webhook_url text)
    ON CONFLICT DO NOTHING;
$$;

-- save_progress gives events their per-run positions.
CREATE OR REPLACE FUNCTION save_progress(p_run_id text, p_token text, p_wake_seq bigint,
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
        PERFORM append_events(p_run_id, p_events, p_now);
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

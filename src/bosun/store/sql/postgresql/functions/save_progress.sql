-- Everything one fenced write of a worker records for one run, atomically.
-- Returns final_status 'lease_lost' when the lease is no longer held (nothing is written).
-- One fenced UPDATE of the run's row makes every change to it (a row lock only when there
-- is nothing to change), then the journal, signals, events and children are written.
CREATE OR REPLACE FUNCTION save_progress(p_run_id text, p_token text, p_wake_seq bigint,
                                         p_now double precision, p_journal jsonb,
                                         p_consumed jsonb, p_events jsonb, p_children jsonb,
                                         p_outcome jsonb)
RETURNS TABLE (final_status text, woke_parent boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan
SET search_path = bosun, pg_temp AS $$
DECLARE
    v_kind text := p_outcome ->> 'kind';
    v_events integer := jsonb_array_length(p_events);
    v_status text;
    v_base bigint;
    v_queue text;
    v_parent text;
    v_parent_seq text;
BEGIN
    -- The fence and every change to the run's own row in one statement; v_base (the run's
    -- event position before this write) stays NULL when the lease is no longer held.
    IF v_kind IS NULL THEN
        IF v_events = 0 THEN
            SELECT event_seq INTO v_base FROM runs
            WHERE id = p_run_id AND lease_token = p_token AND status = 'running' FOR UPDATE;
        ELSE
            UPDATE runs SET event_seq = event_seq + v_events
            WHERE id = p_run_id AND lease_token = p_token AND status = 'running'
            RETURNING event_seq - v_events INTO v_base;
        END IF;
    ELSIF v_kind = 'suspend' THEN
        UPDATE runs
        SET status = 'suspended',
            ready_at = CASE WHEN wake_seq <> p_wake_seq THEN p_now
                            ELSE (p_outcome ->> 'wake_at')::double precision END,
            lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = p_now,
            event_seq = event_seq + v_events
        WHERE id = p_run_id AND lease_token = p_token AND status = 'running'
        RETURNING event_seq - v_events INTO v_base;
    ELSIF v_kind = 'release' THEN
        UPDATE runs
        SET status = 'queued', ready_at = p_now, lease_owner = NULL, lease_token = NULL,
            lease_expires_at = NULL, updated_at = p_now, event_seq = event_seq + v_events
        WHERE id = p_run_id AND lease_token = p_token AND status = 'running'
        RETURNING event_seq - v_events, queue INTO v_base, v_queue;
    ELSE
        v_status := CASE v_kind WHEN 'complete' THEN 'completed' WHEN 'fail' THEN 'failed'
                                ELSE 'blocked' END;
        UPDATE runs
        SET status = v_status, result = p_outcome ->> 'result', error = p_outcome ->> 'error',
            ready_at = NULL, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
            updated_at = p_now,
            finished_at = CASE WHEN v_status = 'blocked' THEN NULL ELSE p_now END,
            event_seq = event_seq + v_events
        WHERE id = p_run_id AND lease_token = p_token AND status = 'running'
        RETURNING event_seq - v_events, parent_id, parent_seq INTO v_base, v_parent, v_parent_seq;
    END IF;
    IF v_base IS NULL THEN
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

    IF v_events > 0 THEN
        INSERT INTO events (run_id, seq, type, data, created_at)
        SELECT p_run_id, v_base + e.n, e.value ->> 0, e.value ->> 1, p_now
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(value, n);
        PERFORM pg_notify('bosun_events', p_run_id);
    END IF;

    IF v_kind = 'release' THEN
        PERFORM pg_notify('bosun_work', v_queue);
    END IF;
    IF v_status IN ('completed', 'failed') THEN
        PERFORM pg_notify('bosun_finished', p_run_id);
        IF v_parent IS NOT NULL THEN
            PERFORM settle_parent(v_parent, v_parent_seq, v_status,
                                  p_outcome ->> 'result', p_outcome ->> 'error', p_now);
            RETURN QUERY SELECT v_status, true;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT v_status, false;
END $$;

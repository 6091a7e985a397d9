-- A group commit's writes in one call: `p_batch` is a JSON array of save_progress arguments
-- (objects with run_id, token, wake_seq, now, journal, consumed, events, children, outcome,
-- `plain`, and optionally session_appends for append_session_messages); one result row per
-- element, `i` its 1-based position.
--
-- The writes the caller marks `plain` (no children, no consumed signals, no session
-- messages, an outcome that is none, complete, fail or suspend, events when there is no
-- outcome, each journal position once) are the steps and endings of ordinary runs: they are made set-based, one UPDATE of
-- the runs, one INSERT of their journal entries and one of their events, whatever the
-- batch's size. The rest go through save_progress one by one, in batch order, and so do
-- all the writes of a run that has several in the batch (parallel steps of one run flush
-- separately): one UPDATE cannot change a row twice. The order between different runs'
-- writes does not matter.
CREATE OR REPLACE FUNCTION save_progress_batch(p_batch jsonb)
RETURNS TABLE (i bigint, final_status text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan
SET search_path = bosun, pg_temp AS $$
DECLARE
    e record;
    r record;
    v_written bigint[] := '{}';
BEGIN
    FOR r IN
        WITH a AS (
            SELECT x.n, x.v, count(*) OVER (PARTITION BY x.v ->> 'run_id') AS writes
            FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS x(v, n)
        ),
        b AS (
            SELECT a.n, a.v ->> 'run_id' AS run_id, a.v ->> 'token' AS token,
                   (a.v ->> 'wake_seq')::bigint AS wake_seq,
                   (a.v ->> 'now')::double precision AS now,
                   a.v -> 'journal' AS journal, a.v -> 'events' AS events,
                   jsonb_array_length(a.v -> 'events') AS n_events,
                   a.v #>> '{outcome,kind}' AS kind, a.v -> 'outcome' AS outcome
            FROM a
            WHERE (a.v ->> 'plain')::boolean AND a.writes = 1
        ),
        u AS (
            UPDATE runs
            SET event_seq = runs.event_seq + b.n_events,
                status = CASE b.kind WHEN 'complete' THEN 'completed' WHEN 'fail' THEN 'failed'
                                     WHEN 'suspend' THEN 'suspended' ELSE runs.status END,
                result = CASE WHEN b.kind IN ('complete', 'fail')
                              THEN b.outcome ->> 'result' ELSE runs.result END,
                error = CASE WHEN b.kind IN ('complete', 'fail')
                             THEN b.outcome ->> 'error' ELSE runs.error END,
                ready_at = CASE b.kind
                    WHEN 'suspend' THEN CASE WHEN runs.wake_seq <> b.wake_seq THEN b.now
                        ELSE (b.outcome ->> 'wake_at')::double precision END
                    WHEN 'complete' THEN NULL WHEN 'fail' THEN NULL
                    ELSE runs.ready_at END,
                lease_owner = CASE WHEN b.kind IS NULL THEN runs.lease_owner END,
                lease_token = CASE WHEN b.kind IS NULL THEN runs.lease_token END,
                lease_expires_at = CASE WHEN b.kind IS NULL THEN runs.lease_expires_at END,
                updated_at = CASE WHEN b.kind IS NULL THEN runs.updated_at ELSE b.now END,
                finished_at = CASE WHEN b.kind IN ('complete', 'fail') THEN b.now
                                   ELSE runs.finished_at END
            FROM b
            WHERE runs.id = b.run_id AND runs.lease_token = b.token AND runs.status = 'running'
            RETURNING b.n, runs.id, runs.event_seq - b.n_events AS base, runs.status,
                      runs.parent_id, runs.parent_seq, b.kind, b.now, b.outcome
        ),
        j AS (
            INSERT INTO journal (run_id, seq, kind, name, status, output, error, attempt,
                                 started_at, finished_at, wake_at, child_id)
            SELECT u.id, j.seq, j.kind, j.name, j.status, j.output, j.error, j.attempt,
                   j.started_at, j.finished_at, j.wake_at, j.child_id
            FROM u JOIN b ON b.n = u.n,
                 jsonb_to_recordset(b.journal) AS j(seq text, kind text, name text,
                     status text, output text, error text, attempt integer,
                     started_at double precision, finished_at double precision,
                     wake_at double precision, child_id text)
            ON CONFLICT (run_id, seq) DO UPDATE SET
                status = excluded.status, output = excluded.output, error = excluded.error,
                attempt = excluded.attempt, finished_at = excluded.finished_at,
                wake_at = excluded.wake_at, child_id = excluded.child_id
        ),
        ev AS (
            INSERT INTO events (run_id, seq, type, data, created_at)
            SELECT u.id, u.base + x.n, x.value ->> 0, x.value ->> 1, u.now
            FROM u JOIN b ON b.n = u.n,
                 jsonb_array_elements(b.events) WITH ORDINALITY AS x(value, n)
        )
        SELECT b.n, u.id, u.status, u.parent_id, u.parent_seq, u.kind, u.now, u.outcome,
               b.n_events
        FROM b LEFT JOIN u ON u.n = b.n
    LOOP
        v_written := v_written || r.n;
        i := r.n;
        IF r.id IS NULL THEN
            -- Reported, not raised: one run's lost lease must not undo the others' writes.
            final_status := 'lease_lost';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF r.n_events > 0 THEN
            PERFORM pg_notify('bosun_events', r.id);
        END IF;
        final_status := CASE WHEN r.kind IN ('complete', 'fail') THEN r.status END;
        IF final_status IS NOT NULL THEN
            PERFORM pg_notify('bosun_finished', r.id);
            IF r.parent_id IS NOT NULL THEN
                PERFORM settle_parent(r.parent_id, r.parent_seq, r.status,
                                      r.outcome ->> 'result', r.outcome ->> 'error', r.now);
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;

    FOR e IN SELECT value AS v, ordinality AS n
             FROM jsonb_array_elements(p_batch) WITH ORDINALITY
             WHERE ordinality <> ALL (v_written) LOOP
        SELECT * INTO r FROM save_progress(
            e.v ->> 'run_id', e.v ->> 'token', (e.v ->> 'wake_seq')::bigint,
            (e.v ->> 'now')::double precision, e.v -> 'journal', e.v -> 'consumed',
            e.v -> 'events', e.v -> 'children', NULLIF(e.v -> 'outcome', 'null'::jsonb));
        IF r.final_status IS DISTINCT FROM 'lease_lost'
           AND jsonb_array_length(COALESCE(e.v -> 'session_appends', '[]')) > 0 THEN
            PERFORM append_session_messages(e.v -> 'session_appends',
                                            (e.v ->> 'now')::double precision);
        END IF;
        i := e.n;
        final_status := r.final_status;
        RETURN NEXT;
    END LOOP;
END $$;

-- Cheaper claims and progress writes; same signatures and behaviour.
--
-- claim_runs read and sorted every ready run of its queues on each call (`queue = ANY(...)`
-- cannot use the (queue, priority, ready_at) index in order, and with stale statistics the
-- planner chose a bitmap scan and a sort anyway), so a claim's cost grew with the backlog:
-- 14 ms with 20 000 runs waiting. claim_ready scans each queue's index in order and stops
-- after the window, reads no more candidates than it wants when no queue has a limit, and
-- returns whether each claim took over an expired lease (the caller's check of that read
-- every running run when the planner hashed it).
--
-- save_progress locked the run's row, moved its event position, then updated it again with
-- the outcome: up to three row versions per write. It now makes one fenced UPDATE that does
-- all three (a row lock only when there is nothing to change), then writes the journal,
-- events and children.
--
-- These functions plan their statements once per session (plan_cache_mode): their
-- parameters never change which plan is right, and PostgreSQL kept choosing to re-plan them
-- on every call (a claim of one run spent half its server time planning).

CREATE FUNCTION claim_ready(p_owner text, p_queues text[], p_limit integer, p_window integer,
                            p_expires double precision, p_now double precision,
                            p_versions text[] DEFAULT '{}')
RETURNS TABLE (run jsonb, took_over boolean)
LANGUAGE plpgsql
-- Index scans only, and plans made once per session: with stale statistics (a burst into a
-- fresh table) the planner would otherwise read every ready run through a bitmap and sort
-- them, and re-planning each statement on every call cost more than executing it.
SET enable_seqscan = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_free jsonb := '{}';
    v_chosen text[] := '{}';
    v_candidates refcursor;
    v_any boolean := cardinality(p_versions) = 0;
    v_window integer;
    c record;
BEGIN
    -- A claim need not wait for its WAL flush: if a crash loses it, the run is simply
    -- claimable again, and the holder's first fenced write (a durable commit, which flushes
    -- the claim too) fails. So the run is at least once, never twice complete.
    PERFORM set_config('synchronous_commit', 'off', true);

    -- Limited queues: lock their limits first (claims on them take turns), then count the
    -- running runs in a later statement, whose snapshot sees the claims committed before.
    PERFORM 1 FROM queue_limits WHERE queue = ANY(p_queues) ORDER BY queue FOR UPDATE;
    SELECT COALESCE(jsonb_object_agg(l.queue, l.max_running - COALESCE(
               (SELECT count(*) FROM runs WHERE status = 'running' AND queue = l.queue), 0)),
           '{}')
    INTO v_free
    FROM queue_limits AS l WHERE l.queue = ANY(p_queues);
    -- Candidates over a queue's limit are skipped, so read more of them only when one of
    -- these queues has a limit.
    v_window := CASE WHEN v_free = '{}' THEN p_limit ELSE p_window END;

    -- Claim order: priority, then round robin across fairness keys (only ranked when some
    -- ready run has one), then age. A run pinned to another version is a candidate only
    -- once no live worker of that version serves its queue.
    IF EXISTS (SELECT 1 FROM runs AS r
               WHERE r.queue = ANY(p_queues) AND r.fairness_key IS NOT NULL
                 AND r.ready_at IS NOT NULL AND r.ready_at <= p_now) THEN
        OPEN v_candidates FOR
            SELECT x.id, x.queue, x.status FROM (
                SELECT r.id, r.queue, r.status, r.priority, r.ready_at,
                       ROW_NUMBER() OVER (PARTITION BY r.fairness_key
                                          ORDER BY r.priority DESC, r.ready_at) AS fair_rank
                FROM runs AS r
                WHERE r.queue = ANY(p_queues) AND r.ready_at <= p_now
                  AND (r.concurrency_key IS NULL OR key_admits(r))
                  AND (v_any OR r.version IS NULL OR r.version = ANY(p_versions)
                       OR NOT version_is_served(r.version, r.queue, p_now))
            ) AS x
            WHERE x.status IN ('queued', 'suspended', 'running')
            ORDER BY x.priority DESC, x.fair_rank, x.ready_at
            LIMIT v_window;
    ELSE
        -- One index scan per queue, each reading only the first `v_window` ready runs in
        -- (priority, ready_at) order; `queue = ANY(...)` would read and sort every ready run.
        -- The status test stays outside the scan, where no index on status can drive it
        -- (a run with ready_at set is queued, suspended or running anyway).
        OPEN v_candidates FOR
            SELECT x.id, x.queue, x.status
            FROM unnest(p_queues) AS q(name), LATERAL (
                SELECT r.id, r.queue, r.status, r.priority, r.ready_at FROM runs AS r
                WHERE r.queue = q.name AND r.ready_at <= p_now
                  AND (r.concurrency_key IS NULL OR key_admits(r))
                  AND (v_any OR r.version IS NULL OR r.version = ANY(p_versions)
                       OR NOT version_is_served(r.version, r.queue, p_now))
                ORDER BY r.priority DESC, r.ready_at
                LIMIT v_window) AS x
            WHERE x.status IN ('queued', 'suspended', 'running')
            ORDER BY x.priority DESC, x.ready_at
            LIMIT v_window;
    END IF;

    LOOP
        EXIT WHEN cardinality(v_chosen) >= p_limit;
        FETCH v_candidates INTO c;
        EXIT WHEN NOT FOUND;
        -- A running candidate (its lease expired) keeps the slot it holds.
        IF c.status <> 'running' AND v_free ? c.queue THEN
            CONTINUE WHEN (v_free ->> c.queue)::integer <= 0;
            v_free := jsonb_set(v_free, ARRAY[c.queue],
                                to_jsonb((v_free ->> c.queue)::integer - 1));
        END IF;
        v_chosen := v_chosen || c.id;
    END LOOP;
    CLOSE v_candidates;

    -- `took_over`: the run was still `running` (its lease expired) before this claim.
    RETURN QUERY
    UPDATE runs
    SET status = 'running',
        lease_owner = p_owner,
        attempts = runs.attempts + 1,
        lease_token = p_owner || ':' || (runs.attempts + 1),
        lease_expires_at = p_expires,
        ready_at = p_expires,
        started_at = COALESCE(runs.started_at, p_now),
        updated_at = p_now,
        version = COALESCE(p_versions[1], runs.version)
    FROM (
        -- Lock by primary key only (OFFSET 0 keeps the outer conditions out of this scan,
        -- which misleading statistics could otherwise turn into a scan of every ready
        -- run), then check the locked, current rows are still claimable.
        SELECT id, status, ready_at FROM runs
        WHERE id = ANY(v_chosen)
        OFFSET 0
        FOR UPDATE SKIP LOCKED
    ) AS picked
    WHERE runs.id = picked.id AND picked.ready_at <= p_now
      AND picked.status IN ('queued', 'suspended', 'running')
    RETURNING to_jsonb(runs.*), picked.status = 'running';
END $$;

-- The previous interface, for workers of the release before this one during a rolling
-- deploy: the same claim, as rows of `runs`.
CREATE OR REPLACE FUNCTION claim_runs(p_owner text, p_queues text[], p_limit integer, p_window integer,
                           p_expires double precision, p_now double precision,
                           p_versions text[] DEFAULT '{}')
RETURNS SETOF runs
LANGUAGE sql AS $$
    SELECT (jsonb_populate_record(NULL::runs, c.run)).*
    FROM claim_ready(p_owner, p_queues, p_limit, p_window, p_expires, p_now, p_versions) AS c;
$$;

CREATE OR REPLACE FUNCTION save_progress(p_run_id text, p_token text, p_wake_seq bigint,
                              p_now double precision, p_journal jsonb, p_consumed jsonb,
                              p_events jsonb, p_children jsonb, p_outcome jsonb)
RETURNS TABLE (final_status text, woke_parent boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
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

-- A group commit's writes in one call: `p_batch` is a JSON array of save_progress arguments
-- (objects with run_id, token, wake_seq, now, journal, consumed, events, children, outcome,
-- and `plain`); one result row per element, `i` its 1-based position.
--
-- The writes the caller marks `plain` (no children, no consumed signals, an outcome that is
-- none, complete, fail or suspend, events when there is no outcome, each journal position
-- once) are the steps and endings of ordinary runs: they are made set-based, one UPDATE of
-- the runs, one INSERT of their journal entries and one of their events, whatever the
-- batch's size. The rest go through save_progress one by one, in batch order, and so do
-- all the writes of a run that has several in the batch (parallel steps of one run flush
-- separately): one UPDATE cannot change a row twice. The order between different runs'
-- writes does not matter.
CREATE FUNCTION save_progress_batch(p_batch jsonb)
RETURNS TABLE (i bigint, final_status text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
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
        i := e.n;
        final_status := r.final_status;
        RETURN NEXT;
    END LOOP;
END $$;

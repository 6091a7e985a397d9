-- Claim up to `p_limit` ready runs of `p_queues` for `p_owner`, in one round trip: the
-- candidate choice, per-queue limits, concurrency keys, versions and the lease. Reads no more
-- than `p_window` candidates, scanning each queue and workflow's ready index in (priority,
-- ready_at) order. `p_versions`: the claimer's version first, then those it is compatible
-- with (empty: any version). `p_workflows`: the workflows the claimer serves (empty: any
-- workflow, reading every ready run of the queues, for tools rather than workers). With
-- fairness keys, each queue and workflow's candidates come from fair_candidates, whose key
-- rotation resumes after the key this claim serves last (fair_cursors).
-- `took_over`: the run was still `running` (its lease expired) before this claim.
CREATE OR REPLACE FUNCTION claim_ready(p_owner text, p_queues text[], p_limit integer,
                                       p_window integer, p_expires double precision,
                                       p_now double precision, p_versions text[],
                                       p_workflows text[])
RETURNS TABLE (run jsonb, took_over boolean)
LANGUAGE plpgsql
-- Index scans only, and plans made once per session: with stale statistics (a burst into a
-- fresh table) the planner would otherwise read every ready run through a bitmap and sort
-- them, and re-planning each statement on every call cost more than executing it. These
-- settings, and bosun's schema as the search path, hold for the call only: a connection
-- through a transaction-mode pooler (PgBouncer) carries no session settings.
SET enable_seqscan = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan
SET search_path = bosun, pg_temp AS $$
DECLARE
    v_free jsonb := '{}';
    v_chosen text[] := '{}';
    v_candidates refcursor;
    v_any boolean := cardinality(p_versions) = 0;
    v_any_workflow boolean := cardinality(p_workflows) = 0;
    v_window integer;
    v_fair boolean := false;
    v_turn_queues text[] := '{}';
    v_turn_workflows text[] := '{}';
    v_turn_keys text[] := '{}';
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
    IF NOT v_any_workflow THEN
        v_fair := EXISTS (
            SELECT 1 FROM runs AS r
            WHERE r.queue = ANY(p_queues) AND r.fairness_key IS NOT NULL
              AND r.ready_at IS NOT NULL AND r.ready_at <= p_now);
    END IF;
    IF v_any_workflow THEN
        -- A tool's claim of any workflow ranks every ready run of the queues.
        OPEN v_candidates FOR
            SELECT x.id, x.queue, x.status, x.workflow, x.fairness_key FROM (
                SELECT r.id, r.queue, r.status, r.workflow, r.fairness_key, r.priority,
                       r.ready_at,
                       ROW_NUMBER() OVER (PARTITION BY r.fairness_key
                                          ORDER BY r.priority DESC, r.ready_at) AS fair_rank
                FROM runs AS r
                WHERE r.queue = ANY(p_queues) AND r.ready_at <= p_now
                  AND (v_any_workflow OR r.workflow = ANY(p_workflows))
                  AND (r.concurrency_key IS NULL OR key_admits(r))
                  AND (v_any OR r.version IS NULL OR r.version = ANY(p_versions)
                       OR NOT version_is_served(r.version, r.queue, p_now))
            ) AS x
            WHERE x.status IN ('queued', 'suspended', 'running')
            ORDER BY x.priority DESC, x.fair_rank, x.ready_at
            LIMIT v_window;
    ELSIF v_fair THEN
        -- Each queue and workflow's next keys in turn: reads grow with the runs claimed and
        -- the keys visited, not with the keyed backlog. Claims of one workflow take turns on
        -- its cursor (locked in one order, so two claimers cannot deadlock), so the next
        -- claim starts where this one stops instead of reaching for the runs it locked.
        PERFORM 1 FROM fair_cursors AS f
        WHERE f.queue = ANY(p_queues) AND f.workflow = ANY(p_workflows)
        ORDER BY f.queue, f.workflow FOR UPDATE;
        OPEN v_candidates FOR
            SELECT x.id, x.queue, x.status, x.workflow, x.fairness_key
            FROM unnest(p_queues) AS q(name), unnest(p_workflows) AS w(name),
                 LATERAL fair_candidates(q.name, w.name, v_window, p_now, p_versions) AS x
            WHERE x.status IN ('queued', 'suspended', 'running')
            ORDER BY x.priority DESC, x.fair_rank, x.turn, x.ready_at
            LIMIT v_window;
    ELSE
        -- One index scan per queue and workflow, each reading only the first `v_window`
        -- ready runs in (priority, ready_at) order. The status test stays outside the scan,
        -- where no index on status can drive it (a run with ready_at set is queued,
        -- suspended or running anyway).
        OPEN v_candidates FOR
            SELECT x.id, x.queue, x.status, x.workflow, x.fairness_key
            FROM unnest(p_queues) AS q(name), unnest(p_workflows) AS w(name), LATERAL (
                SELECT r.id, r.queue, r.status, r.workflow, r.fairness_key, r.priority,
                       r.ready_at FROM runs AS r
                WHERE r.queue = q.name AND r.workflow = w.name AND r.ready_at <= p_now
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
        IF v_fair AND c.fairness_key IS NOT NULL THEN
            v_turn_queues := v_turn_queues || c.queue;
            v_turn_workflows := v_turn_workflows || c.workflow;
            v_turn_keys := v_turn_keys || c.fairness_key;
        END IF;
    END LOOP;
    CLOSE v_candidates;

    -- The next claim's rotation starts after the last key served here, per queue and
    -- workflow.
    IF cardinality(v_turn_keys) > 0 THEN
        INSERT INTO fair_cursors AS f (queue, workflow, last_key)
        SELECT DISTINCT ON (t.queue, t.workflow) t.queue, t.workflow, t.key
        FROM unnest(v_turn_queues, v_turn_workflows, v_turn_keys) WITH ORDINALITY
             AS t(queue, workflow, key, n)
        ORDER BY t.queue, t.workflow, t.n DESC
        ON CONFLICT (queue, workflow) DO UPDATE SET last_key = excluded.last_key;
    END IF;

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

-- The previous interface (workers of the release before this one, during a rolling deploy):
-- any workflow, as those workers claimed.
CREATE OR REPLACE FUNCTION claim_ready(p_owner text, p_queues text[], p_limit integer,
                                       p_window integer, p_expires double precision,
                                       p_now double precision, p_versions text[] DEFAULT '{}')
RETURNS TABLE (run jsonb, took_over boolean)
LANGUAGE sql AS $$
    SELECT * FROM bosun.claim_ready(p_owner, p_queues, p_limit, p_window, p_expires, p_now,
                                    p_versions, '{}'::text[]);
$$;

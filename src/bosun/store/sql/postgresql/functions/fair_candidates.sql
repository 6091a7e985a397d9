-- Candidates of one queue and workflow in round-robin order across fairness keys, reading
-- about as many runs as it returns however many keys and runs wait (runs_fair_turns and the
-- per-workflow cursor in fair_cursors). Keys take turns in key order, starting after the key
-- the last claim served last and wrapping around; at most `p_window` keys are visited, highest
-- priority first, and each visited key gives its oldest ready runs, enough of them to fill the
-- window when fewer keys wait. `fair_rank` is a run's place within its key and priority,
-- `turn` its key's place in this claim's rotation: claim_ready orders by priority, fair_rank,
-- turn. Runs of the workflow without a key are candidates when among its `p_window` oldest
-- ready runs (turn 0).
CREATE OR REPLACE FUNCTION fair_candidates(p_queue text, p_workflow text, p_window integer,
                                           p_now double precision, p_versions text[])
RETURNS TABLE (id text, queue text, workflow text, fairness_key text, status text,
               priority integer, ready_at double precision, fair_rank bigint, turn bigint)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan
SET search_path = bosun, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_cursor text;
    v_priority integer;
    v_key text;
    v_next text;
    v_wrapped boolean;
    v_priorities integer[] := '{}';
    v_keys text[] := '{}';
    v_per_key integer;
    v_any boolean := cardinality(p_versions) = 0;
BEGIN
    SELECT c.last_key INTO v_cursor FROM fair_cursors AS c
    WHERE c.queue = p_queue AND c.workflow = p_workflow;
    SELECT r.priority INTO v_priority FROM runs AS r
    WHERE r.queue = p_queue AND r.workflow = p_workflow AND r.fairness_key IS NOT NULL
      AND r.ready_at <= p_now
    ORDER BY r.priority DESC LIMIT 1;
    -- Each step finds the next key with a ready run at this priority: one index probe, past
    -- only the key's runs that are not ready (held under a live lease, or waiting).
    WHILE v_priority IS NOT NULL AND cardinality(v_keys) < p_window LOOP
        v_key := v_cursor;
        v_wrapped := v_cursor IS NULL;
        LOOP
            IF v_key IS NULL THEN
                SELECT r.fairness_key INTO v_next FROM runs AS r
                WHERE r.queue = p_queue AND r.workflow = p_workflow
                  AND r.priority = v_priority AND r.fairness_key IS NOT NULL
                  AND r.ready_at <= p_now
                ORDER BY r.fairness_key LIMIT 1;
            ELSE
                SELECT r.fairness_key INTO v_next FROM runs AS r
                WHERE r.queue = p_queue AND r.workflow = p_workflow
                  AND r.priority = v_priority AND r.fairness_key > v_key
                  AND r.ready_at <= p_now
                ORDER BY r.fairness_key LIMIT 1;
            END IF;
            IF NOT FOUND THEN
                EXIT WHEN v_wrapped;
                v_wrapped := true;  -- past the last key: start again from the first
                v_key := NULL;
                CONTINUE;
            END IF;
            EXIT WHEN v_wrapped AND v_cursor IS NOT NULL AND v_next > v_cursor;
            v_priorities := v_priorities || v_priority;
            v_keys := v_keys || v_next;
            EXIT WHEN cardinality(v_keys) >= p_window;
            v_key := v_next;
        END LOOP;
        SELECT r.priority INTO v_priority FROM runs AS r
        WHERE r.queue = p_queue AND r.workflow = p_workflow AND r.fairness_key IS NOT NULL
          AND r.priority < v_priority AND r.ready_at <= p_now
        ORDER BY r.priority DESC LIMIT 1;
    END LOOP;
    v_per_key := CEIL(p_window::numeric / GREATEST(cardinality(v_keys), 1));

    RETURN QUERY
    SELECT x.id, x.queue, x.workflow, x.fairness_key, x.status, x.priority, x.ready_at,
           row_number() OVER (PARTITION BY k.turn ORDER BY x.ready_at), k.turn
    FROM unnest(v_priorities, v_keys) WITH ORDINALITY AS k(priority, key, turn), LATERAL (
        SELECT r.id, r.queue, r.workflow, r.fairness_key, r.status, r.priority, r.ready_at
        FROM runs AS r
        WHERE r.queue = p_queue AND r.workflow = p_workflow AND r.priority = k.priority
          AND r.fairness_key = k.key AND r.ready_at <= p_now
          AND (r.concurrency_key IS NULL OR key_admits(r))
          AND (v_any OR r.version IS NULL OR r.version = ANY(p_versions)
               OR NOT version_is_served(r.version, r.queue, p_now))
        ORDER BY r.ready_at
        LIMIT v_per_key) AS x
    UNION ALL
    SELECT (y.r).id, (y.r).queue, (y.r).workflow, (y.r).fairness_key, (y.r).status,
           (y.r).priority, (y.r).ready_at,
           row_number() OVER (ORDER BY (y.r).priority DESC, (y.r).ready_at), 0
    FROM (
        SELECT r FROM runs AS r
        WHERE r.queue = p_queue AND r.workflow = p_workflow AND r.ready_at <= p_now
        ORDER BY r.priority DESC, r.ready_at
        LIMIT p_window) AS y
    WHERE (y.r).fairness_key IS NULL
      AND ((y.r).concurrency_key IS NULL OR key_admits(y.r))
      AND (v_any OR (y.r).version IS NULL OR (y.r).version = ANY(p_versions)
           OR NOT version_is_served((y.r).version, (y.r).queue, p_now));
END $$;

-- Claiming in one round trip: the candidate choice, per-queue limits and the lease, in one
-- function call (the SQLite connector does the same steps in its writer transaction).

-- Whether a run's concurrency key lets it start: it holds its slot already, or the key has
-- a free slot and no older run waits on it (FIFO per key). Callers test
-- `concurrency_key IS NULL` first: a function call per unkeyed candidate is not free.
CREATE FUNCTION key_admits(r runs) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT r.concurrency_key IS NULL OR r.started_at IS NOT NULL OR (
        (SELECT count(*) FROM runs AS k
         WHERE k.concurrency_key = r.concurrency_key AND k.started_at IS NOT NULL
           AND k.status NOT IN ('completed', 'failed', 'cancelled')) < r.concurrency_limit
        AND NOT EXISTS (
            SELECT 1 FROM runs AS o
            WHERE o.concurrency_key = r.concurrency_key AND o.started_at IS NULL
              AND o.status = 'queued' AND (o.created_at, o.id) < (r.created_at, r.id)))
$$;

CREATE FUNCTION claim_runs(p_owner text, p_queues text[], p_limit integer, p_window integer,
                           p_expires double precision, p_now double precision)
RETURNS SETOF runs
LANGUAGE plpgsql AS $$
DECLARE
    v_free jsonb := '{}';
    v_chosen text[] := '{}';
    v_candidates refcursor;
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

    -- Claim order: priority, then round robin across fairness keys (only ranked when some
    -- ready run has one), then age.
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
                  AND r.status IN ('queued', 'suspended', 'running') AND (r.concurrency_key IS NULL OR key_admits(r))
            ) AS x
            ORDER BY x.priority DESC, x.fair_rank, x.ready_at
            LIMIT p_window;
    ELSE
        OPEN v_candidates FOR
            SELECT r.id, r.queue, r.status FROM runs AS r
            WHERE r.queue = ANY(p_queues) AND r.ready_at <= p_now
              AND r.status IN ('queued', 'suspended', 'running') AND (r.concurrency_key IS NULL OR key_admits(r))
            ORDER BY r.priority DESC, r.ready_at
            LIMIT p_window;
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

    RETURN QUERY
    UPDATE runs
    SET status = 'running',
        lease_owner = p_owner,
        attempts = runs.attempts + 1,
        lease_token = p_owner || ':' || (runs.attempts + 1),
        lease_expires_at = p_expires,
        ready_at = p_expires,
        started_at = COALESCE(runs.started_at, p_now),
        updated_at = p_now
    FROM (
        SELECT id FROM runs
        WHERE id = ANY(v_chosen) AND ready_at <= p_now
          AND status IN ('queued', 'suspended', 'running')
        FOR UPDATE SKIP LOCKED
    ) AS picked
    WHERE runs.id = picked.id
    RETURNING runs.*;
END $$;


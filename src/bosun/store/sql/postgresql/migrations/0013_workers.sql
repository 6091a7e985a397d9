-- Workers announce themselves, and each run remembers the deployment version it runs on, so
-- that a rolling deploy never replays a run on changed code by surprise: a run moves to
-- another version only when that version declares itself compatible, or when no live worker
-- of its own version serves its queue any more.
ALTER TABLE runs ADD COLUMN version text;

CREATE TABLE workers (
    id          text PRIMARY KEY,                 -- the worker's owner string (runs.lease_owner)
    host        text NOT NULL,
    pid         integer NOT NULL,
    queues      text[] NOT NULL,
    concurrency integer NOT NULL,
    busy        integer NOT NULL DEFAULT 0,
    version     text NOT NULL,
    compatible  text[] NOT NULL DEFAULT '{}',     -- older versions it may take over
    draining    boolean NOT NULL DEFAULT false,
    started_at  double precision NOT NULL,
    last_seen   double precision NOT NULL,
    expires_at  double precision NOT NULL         -- last_seen + its lease TTL: dead after this
);
CREATE INDEX workers_version ON workers (version, expires_at);

-- Whether a live, non-draining worker of `p_version` serves `p_queue`: while one does, that
-- version's runs on that queue stay with it.
CREATE FUNCTION version_is_served(p_version text, p_queue text, p_now double precision)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM workers AS w
                   WHERE w.version = p_version AND p_queue = ANY(w.queues)
                     AND w.expires_at > p_now AND NOT w.draining)
$$;

-- claim_runs gains the claimer's versions: its own first, then those it is compatible with.
-- An empty array claims runs of any version and leaves their version as it is.
DROP FUNCTION claim_runs(text, text[], integer, integer, double precision, double precision);
CREATE FUNCTION claim_runs(p_owner text, p_queues text[], p_limit integer, p_window integer,
                           p_expires double precision, p_now double precision,
                           p_versions text[] DEFAULT '{}')
RETURNS SETOF runs
LANGUAGE plpgsql AS $$
DECLARE
    v_free jsonb := '{}';
    v_chosen text[] := '{}';
    v_candidates refcursor;
    v_any boolean := cardinality(p_versions) = 0;
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
                  AND r.status IN ('queued', 'suspended', 'running')
                  AND (r.concurrency_key IS NULL OR key_admits(r))
                  AND (v_any OR r.version IS NULL OR r.version = ANY(p_versions)
                       OR NOT version_is_served(r.version, r.queue, p_now))
            ) AS x
            ORDER BY x.priority DESC, x.fair_rank, x.ready_at
            LIMIT p_window;
    ELSE
        OPEN v_candidates FOR
            SELECT r.id, r.queue, r.status FROM runs AS r
            WHERE r.queue = ANY(p_queues) AND r.ready_at <= p_now
              AND r.status IN ('queued', 'suspended', 'running')
              AND (r.concurrency_key IS NULL OR key_admits(r))
              AND (v_any OR r.version IS NULL OR r.version = ANY(p_versions)
                   OR NOT version_is_served(r.version, r.queue, p_now))
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
        updated_at = p_now,
        version = COALESCE(p_versions[1], runs.version)
    FROM (
        SELECT id FROM runs
        WHERE id = ANY(v_chosen) AND ready_at <= p_now
          AND status IN ('queued', 'suspended', 'running')
        FOR UPDATE SKIP LOCKED
    ) AS picked
    WHERE runs.id = picked.id
    RETURNING runs.*;
END $$;

-- The interface before claim_ready, for workers of older releases during a rolling deploy:
-- the same claim (of any workflow), as rows of `runs`.
CREATE OR REPLACE FUNCTION claim_runs(p_owner text, p_queues text[], p_limit integer,
                                      p_window integer, p_expires double precision,
                                      p_now double precision, p_versions text[] DEFAULT '{}')
RETURNS SETOF runs
LANGUAGE sql AS $$
    SELECT (jsonb_populate_record(NULL::bosun.runs, c.run)).*
    FROM bosun.claim_ready(p_owner, p_queues, p_limit, p_window, p_expires, p_now,
                           p_versions) AS c;
$$;

-- Whether a live, non-draining worker of `p_version` serves `p_queue`: while one does, that
-- version's runs on that queue stay with it.
CREATE OR REPLACE FUNCTION version_is_served(p_version text, p_queue text, p_now double precision)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM bosun.workers AS w
                   WHERE w.version = p_version AND p_queue = ANY(w.queues)
                     AND w.expires_at > p_now AND NOT w.draining)
$$;

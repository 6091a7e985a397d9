-- Whether a run's concurrency key lets it start: it holds its slot already, or the key has
-- a free slot and no older run waits on it (FIFO per key). Callers test
-- `concurrency_key IS NULL` first: a function call per unkeyed candidate is not free.
CREATE OR REPLACE FUNCTION key_admits(r runs) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT r.concurrency_key IS NULL OR r.started_at IS NOT NULL OR (
        (SELECT count(*) FROM bosun.runs AS k
         WHERE k.concurrency_key = r.concurrency_key AND k.started_at IS NOT NULL
           AND k.status NOT IN ('completed', 'failed', 'cancelled')) < r.concurrency_limit
        AND NOT EXISTS (
            SELECT 1 FROM bosun.runs AS o
            WHERE o.concurrency_key = r.concurrency_key AND o.started_at IS NULL
              AND o.status = 'queued' AND (o.created_at, o.id) < (r.created_at, r.id)))
$$;

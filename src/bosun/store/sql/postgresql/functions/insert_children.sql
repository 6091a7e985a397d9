-- Child runs created by a worker's write, with their flow-control keys and their parent's
-- tenant (redefined when runs gain columns that children inherit).
CREATE OR REPLACE FUNCTION insert_children(p_children jsonb, p_now double precision)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO bosun.runs (id, workflow, queue, status, priority, input, idempotency_key,
                            parent_id, parent_seq, deadline, concurrency_key,
                            concurrency_limit, fairness_key, tenant, session, webhook_url,
                            ready_at, created_at, updated_at)
    SELECT c.id, c.workflow, c.queue, 'queued', c.priority, c.input, c.idempotency_key,
           c.parent_id, c.parent_seq, c.deadline, c.concurrency_key, c.concurrency_limit,
           c.fairness_key, COALESCE(c.tenant, 'default'), c.session, c.webhook_url,
           p_now, p_now, p_now
    FROM jsonb_to_recordset(p_children) AS c(id text, workflow text, queue text,
         priority integer, input text, idempotency_key text, parent_id text,
         parent_seq text, deadline double precision, concurrency_key text,
         concurrency_limit integer, fairness_key text, tenant text, session text,
         webhook_url text)
    ON CONFLICT DO NOTHING;
$$;

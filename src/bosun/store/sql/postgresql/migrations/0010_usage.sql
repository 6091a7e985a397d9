-- LLM usage and cost, one row per completed `ctx.llm` call, written by a trigger in the same
-- transaction as the call's journal entry: totals per run, session and tenant are sums here.
-- Kept when runs are pruned (they are what was billed).
CREATE TABLE usage (
    run_id            text NOT NULL,
    seq               text NOT NULL,
    tenant            text NOT NULL,
    session           text,
    model             text NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cached_tokens     bigint NOT NULL,
    cost              double precision NOT NULL,
    created_at        double precision NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX usage_tenant ON usage (tenant, created_at);
CREATE INDEX usage_session ON usage (tenant, session, created_at) WHERE session IS NOT NULL;

CREATE FUNCTION record_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_out jsonb := NEW.output::jsonb;
BEGIN
    INSERT INTO usage
    SELECT NEW.run_id, NEW.seq, r.tenant, r.session, substr(NEW.name, 5),
           COALESCE((v_out #>> '{response,usage,prompt_tokens}')::bigint, 0),
           COALESCE((v_out #>> '{response,usage,completion_tokens}')::bigint, 0),
           COALESCE((v_out #>> '{response,usage,cached_tokens}')::bigint, 0),
           COALESCE((v_out ->> 'cost')::double precision, 0),
           COALESCE(NEW.finished_at, 0)
    FROM runs AS r WHERE r.id = NEW.run_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER usage_of_llm_calls AFTER INSERT OR UPDATE OF status ON journal
FOR EACH ROW WHEN (NEW.kind = 'llm' AND NEW.status = 'completed')
EXECUTE FUNCTION record_usage();

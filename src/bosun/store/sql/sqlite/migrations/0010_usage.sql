-- LLM usage and cost, one row per completed `ctx.llm` call, written by a trigger in the same
-- transaction as the call's journal entry: totals per run, session and tenant are sums here.
-- Kept when runs are pruned (they are what was billed).
CREATE TABLE usage (
    run_id            TEXT NOT NULL,
    seq               TEXT NOT NULL,
    tenant            TEXT NOT NULL,
    session           TEXT,
    model             TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    cost              REAL NOT NULL,
    created_at        REAL NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX usage_tenant ON usage (tenant, created_at);
CREATE INDEX usage_session ON usage (tenant, session, created_at) WHERE session IS NOT NULL;

CREATE TRIGGER usage_of_llm_calls AFTER INSERT ON journal
WHEN new.kind = 'llm' AND new.status = 'completed'
BEGIN
    INSERT OR IGNORE INTO usage
    SELECT new.run_id, new.seq, r.tenant, r.session, substr(new.name, 5),
           COALESCE(json_extract(new.output, '$.response.usage.prompt_tokens'), 0),
           COALESCE(json_extract(new.output, '$.response.usage.completion_tokens'), 0),
           COALESCE(json_extract(new.output, '$.response.usage.cached_tokens'), 0),
           COALESCE(json_extract(new.output, '$.cost'), 0),
           COALESCE(new.finished_at, 0)
    FROM runs AS r WHERE r.id = new.run_id;
END;

CREATE TRIGGER usage_of_retried_llm_calls AFTER UPDATE OF status ON journal
WHEN new.kind = 'llm' AND new.status = 'completed' AND old.status <> 'completed'
BEGIN
    INSERT OR IGNORE INTO usage
    SELECT new.run_id, new.seq, r.tenant, r.session, substr(new.name, 5),
           COALESCE(json_extract(new.output, '$.response.usage.prompt_tokens'), 0),
           COALESCE(json_extract(new.output, '$.response.usage.completion_tokens'), 0),
           COALESCE(json_extract(new.output, '$.response.usage.cached_tokens'), 0),
           COALESCE(json_extract(new.output, '$.cost'), 0),
           COALESCE(new.finished_at, 0)
    FROM runs AS r WHERE r.id = new.run_id;
END;

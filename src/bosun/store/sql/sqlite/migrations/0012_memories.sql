-- Long-term memories: texts with their embeddings, per tenant and namespace (the tenant's
-- own, or one session's). Searched exactly (cosine similarity) in the worker process.
CREATE TABLE memories (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    text       TEXT NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    embedding  TEXT NOT NULL,
    model      TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX memories_namespace ON memories (tenant, namespace, created_at);

-- Long-term memories: texts with their embeddings, per tenant and namespace (the tenant's
-- own, or one session's). Searched exactly (cosine similarity) in SQL over float8 arrays;
-- this server build has no pgvector, whose index would make large namespaces faster.
CREATE TABLE memories (
    id         text PRIMARY KEY,
    tenant     text NOT NULL,
    namespace  text NOT NULL,
    text       text NOT NULL,
    metadata   text NOT NULL DEFAULT '{}',
    embedding  double precision[] NOT NULL,
    model      text NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX memories_namespace ON memories (tenant, namespace, created_at);

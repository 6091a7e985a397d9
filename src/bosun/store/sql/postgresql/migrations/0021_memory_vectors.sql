-- Memories record how many dimensions their embedding has, so that an insert or a search made
-- with another embedding model fails with a clear error instead of finding nothing. Embeddings
-- may move to pgvector's `vector` type (a `vec` column that `bosun db memory-search vector`, or
-- `bosun db upgrade` on a server that offers the extension, adds), after which `embedding`
-- is NULL: hence it may be NULL from now on.
ALTER TABLE memories ADD COLUMN dims integer;
UPDATE memories SET dims = cardinality(embedding);
ALTER TABLE memories ALTER COLUMN dims SET NOT NULL;
ALTER TABLE memories ALTER COLUMN embedding DROP NOT NULL;

-- The search path in use: no row, exact search over float8 arrays; a row, pgvector (in the
-- schema named), with one HNSW index per dimension count listed in `memory_indexes`.
CREATE TABLE memory_vectors (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    vector_schema text NOT NULL,
    enabled_at    double precision NOT NULL
);
CREATE TABLE memory_indexes (
    dims       integer PRIMARY KEY,
    created_at double precision NOT NULL
);

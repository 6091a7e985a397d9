-- The HNSW index (cosine) over the memories of one dimension count, made the first time a
-- memory of that many dimensions is stored on the pgvector path. pgvector's `vector` indexes
-- take at most 2,000 dimensions: wider embeddings are searched exactly. The row in
-- `memory_indexes` serialises concurrent first inserts: the second waits for the first to
-- commit and then finds the index made.
CREATE OR REPLACE FUNCTION memory_index(p_dims integer, p_schema text) RETURNS void
LANGUAGE plpgsql SET search_path = bosun, pg_temp AS $$
BEGIN
    IF p_dims > 2000 OR EXISTS (SELECT 1 FROM memory_indexes WHERE dims = p_dims) THEN
        RETURN;
    END IF;
    INSERT INTO memory_indexes (dims, created_at)
    VALUES (p_dims, extract(epoch FROM clock_timestamp()))
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS memories_hnsw_%1$s ON memories '
            'USING hnsw ((vec::%2$I.vector(%1$s)) %2$I.vector_cosine_ops) WHERE dims = %1$s',
            p_dims, p_schema);
    END IF;
END $$;

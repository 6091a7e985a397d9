-- The `p_k` memories of a namespace most similar to `p_query` (normalised, as stored), best
-- first, on the path in use (`memory_vectors`):
-- * float8 arrays: exact cosine similarity, a dot product since vectors are normalised;
-- * pgvector, a namespace under `exact_below` memories, or wider than an index takes: exact,
--   over the namespace's rows found through the (tenant, namespace) index. A filter that
--   keeps a small share of the table would cost the HNSW graph its recall;
-- * pgvector, a larger namespace: the HNSW index with iterative scans (pgvector 0.8), which
--   keep walking the graph until `p_k` rows pass the tenant and namespace filter.
-- A namespace that holds only embeddings of another dimension count raises SQLSTATE BM001.
CREATE OR REPLACE FUNCTION search_memories(
    p_tenant text, p_namespace text, p_query double precision[], p_k integer,
    p_exact_below integer DEFAULT 2000
) RETURNS TABLE (id text, text text, metadata text, created_at double precision,
                 score double precision)
LANGUAGE plpgsql SET search_path = bosun, pg_temp AS $$
DECLARE
    v_dims integer := cardinality(p_query);
    v_schema text;
    v_rows integer;
    v_held integer;
BEGIN
    SELECT vector_schema INTO v_schema FROM memory_vectors;
    IF v_schema IS NULL THEN
        RETURN QUERY
        SELECT m.id, m.text, m.metadata, m.created_at,
               (SELECT sum(a * b) FROM unnest(m.embedding, p_query) AS t(a, b)) AS score
        FROM memories AS m
        WHERE m.tenant = p_tenant AND m.namespace = p_namespace AND m.dims = v_dims
        ORDER BY score DESC, m.created_at DESC
        LIMIT p_k;
    ELSE
        SELECT count(*) INTO v_rows FROM (
            SELECT 1 FROM memories AS m
            WHERE m.tenant = p_tenant AND m.namespace = p_namespace
            LIMIT p_exact_below
        ) AS s;
        IF v_rows < p_exact_below OR v_dims > 2000 THEN
            RETURN QUERY EXECUTE format(
                'SELECT m.id, m.text, m.metadata, m.created_at, '
                '(1 - (m.vec OPERATOR(%1$I.<=>) $3::%1$I.vector))::double precision AS score '
                'FROM memories AS m '
                'WHERE m.tenant = $1 AND m.namespace = $2 AND m.dims = $4 '
                'ORDER BY score DESC, m.created_at DESC LIMIT $5', v_schema)
            USING p_tenant, p_namespace, p_query, v_dims, p_k;
        ELSE
            -- The planner would rather sort the rows the (tenant, namespace) index finds,
            -- which is exact but reads the whole namespace: steer it to the ordered HNSW
            -- scan (a penalty, not a ban: the outer sort still runs). The penalty's cost
            -- would bring JIT compilation in (150 ms for a 2 ms scan), hence jit off.
            PERFORM set_config('enable_sort', 'off', true);
            PERFORM set_config('jit', 'off', true);
            PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
            PERFORM set_config('hnsw.ef_search', least(greatest(p_k * 10, 200), 1000)::text, true);
            RETURN QUERY EXECUTE format(
                'WITH near AS MATERIALIZED ('
                ' SELECT m.id, m.text, m.metadata, m.created_at, '
                '  m.vec::%1$I.vector(%2$s) OPERATOR(%1$I.<=>) $3::%1$I.vector(%2$s) AS distance'
                ' FROM memories AS m'
                ' WHERE m.dims = %2$s AND m.tenant = $1 AND m.namespace = $2'
                ' ORDER BY distance LIMIT $4) '
                'SELECT id, text, metadata, created_at, (1 - distance)::double precision '
                'FROM near ORDER BY distance + 0, created_at DESC', v_schema, v_dims)
            USING p_tenant, p_namespace, p_query, p_k;
        END IF;
    END IF;
    IF NOT FOUND THEN
        SELECT m.dims INTO v_held FROM memories AS m
        WHERE m.tenant = p_tenant AND m.namespace = p_namespace AND m.dims <> v_dims
        LIMIT 1;
        IF v_held IS NOT NULL THEN
            RAISE EXCEPTION 'memory namespace % holds %-dimension embeddings, and the query '
                'has % (was the embedding model changed?)', p_namespace, v_held, v_dims
                USING ERRCODE = 'BM001';
        END IF;
    END IF;
END $$;

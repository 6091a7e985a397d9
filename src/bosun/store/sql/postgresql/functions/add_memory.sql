-- Store a memory on the path in use (`memory_vectors`): float8 arrays, or pgvector's `vector`.
-- Returns 'added'; 'exists' when the id was stored before (left as it is); or 'dims:N' when
-- the namespace holds N-dimension embeddings and this one has another count (it was made by
-- another embedding model), which the caller turns into an error.
CREATE OR REPLACE FUNCTION add_memory(
    p_id text, p_tenant text, p_namespace text, p_text text, p_metadata text,
    p_embedding double precision[], p_model text, p_now double precision
) RETURNS text LANGUAGE plpgsql SET search_path = bosun, pg_temp AS $$
DECLARE
    v_dims integer := cardinality(p_embedding);
    v_held integer;
    v_schema text;
    v_added integer;
BEGIN
    SELECT m.dims INTO v_held FROM memories AS m
    WHERE m.tenant = p_tenant AND m.namespace = p_namespace
    LIMIT 1;
    IF v_held IS NOT NULL AND v_held <> v_dims THEN
        RETURN 'dims:' || v_held;
    END IF;
    SELECT vector_schema INTO v_schema FROM memory_vectors;
    IF v_schema IS NULL THEN
        INSERT INTO memories (id, tenant, namespace, text, metadata, embedding, dims, model,
                              created_at)
        VALUES (p_id, p_tenant, p_namespace, p_text, p_metadata, p_embedding, v_dims, p_model,
                p_now)
        ON CONFLICT (id) DO NOTHING;
    ELSE
        PERFORM memory_index(v_dims, v_schema);
        EXECUTE format(
            'INSERT INTO memories (id, tenant, namespace, text, metadata, vec, dims, model, '
            'created_at) VALUES ($1, $2, $3, $4, $5, $6::%I.vector, $7, $8, $9) '
            'ON CONFLICT (id) DO NOTHING', v_schema)
        USING p_id, p_tenant, p_namespace, p_text, p_metadata, p_embedding, v_dims, p_model,
              p_now;
    END IF;
    GET DIAGNOSTICS v_added = ROW_COUNT;
    RETURN CASE WHEN v_added > 0 THEN 'added' ELSE 'exists' END;
END $$;

-- The trigger `usage_of_llm_calls` on `journal` (created by migration 0010): one `usage` row
-- per completed `ctx.llm` call, in the same transaction as the call's journal entry.
CREATE OR REPLACE FUNCTION record_usage() RETURNS trigger LANGUAGE plpgsql
SET search_path = bosun, pg_temp AS $$
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

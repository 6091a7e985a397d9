-- Add the messages of a run's write to its sessions (each made if missing), inside the write's
-- transaction (save_progress_batch). `p_appends` is a JSON array of objects with tenant,
-- session, run_id, source and messages (an array of messages, each as JSON text). A message
-- whose run and `source:index` are stored already (a write retried) is not added again.
CREATE OR REPLACE FUNCTION append_session_messages(p_appends jsonb, p_now double precision)
RETURNS void LANGUAGE plpgsql SET search_path = bosun, pg_temp AS $$
DECLARE
    a jsonb;
    v_n integer;
    v_last bigint;
BEGIN
    FOR a IN SELECT value FROM jsonb_array_elements(p_appends) LOOP
        v_n := jsonb_array_length(a -> 'messages');
        INSERT INTO sessions (tenant, id, created_at, updated_at)
        VALUES (a ->> 'tenant', a ->> 'session', p_now, p_now)
        ON CONFLICT (tenant, id) DO NOTHING;
        UPDATE sessions SET last_seq = last_seq + v_n, updated_at = p_now
        WHERE tenant = a ->> 'tenant' AND id = a ->> 'session'
        RETURNING last_seq INTO v_last;
        INSERT INTO session_messages (tenant, session_id, seq, run_id, source, message,
                                      created_at)
        SELECT a ->> 'tenant', a ->> 'session', v_last - v_n + m.n, a ->> 'run_id',
               (a ->> 'source') || ':' || (m.n - 1), m.value #>> '{}', p_now
        FROM jsonb_array_elements(a -> 'messages') WITH ORDINALITY AS m(value, n)
        ON CONFLICT DO NOTHING;
    END LOOP;
END $$;

-- Append events ([type, data] pairs) to a run whose row the caller has locked or is about
-- to update, and tell stream readers in every process.
CREATE OR REPLACE FUNCTION append_events(p_run_id text, p_events jsonb, p_now double precision)
RETURNS void LANGUAGE plpgsql SET search_path = bosun, pg_temp AS $$
DECLARE
    v_base bigint;
BEGIN
    UPDATE runs SET event_seq = event_seq + jsonb_array_length(p_events)
    WHERE id = p_run_id
    RETURNING event_seq - jsonb_array_length(p_events) INTO v_base;
    IF v_base IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO events (run_id, seq, type, data, created_at)
    SELECT p_run_id, v_base + e.n, e.value ->> 0, e.value ->> 1, p_now
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(value, n);
    PERFORM pg_notify('bosun_events', p_run_id);
END $$;

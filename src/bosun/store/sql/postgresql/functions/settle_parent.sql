-- Record a finished child's outcome in its parent's journal and wake the parent.
CREATE OR REPLACE FUNCTION settle_parent(p_parent text, p_seq text, p_status text,
                                         p_output text, p_error text, p_now double precision)
RETURNS void
LANGUAGE plpgsql SET search_path = bosun, pg_temp AS $$
DECLARE
    v_queue text;
BEGIN
    UPDATE journal SET status = p_status, output = p_output, error = p_error,
                       finished_at = p_now
    WHERE run_id = p_parent AND seq = p_seq AND status = 'waiting';
    UPDATE runs
    SET wake_seq = wake_seq + 1,
        ready_at = CASE WHEN status = 'suspended' THEN p_now ELSE ready_at END,
        updated_at = p_now
    WHERE id = p_parent
    RETURNING queue INTO v_queue;
    IF v_queue IS NOT NULL THEN
        PERFORM pg_notify('bosun_work', v_queue);
    END IF;
END $$;

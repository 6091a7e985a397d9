-- Fewer index entries per write. Every update of a run that changes its status writes a new
-- entry into each of the runs' indexes, and every event row one into each of the events'.
--
-- The idempotency key's uniqueness holds for keys that are set: runs without one (most) no
-- longer take an entry in its index. Inserts use ON CONFLICT DO NOTHING without a target,
-- which a partial unique index serves as the constraint did.
CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE runs DROP CONSTRAINT runs_idempotency_key_key;

-- Events are found by (run, position) only; their own serial id was never read.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events DROP COLUMN id;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_run_seq;

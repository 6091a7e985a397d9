-- Large payloads: PostgreSQL already keeps values over ~2 kB compressed out of line (TOAST),
-- and an UPDATE of other columns copies the pointer, not the value. lz4 compresses and
-- decompresses several times faster than the default pglz; servers built without it keep
-- pglz.
DO $$
BEGIN
    ALTER TABLE runs ALTER COLUMN input SET COMPRESSION lz4;
    ALTER TABLE runs ALTER COLUMN result SET COMPRESSION lz4;
    ALTER TABLE journal ALTER COLUMN output SET COMPRESSION lz4;
    ALTER TABLE signals ALTER COLUMN payload SET COMPRESSION lz4;
    ALTER TABLE events ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; large payloads stay compressed with pglz';
END $$;

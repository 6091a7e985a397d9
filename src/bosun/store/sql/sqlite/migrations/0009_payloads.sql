-- Large run inputs and results live compressed in their own table, out of the hot `runs`
-- rows that claims, heartbeats and status changes rewrite (SQLite rewrites a whole row,
-- overflow pages included, on every UPDATE). The `runs` column then holds '@offloaded'.
CREATE TABLE run_payloads (
    run_id TEXT NOT NULL,
    field  TEXT NOT NULL CHECK (field IN ('input', 'result')),
    data   BLOB NOT NULL,
    size   INTEGER NOT NULL,
    PRIMARY KEY (run_id, field)
) WITHOUT ROWID;

-- Sessions: a conversation's ordered messages, key-value state and metadata, per tenant.
CREATE TABLE sessions (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    state      TEXT NOT NULL DEFAULT '{}',
    last_seq   INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX sessions_recent ON sessions (tenant, updated_at DESC, id DESC);

CREATE TABLE session_messages (
    tenant     TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    run_id     TEXT,
    source     TEXT,
    message    TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (tenant, session_id, seq)
) WITHOUT ROWID;
-- `source` names the run's write a message came from, so a write that is retried after a
-- crash adds nothing twice.
CREATE UNIQUE INDEX session_messages_source ON session_messages (run_id, source)
    WHERE run_id IS NOT NULL;

-- Sessions: a conversation's ordered messages, key-value state and metadata, per tenant.
CREATE TABLE sessions (
    tenant     text NOT NULL,
    id         text NOT NULL,
    metadata   text NOT NULL DEFAULT '{}',
    state      text NOT NULL DEFAULT '{}',
    last_seq   bigint NOT NULL DEFAULT 0,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX sessions_recent ON sessions (tenant, updated_at DESC, id DESC);

CREATE TABLE session_messages (
    tenant     text NOT NULL,
    session_id text NOT NULL,
    seq        bigint NOT NULL,
    run_id     text,
    source     text,
    message    text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (tenant, session_id, seq)
);
-- `source` names the run's write a message came from, so a write that is retried after a
-- crash adds nothing twice.
CREATE UNIQUE INDEX session_messages_source ON session_messages (run_id, source)
    WHERE run_id IS NOT NULL;

-- Runs, their journals, signals and events.
-- Times are UNIX seconds (REAL). `ready_at` is when a run next needs a worker: the time a
-- queued run may start, a suspended run's timer, or a running run's lease expiry (so an
-- expired lease makes the run claimable again). NULL means nothing is due.

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    workflow         TEXT NOT NULL,
    queue            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                       ('queued','running','suspended','completed','failed','cancelled','blocked')),
    priority         INTEGER NOT NULL DEFAULT 0,
    input            TEXT NOT NULL,
    result           TEXT,
    error            TEXT,
    idempotency_key  TEXT UNIQUE,
    parent_id        TEXT,
    parent_seq       TEXT,
    deadline         REAL,
    ready_at         REAL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at REAL,
    wake_seq         INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    finished_at      REAL
);

CREATE INDEX runs_ready ON runs (queue, priority DESC, ready_at) WHERE ready_at IS NOT NULL;
CREATE INDEX runs_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_status_created ON runs (status, created_at DESC);
CREATE INDEX runs_parent ON runs (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE journal (
    run_id      TEXT NOT NULL,
    seq         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('completed','failed','waiting','retrying')),
    output      TEXT,
    error       TEXT,
    attempt     INTEGER NOT NULL DEFAULT 1,
    started_at  REAL,
    finished_at REAL,
    wake_at     REAL,
    child_id    TEXT,
    UNIQUE (run_id, seq)
);

CREATE TABLE signals (
    id           INTEGER PRIMARY KEY,
    run_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   REAL NOT NULL,
    consumed_seq TEXT
);

CREATE INDEX signals_pending ON signals (run_id, id) WHERE consumed_seq IS NULL;

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE INDEX events_run ON events (run_id, id);

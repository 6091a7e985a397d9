-- Workers announce themselves, and each run remembers the deployment version it runs on, so
-- that a rolling deploy never replays a run on changed code by surprise: a run moves to
-- another version only when that version declares itself compatible, or when no live worker
-- of its own version serves its queue any more.
ALTER TABLE runs ADD COLUMN version TEXT;

CREATE TABLE workers (
    id          TEXT PRIMARY KEY,           -- the worker's owner string (runs.lease_owner)
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    queues      TEXT NOT NULL,              -- JSON array
    concurrency INTEGER NOT NULL,
    busy        INTEGER NOT NULL DEFAULT 0,
    version     TEXT NOT NULL,
    compatible  TEXT NOT NULL DEFAULT '[]', -- JSON array: older versions it may take over
    draining    INTEGER NOT NULL DEFAULT 0,
    started_at  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    expires_at  REAL NOT NULL               -- last_seen + its lease TTL: dead after this
);
CREATE INDEX workers_version ON workers (version, expires_at);

-- Schedules: cron expressions (in a time zone) that start runs.
-- `next_tick` is the next tick to start, in whole UNIX seconds. A scheduler that finds it due
-- advances it with a compare-and-set in the same transaction that inserts the tick's runs, so
-- each tick starts once however many workers race for it. `source` is 'code' for schedules
-- declared with @app.workflow(schedule=…), upserted when a worker starts; 'cli' otherwise.
CREATE TABLE schedules (
    name         TEXT PRIMARY KEY,
    workflow     TEXT NOT NULL,
    cron         TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    input        TEXT NOT NULL,
    queue        TEXT,
    paused       INTEGER NOT NULL DEFAULT 0,
    missed       TEXT NOT NULL CHECK (missed IN ('skip', 'catch_up')),
    max_catch_up INTEGER NOT NULL CHECK (max_catch_up >= 1),
    next_tick    INTEGER NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('code', 'cli')),
    last_tick    INTEGER,
    last_run_id  TEXT,
    last_error   TEXT,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL
);

CREATE INDEX schedules_due ON schedules (next_tick) WHERE paused = 0;

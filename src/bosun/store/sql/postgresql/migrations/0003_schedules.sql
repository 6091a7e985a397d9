-- Schedules: cron expressions (in a time zone) that start runs. Same model as SQLite:
-- `next_tick` (whole UNIX seconds) is advanced with a compare-and-set in the transaction that
-- inserts the tick's runs, so each tick starts once however many workers race for it.
CREATE TABLE schedules (
    name         text PRIMARY KEY,
    workflow     text NOT NULL,
    cron         text NOT NULL,
    timezone     text NOT NULL,
    input        text NOT NULL,
    queue        text,
    paused       boolean NOT NULL DEFAULT false,
    missed       text NOT NULL CHECK (missed IN ('skip', 'catch_up')),
    max_catch_up integer NOT NULL CHECK (max_catch_up >= 1),
    next_tick    bigint NOT NULL,
    source       text NOT NULL CHECK (source IN ('code', 'cli')),
    last_tick    bigint,
    last_run_id  text,
    last_error   text,
    created_at   double precision NOT NULL,
    updated_at   double precision NOT NULL
);

CREATE INDEX schedules_due ON schedules (next_tick) WHERE NOT paused;

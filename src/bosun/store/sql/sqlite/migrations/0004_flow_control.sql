-- Flow control: per-queue limits on running runs, per-key concurrency, fairness keys.
ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER;
ALTER TABLE runs ADD COLUMN fairness_key TEXT;
ALTER TABLE runs ADD COLUMN started_at REAL;

CREATE INDEX runs_concurrency_key ON runs (concurrency_key, created_at)
    WHERE concurrency_key IS NOT NULL;

CREATE INDEX runs_fair ON runs (queue, ready_at)
    WHERE fairness_key IS NOT NULL AND ready_at IS NOT NULL;

CREATE TABLE queue_limits (
    queue       TEXT PRIMARY KEY,
    max_running INTEGER NOT NULL CHECK (max_running >= 0),
    updated_at  REAL NOT NULL
);

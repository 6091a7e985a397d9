-- Shared rate limits (bosun/ratelimit.py): one row per name holding two token buckets,
-- refilled continuously at capacity / per. The capacities are copied from the code on
-- every reservation; the levels are what is left at `updated_at` (tokens may be negative:
-- debt from usage above the estimate). NULL levels mean "not limited" or "full".
CREATE TABLE rate_limits (
    name             TEXT PRIMARY KEY,
    request_capacity INTEGER,
    token_capacity   INTEGER,
    per              REAL NOT NULL,
    requests         REAL,
    tokens           REAL,
    updated_at       REAL NOT NULL
);

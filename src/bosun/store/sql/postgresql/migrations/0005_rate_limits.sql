-- Shared rate limits (bosun/ratelimit.py): one row per name holding two token buckets,
-- refilled continuously at capacity / per. The capacities are copied from the code on
-- every reservation; the levels are what is left at `updated_at` (tokens may be negative:
-- debt from usage above the estimate). NULL levels mean "not limited" or "full".
CREATE TABLE rate_limits (
    name             text PRIMARY KEY,
    request_capacity integer,
    token_capacity   bigint,
    per              double precision NOT NULL,
    requests         double precision,
    tokens           double precision,
    updated_at       double precision NOT NULL
);

-- The HTTP API: tenants, sessions and webhooks on runs; per-run event positions for
-- resumable streams; hashed API keys.
ALTER TABLE runs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE runs ADD COLUMN session TEXT;
ALTER TABLE runs ADD COLUMN webhook_url TEXT;
-- The last event position handed out for the run; moved under the run's row lock, so
-- positions are gap-free and in commit order.
ALTER TABLE runs ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;

CREATE INDEX runs_tenant_created ON runs (tenant, created_at DESC, id DESC);
CREATE INDEX runs_tenant_session ON runs (tenant, session, created_at DESC)
    WHERE session IS NOT NULL;

ALTER TABLE events ADD COLUMN seq INTEGER;
UPDATE events SET seq = (SELECT COUNT(*) FROM events AS e
                         WHERE e.run_id = events.run_id AND e.id <= events.id);
UPDATE runs SET event_seq = (SELECT COALESCE(MAX(seq), 0) FROM events
                             WHERE events.run_id = runs.id);
DROP INDEX events_run;
CREATE UNIQUE INDEX events_run_seq ON events (run_id, seq);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    hash         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    revoked_at   REAL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

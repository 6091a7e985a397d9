-- Retention: find finished runs by age without scanning live ones.
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;

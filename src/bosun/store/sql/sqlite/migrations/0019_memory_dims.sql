-- Memories record how many dimensions their embedding has, so that an insert or a search made
-- with another embedding model fails with a clear error instead of finding nothing.
ALTER TABLE memories ADD COLUMN dims INTEGER NOT NULL DEFAULT 0;
UPDATE memories SET dims = json_array_length(embedding);

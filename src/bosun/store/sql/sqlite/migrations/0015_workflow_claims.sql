-- A worker claims only runs of workflows it has registered. A worker that claimed a run of a
-- workflow it did not know used to fail the run for good, which broke two apps sharing one
-- database and every rolling deploy that adds a workflow (old workers took the new runs).
--
-- Workers advertise their workflows in the registry (NULL: a worker of an earlier release,
-- which serves any workflow), so the queue stats can show ready runs that no live worker
-- serves. The ready index leads with (queue, workflow): a claim scans each queue and
-- workflow it serves in (priority, ready_at) order and stops after its window, so its cost
-- stays flat however many runs of other workflows wait in the same queue.
ALTER TABLE workers ADD COLUMN workflows TEXT;  -- JSON array

DROP INDEX runs_ready;
CREATE INDEX runs_ready ON runs (queue, workflow, priority DESC, ready_at)
    WHERE ready_at IS NOT NULL;

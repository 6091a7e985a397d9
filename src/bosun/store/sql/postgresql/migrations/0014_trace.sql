-- The W3C trace context (`traceparent`) a run was submitted with, so that every worker that
-- executes it, across suspensions, retries and failover, continues the submitter's trace.
-- NULL: the run's trace is derived from its id (see bosun.observe.tracecontext).
ALTER TABLE runs ADD COLUMN traceparent text;

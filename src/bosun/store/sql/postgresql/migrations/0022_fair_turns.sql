-- Claims with fairness keys read about as many runs as they claim, however many keyed runs
-- wait: rather than ranking every ready run with a key, a claim visits keys in turn, one
-- probe of runs_fair_turns each, and takes their oldest ready runs (functions/
-- fair_candidates.sql). fair_cursors keeps, per queue and workflow, the key the last claim
-- served last, where the next rotation resumes.
CREATE TABLE fair_cursors (
    queue text NOT NULL,
    workflow text NOT NULL,
    last_key text NOT NULL,
    PRIMARY KEY (queue, workflow)
);

CREATE INDEX runs_fair_turns ON runs (queue, workflow, priority DESC, fairness_key, ready_at)
    WHERE fairness_key IS NOT NULL AND ready_at IS NOT NULL;

-- Idempotency keys get one namespace per origin (see bosun.idempotency): a submitter's key is
-- stored as `user:<tenant>:<key>`, an event trigger's as
-- `event:<tenant>:<event>:<workflow>:<event id>` and a schedule's as `schedule:<name>:<tick>`,
-- every part but the last with `%` written `%25` and `:` written `%3A`. Before, the three
-- shared one namespace (tenants other than `default` prefixed theirs with the tenant and
-- U+001F), so a submitted key could take the place of an event's or a schedule's run.
--
-- Keys stored before are rewritten, so that each keeps finding its run: a key of the old
-- event shape (`event:<event>:<event id>:<workflow>`) that ends with its run's own workflow
-- is read as an event's, the event name ending at the first `:`; one of the old schedule shape
-- in the default tenant as a schedule's; anything else as a submitter's. The new keys go
-- through a temporary table and the old ones are cleared first: rewriting in place could
-- meet a row whose old key equals another row's new one, which the unique index refuses.
CREATE TEMP TABLE rekeyed_runs (id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL);

INSERT INTO rekeyed_runs (id, idempotency_key)
WITH bare AS (
    SELECT id, workflow, tenant,
           CASE WHEN tenant <> 'default'
                     AND substr(idempotency_key, 1, length(tenant) + 1) = tenant || char(31)
                THEN substr(idempotency_key, length(tenant) + 2)
                ELSE idempotency_key END AS k
    FROM runs
    WHERE idempotency_key IS NOT NULL
), shaped AS (
    SELECT id, workflow, tenant, k,
           replace(replace(tenant, '%', '%25'), ':', '%3A') AS escaped_tenant,
           CASE WHEN substr(k, 1, 6) = 'event:'
                     AND length(k) > length(workflow) + 7
                     AND substr(k, -length(workflow) - 1) = ':' || workflow
                THEN substr(k, 7, length(k) - length(workflow) - 7) END AS event_and_id
    FROM bare
)
SELECT id,
       CASE
           WHEN instr(event_and_id, ':') > 0 THEN
               'event:' || escaped_tenant || ':'
               || replace(replace(substr(event_and_id, 1, instr(event_and_id, ':') - 1),
                                  '%', '%25'), ':', '%3A')
               || ':' || replace(replace(workflow, '%', '%25'), ':', '%3A')
               || ':' || substr(event_and_id, instr(event_and_id, ':') + 1)
           WHEN tenant = 'default'
                AND k GLOB 'schedule:?*:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
               THEN 'schedule:'
                    || replace(replace(substr(k, 10, length(k) - 30), '%', '%25'), ':', '%3A')
                    || ':' || substr(k, -20)
           ELSE 'user:' || escaped_tenant || ':' || k
       END
FROM shaped;

UPDATE runs SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL;

UPDATE runs
SET idempotency_key = (SELECT r.idempotency_key FROM rekeyed_runs AS r WHERE r.id = runs.id)
WHERE id IN (SELECT id FROM rekeyed_runs);

DROP TABLE rekeyed_runs;

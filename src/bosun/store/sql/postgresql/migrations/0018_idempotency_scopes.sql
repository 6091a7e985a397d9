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
CREATE TEMP TABLE rekeyed_runs (id text PRIMARY KEY, idempotency_key text NOT NULL);

INSERT INTO rekeyed_runs (id, idempotency_key)
WITH bare AS (
    SELECT id, workflow, tenant,
           CASE WHEN tenant <> 'default'
                     AND left(idempotency_key, length(tenant) + 1) = tenant || chr(31)
                THEN substr(idempotency_key, length(tenant) + 2)
                ELSE idempotency_key END AS k
    FROM runs
    WHERE idempotency_key IS NOT NULL
), shaped AS (
    SELECT id, workflow, tenant, k,
           replace(replace(tenant, '%', '%25'), ':', '%3A') AS escaped_tenant,
           CASE WHEN left(k, 6) = 'event:'
                     AND length(k) > length(workflow) + 7
                     AND right(k, length(workflow) + 1) = ':' || workflow
                THEN substr(k, 7, length(k) - length(workflow) - 7) END AS event_and_id
    FROM bare
)
SELECT id,
       CASE
           WHEN strpos(event_and_id, ':') > 0 THEN
               'event:' || escaped_tenant || ':'
               || replace(replace(split_part(event_and_id, ':', 1), '%', '%25'), ':', '%3A')
               || ':' || replace(replace(workflow, '%', '%25'), ':', '%3A')
               || ':' || substr(event_and_id, strpos(event_and_id, ':') + 1)
           WHEN tenant = 'default'
                AND k ~ '^schedule:.+:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
               THEN 'schedule:'
                    || replace(replace(substr(k, 10, length(k) - 30), '%', '%25'), ':', '%3A')
                    || ':' || right(k, 20)
           ELSE 'user:' || escaped_tenant || ':' || k
       END
FROM shaped;

UPDATE runs SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL;

UPDATE runs SET idempotency_key = r.idempotency_key
FROM rekeyed_runs AS r
WHERE r.id = runs.id;

DROP TABLE rekeyed_runs;

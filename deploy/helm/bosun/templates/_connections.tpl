{{/* Database connections (docs/scaling.md has the math).

Each bosun process holds at most its pool (`pool_max`, database.poolMax) and one LISTEN
connection; through PgBouncer without pgbouncer.listenDirect it holds no LISTEN connection
and polls. At full scale and during a rollout there are, at most:
  API:      api.replicas + 1 (the rollout's surge)
  workers:  each Deployment pool's maxReplicas + 25 % (its surge, rounded up); each
            ScaledJob pool's maxReplicas
  the migration Job (1), which runs while the old pods still do
and KEDA's postgresql scaler keeps one connection per pool. */}}

{{/* The pool size of each process: the URL's ?pool_max= when database.url has one, else
     database.poolMax (with existingSecret, keep the two equal). */}}
{{- define "bosun.poolMax" -}}
{{- $found := regexFind "[?&]pool_max=[0-9]+" (.Values.database.url | default "") -}}
{{- if $found -}}
{{- regexFind "[0-9]+$" $found -}}
{{- else -}}
{{- .Values.database.poolMax -}}
{{- end -}}
{{- end -}}

{{/* Whether each bosun process holds a LISTEN connection to the server ("true" or ""). */}}
{{- define "bosun.listens" -}}
{{- if or (not .Values.pgbouncer.enabled) .Values.pgbouncer.listenDirect -}}true{{- end -}}
{{- end -}}

{{/* The connection budget as YAML (fromYaml it): processes, clients (pooled connections the
     processes may open), server (the server's connections), perProcess. */}}
{{- define "bosun.connectionBudget" -}}
{{- $v := .Values -}}
{{- $apiPods := 0 -}}
{{- if $v.api.enabled -}}
{{- $apiPods = add (int $v.api.replicas) 1 -}}
{{- end -}}
{{- $workerPods := 0 -}}
{{- range $raw := $v.pools -}}
{{- $pool := include "bosun.pool" (dict "root" $ "pool" $raw) | fromYaml -}}
{{- $max := int $pool.maxReplicas -}}
{{- if eq $pool.mode "scaledjob" -}}
{{- $workerPods = add $workerPods $max -}}
{{- else -}}
{{- $workerPods = add $workerPods $max (div (add (mul $max 25) 99) 100) -}}
{{- end -}}
{{- end -}}
{{- $migrate := ternary 1 0 $v.migrations.enabled -}}
{{- $processes := add $apiPods $workerPods $migrate -}}
{{- $poolMax := int (include "bosun.poolMax" .) -}}
{{- $listen := ternary 1 0 (eq (include "bosun.listens" .) "true") -}}
{{- $keda := ternary (len $v.pools) 0 $v.keda.enabled -}}
{{- $server := add (mul $processes (add $poolMax $listen)) $keda -}}
{{- if $v.pgbouncer.enabled -}}
{{- /* The migration Job goes straight to the server with pool_max=1: 2 connections. */ -}}
{{- $processes = add $apiPods $workerPods -}}
{{- $server = add (mul (int $v.pgbouncer.replicas) (int $v.pgbouncer.poolSize)) (mul $processes $listen) (mul $migrate 2) $keda -}}
{{- end -}}
apiPods: {{ $apiPods }}
workerPods: {{ $workerPods }}
processes: {{ $processes }}
poolMax: {{ $poolMax }}
listen: {{ $listen }}
keda: {{ $keda }}
perProcess: {{ add $poolMax $listen }}
clients: {{ mul $processes $poolMax }}
server: {{ $server }}
{{- end -}}

{{/* Refuse values whose connections exceed what the server (or the chart's PgBouncer)
     takes; renders the budget as YAML comments. */}}
{{- define "bosun.checkConnections" -}}
{{- $v := .Values -}}
{{- $b := include "bosun.connectionBudget" . | fromYaml -}}
{{- $max := int $v.database.maxConnections -}}
{{- if and $v.pgbouncer.enabled $v.database.pooler -}}
{{- fail "pgbouncer.enabled and database.pooler: choose one pooler (pgbouncer.enabled runs PgBouncer in the release; database.pooler says database.url reaches a pooler of your own)" -}}
{{- end -}}
{{- if $v.pgbouncer.enabled -}}
{{- if not $v.database.url -}}
{{- fail "pgbouncer.enabled needs database.url: the chart writes PgBouncer's configuration (server, user, password) from it. With database.existingSecret, run a pooler of your own and set database.pooler" -}}
{{- end -}}
{{- $accepts := mul (int $v.pgbouncer.replicas) (int $v.pgbouncer.maxClientConn) -}}
{{- if gt (int $b.clients) $accepts -}}
{{- fail (printf "PgBouncer accepts %d client connections (pgbouncer.replicas %v x maxClientConn %v), but %d bosun processes at full scale may open %d (%d each, database.poolMax): raise pgbouncer.maxClientConn or replicas, or lower database.poolMax or the pools' maxReplicas" $accepts $v.pgbouncer.replicas $v.pgbouncer.maxClientConn (int $b.processes) (int $b.clients) (int $b.poolMax)) -}}
{{- end -}}
{{- end -}}
{{- if and (gt $max 0) (not $v.database.pooler) (gt (int $b.server) $max) -}}
{{- if $v.pgbouncer.enabled -}}
{{- fail (printf "database.maxConnections is %d, but these values need up to %d server connections: PgBouncer's %v replicas x poolSize %v, %d LISTEN connections (pgbouncer.listenDirect: one per process), the migration Job's and %d for KEDA's scalers. Lower pgbouncer.poolSize, or turn pgbouncer.listenDirect off (processes poll instead; docs/scaling.md)" $max (int $b.server) $v.pgbouncer.replicas $v.pgbouncer.poolSize (mul (int $b.processes) (int $b.listen)) (int $b.keda)) -}}
{{- else -}}
{{- fail (printf "database.maxConnections is %d, but these values need up to %d connections at full scale: %d bosun processes (%d API pods and %d worker pods at full scale, rollout surges included, and the migration Job) x %d each (pool_max %d + 1 LISTEN), and %d for KEDA's scalers. Put a pooler in front (pgbouncer.enabled: true runs PgBouncer; database.pooler: true for one of your own), lower database.poolMax or the pools' maxReplicas, or raise the server's max_connections (docs/scaling.md)" $max (int $b.server) (int $b.processes) (int $b.apiPods) (int $b.workerPods) (int $b.perProcess) (int $b.poolMax) (int $b.keda)) -}}
{{- end -}}
{{- end -}}
# Database connections at full scale (docs/scaling.md): {{ $b.processes }} bosun processes
# (API {{ $b.apiPods }}, workers {{ $b.workerPods }}, rollout surges and the migration Job
# included) x {{ $b.perProcess }} each (pool_max {{ $b.poolMax }}{{ if eq (int $b.listen) 1 }} + 1 LISTEN{{ end }}){{ if $v.pgbouncer.enabled }} to PgBouncer{{ end }}.
{{- if $v.database.pooler }}
# Server connections: those of your pooler (database.pooler).
{{- else }}
# Server connections: {{ $b.server }}{{ if gt $max 0 }} of database.maxConnections {{ $max }}{{ end }}.
{{- end }}
{{- end -}}

{{/* database.url's query parameters, less those named in `drop` (prefixes), as a list. */}}
{{- define "bosun.queryParams" -}}
{{- $kept := list -}}
{{- range $param := splitList "&" (urlParse .url).query -}}
{{- $name := (splitList "=" $param | first) -}}
{{- $dropped := false -}}
{{- range $prefix := $.drop -}}
{{- if hasPrefix $prefix $name -}}{{- $dropped = true -}}{{- end -}}
{{- end -}}
{{- if and $param (not $dropped) -}}{{- $kept = append $kept $param -}}{{- end -}}
{{- end -}}
{{- toJson $kept -}}
{{- end -}}

{{/* The URL bosun's processes use, from database.url: through the chart's PgBouncer
     (?pooler=transaction, LISTENing on database.url itself with pgbouncer.listenDirect),
     or database.url with ?pool_max= when database.poolMax is not bosun's default. */}}
{{- define "bosun.processUrl" -}}
{{- $v := .Values -}}
{{- $url := $v.database.url -}}
{{- $poolMax := include "bosun.poolMax" . -}}
{{- if $v.pgbouncer.enabled -}}
{{- $u := urlParse $url -}}
{{- /* The hop to PgBouncer stays in the cluster, without TLS: PgBouncer's own hop to the
       server takes database.url's sslmode (server_tls_sslmode). */ -}}
{{- $params := include "bosun.queryParams" (dict "url" $url "drop" (list "ssl" "pool_max" "pooler" "listen_url")) | fromJsonArray -}}
{{- $params = append $params (printf "pool_max=%s" $poolMax) -}}
{{- $params = append $params "pooler=transaction" -}}
{{- if $v.pgbouncer.listenDirect -}}
{{- $params = append $params (printf "listen_url=%s" (urlquery $url)) -}}
{{- end -}}
{{- printf "%s://%s@%s:%v%s?%s" $u.scheme $u.userinfo (include "bosun.pgbouncerName" .) $v.pgbouncer.port $u.path (join "&" $params) -}}
{{- else if and (ne (int $poolMax) 10) (not (regexMatch "[?&]pool_max=" $url)) -}}
{{- printf "%s%spool_max=%s" $url (ternary "&" "?" (contains "?" $url)) $poolMax -}}
{{- else -}}
{{- $url -}}
{{- end -}}
{{- end -}}

{{- define "bosun.pgbouncerName" -}}
{{- printf "%s-pgbouncer" (include "bosun.fullname" .) -}}
{{- end -}}

{{/* The Secret key KEDA's scaler reads: kedaConnectionKey, else `direct-url` (database.url
     as given) when bosun's processes get another URL, else urlKey. */}}
{{- define "bosun.kedaKey" -}}
{{- if .Values.database.kedaConnectionKey -}}
{{- .Values.database.kedaConnectionKey -}}
{{- else if and (not .Values.database.existingSecret) (ne (include "bosun.processUrl" .) .Values.database.url) -}}
direct-url
{{- else -}}
{{- .Values.database.urlKey -}}
{{- end -}}
{{- end -}}

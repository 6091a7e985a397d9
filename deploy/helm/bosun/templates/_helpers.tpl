{{/* Release-scoped name: the release name, with "bosun" added unless it is already in it. */}}
{{- define "bosun.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bosun.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* The image reference: repository:tag, or pinned by digest (repository@sha256:…, with the
     tag kept in front of it when one is given, for people reading the manifest). */}}
{{- define "bosun.image" -}}
{{- if .Values.image.digest -}}
{{- if .Values.image.tag -}}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- end -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "bosun.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/* The deployment version the workers advertise (BOSUN_VERSION): app.version, else the
     image digest (the code exactly), else the tag. */}}
{{- define "bosun.version" -}}
{{- .Values.app.version | default .Values.image.digest | default (include "bosun.imageTag" .) -}}
{{- end -}}

{{/* app.kubernetes.io/version: the tag as a valid label value (63 characters at most,
     starting and ending with a letter or digit); never the digest, which is too long. */}}
{{- define "bosun.versionLabel" -}}
{{- regexReplaceAll "^[^A-Za-z0-9]+|[^A-Za-z0-9]+$" (include "bosun.imageTag" . | trunc 63) "" -}}
{{- end -}}

{{/* Labels every object carries; "component" names the part (api, worker, migrate). */}}
{{- define "bosun.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ include "bosun.versionLabel" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: bosun
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- with .pool }}
bosun.dev/pool: {{ . }}
{{- end }}
{{- end -}}

{{/* The stable subset used in selectors (never the version: selectors are immutable). */}}
{{- define "bosun.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .pool }}
bosun.dev/pool: {{ . }}
{{- end }}
{{- end -}}

{{- define "bosun.secretName" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "bosun.fullname" .)) -}}
{{- end -}}

{{- define "bosun.priorityClassName" -}}
{{- if .Values.priorityClass.create -}}
{{- .Values.priorityClass.name | default (printf "%s-workers" (include "bosun.fullname" .)) -}}
{{- else -}}
{{- .Values.priorityClass.existingName -}}
{{- end -}}
{{- end -}}

{{/* A pool with workerDefaults filled in, as YAML (fromYaml it). A key the pool sets
     replaces the default's whole value: a pool's resources or tolerations are its own.
     A scaledjob pool starts from zero Jobs: its minReplicas is its own (default 0), never
     workerDefaults' warm minimum of the Deployment pools. */}}
{{- define "bosun.pool" -}}
{{- $pool := deepCopy .root.Values.workerDefaults -}}
{{- range $key, $value := .pool -}}
{{- $_ := set $pool $key $value -}}
{{- end -}}
{{- if eq $pool.mode "scaledjob" -}}
{{- $_ := set $pool "minReplicas" (.pool.minReplicas | default 0) -}}
{{- end -}}
{{- toYaml $pool -}}
{{- end -}}

{{/* Environment of every bosun container; `urlKey` (with `root`) picks another key of the
     Secret for BOSUN_DATABASE_URL. */}}
{{- define "bosun.env" -}}
{{- include "bosun.envWithUrl" (dict "root" . "urlKey" .Values.database.urlKey) -}}
{{- end -}}

{{- define "bosun.envWithUrl" -}}
- name: BOSUN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "bosun.secretName" .root }}
      key: {{ .urlKey }}
{{- range $name, $value := .root.Values.app.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every bosun pod: identity, security, pull secrets. */}}
{{- define "bosun.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* securityContext of a pod; workers get the sandbox profile's settings. */}}
{{- define "bosun.podSecurityContext" -}}
{{- $ctx := deepCopy .root.Values.podSecurityContext -}}
{{- if and .worker (eq .root.Values.sandbox.profile "bubblewrap") -}}
{{- $_ := set $ctx "seccompProfile" (dict "type" "Localhost" "localhostProfile" .root.Values.sandbox.seccompLocalhostProfile) -}}
{{- else -}}
{{- $_ := set $ctx "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- end -}}
{{- toYaml $ctx -}}
{{- end -}}

{{- define "bosun.containerSecurityContext" -}}
{{- $ctx := deepCopy .root.Values.securityContext -}}
{{- if and .worker (eq .root.Values.sandbox.profile "bubblewrap") -}}
{{- $_ := set $ctx "appArmorProfile" (dict "type" "Unconfined") -}}
{{- $_ := set $ctx "procMount" "Unmasked" -}}
{{- end -}}
{{- toYaml $ctx -}}
{{- end -}}

{{/* Worker pod extras of the sandbox profile: user namespaces or gVisor. */}}
{{- define "bosun.sandboxPod" -}}
{{- if eq .Values.sandbox.profile "bubblewrap" -}}
hostUsers: false
{{- else if eq .Values.sandbox.profile "gvisor" -}}
runtimeClassName: {{ .Values.sandbox.runtimeClassName }}
{{- end -}}
{{- end -}}

{{/* Volumes of every bosun pod: a writable /tmp under a read-only root file system. */}}
{{- define "bosun.volumes" -}}
- name: tmp
  emptyDir: {}
{{- with .Values.app.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "bosun.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- with .Values.app.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The KEDA query: the runnable runs of the pool's queues (DESIGN §9): in flight, or ready
     and admitted by flow control (the queue's limit, the runs' concurrency keys), so that a
     queue limited to 2 running runs asks for 2 runs' worth of workers however many wait.
     Queue names are restricted by values.schema.json to characters that need no escaping. */}}
{{- define "bosun.depthQuery" -}}
{{- $quoted := list -}}
{{- range .queues -}}
{{- $quoted = append $quoted (printf "'%s'" .) -}}
{{- end -}}
SELECT COALESCE(SUM(runnable), 0) FROM bosun.queue_depth WHERE queue IN ({{ join ", " $quoted }})
{{- end -}}

{{/* The KEDA trigger of a pool (ScaledObject or ScaledJob). */}}
{{- define "bosun.depthTrigger" -}}
- type: postgresql
  name: queue-depth
  metadata:
    query: {{ include "bosun.depthQuery" .pool | quote }}
    targetQueryValue: {{ .pool.concurrency | quote }}
    activationTargetQueryValue: "0"
  authenticationRef:
    name: {{ include "bosun.fullname" .root }}-postgres
{{- end -}}

{{/* `bosun worker` arguments of a pool (without the serverless ones). */}}
{{- define "bosun.workerArgs" -}}
- worker
- {{ .root.Values.app.ref | quote }}
{{- range .pool.queues }}
- --queue
- {{ . | quote }}
{{- end }}
- --concurrency
- {{ .pool.concurrency | quote }}
- --grace
- {{ .pool.grace | quote }}
{{- if .root.Values.metrics.enabled }}
- --metrics-port
- {{ .root.Values.metrics.workerPort | quote }}
- --metrics-host
- 0.0.0.0
{{- end }}
{{- range .pool.args }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* The worker container of a pool; `serverless` adds --until-idle --max-seconds. */}}
{{- define "bosun.workerContainer" -}}
{{- $root := .root -}}
{{- $pool := .pool -}}
- name: worker
  image: {{ include "bosun.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  args:
    {{- include "bosun.workerArgs" . | nindent 4 }}
    {{- if .serverless }}
    - --until-idle
    - --max-seconds
    - {{ $pool.maxSeconds | quote }}
    {{- end }}
  env:
    {{- include "bosun.env" $root | nindent 4 }}
    - name: BOSUN_VERSION
      value: {{ include "bosun.version" $root | quote }}
    - name: BOSUN_SANDBOX
      value: {{ $root.Values.sandbox.backend | quote }}
  {{- with $root.Values.app.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $root.Values.metrics.enabled }}
  ports:
    - name: metrics
      containerPort: {{ $root.Values.metrics.workerPort }}
  {{- if not .serverless }}
  # /healthz of the metrics server: answered by the worker's event loop without the
  # metrics token (BOSUN_METRICS_TOKEN would make /metrics refuse the probe) and without the
  # database (an outage must not restart every worker: they reconnect on their own).
  livenessProbe:
    httpGet:
      path: /healthz
      port: metrics
    initialDelaySeconds: 10
    periodSeconds: 30
    timeoutSeconds: 10
    failureThreshold: 6
  {{- end }}
  {{- end }}
  resources:
    {{- $resources := deepCopy ($pool.resources | default dict) }}
    {{- if gt (int $pool.gpu) 0 }}
    {{- $limits := $resources.limits | default dict }}
    {{- $_ := set $limits "nvidia.com/gpu" (int $pool.gpu) }}
    {{- $_ := set $resources "limits" $limits }}
    {{- end }}
    {{- toYaml $resources | nindent 4 }}
  securityContext:
    {{- include "bosun.containerSecurityContext" (dict "root" $root "worker" true) | nindent 4 }}
  volumeMounts:
    {{- include "bosun.volumeMounts" $root | nindent 4 }}
{{- end -}}

{{/* Scheduling of a pool's pods: node selector, tolerations, affinity, priority. */}}
{{- define "bosun.workerScheduling" -}}
{{- with include "bosun.priorityClassName" .root -}}
priorityClassName: {{ . }}
{{- end }}
{{- with .pool.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .pool.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .pool.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Egress of every bosun pod: DNS, PostgreSQL, HTTPS, and the extra rules. */}}
{{- define "bosun.egress" -}}
# DNS
- ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
# PostgreSQL, wherever it runs
- ports:
    - {protocol: TCP, port: {{ .databasePort }}}
{{- with .pgbouncerPort }}
# The release's PgBouncer
- ports:
    - {protocol: TCP, port: {{ . }}}
{{- end }}
{{- if .allowHttpsEgress }}
# Model providers, webhooks and other HTTPS APIs
- ports:
    - {protocol: TCP, port: 443}
{{- end }}
{{- with .extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The migration Job's spec (its name carries a hash of it: see migrate-job.yaml). */}}
{{- define "bosun.migrateJobSpec" -}}
backoffLimit: {{ .Values.migrations.backoffLimit }}
activeDeadlineSeconds: {{ .Values.migrations.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ .Values.migrations.ttlSecondsAfterFinished }}
template:
  metadata:
    labels:
      {{- include "bosun.labels" (dict "root" . "component" "migrate") | nindent 6 }}
  spec:
    {{- include "bosun.podCommon" . | nindent 4 }}
    restartPolicy: Never
    securityContext:
      {{- include "bosun.podSecurityContext" (dict "root" .) | nindent 6 }}
    containers:
      - name: migrate
        image: {{ include "bosun.image" . }}
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        args: ["db", "upgrade"]
        env:
          {{- /* A hook: before an install's PgBouncer exists, so straight to the server. */}}
          {{- $urlKey := ternary "migrate-url" .Values.database.urlKey .Values.pgbouncer.enabled }}
          {{- include "bosun.envWithUrl" (dict "root" . "urlKey" $urlKey) | nindent 10 }}
        resources:
          {{- toYaml .Values.migrations.resources | nindent 10 }}
        securityContext:
          {{- include "bosun.containerSecurityContext" (dict "root" .) | nindent 10 }}
        volumeMounts:
          {{- include "bosun.volumeMounts" . | nindent 10 }}
    volumes:
      {{- include "bosun.volumes" . | nindent 6 }}
{{- end -}}

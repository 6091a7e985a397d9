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

{{- define "bosun.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "bosun.imageTag" .) -}}
{{- end -}}

{{/* Labels every object carries; "component" names the part (api, worker, migrate). */}}
{{- define "bosun.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ include "bosun.imageTag" .root | quote }}
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
     replaces the default's whole value: a pool's resources or tolerations are its own. */}}
{{- define "bosun.pool" -}}
{{- $pool := deepCopy .root.Values.workerDefaults -}}
{{- range $key, $value := .pool -}}
{{- $_ := set $pool $key $value -}}
{{- end -}}
{{- toYaml $pool -}}
{{- end -}}

{{/* Environment of every bosun container. */}}
{{- define "bosun.env" -}}
- name: BOSUN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "bosun.secretName" . }}
      key: {{ .Values.database.urlKey }}
{{- range $name, $value := .Values.app.env }}
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

{{/* The KEDA query: ready + in-flight runs of the pool's queues (DESIGN §9). Queue names
     are restricted by values.schema.json to characters that need no escaping. */}}
{{- define "bosun.depthQuery" -}}
{{- $quoted := list -}}
{{- range .queues -}}
{{- $quoted = append $quoted (printf "'%s'" .) -}}
{{- end -}}
SELECT COALESCE(SUM(ready + in_flight), 0) FROM bosun.queue_depth WHERE queue IN ({{ join ", " $quoted }})
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
      value: {{ $root.Values.app.version | default (include "bosun.imageTag" $root) | quote }}
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
  # Each scrape reads the queue depths from the database: a patient probe, so that a
  # database outage does not restart every worker (they reconnect on their own).
  livenessProbe:
    httpGet:
      path: /metrics
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
{{- if .allowHttpsEgress }}
# Model providers, webhooks and other HTTPS APIs
- ports:
    - {protocol: TCP, port: 443}
{{- end }}
{{- with .extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end -}}

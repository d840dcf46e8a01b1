{{/*
Chart name, for the app.kubernetes.io/name label.
*/}}
{{- define "deploybot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: the prefix of every object name. Truncated to 52 characters so that
"<fullname>-worker-metrics" still fits in 63.
*/}}
{{- define "deploybot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "deploybot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name of a component's objects: "<fullname>-<component>".
Takes a dict: context (the root), component ("gateway" or "worker").
*/}}
{{- define "deploybot.componentName" -}}
{{- printf "%s-%s" (include "deploybot.fullname" .context) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels. Takes a dict: context (the root), component (optional).
These never change after the first install: Deployment selectors are immutable.
*/}}
{{- define "deploybot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "deploybot.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/*
Common labels of every object. Takes a dict: context (the root), component (optional).
*/}}
{{- define "deploybot.labels" -}}
helm.sh/chart: {{ include "deploybot.chart" .context }}
{{ include "deploybot.selectorLabels" . }}
app.kubernetes.io/version: {{ include "deploybot.imageTag" .context | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
app.kubernetes.io/part-of: deploybot
{{- with .context.Values.global.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Image tag: image.tag, else the chart's appVersion.
*/}}
{{- define "deploybot.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "deploybot.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "deploybot.imageTag" .) -}}
{{- end -}}

{{/*
Name of the ServiceAccount the pods run as.
*/}}
{{- define "deploybot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "deploybot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Name of a component's Secret: existingSecret.<component>, else "<fullname>-<component>".
Takes a dict: context, component.
*/}}
{{- define "deploybot.secretName" -}}
{{- $existing := get .context.Values.existingSecret .component -}}
{{- if $existing -}}
{{- $existing -}}
{{- else -}}
{{- include "deploybot.componentName" . -}}
{{- end -}}
{{- end -}}

{{/*
The secret variables each component reads. The gateway holds no Argo CD or SMTP
credentials; the worker serves no Slack requests, SonarQube webhooks or runs API.
*/}}
{{- define "deploybot.secretKeys.gateway" -}}
SLACK_TOKEN SIGNING_SECRET SLACK_APP_TOKEN VERIFICATION_TOKEN SONARQUBE_WEBHOOK_SECRET API_TOKENS TEMPORAL_API_KEY
{{- end -}}
{{- define "deploybot.secretKeys.worker" -}}
SLACK_TOKEN ARGOCD_TOKEN SMTP_PASSWORD TEMPORAL_API_KEY
{{- end -}}

{{/*
A setting's value as an environment variable string: lists are joined with
commas, whole numbers lose YAML's float form.
*/}}
{{- define "deploybot.envValue" -}}
{{- if kindIs "slice" . -}}
{{- join "," . -}}
{{- else if or (kindIs "float64" .) (kindIs "float32" .) -}}
{{- if eq (float64 .) (floor .) -}}{{- int64 . -}}{{- else -}}{{- . -}}{{- end -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/*
Whether the Temporal connection uses TLS, as the string "true" or "".
*/}}
{{- define "deploybot.temporalTLS" -}}
{{- $t := .Values.temporal.tls -}}
{{- if or $t.enabled $t.existingSecret $t.serverName .Values.secrets.TEMPORAL_API_KEY -}}true{{- end -}}
{{- end -}}

{{/*
Seconds in a Go duration ("20s", "1m30s", "1.5h", "500ms"), as a number
(e.g. 90 or 0.5). Fails on anything else.
*/}}
{{- define "deploybot.durationSeconds" -}}
{{- $d := toString . -}}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))*$" $d) -}}
{{- fail (printf "%q is not a Go duration: write a number with a unit, e.g. 20s, 1m30s or 2m" $d) -}}
{{- end -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h)" $d -1 -}}
{{- $num := regexFind "^[0-9.]+" . -}}
{{- $unit := trimPrefix $num . -}}
{{- $total = addf $total (mulf (float64 $num) (get $units $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
Port of a host:port address, or the fallback.
Takes a dict: address, fallback.
*/}}
{{- define "deploybot.addressPort" -}}
{{- $m := regexFind ":[0-9]+$" (toString (default "" .address)) -}}
{{- if $m -}}{{- trimPrefix ":" $m -}}{{- else -}}{{- .fallback -}}{{- end -}}
{{- end -}}

{{/*
Pod annotations: global, then the component's, then the checksums that roll the
pods when the settings they read change. Takes a dict: context, component, values.
*/}}
{{- define "deploybot.podAnnotations" -}}
{{- $ctx := .context -}}
{{- $ann := merge (deepCopy (default dict .values.podAnnotations)) (deepCopy (default dict $ctx.Values.global.podAnnotations)) -}}
{{- $_ := set $ann "checksum/config" (include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | sha256sum) -}}
{{- if get $ctx.Values.existingSecret .component -}}
{{- $_ := set $ann "checksum/secret" (printf "existing:%s" (get $ctx.Values.existingSecret .component) | sha256sum) -}}
{{- else -}}
{{- $_ := set $ann "checksum/secret" (include (print $ctx.Template.BasePath "/" .component "/secret.yaml") $ctx | sha256sum) -}}
{{- end -}}
{{- toYaml $ann -}}
{{- end -}}

{{/*
Pod labels: the common labels (which pod labels cannot override: they hold the
selector), then the component's pod labels, then global.podLabels. Takes a dict: context, component, values.
*/}}
{{- define "deploybot.podLabels" -}}
{{- $labels := merge (fromYaml (include "deploybot.labels" .)) (deepCopy (default dict .values.podLabels)) (deepCopy (default dict .context.Values.global.podLabels)) -}}
{{- toYaml $labels -}}
{{- end -}}

{{/*
Affinity: the component's, else global.affinity, else the anti-affinity preset.
Takes a dict: context, component, values.
*/}}
{{- define "deploybot.affinity" -}}
{{- $g := .context.Values.global -}}
{{- if .values.affinity -}}
{{- toYaml .values.affinity -}}
{{- else if $g.affinity -}}
{{- toYaml $g.affinity -}}
{{- else if eq $g.podAntiAffinity "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: {{ $g.podAntiAffinityTopologyKey }}
        labelSelector:
          matchLabels:
            {{- include "deploybot.selectorLabels" . | nindent 12 }}
{{- else if eq $g.podAntiAffinity "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: {{ $g.podAntiAffinityTopologyKey }}
      labelSelector:
        matchLabels:
          {{- include "deploybot.selectorLabels" . | nindent 10 }}
{{- end -}}
{{- end -}}

{{/*
Topology spread constraints: the component's, else global; a constraint without
labelSelector selects the component's pods. Takes a dict: context, component, values.
*/}}
{{- define "deploybot.topologySpreadConstraints" -}}
{{- $list := .values.topologySpreadConstraints | default .context.Values.global.topologySpreadConstraints -}}
{{- $out := list -}}
{{- range $list -}}
{{- $c := deepCopy . -}}
{{- if not $c.labelSelector -}}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (fromYaml (include "deploybot.selectorLabels" $))) -}}
{{- end -}}
{{- $out = append $out $c -}}
{{- end -}}
{{- if $out -}}{{- toYaml $out -}}{{- end -}}
{{- end -}}

{{/*
Whether a component gets a PodDisruptionBudget, as "true" or "".
Takes the component's values.
*/}}
{{- define "deploybot.pdbEnabled" -}}
{{- $want := .pdb.enabled -}}
{{- if kindIs "invalid" $want -}}
{{- $replicas := ternary .autoscaling.minReplicas .replicas (.autoscaling.enabled | default false) -}}
{{- if gt (int $replicas) 1 -}}true{{- end -}}
{{- else if $want -}}true{{- end -}}
{{- end -}}

{{/*
The Temporal TLS volume, its mount and variables (both components).
*/}}
{{- define "deploybot.temporalTLS.env" -}}
{{- $t := .Values.temporal.tls -}}
{{- if include "deploybot.temporalTLS" . }}
- name: TEMPORAL_TLS
  value: "true"
{{- end }}
{{- with $t.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if $t.existingSecret }}
{{- with $t.certKey }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/deploybot/temporal/{{ . }}
{{- end }}
{{- with $t.keyKey }}
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/deploybot/temporal/{{ . }}
{{- end }}
{{- with $t.caKey }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/deploybot/temporal/{{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "deploybot.temporalTLS.volumeMount" -}}
{{- if .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/deploybot/temporal
  readOnly: true
{{- end }}
{{- end -}}

{{- define "deploybot.temporalTLS.volume" -}}
{{- $t := .Values.temporal.tls -}}
{{- if $t.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ $t.existingSecret }}
    items:
      {{- range compact (list $t.certKey $t.keyKey $t.caKey) }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- end -}}

{{/*
Scheduling and pod-level fields shared by both Deployments.
Takes a dict: context, component, values.
*/}}
{{- define "deploybot.podScheduling" -}}
{{- $g := .context.Values.global -}}
{{- with (.values.nodeSelector | default $g.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.values.tolerations | default $g.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with include "deploybot.affinity" . }}
affinity:
  {{- . | nindent 2 }}
{{- end }}
{{- with include "deploybot.topologySpreadConstraints" . }}
topologySpreadConstraints:
  {{- . | nindent 2 }}
{{- end }}
{{- with (.values.priorityClassName | default $g.priorityClassName) }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/*
The httpGet probes both components share. Takes a dict: path, probe (values).
*/}}
{{- define "deploybot.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{- range $k := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "failureThreshold" "successThreshold" }}
{{- if hasKey $.probe $k }}
{{ $k }}: {{ get $.probe $k }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
A component's Secret: the keys of `secrets` that the component reads, leaving
out empty ones. Rendered only when existingSecret.<component> is unset.
Takes a dict: context, component.
*/}}
{{- define "deploybot.secret" -}}
{{- $ctx := .context -}}
{{- if not (get $ctx.Values.existingSecret .component) -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "deploybot.componentName" . }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "deploybot.labels" . | nindent 4 }}
type: Opaque
{{- $data := dict }}
{{- range $key := splitList " " (include (printf "deploybot.secretKeys.%s" .component) $ctx) }}
{{- with get $ctx.Values.secrets $key }}
{{- $_ := set $data $key (include "deploybot.envValue" . | b64enc) }}
{{- end }}
{{- end }}
{{- if $data }}
data:
  {{- range $key, $value := $data }}
  {{ $key }}: {{ $value | quote }}
  {{- end }}
{{- else }}
data: {}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
A component's PodDisruptionBudget. Takes a dict: context, component, values.
*/}}
{{- define "deploybot.pdb" -}}
{{- $v := .values -}}
{{- if include "deploybot.pdbEnabled" $v -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "deploybot.componentName" . }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "deploybot.labels" . | nindent 4 }}
    {{- with $v.pdb.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.pdb.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if not (kindIs "invalid" $v.pdb.minAvailable) }}
  minAvailable: {{ $v.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $v.pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "deploybot.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}

{{/*
A component's HorizontalPodAutoscaler. Takes a dict: context, component, values.
*/}}
{{- define "deploybot.hpa" -}}
{{- $a := .values.autoscaling -}}
{{- if $a.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "deploybot.componentName" . }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "deploybot.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "deploybot.componentName" . }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    {{- with $a.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  {{- with $a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/*
A component's ServiceMonitor. Takes a dict: context, component, values, port
(the name of the Service port to scrape), service (the Service's component suffix).
*/}}
{{- define "deploybot.serviceMonitor" -}}
{{- $m := .values.serviceMonitor -}}
{{- if $m.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "deploybot.componentName" . }}
  namespace: {{ $m.namespace | default .context.Release.Namespace }}
  labels:
    {{- include "deploybot.labels" . | nindent 4 }}
    {{- with $m.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $m.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ .context.Release.Namespace }}
  selector:
    matchLabels:
      {{- include "deploybot.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: {{ .port }}
      path: /metrics
      {{- with $m.interval }}
      interval: {{ . }}
      {{- end }}
      {{- with $m.scrapeTimeout }}
      scrapeTimeout: {{ . }}
      {{- end }}
      {{- with $m.relabelings }}
      relabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $m.metricRelabelings }}
      metricRelabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
{{- end -}}

{{/*
One egress rule: ports to destinations (`to` empty = anywhere).
Takes a dict: to, ports.
*/}}
{{- define "deploybot.egressRule" -}}
{{- $rule := dict "ports" .ports -}}
{{- with .to }}{{ $_ := set $rule "to" . }}{{ end -}}
{{- toYaml (list $rule) -}}
{{- end -}}

{{/*
Egress ports of the Temporal frontend: networkPolicy.temporal.ports, else the
port of config.TEMPORAL_ADDRESS.
*/}}
{{- define "deploybot.temporalPorts" -}}
{{- $np := .Values.networkPolicy -}}
{{- if $np.temporal.ports -}}
{{- toYaml $np.temporal.ports -}}
{{- else -}}
- port: {{ include "deploybot.addressPort" (dict "address" .Values.config.TEMPORAL_ADDRESS "fallback" "7233") }}
  protocol: TCP
{{- end -}}
{{- end -}}

{{/* The Argo CD instances file (argocd.instancesConfigMap), for the gateway and the worker. */}}
{{- define "deploybot.argocdInstances.env" -}}
{{- with .Values.argocd.instancesConfigMap }}{{ if .name }}
- name: ARGOCD_INSTANCES_FILE
  value: /etc/deploybot/argocd-instances/{{ .key }}
{{- end }}{{ end }}
{{- end -}}
{{- define "deploybot.argocdInstances.volumeMount" -}}
{{- if .Values.argocd.instancesConfigMap.name }}
- name: argocd-instances
  mountPath: /etc/deploybot/argocd-instances
  readOnly: true
{{- end }}
{{- end -}}
{{- define "deploybot.argocdInstances.volume" -}}
{{- with .Values.argocd.instancesConfigMap }}{{ if .name }}
- name: argocd-instances
  configMap:
    name: {{ .name }}
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}{{ end }}
{{- end -}}

{{/* The approval policy (approvalPolicy.configMap), for the gateway only: it picks the rules. */}}
{{- define "deploybot.approvalPolicy.env" -}}
{{- with .Values.approvalPolicy.configMap }}{{ if .name }}
- name: APPROVAL_POLICY_FILE
  value: /etc/deploybot/approval-policy/{{ .key }}
{{- end }}{{ end }}
{{- end -}}
{{- define "deploybot.approvalPolicy.volumeMount" -}}
{{- if .Values.approvalPolicy.configMap.name }}
- name: approval-policy
  mountPath: /etc/deploybot/approval-policy
  readOnly: true
{{- end }}
{{- end -}}
{{- define "deploybot.approvalPolicy.volume" -}}
{{- with .Values.approvalPolicy.configMap }}{{ if .name }}
- name: approval-policy
  configMap:
    name: {{ .name }}
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}{{ end }}
{{- end -}}

{{/*
Checks across values that the schema cannot express. Included by configmap.yaml,
which every install renders; each failure says what to change.
*/}}
{{- define "deploybot.validate" -}}
{{- $w := .Values.worker -}}
{{- $stop := include "deploybot.durationSeconds" $w.stopTimeout | float64 -}}
{{- if le (float64 $w.terminationGracePeriodSeconds) $stop -}}
{{- $shown := toString $w.stopTimeout -}}
{{- if ne $shown (printf "%vs" $stop) -}}{{- $shown = printf "%s = %vs" $w.stopTimeout $stop -}}{{- end -}}
{{- fail (printf "deploybot: worker.terminationGracePeriodSeconds (%v) must exceed worker.stopTimeout (%s): Kubernetes would kill the worker before its running activities finish. Raise the grace period to at least %d or shorten the stop timeout" $w.terminationGracePeriodSeconds $shown (add (ceil $stop | int64) 10)) -}}
{{- end -}}
{{- with .Values.existingSecret -}}
{{- if and .gateway (eq .gateway .worker) -}}
{{- fail (printf "deploybot: existingSecret.gateway and existingSecret.worker both name %q: the gateway would receive ARGOCD_TOKEN. Give the gateway a Secret of its own without Argo CD or SMTP credentials" .gateway) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.argocd.caSecret.name .Values.argocd.caConfigMap.name -}}
{{- fail "deploybot: set argocd.caSecret.name or argocd.caConfigMap.name, not both: ARGOCD_CA_FILE names one file" -}}
{{- end -}}
{{- range $kind := list "caSecret" "caConfigMap" -}}
{{- $ref := get $.Values.argocd $kind -}}
{{- if and $ref.name (not $ref.key) -}}
{{- fail (printf "deploybot: argocd.%s.key is empty: name the key of the CA bundle in %q" $kind $ref.name) -}}
{{- end -}}
{{- end -}}
{{- with .Values.temporal.tls -}}
{{- if .existingSecret -}}
{{- if not (or .certKey .keyKey .caKey) -}}
{{- fail (printf "deploybot: temporal.tls.existingSecret is %q but certKey, keyKey and caKey are all empty: name the keys to mount" .existingSecret) -}}
{{- end -}}
{{- if or (and .certKey (not .keyKey)) (and .keyKey (not .certKey)) -}}
{{- fail "deploybot: temporal.tls.certKey and temporal.tls.keyKey go together: mTLS needs both the client certificate and its key (set both, or both to \"\")" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $component := list "gateway" "worker" -}}
{{- $v := get $.Values $component -}}
{{- with $v.autoscaling -}}
{{- if .enabled -}}
{{- if gt (int .minReplicas) (int .maxReplicas) -}}
{{- fail (printf "deploybot: %s.autoscaling.minReplicas (%v) is above maxReplicas (%v)" $component .minReplicas .maxReplicas) -}}
{{- end -}}
{{- if not (or .targetCPUUtilizationPercentage .targetMemoryUtilizationPercentage) -}}
{{- fail (printf "deploybot: %s.autoscaling is enabled without a target: set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" $component) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.worker.serviceMonitor.enabled (not .Values.worker.metricsService.enabled) -}}
{{- fail "deploybot: worker.serviceMonitor.enabled needs worker.metricsService.enabled: a ServiceMonitor scrapes through a Service" -}}
{{- end -}}
{{- end -}}

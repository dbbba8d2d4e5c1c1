{{/* The chart name, or nameOverride. */}}
{{- define "rabbitscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, else the release name
(with the chart name appended unless the release name already contains it).
Truncated so that "-adapter" and "-controller" suffixes still fit 63 chars.
*/}}
{{- define "rabbitscale.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rabbitscale.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; pass (dict "ctx" $ "component" "controller"). */}}
{{- define "rabbitscale.labels" -}}
helm.sh/chart: {{ include "rabbitscale.chart" .ctx }}
{{ include "rabbitscale.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Values.image.tag | default .ctx.Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: rabbitscale
{{- end }}

{{/* What a component's selectors match; pass (dict "ctx" $ "component" ...). */}}
{{- define "rabbitscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rabbitscale.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rabbitscale.serviceAccountName" -}}
{{- default (include "rabbitscale.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "rabbitscale.adapterServiceAccountName" -}}
{{- default (printf "%s-adapter" (include "rabbitscale.fullname" .)) .Values.adapter.serviceAccountName }}
{{- end }}

{{/* repository@digest when a digest is set, else repository:tag (tag defaulting to appVersion). */}}
{{- define "rabbitscale.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The watched namespaces, comma-separated: "" for the whole cluster.
`rabbitscale run --namespaces` watches each on its own, so the Roles of
rbac.yaml are all it needs.
*/}}
{{- define "rabbitscale.watchNamespace" -}}
{{- $ns := .Values.watch.namespaces | default list }}
{{- join "," $ns }}
{{- end }}

{{/*
Non-empty when a broker allows namespaces by label
(allow.namespaceSelector). Only then do the controller and the adapter read
Namespace objects (they start that informer when a selector needs it), so
only then does the chart let them.
*/}}
{{- define "rabbitscale.selectsNamespaces" -}}
{{- range .Values.brokers }}{{ if and .allow .allow.namespaceSelector }}true{{ end }}{{ end }}
{{- end }}

{{/*
Exactly what `rabbitscale run` calls on workloads, the same rules as
deploy/base/clusterrole.yaml: a ClusterRole for cluster scope, a Role per
watched namespace otherwise.
*/}}
{{- define "rabbitscale.workloadRules" -}}
# Informers over the workloads it scales; patch writes the
# rabbitscale.io/decision and rabbitscale.io/state annotations.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch", "patch"]
# Replicas change only through the scale subresource.
- apiGroups: ["apps"]
  resources: ["deployments/scale", "statefulsets/scale"]
  verbs: ["get", "update"]
{{- if .Values.idleFirst.enabled }}
# Readiness and CPU requests, pod IPs for idle-first scale-down; patch sets
# controller.kubernetes.io/pod-deletion-cost.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "patch"]
{{- else }}
# Readiness and CPU requests (idle-first is off: no pod is ever written).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
{{- end }}
# Rescaled and warning events on the workloads.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
# Pod CPU usage for rabbitscale.io/target-cpu-utilization.
- apiGroups: ["metrics.k8s.io"]
  resources: ["pods"]
  verbs: ["get", "list"]
# HPAs (and KEDA's, from ScaledObjects) on the same workload: rabbitscale
# then stands aside.
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* The volumes both binaries read their configuration from. */}}
{{- define "rabbitscale.configVolumeMounts" -}}
# A directory, not a subPath: the kubelet then updates the file in place
# when the ConfigMap changes, and both binaries read it again.
- name: brokers
  mountPath: /etc/rabbitscale/config
  readOnly: true
- name: credentials
  mountPath: /etc/rabbitscale/credentials
  readOnly: true
{{- end }}

{{- define "rabbitscale.configVolumes" -}}
- name: brokers
  configMap:
    name: {{ include "rabbitscale.fullname" . }}-brokers
- name: credentials
  secret:
    secretName: {{ required "credentials.existingSecret: name the Secret holding the broker credentials" .Values.credentials.existingSecret }}
{{- end }}

{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "vault-azure-csi-provider.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, prefixed to the chart name unless it contains it. */}}
{{- define "vault-azure-csi-provider.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vault-azure-csi-provider.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vault-azure-csi-provider.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vault-azure-csi-provider.labels" -}}
{{ include "vault-azure-csi-provider.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "vault-azure-csi-provider.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vault-azure-csi-provider.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vault-azure-csi-provider.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The metrics Service exists for the ServiceMonitor or when asked for. */}}
{{- define "vault-azure-csi-provider.metricsService" -}}
{{- if and .Values.metrics.enabled (or .Values.metrics.service.enabled .Values.metrics.serviceMonitor.enabled) -}}
true
{{- end -}}
{{- end -}}

{{/* Address the health server binds to. In the node's network (hostNetwork)
it is the node's loopback: the kubelet probes it from the node, and nothing
else needs it, so it is not opened on the node's interfaces. Otherwise the
pod's own addresses (the kubelet probes the pod IP). */}}
{{- define "vault-azure-csi-provider.healthHost" -}}
{{- if .Values.hostNetwork -}}
127.0.0.1
{{- end -}}
{{- end -}}

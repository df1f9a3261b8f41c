{{/*
Labels on every object. crates/kube-env/tests/deploy.rs compares the rendering with the kustomize
base after removing the three Helm-only ones (helm.sh/chart, app.kubernetes.io/managed-by,
app.kubernetes.io/version).
*/}}
{{- define "multi-eni.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: multi-eni
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of one component; call with (list $ "controller"). */}}
{{- define "multi-eni.selector" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
app.kubernetes.io/name: multi-eni-{{ $component }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
{{- end }}

{{/* All labels of one component's objects; call with (list $ "controller"). */}}
{{- define "multi-eni.componentLabels" -}}
{{ include "multi-eni.labels" (index . 0) }}
app.kubernetes.io/name: multi-eni-{{ index . 1 }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "multi-eni.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The cluster name, or a render error saying what to set. */}}
{{- define "multi-eni.clusterName" -}}
{{- required "clusterName is required: every ENI is tagged with it and garbage collection is scoped by it, so each cluster needs its own (helm install ... --set clusterName=<name>; see docs/deploy.md)" .Values.clusterName -}}
{{- end }}

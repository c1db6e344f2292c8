{{/*
Names, labels and the table of the five services.
*/}}

{{- define "aso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: "<release>-aso", or the release name when it already contains the chart name. Kept short
enough that "<fullname>-fts-adapter-migrate" style names stay within 63 characters. */}}
{{- define "aso.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "aso.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select every pod of this release. */}}
{{- define "aso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aso.labels" -}}
helm.sh/chart: {{ include "aso.chart" . }}
{{ include "aso.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aso
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The five services, in order: values key, name (component label, resource suffix), binary, ports. */}}
{{- define "aso.serviceTable" -}}
- key: ingest
  name: ingest
  binary: aso-ingest
  grpcPort: 50051
  metricsPort: 9101
- key: scheduler
  name: scheduler
  binary: aso-scheduler
  grpcPort: 50052
  metricsPort: 9102
- key: ftsAdapter
  name: fts-adapter
  binary: aso-fts-adapter
  grpcPort: 50053
  metricsPort: 9103
- key: bookkeeping
  name: bookkeeping
  binary: aso-bookkeeping
  grpcPort: 50054
  metricsPort: 9104
- key: monitoring
  name: monitoring
  binary: aso-monitoring
  grpcPort: 50055
  metricsPort: 9105
{{- end -}}

{{/* The plaintext gRPC health port of every service (grpc.health.v1 only), for the kubelet's probes. */}}
{{- define "aso.healthPort" -}}8086{{- end -}}

{{/* Address of a service's gRPC port inside the cluster: "<fullname>-<name>.<namespace>.svc:<port>".
Call with (dict "root" $ "name" "bookkeeping" "port" 50054). The services' certificate must name it
(e.g. a SAN *.<namespace>.svc). */}}
{{- define "aso.serviceAddress" -}}
{{- printf "%s-%s.%s.svc:%v" (include "aso.fullname" .root) .name .root.Release.Namespace .port -}}
{{- end -}}

{{- define "aso.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "aso.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aso.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key of the PostgreSQL connection string. */}}
{{- define "aso.cnpgClusterName" -}}
{{- default (printf "%s-pg" (include "aso.fullname" .)) .Values.postgresql.cnpg.clusterName -}}
{{- end -}}

{{- define "aso.dbSecretName" -}}
{{- if eq .Values.postgresql.mode "cnpg" -}}
{{- printf "%s-app" (include "aso.cnpgClusterName" .) -}}
{{- else -}}
{{- required "postgresql.external.existingSecret: name the Secret holding the PostgreSQL connection string" .Values.postgresql.external.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "aso.dbSecretKey" -}}
{{- if eq .Values.postgresql.mode "cnpg" -}}uri{{- else -}}{{ .Values.postgresql.external.secretKey }}{{- end -}}
{{- end -}}

{{/* The ASO_DB environment variable, from the database Secret. */}}
{{- define "aso.dbEnv" -}}
- name: ASO_DB
  valueFrom:
    secretKeyRef:
      name: {{ include "aso.dbSecretName" . }}
      key: {{ include "aso.dbSecretKey" . }}
{{- end -}}

{{/* A value as an environment variable string: whole numbers without exponent (values files give
float64), booleans as true/false, the rest as is. */}}
{{- define "aso.envValue" -}}
{{- if or (kindIs "float64" .) (kindIs "float32" .) -}}
{{- if eq (floor .) (float64 .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* Whether a gridmap is configured. */}}
{{- define "aso.gridmapEnabled" -}}
{{- if or .Values.auth.gridmap.existingConfigMap .Values.auth.gridmap.content -}}true{{- end -}}
{{- end -}}

{{- define "aso.jwtEnabled" -}}
{{- if and .Values.auth.jwt.existingSecret .Values.auth.jwt.keys -}}true{{- end -}}
{{- end -}}

{{/* The site catalog as YAML text ("" when none is given). */}}
{{- define "aso.sitesYaml" -}}
{{- if kindIs "string" .Values.sites -}}
{{- .Values.sites -}}
{{- else if .Values.sites -}}
{{- toYaml (dict "sites" .Values.sites) -}}
{{- end -}}
{{- end -}}

{{/* "true" when the fts-adapter moves files as their owners: the deployment's choice is the owners'
credentials (services.scheduler.userCredentials), a site in values.sites sets `credentials: owner`, or
services.ftsAdapter.userCredentials says sites set so with asoctl will. */}}
{{- define "aso.adapterUserCredentials" -}}
{{- $v := .Values.services -}}
{{- $sites := include "aso.sitesYaml" . -}}
{{- if or $v.scheduler.userCredentials $v.ftsAdapter.userCredentials (regexMatch "credentials:\\s*[\"']?owner" $sites) -}}
true
{{- end -}}
{{- end -}}

{{/* Pod security context shared by every pod: the image's non-root user 10001. */}}
{{- define "aso.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "aso.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

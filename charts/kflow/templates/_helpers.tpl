{{/* Names, labels and the operator's RBAC rules, shared by the templates. */}}

{{- define "kflow.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's object name: "<release>-kflow", or just "<release>" when it already says kflow. */}}
{{- define "kflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kflow
{{- end -}}

{{- define "kflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The enabled launchers as the operator's --launchers takes them: "kubernetes-job,docker". */}}
{{- define "kflow.launchers" -}}
{{- $enabled := list -}}
{{- if .Values.launchers.kubernetesJob.enabled -}}{{- $enabled = append $enabled "kubernetes-job" -}}{{- end -}}
{{- if .Values.launchers.docker.enabled -}}{{- $enabled = append $enabled "docker" -}}{{- end -}}
{{- if .Values.launchers.process.enabled -}}{{- $enabled = append $enabled "process" -}}{{- end -}}
{{- join "," $enabled -}}
{{- end -}}

{{/* A pool's type: its own, else the first enabled launcher's (kubernetes-job, docker, process). */}}
{{- define "kflow.poolType" -}}
{{- .pool.type | default (first (splitList "," (include "kflow.launchers" .root))) -}}
{{- end -}}

{{- define "kflow.clusterwide" -}}
{{- if not .Values.watchNamespaces -}}true{{- end -}}
{{- end -}}

{{/*
The Kopf peering object all replicas share (kflow_operator.settings.PEERING_NAME). The chart
owns it, so `helm uninstall` removes it with the rest of the release.
*/}}
{{- /*
The peering object the operator registers in: `kflow`, or for an operator of some pools only
(worker.pools) one per set of pools, named exactly as the operator names it
(operator settings.peering_name): `kflow-pool-` and the sorted names joined by '.', or the
first 20 hex digits of that join's SHA-256 when the name would pass 63 characters. Two releases
serving different pools are then both active, and neither owns the other's object.
*/ -}}
{{- define "kflow.peeringName" -}}
{{- $pools := .Values.worker.pools | default list -}}
{{- if not $pools -}}
kflow
{{- else -}}
{{- $joined := sortAlpha $pools | join "." -}}
{{- $name := printf "kflow-pool-%s" $joined -}}
{{- if le (len $name) 63 -}}
{{ $name }}
{{- else -}}
kflow-pool-{{ sha256sum $joined | trunc 20 }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuse value combinations the schema cannot express, naming the values to change.
*/}}
{{- define "kflow.validate" -}}
{{- $l := .Values.launchers -}}
{{- if not (include "kflow.launchers" .) -}}
{{- fail "kflow: no launcher is enabled, so no run could start; set launchers.kubernetesJob.enabled (runs as Jobs), launchers.docker.enabled or launchers.process.enabled to true" -}}
{{- end -}}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) -}}
{{- fail "kflow: serviceAccount.create is false, so serviceAccount.name must name an existing ServiceAccount" -}}
{{- end -}}
{{- if eq .Values.image.tag "latest" -}}
{{- fail "kflow: image.tag must be a pinned version, not latest (with pullPolicy IfNotPresent a node would keep whatever latest it saw first); leave it empty for the chart's appVersion" -}}
{{- end -}}
{{- if ne (len .Values.watchNamespaces) (len (uniq .Values.watchNamespaces)) -}}
{{- fail (printf "kflow: watchNamespaces lists a namespace twice: %v" .Values.watchNamespaces) -}}
{{- end -}}
{{- $launchers := splitList "," (include "kflow.launchers" .) -}}
{{- $names := list -}}
{{- range $index, $pool := .Values.workPools -}}
{{- $type := include "kflow.poolType" (dict "pool" $pool "root" $) -}}
{{- if not (has $type $launchers) -}}
{{- fail (printf "kflow: workPools[%d] (%s) is of type %s, but that launcher is not enabled (launchers: %s), so none of its runs could start; enable it under launchers or change the pool's type" $index $pool.name $type (join ", " $launchers)) -}}
{{- end -}}
{{- if has $pool.name $names -}}
{{- fail (printf "kflow: workPools lists pool %s twice; pool names must be unique" $pool.name) -}}
{{- end -}}
{{- $names = append $names $pool.name -}}
{{- end -}}
{{- with .Values.worker -}}
{{- if and .heartbeatSeconds .timeoutSeconds (le (int .timeoutSeconds) (int .heartbeatSeconds)) -}}
{{- fail (printf "kflow: worker.timeoutSeconds (%d) must be longer than worker.heartbeatSeconds (%d), or every worker would look dead between two heartbeats" (int .timeoutSeconds) (int .heartbeatSeconds)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Rights the operator needs inside every namespace it serves. Kopf itself patches the objects
it handles (finalizers, progress annotations) and posts Events; schedules create FlowRuns and
history limits delete them; status is written with a resourceVersion precondition.
*/}}
{{- define "kflow.namespacedRules" -}}
- apiGroups: [kflow.dev]
  resources: [deployments]
  verbs: [get, list, watch, patch]
- apiGroups: [kflow.dev]
  resources: [flowruns]
  verbs: [get, list, watch, patch, create, delete]
- apiGroups: [kflow.dev]
  resources: [deployments/status, flowruns/status]
  verbs: [get, patch, update]
# Work pools: the operator resolves each run's pool and, as a worker, keeps its heartbeat and
# the pool's counts and conditions in the pool's status.
- apiGroups: [kflow.dev]
  resources: [workpools, workpools/status]
  verbs: [get, list, watch, patch, update]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if not (include "kflow.clusterwide" .) }}
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch, create]
{{- end }}
{{- if .Values.launchers.kubernetesJob.enabled }}
# kubernetes-job launcher: start each run's Job suspended and release it once recorded, watch
# Jobs and pods, mark them stop-requested, delete them (foreground; pods force-deleted after the
# grace period), and read why a Job has no pod.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, patch, delete]
# Why a Job has no pod (a quota, an admission webhook: the Job controller's FailedCreate
# Events) and why its pod does not start (FailedMount and other Warning Events).
- apiGroups: [""]
  resources: [events]
  verbs: [list]
{{- end }}
{{- if and (or .Values.launchers.kubernetesJob.enabled .Values.launchers.docker.enabled) .Values.launchers.kubernetesJob.flowServiceAccounts }}
# Job and Docker launchers: give flow runs the ServiceAccount kflow-flow-run with a Role to read
# and update their FlowRun (a subset of the rights above: RBAC lets one grant only what one
# holds).
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, create]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles]
  verbs: [create, patch]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings]
  verbs: [create]
{{- end }}
{{- if .Values.notifications.enabled }}
# notifications (docs/notifications.md): read the Secret a notification names (its webhook URL
# or SMTP credentials) when a delivery is made, and the work pools whose notifications apply.
# RBAC cannot narrow a rule to the Secrets other objects name: `get` (never list or watch) on
# the Secrets of the served namespaces; the operator reads no other.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [kflow.dev]
  resources: [workpools]
  verbs: [get]
{{- end }}
{{- if .Values.launchers.docker.enabled }}
# docker launcher: a short-lived token of kflow-flow-run for each run's container (TokenRequest),
# so a container holds the flow's own rights, never the operator's.
- apiGroups: [""]
  resources: [serviceaccounts/token]
  resourceNames: [kflow-flow-run]
  verbs: [create]
{{- end }}
{{- end -}}

{{/*
Cluster-scoped rights, needed whichever namespaces are served: Kopf notices CRD changes (and,
serving listed namespaces, namespaces), and the Job and Docker launchers identify the cluster by
the UID of kube-system.
*/}}
{{- define "kflow.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if include "kflow.clusterwide" . }}
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings]
  verbs: [get, list, watch, patch, create]
{{- else }}
# Serving listed namespaces, Kopf lists and watches namespaces to notice them come and go;
# refused, it retries for about a minute before it starts handling anything.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- if or .Values.launchers.kubernetesJob.enabled .Values.launchers.docker.enabled }}
- apiGroups: [""]
  resources: [namespaces]
  resourceNames: [kube-system]
  verbs: [get]
{{- end }}
{{- end -}}

{{/* The dashboard's labels: the operator's, with its own component. */}}
{{- define "kflow.dashboardSelectorLabels" -}}
app.kubernetes.io/name: {{ include "kflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: dashboard
{{- end -}}

{{- define "kflow.dashboardLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kflow.dashboardSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kflow
{{- end -}}

{{/*
"true" when a ServiceMonitor is rendered: asked for, and the cluster serves the Prometheus
operator's monitoring.coreos.com/v1 (`helm template` without a cluster: pass
--api-versions monitoring.coreos.com/v1/ServiceMonitor). NOTES.txt says when it is not.
*/}}
{{- define "kflow.serviceMonitor" -}}
{{- if and .Values.metrics.enabled .Values.metrics.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor") -}}true{{- end -}}
{{- end -}}

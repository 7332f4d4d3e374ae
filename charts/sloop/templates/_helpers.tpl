{{/* Chart name, overridable. */}}
{{- define "sloop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, prefixed with the chart name unless it already
contains it (release "sloop-gateway" -> "sloop-gateway").
*/}}
{{- define "sloop.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service's name; agents resolve it with resolver.dns. */}}
{{- define "sloop.headlessName" -}}
{{- printf "%s-headless" (include "sloop.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "sloop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sloop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sloop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sloop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end }}

{{- define "sloop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sloop.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The sloop config as it goes into the ConfigMap: `config` from the values, with
  - `storage: <persistence.mountPath>/<id>` on every slo processor that has none,
    so its state lives on the pod's volume ("/" in an id becomes "-");
  - the resourceDetection preset's processor added to the front of its pipelines.
*/}}
{{- define "sloop.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $processors := get $config "processors" | default dict }}
{{- range $id, $processor := $processors }}
{{- if or (eq $id "slo") (hasPrefix "slo/" $id) }}
{{- $settings := $processor | default dict }}
{{- if not (get $settings "storage") }}
{{- $_ := set $settings "storage" (printf "%s/%s" (trimSuffix "/" $.Values.persistence.mountPath) (replace "/" "-" $id)) }}
{{- end }}
{{- $_ := set $processors $id $settings }}
{{- end }}
{{- end }}
{{- if .Values.presets.resourceDetection.enabled }}
{{- $_ := set $processors "resource_detection/k8s" (dict "detectors" (list "env" "k8s_downward")) }}
{{- $pipelines := $config.service.pipelines }}
{{- range $name := .Values.presets.resourceDetection.pipelines }}
{{- $pipeline := get $pipelines $name }}
{{- if not $pipeline }}
{{- fail (printf "presets.resourceDetection.pipelines: %q is not a pipeline under config.service.pipelines" $name) }}
{{- end }}
{{- $_ := set $pipeline "processors" (prepend ($pipeline.processors | default list) "resource_detection/k8s") }}
{{- end }}
{{- end }}
{{- $_ := set $config "processors" $processors }}
{{- toYaml $config }}
{{- end }}

{{/* The container's ports from .Values.ports. */}}
{{- define "sloop.containerPorts" -}}
{{- range $name, $port := .Values.ports }}
{{- if $port.enabled }}
- name: {{ $name }}
  containerPort: {{ $port.containerPort }}
  protocol: {{ $port.protocol | default "TCP" }}
  {{- if and $port.hostPort (eq $.Values.mode "daemonset") }}
  hostPort: {{ $port.hostPort }}
  {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Service ports: every enabled port with a servicePort. */}}
{{- define "sloop.servicePorts" -}}
{{- range $name, $port := .Values.ports }}
{{- if and $port.enabled $port.servicePort }}
- name: {{ $name }}
  port: {{ $port.servicePort }}
  targetPort: {{ $name }}
  protocol: {{ $port.protocol | default "TCP" }}
  {{- with $port.appProtocol }}
  appProtocol: {{ . }}
  {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The pod template shared by the three workload kinds. The state volume ("data")
is an emptyDir except in statefulset mode, where a volumeClaimTemplate of the
same name provides it.
*/}}
{{- define "sloop.podTemplate" -}}
metadata:
  annotations:
    {{- if not .Values.command.watchConfig }}
    # A config change changes this hash, which rolls the pods. With
    # command.watchConfig, sloop reloads the mounted file in place instead.
    checksum/config: {{ include "sloop.config" . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "sloop.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sloop.serviceAccountName" . }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: sloop
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config
        - /etc/sloop/config.yaml
        {{- if .Values.command.watchConfig }}
        - --watch-config
        {{- end }}
        {{- range .Values.command.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      ports:
        {{- include "sloop.containerPorts" . | trim | nindent 8 }}
      env:
        # Downward API: the resource_detection processor's k8s_downward detector
        # reads these, and the receivers bind ${env:K8S_POD_IP}.
        - name: K8S_POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: K8S_NAMESPACE_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: K8S_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: K8S_POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        {{- with .Values.extraEnvs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      livenessProbe:
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/sloop
          readOnly: true
        - name: data
          mountPath: {{ .Values.persistence.mountPath }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "sloop.fullname" . }}
        items:
          - key: config.yaml
            path: config.yaml
    {{- if ne .Values.mode "statefulset" }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

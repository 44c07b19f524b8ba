{{/* Names and labels. */}}
{{- define "mlbus.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A service's objects: <fullname>-<service>. Call with (dict "root" $ "name" "predictor"). */}}
{{- define "mlbus.serviceName" -}}
{{- printf "%s-%s" (include "mlbus.fullname" .root) .name -}}
{{- end -}}

{{- define "mlbus.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlbus
{{- end -}}

{{- define "mlbus.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "mlbus.labels" -}}
{{ include "mlbus.commonLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "mlbus.secretName" -}}
{{- .Values.secret.existingSecret | default (printf "%s-secrets" (include "mlbus.fullname" .)) -}}
{{- end -}}

{{- define "mlbus.image" -}}
{{- $image := .root.Values.image -}}
{{- $repository := printf "%s%s" $image.repositoryPrefix .name -}}
{{- if $image.registry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" $image.registry) $repository -}}
{{- end -}}
{{- printf "%s:%s" $repository ($image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{/* The services whose Settings read a data set spec file (MLBUS_<SERVICE>_SPEC). */}}
{{- define "mlbus.specReaders" -}}
ingest trainer registry predictor monitor
{{- end -}}

{{- define "mlbus.specDir" -}}/etc/mlbus/spec{{- end -}}

{{/* An env entry from the chart's Secret. Call with (dict "root" $ "env" NAME "key" KEY). */}}
{{- define "mlbus.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "mlbus.secretName" .root }}
      key: {{ .key }}
{{- end -}}

{{/* An env entry with a plain value; maps and lists as JSON, as pydantic-settings reads them.
     Helm reads numbers in values files as floats: a whole one is written as an integer, or an
     int setting would get "2e+06". */}}
{{- define "mlbus.plainEnv" -}}
{{- $value := .value -}}
{{- if or (kindIs "map" $value) (kindIs "slice" $value) -}}
{{- $value = toJson $value -}}
{{- else if and (kindIs "float64" $value) (eq (floor $value) $value) -}}
{{- $value = int64 $value -}}
{{- end }}
- name: {{ .env }}
  value: {{ $value | toString | quote }}
{{- end -}}

{{/* kafka.bootstrapServers as one comma-separated string, from a list or a string. */}}
{{- define "mlbus.bootstrapServers" -}}
{{- $servers := .Values.kafka.bootstrapServers -}}
{{- if kindIs "slice" $servers -}}
{{- $servers = join "," $servers -}}
{{- end -}}
{{- required "kafka.bootstrapServers is required: the external Kafka's bootstrap servers" $servers -}}
{{- end -}}

{{- define "mlbus.kafkaCaDir" -}}/etc/mlbus/kafka-ca{{- end -}}

{{/* KafkaSettings fields the chart sets from kafka.*, which kafka.settings may not override. */}}
{{- define "mlbus.chartOwnedKafkaSettings" -}}
bootstrap_servers topic_prefix security_protocol sasl_mechanism sasl_username sasl_password
ssl_cafile producer_acks producer_idempotence
{{- end -}}

{{/* MLBUS_KAFKA_*: every service's broker settings. */}}
{{- define "mlbus.kafkaEnv" -}}
{{- $kafka := .Values.kafka -}}
- name: MLBUS_KAFKA_BOOTSTRAP_SERVERS
  value: {{ include "mlbus.bootstrapServers" . | quote }}
{{- if $kafka.topicPrefix }}
- name: MLBUS_KAFKA_TOPIC_PREFIX
  value: {{ $kafka.topicPrefix | quote }}
{{- end }}
- name: MLBUS_KAFKA_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol | quote }}
{{- if $kafka.saslMechanism }}
- name: MLBUS_KAFKA_SASL_MECHANISM
  value: {{ $kafka.saslMechanism | quote }}
- name: MLBUS_KAFKA_SASL_USERNAME
  value: {{ required "kafka.saslUsername is required with kafka.saslMechanism" $kafka.saslUsername | quote }}
{{ include "mlbus.secretEnv" (dict "root" . "env" "MLBUS_KAFKA_SASL_PASSWORD" "key" "kafka-sasl-password") }}
{{- end }}
{{- if $kafka.caSecret.name }}
- name: MLBUS_KAFKA_SSL_CAFILE
  value: {{ printf "%s/%s" (include "mlbus.kafkaCaDir" .) $kafka.caSecret.key | quote }}
{{- end }}
{{- if $kafka.producerAcks }}
- name: MLBUS_KAFKA_PRODUCER_ACKS
  value: {{ $kafka.producerAcks | toString | quote }}
{{- end }}
{{- if ne ($kafka.producerIdempotence | toString) "" }}
{{- if and $kafka.producerIdempotence (ne ($kafka.producerAcks | toString) "all") }}
{{- fail "kafka.producerIdempotence needs kafka.producerAcks: all" }}
{{- end }}
- name: MLBUS_KAFKA_PRODUCER_IDEMPOTENCE
  value: {{ $kafka.producerIdempotence | toString | quote }}
{{- end }}
{{- $owned := regexSplit "\\s+" (include "mlbus.chartOwnedKafkaSettings" .) -1 -}}
{{- range $field, $value := $kafka.settings }}
{{- if has $field $owned }}
{{- fail (printf "kafka.settings.%s is set by the chart from kafka.* (see values.yaml)" $field) }}
{{- end }}
{{ include "mlbus.plainEnv" (dict "env" (printf "MLBUS_KAFKA_%s" (upper $field)) "value" $value) }}
{{- end }}
{{- end -}}

{{/* Settings the chart sets itself, which `settings` may not override. */}}
{{- define "mlbus.chartOwnedSettings" -}}
host port registry_url token registry_token database_url data_dir spec kafka artifact_store s3
s3_bucket s3_endpoint_url s3_region s3_prefix s3_access_key_id s3_secret_access_key
{{- end -}}

{{/* The registry's artifact store in the bucket (services/registry: artifact_store, S3Settings). */}}
{{- define "mlbus.s3Env" -}}
{{- $s3 := .Values.artifacts.s3 -}}
- name: MLBUS_REGISTRY_ARTIFACT_STORE
  value: s3
- name: MLBUS_REGISTRY_S3_BUCKET
  value: {{ required "artifacts.s3.bucket is required with artifacts.s3.enabled" $s3.bucket | quote }}
{{- if $s3.endpointUrl }}
- name: MLBUS_REGISTRY_S3_ENDPOINT_URL
  value: {{ $s3.endpointUrl | quote }}
{{- end }}
{{- if $s3.region }}
- name: MLBUS_REGISTRY_S3_REGION
  value: {{ $s3.region | quote }}
{{- end }}
{{- if $s3.prefix }}
- name: MLBUS_REGISTRY_S3_PREFIX
  value: {{ $s3.prefix | quote }}
{{- end }}
{{- if $s3.credentialsFromSecret }}
{{ include "mlbus.secretEnv" (dict "root" . "env" "MLBUS_REGISTRY_S3_ACCESS_KEY_ID" "key" "s3-access-key-id") }}
{{ include "mlbus.secretEnv" (dict "root" . "env" "MLBUS_REGISTRY_S3_SECRET_ACCESS_KEY" "key" "s3-secret-access-key") }}
{{- end }}
{{- end -}}

{{/* A service's own env: MLBUS_<SERVICE>_*. Call with (dict "root" $ "name" NAME "svc" VALUES). */}}
{{- define "mlbus.serviceEnv" -}}
{{- $root := .root -}}
{{- $prefix := printf "MLBUS_%s_" (upper .name) -}}
- name: {{ $prefix }}HOST
  value: "0.0.0.0"
- name: {{ $prefix }}PORT
  value: {{ .svc.port | quote }}
{{- if has .name (list "trainer" "predictor" "monitor") }}
- name: {{ $prefix }}REGISTRY_URL
  value: {{ printf "http://%s:%v" (include "mlbus.serviceName" (dict "root" $root "name" "registry")) $root.Values.services.registry.port | quote }}
{{- end }}
{{- if eq .name "trainer" }}
{{ include "mlbus.secretEnv" (dict "root" $root "env" "MLBUS_TRAINER_REGISTRY_TOKEN" "key" "registry-token") }}
{{- end }}
{{- if eq .name "registry" }}
{{ include "mlbus.secretEnv" (dict "root" $root "env" "MLBUS_REGISTRY_TOKEN" "key" "registry-token") }}
{{ include "mlbus.secretEnv" (dict "root" $root "env" "MLBUS_REGISTRY_DATABASE_URL" "key" "database-url") }}
- name: MLBUS_REGISTRY_DATA_DIR
  value: /data/registry
{{- if $root.Values.artifacts.s3.enabled }}
{{ include "mlbus.s3Env" $root }}
{{- end }}
{{- end }}
{{- if and $root.Values.datasetSpec (has .name (splitList " " (include "mlbus.specReaders" $root))) }}
- name: {{ $prefix }}SPEC
  value: {{ printf "%s/spec.yaml" (include "mlbus.specDir" $root) | quote }}
{{- end }}
{{- $owned := regexSplit "\\s+" (include "mlbus.chartOwnedSettings" $root) -1 -}}
{{- range $field, $value := .svc.settings }}
{{- if has $field $owned }}
{{- fail (printf "services.%s.settings.%s is set by the chart (see values.yaml)" $.name $field) }}
{{- end }}
{{ include "mlbus.plainEnv" (dict "env" (printf "%s%s" $prefix (upper $field)) "value" $value) }}
{{- end }}
{{- end -}}

{{/* The consumer whose backlog scales a service, "<topic> <group>" (contracts.Topics and the
     services' group ids). Call with (dict "root" $ "name" NAME); only ingest and predictor. */}}
{{- define "mlbus.lagSource" -}}
{{- $prefix := .root.Values.kafka.topicPrefix -}}
{{- if eq .name "predictor" -}}
{{- printf "%spredict.requests.v1 %smlbus-predictor" $prefix $prefix -}}
{{- else if eq .name "ingest" -}}
{{- printf "%singest.raw.v1 %smlbus-ingest" $prefix $prefix -}}
{{- else -}}
{{- fail (printf "services.%s.autoscaling: only ingest and predictor scale on their lag" .name) -}}
{{- end -}}
{{- end -}}

{{/* "true" when a service's replicas belong to KEDA or an HPA. Call with (dict "root" $ "name" NAME). */}}
{{- define "mlbus.autoscaled" -}}
{{- $svc := index .root.Values.services .name -}}
{{- if dig "autoscaling" "enabled" false $svc -}}true{{- end -}}
{{- end -}}

{{/* Values that would render a release that runs but misbehaves: refused with the reason. */}}
{{- define "mlbus.validate" -}}
{{- $services := .Values.services -}}
{{- range $name := list "trainer" "monitor" }}
{{- if gt (int (index $services $name).replicas) 1 }}
{{- fail (printf "services.%s.replicas must be 0 or 1: a second %s would split its consumer group's records" $name $name) }}
{{- end }}
{{- end }}
{{- if and (gt (int $services.registry.replicas) 1) (not .Values.artifacts.s3.enabled) }}
{{- fail "services.registry.replicas > 1 needs artifacts.s3.enabled: replicas share the bucket, not a volume" }}
{{- end }}
{{- range $name, $svc := $services }}
{{- if include "mlbus.autoscaled" (dict "root" $ "name" $name) }}
{{- $_ := include "mlbus.lagSource" (dict "root" $ "name" $name) }}
{{- if gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas) }}
{{- fail (printf "services.%s.autoscaling: minReplicas exceeds maxReplicas" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Scale down only after the load has stayed low a while: each change pauses the group. */}}
{{- define "mlbus.scaleDownBehavior" -}}
behavior:
  scaleDown:
    stabilizationWindowSeconds: {{ .Values.autoscaling.scaleDownStabilizationSeconds }}
{{- end -}}

{{/* kafka.saslMechanism as KEDA's Kafka scaler names it. */}}
{{- define "mlbus.kedaSasl" -}}
{{- $names := dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512" -}}
{{- required (printf "kafka.saslMechanism %q: one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512" .Values.kafka.saslMechanism) (get $names .Values.kafka.saslMechanism) -}}
{{- end -}}

{{/* "true" when KEDA needs a TriggerAuthentication: SASL credentials or a CA to trust. */}}
{{- define "mlbus.kedaNeedsAuth" -}}
{{- $scaled := false -}}
{{- range $name, $svc := .Values.services -}}
{{- if include "mlbus.autoscaled" (dict "root" $ "name" $name) -}}{{- $scaled = true -}}{{- end -}}
{{- end -}}
{{- if and .Values.autoscaling.keda.enabled $scaled (or .Values.kafka.saslMechanism .Values.kafka.caSecret.name) -}}true{{- end -}}
{{- end -}}

{{- define "mlbus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "mlbus.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/*
The gateway container, as one list item. This chart's own Deployments use it,
and so can a host chart (see the chart README):

  initContainers:   # `containers:` for the gateway line when sidecar.native is false
    {{- include "anaplan-gateway.initContainers" (index .Subcharts "anaplan-gateway") | nindent 4 }}
    {{- include "anaplan-gateway.container" (index .Subcharts "anaplan-gateway") | nindent 4 }}
  volumes:
    {{- include "anaplan-gateway.volumes" (index .Subcharts "anaplan-gateway") | nindent 4 }}

Its env and volume mounts come from the helpers below, which the `helm test` pod
(templates/tests/check.yaml) shares, so the check signs in exactly as the gateway does.
*/}}
{{- define "anaplan-gateway.container" -}}
{{- include "anaplan-gateway.memoryCheck" . -}}
- name: anaplan-gateway
  image: {{ include "anaplan-gateway.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if and (eq .Values.mode "sidecar") .Values.sidecar.native }}
  # A native sidecar: starts before the host's containers, stops after them.
  restartPolicy: Always
  {{- end }}
  ports:
    # Prefixed so they cannot clash with a host container's port names.
    - name: gw-http
      containerPort: {{ .Values.ports.http }}
      protocol: TCP
    - name: gw-admin
      containerPort: {{ .Values.ports.admin }}
      protocol: TCP
  env:
    {{- include "anaplan-gateway.env" . | nindent 4 }}
  volumeMounts:
    {{- include "anaplan-gateway.volumeMounts" . | nindent 4 }}
  startupProbe:
    httpGet:
      path: /readyz
      port: gw-admin
    {{- toYaml .Values.startupProbe | nindent 4 }}
  livenessProbe:
    httpGet:
      path: /livez
      port: gw-admin
    {{- toYaml .Values.livenessProbe | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: gw-admin
    {{- toYaml .Values.readinessProbe | nindent 4 }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
{{- end }}

{{/* The gateway's env entries: its settings, then the credentials of the configured method. */}}
{{- define "anaplan-gateway.env" -}}
- name: GATEWAY_LISTEN
  value: {{ include "anaplan-gateway.listen" . | quote }}
- name: GATEWAY_ADMIN_LISTEN
  value: {{ printf "0.0.0.0:%v" .Values.ports.admin | quote }}
- name: GATEWAY_POLL_INTERVAL
  value: {{ .Values.gateway.pollInterval | quote }}
- name: GATEWAY_POLL_MAX_INTERVAL
  value: {{ .Values.gateway.pollMaxInterval | quote }}
- name: GATEWAY_MAX_STALE
  value: {{ .Values.gateway.maxStale | quote }}
- name: GATEWAY_MAX_WAIT
  value: {{ .Values.gateway.maxWait | quote }}
- name: GATEWAY_MAX_WAITING
  value: {{ .Values.gateway.maxWaiting | int64 | quote }}
- name: GATEWAY_MAX_BATCH
  value: {{ .Values.gateway.maxBatch | int64 | quote }}
- name: GATEWAY_HEADER_TIMEOUT
  value: {{ .Values.gateway.headerTimeout | quote }}
- name: GATEWAY_MAX_CONNECTIONS
  value: {{ .Values.gateway.maxConnections | int64 | quote }}
- name: GATEWAY_MAX_TRANSFERS
  value: {{ .Values.gateway.maxTransfers | int64 | quote }}
- name: GATEWAY_UPLOAD_CHUNK
  value: {{ .Values.gateway.uploadChunk | quote }}
- name: GATEWAY_NAMES_TTL
  value: {{ .Values.gateway.namesTtl | quote }}
- name: GATEWAY_REQUIRE_IDEMPOTENCY_KEY
  value: {{ .Values.gateway.requireIdempotencyKey | quote }}
{{- with .Values.gateway.corsOrigins }}
- name: GATEWAY_CORS_ORIGINS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.gateway.listenBacklog }}
- name: GATEWAY_LISTEN_BACKLOG
  value: {{ . | int64 | quote }}
{{- end }}
{{- with .Values.gateway.allowedModels }}
- name: GATEWAY_ALLOWED_MODELS
  value: {{ join "," . | quote }}
{{- end }}
{{- if .Values.callers.existingSecret }}
# Read again every 5s and swapped in when it changed, so an updated Secret needs no restart.
- name: GATEWAY_CALLERS_FILE
  value: "/var/run/secrets/callers/callers.json"
{{- end }}
- name: GATEWAY_UPSTREAM_CONCURRENCY
  value: {{ .Values.gateway.upstreamConcurrency | int64 | quote }}
- name: GATEWAY_UPSTREAM_RATE
  value: {{ .Values.gateway.upstreamRate | quote }}
- name: GATEWAY_CACHE_MAX_ENTRIES
  value: {{ .Values.gateway.cacheMaxEntries | int64 | quote }}
- name: GATEWAY_CACHE_MAX_MIB
  value: {{ .Values.gateway.cacheMaxMib | int64 | quote }}
- name: GATEWAY_SHUTDOWN_TIMEOUT
  value: {{ .Values.gateway.shutdownTimeout | quote }}
- name: GATEWAY_LOG_FORMAT
  value: {{ .Values.gateway.logFormat | quote }}
- name: RUST_LOG
  value: {{ .Values.gateway.logLevel | quote }}
- name: ANAPLAN_API_URL
  value: {{ .Values.anaplan.apiUrl | quote }}
- name: ANAPLAN_AUTH_URL
  value: {{ .Values.anaplan.authUrl | quote }}
- name: ANAPLAN_CLOUDWORKS_URL
  value: {{ .Values.anaplan.cloudworksUrl | quote }}
- name: ANAPLAN_TIMEOUT
  value: {{ .Values.anaplan.timeout | quote }}
{{- with .Values.anaplan.workspaceId }}
- name: ANAPLAN_WORKSPACE_ID
  value: {{ . | quote }}
{{- end }}
{{- with .Values.anaplan.modelId }}
- name: ANAPLAN_MODEL_ID
  value: {{ . | quote }}
{{- end }}
{{- include "anaplan-gateway.credentialsEnv" . }}
{{- include "anaplan-gateway.redisEnv" . }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The env entries of the configured credential method (each entry on a line of its own,
after a newline). Secrets only ever as files, read again at every sign-in.
*/}}
{{- define "anaplan-gateway.credentialsEnv" -}}
{{- $c := .Values.credentials }}
{{- $method := include "anaplan-gateway.credentialsMethod" . }}
{{- if eq $method "certificate" }}
# Both read at every sign-in, so a renewed TLS Secret needs no restart.
- name: ANAPLAN_CERTIFICATE_FILE
  value: {{ printf "%s/tls.crt" $c.mountPath | quote }}
- name: ANAPLAN_PRIVATE_KEY_FILE
  value: {{ printf "%s/tls.key" $c.mountPath | quote }}
{{- if $c.certificate.passphraseSecret }}
- name: ANAPLAN_PRIVATE_KEY_PASSPHRASE_FILE
  value: {{ printf "%s/passphrase" $c.mountPath | quote }}
{{- end }}
{{- else if eq $method "oauth" }}
- name: ANAPLAN_OAUTH_CLIENT_ID
  value: {{ $c.oauth.clientId | quote }}
{{- with $c.oauth.url }}
- name: ANAPLAN_OAUTH_URL
  value: {{ . | quote }}
{{- end }}
{{- if $c.oauth.writable }}
# A writable copy: the gateway replaces it (temp file, then rename) when the token rotates.
{{- else }}
# The Secret's read-only file: a token rotated by a rotatable client lives in memory only.
{{- end }}
- name: ANAPLAN_OAUTH_REFRESH_TOKEN_FILE
  value: {{ include "anaplan-gateway.refreshTokenFile" . | quote }}
{{- else }}
- name: ANAPLAN_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "anaplan-gateway.secretName" . }}
      key: {{ $c.usernameKey }}
# Read at every authentication, so a rotated Secret needs no restart.
- name: ANAPLAN_PASSWORD_FILE
  value: {{ printf "%s/password" $c.mountPath | quote }}
{{- end }}
{{- end }}

{{/*
The shared-state env entries (each on a line of its own, after a newline); none without
sharedState.redis.url. The password only ever as a file, never in the URL; a private CA as a
file too.
*/}}
{{- define "anaplan-gateway.redisEnv" -}}
{{- $r := .Values.sharedState.redis }}
{{- $password := include "anaplan-gateway.redisPassword" . }}
{{- if $r.url }}
- name: GATEWAY_REDIS_URL
  value: {{ $r.url | quote }}
{{- if $password }}
# Read from the Secret volume, so the password never sits in the pod spec.
- name: GATEWAY_REDIS_PASSWORD_FILE
  value: "/var/run/secrets/redis/password"
{{- end }}
{{- if include "anaplan-gateway.redisCa" . }}
# The private CA's certificates (PEM), trusted for the rediss:// connection instead of the system roots.
- name: GATEWAY_REDIS_CA_FILE
  value: "/var/run/secrets/redis-ca/ca.crt"
{{- end }}
{{- with $r.prefix }}
- name: GATEWAY_REDIS_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The gateway's volume mounts: the credentials, or the writable copy of the refresh token;
the Redis password when sharedState.redis.existingSecret is set, and the Redis CA when
sharedState.redis.caSecret is; and the callers file when callers.existingSecret is.
*/}}
{{- define "anaplan-gateway.volumeMounts" -}}
{{- if include "anaplan-gateway.oauthWritable" . -}}
# The emptyDir the init container filled; never the Secret itself.
- name: anaplan-gateway-oauth-token
  mountPath: {{ .Values.credentials.oauth.writableMountPath }}
{{- else -}}
# A directory mount, not subPath: the kubelet updates it when the Secret changes.
- name: anaplan-gateway-credentials
  mountPath: {{ .Values.credentials.mountPath }}
  readOnly: true
{{- end }}
{{- if include "anaplan-gateway.redisPassword" . }}
# A directory mount too, never subPath, like the credentials.
- name: anaplan-gateway-redis
  mountPath: /var/run/secrets/redis
  readOnly: true
{{- end }}
{{- if include "anaplan-gateway.redisCa" . }}
# A directory mount too, never subPath; the gateway reads the CA at start, so a renewed CA needs a restart.
- name: anaplan-gateway-redis-ca
  mountPath: /var/run/secrets/redis-ca
  readOnly: true
{{- end }}
{{- if .Values.callers.existingSecret }}
# A directory mount, never subPath: the kubelet replaces the file when the Secret changes,
# and the gateway picks it up within 5s.
- name: anaplan-gateway-callers
  mountPath: /var/run/secrets/callers
  readOnly: true
{{- end }}
{{- end }}

{{/*
Init containers the gateway needs, as list items; nothing unless credentials.method is oauth
with credentials.oauth.writable. Put them before the gateway (a native sidecar) or under
initContainers (a plain container).
*/}}
{{- define "anaplan-gateway.initContainers" -}}
{{- if include "anaplan-gateway.oauthWritable" . }}
{{- $c := .Values.credentials -}}
# The gateway image has no shell: a small one copies the refresh token from the read-only
# Secret to the emptyDir the gateway rewrites. A token already there (rotated before the pod's
# init containers ran again) is kept, as the Secret's may be revoked by then.
- name: anaplan-gateway-copy-token
  image: {{ $c.oauth.init.image | quote }}
  command:
    - sh
    - -c
    - |
      set -eu
      if [ -s "$2" ]; then echo "keeping the refresh token in $2"; exit 0; fi
      umask 077
      cp "$1" "$2.tmp"
      mv "$2.tmp" "$2"
    - copy-refresh-token
    - {{ printf "%s/refresh-token" $c.mountPath | quote }}
    - {{ include "anaplan-gateway.refreshTokenFile" . | quote }}
  volumeMounts:
    - name: anaplan-gateway-credentials
      mountPath: {{ $c.mountPath }}
      readOnly: true
    - name: anaplan-gateway-oauth-token
      mountPath: {{ $c.oauth.writableMountPath }}
  resources:
    {{- toYaml $c.oauth.init.resources | nindent 4 }}
  # The gateway container's, so the copy belongs to the uid that rewrites it.
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
{{- end }}
{{- end }}

{{/* The pod volumes the gateway's containers mount, as list items. */}}
{{- define "anaplan-gateway.volumes" -}}
{{- $c := .Values.credentials }}
{{- $method := include "anaplan-gateway.credentialsMethod" . }}
{{- if eq $method "certificate" -}}
- name: anaplan-gateway-credentials
  projected:
    # The certificate and key of the kubernetes.io/tls Secret, and the key's passphrase,
    # in one directory. The default mode (0644) lets the gateway read them whatever uid
    # and fsGroup the host pod uses.
    sources:
      - secret:
          name: {{ $c.certificate.existingSecret }}
          items:
            - key: tls.crt
              path: tls.crt
            - key: tls.key
              path: tls.key
      {{- with $c.certificate.passphraseSecret }}
      - secret:
          name: {{ . }}
          items:
            - key: {{ $c.certificate.passphraseKey }}
              path: passphrase
      {{- end }}
{{- else if eq $method "oauth" -}}
- name: anaplan-gateway-credentials
  secret:
    secretName: {{ $c.oauth.existingSecret }}
    items:
      - key: {{ $c.oauth.refreshTokenKey }}
        path: refresh-token
{{- if $c.oauth.writable }}
# The refresh token's writable copy; in memory, like a Secret volume. It outlives
# container restarts, not the pod.
- name: anaplan-gateway-oauth-token
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- end }}
{{- else -}}
- name: anaplan-gateway-credentials
  secret:
    secretName: {{ include "anaplan-gateway.secretName" . }}
    # Only the password, under a fixed file name. The default mode (0644) lets
    # the gateway read it whatever uid and fsGroup the host pod uses.
    items:
      - key: {{ $c.passwordKey }}
        path: password
{{- end }}
{{- if include "anaplan-gateway.redisPassword" . }}
- name: anaplan-gateway-redis
  secret:
    secretName: {{ .Values.sharedState.redis.existingSecret }}
    # Only the Redis password, under a fixed file name (GATEWAY_REDIS_PASSWORD_FILE).
    items:
      - key: {{ .Values.sharedState.redis.passwordKey }}
        path: password
{{- end }}
{{- if include "anaplan-gateway.redisCa" . }}
- name: anaplan-gateway-redis-ca
  secret:
    secretName: {{ .Values.sharedState.redis.caSecret }}
    # Only the CA certificates, under a fixed file name (GATEWAY_REDIS_CA_FILE). The default
    # mode (0644) lets the gateway read them whatever uid and fsGroup the host pod uses.
    items:
      - key: {{ .Values.sharedState.redis.caKey }}
        path: ca.crt
{{- end }}
{{- if .Values.callers.existingSecret }}
- name: anaplan-gateway-callers
  secret:
    secretName: {{ .Values.callers.existingSecret }}
    # Only the callers file, under a fixed file name (GATEWAY_CALLERS_FILE). The default mode
    # (0644) lets the gateway read it whatever uid and fsGroup the host pod uses; it holds
    # only hashes of the keys.
    items:
      - key: {{ .Values.callers.key }}
        path: callers.json
{{- end }}
{{- end }}

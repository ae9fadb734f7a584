{{/*
Every helper here takes this chart's scope. A host chart that has this chart as a
dependency passes it as `(index .Subcharts "anaplan-gateway")` (Helm 3.7+).
*/}}

{{- define "anaplan-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "anaplan-gateway.fullname" -}}
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

{{- define "anaplan-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "anaplan-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "anaplan-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "anaplan-gateway.labels" -}}
helm.sh/chart: {{ include "anaplan-gateway.chart" . }}
{{ include "anaplan-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "anaplan-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "anaplan-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "anaplan-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret with the Anaplan credentials: the existing one, or the one this chart creates. */}}
{{- define "anaplan-gateway.secretName" -}}
{{- $c := .Values.credentials }}
{{- if and $c.existingSecret $c.create }}
{{- fail "credentials: set either existingSecret or create, not both" }}
{{- else if $c.existingSecret }}
{{- $c.existingSecret }}
{{- else if $c.create }}
{{- printf "%s-credentials" (include "anaplan-gateway.fullname" .) }}
{{- else }}
{{- fail "credentials: set credentials.existingSecret to a Secret with the Anaplan username and password, or credentials.create=true with credentials.username and credentials.password" }}
{{- end }}
{{- end }}

{{- define "anaplan-gateway.listen" -}}
{{- if .Values.gateway.listen }}
{{- .Values.gateway.listen }}
{{- else if eq .Values.mode "sidecar" }}
{{- printf "127.0.0.1:%v" .Values.ports.http }}
{{- else }}
{{- printf "0.0.0.0:%v" .Values.ports.http }}
{{- end }}
{{- end }}

{{/*
The credential method, after checking that its values are set: `basic`, `certificate` or
`oauth`. Every template that mounts or names a credential goes through it, so a half-configured
method stops rendering with a message saying what is missing. The other methods' values are
ignored (a parent chart or an earlier values file may carry them), except a Secret this chart
would create for nothing.
*/}}
{{- define "anaplan-gateway.credentialsMethod" -}}
{{- $c := .Values.credentials }}
{{- $method := $c.method }}
{{- if and (ne $method "basic") $c.create }}
{{- fail (printf "credentials.create makes a Secret for credentials.method=basic; with method=%s leave it false" $method) }}
{{- end }}
{{- if and (eq $method "basic") (not (or $c.existingSecret $c.create)) }}
{{- if $c.certificate.existingSecret }}
{{- fail "credentials.certificate is set but credentials.method is basic (the default): set credentials.method=certificate" }}
{{- else if or $c.oauth.clientId $c.oauth.existingSecret }}
{{- fail "credentials.oauth is set but credentials.method is basic (the default): set credentials.method=oauth" }}
{{- end }}
{{- end }}
{{- if eq $method "certificate" }}
{{- if not $c.certificate.existingSecret }}
{{- fail "credentials.certificate.existingSecret is required with credentials.method=certificate: the name of a kubernetes.io/tls Secret holding the certificate (tls.crt) and its private key (tls.key)" }}
{{- end }}
{{- else if eq $method "oauth" }}
{{- if not $c.oauth.clientId }}
{{- fail "credentials.oauth.clientId is required with credentials.method=oauth: the OAuth client's id (not a secret)" }}
{{- end }}
{{- if not $c.oauth.existingSecret }}
{{- fail (printf "credentials.oauth.existingSecret is required with credentials.method=oauth: the name of a Secret holding the refresh token under the key %q (credentials.oauth.refreshTokenKey)" $c.oauth.refreshTokenKey) }}
{{- end }}
{{- if and $c.oauth.writable (eq (trimSuffix "/" $c.oauth.writableMountPath) (trimSuffix "/" $c.mountPath)) }}
{{- fail "credentials.oauth.writableMountPath must differ from credentials.mountPath: the copy of the refresh token and the Secret it comes from are two volumes" }}
{{- end }}
{{- else if ne $method "basic" }}
{{- fail (printf "credentials.method must be basic, certificate or oauth, not %q" $method) }}
{{- end }}
{{- $method }}
{{- end }}

{{/* Whether the pod copies the OAuth refresh token to a writable emptyDir ("true" or ""). */}}
{{- define "anaplan-gateway.oauthWritable" -}}
{{- if and (eq (include "anaplan-gateway.credentialsMethod" .) "oauth") .Values.credentials.oauth.writable }}true{{ end }}
{{- end }}

{{/* The file ANAPLAN_OAUTH_REFRESH_TOKEN_FILE names: the writable copy, or the Secret's file. */}}
{{- define "anaplan-gateway.refreshTokenFile" -}}
{{- $c := .Values.credentials }}
{{- if include "anaplan-gateway.oauthWritable" . }}
{{- printf "%s/refresh-token" $c.oauth.writableMountPath }}
{{- else }}
{{- printf "%s/refresh-token" $c.mountPath }}
{{- end }}
{{- end }}

{{/*
Whether the gateway gets a Redis password file ("true" or ""), after checking the
sharedState.redis values that a schema cannot: a password Secret needs a url, and the url
carries no password (the gateway refuses one there).
*/}}
{{- define "anaplan-gateway.redisPassword" -}}
{{- $r := .Values.sharedState.redis }}
{{- if and $r.existingSecret (not $r.url) }}
{{- fail "sharedState.redis.existingSecret is set but sharedState.redis.url is empty: set the url of the Redis or Valkey server" }}
{{- end }}
{{- if regexMatch "^rediss?://[^/@]*:[^/@]*@" $r.url }}
{{- fail "sharedState.redis.url must not hold a password (the gateway refuses it): put it in a Secret named by sharedState.redis.existingSecret" }}
{{- end }}
{{- if and $r.url $r.existingSecret }}true{{ end }}
{{- end }}

{{/*
Whether the gateway gets a Redis CA file ("true" or ""), after checking that a CA Secret comes
with a rediss:// url: the CA is trusted for TLS only, and a redis:// url has none.
*/}}
{{- define "anaplan-gateway.redisCa" -}}
{{- $r := .Values.sharedState.redis }}
{{- if and $r.caSecret (not $r.url) }}
{{- fail "sharedState.redis.caSecret is set but sharedState.redis.url is empty: set the rediss:// url of the Redis or Valkey server" }}
{{- end }}
{{- if and $r.caSecret (not (hasPrefix "rediss://" $r.url)) }}
{{- fail "sharedState.redis.caSecret is set but sharedState.redis.url is not rediss://: the CA is trusted only for a TLS connection" }}
{{- end }}
{{- if $r.caSecret }}true{{ end }}
{{- end }}

{{/*
The gateway's memory model: what it may hold at its configured bounds. The figures are the ones
measured in the repository README's "Memory model" section and its benchmarks; change them
together.
  baseMib            the process with its runtime, TLS, metrics and logging
  connectionKib      an HTTP/1.1 API connection with its buffers and a request in flight
  heldRequestKib     a held request (long-poll, event stream, held batch)
  chunksPerTransfer  an upload holds about two chunks of gateway.uploadChunk; a download less
  limitPercent       the share of resources.limits.memory it may take; the rest is room for the
                     allocator and the kernel's accounting
*/}}
{{- define "anaplan-gateway.memoryModel" -}}
{{- toJson (dict "baseMib" 24 "connectionKib" 32 "heldRequestKib" 12 "chunksPerTransfer" 2 "limitPercent" 90) }}
{{- end }}

{{/* Bytes in a chunk size as the gateway reads it (10MiB, 512KiB, 1048576). */}}
{{- define "anaplan-gateway.chunkBytes" -}}
{{- $units := dict "" 1 "B" 1 "KiB" 1024 "MiB" 1048576 "GiB" 1073741824 }}
{{- $text := toString . | trim }}
{{- $digits := regexFind "^[0-9]+" $text }}
{{- $unit := trimPrefix $digits $text }}
{{- if or (not $digits) (not (hasKey $units $unit)) }}
{{- fail (printf "gateway.uploadChunk: %q is no size the gateway reads; use for example 10MiB" $text) }}
{{- end }}
{{- mul (atoi $digits) (get $units $unit) }}
{{- end }}

{{/*
Bytes in a Kubernetes quantity (192Mi, 1Gi, 200M, 268435456, 1.5Gi). A fraction is read to three
places, which can only make the limit seem smaller.
*/}}
{{- define "anaplan-gateway.quantityBytes" -}}
{{- if not (kindIs "string" .) }}
{{- int64 . }}
{{- else }}
{{- $units := dict "" 1 "k" 1000 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 }}
{{- $text := trim . }}
{{- $number := regexFind `^[0-9]+(\.[0-9]*)?` $text }}
{{- $unit := trimPrefix $number $text }}
{{- if or (not $number) (not (hasKey $units $unit)) }}
{{- fail (printf "resources.limits.memory: %q is no quantity the chart reads; use for example 192Mi, 1Gi or 268435456" $text) }}
{{- end }}
{{- $parts := splitList "." $number }}
{{- $unitBytes := get $units $unit }}
{{- $fraction := "0" }}
{{- if gt (len $parts) 1 }}{{ $fraction = printf "%s000" (index $parts 1) | trunc 3 }}{{ end }}
{{- add (mul (atoi (first $parts)) $unitBytes) (div (mul (atoi $fraction) $unitBytes) 1000) }}
{{- end }}
{{- end }}

{{/*
The memory the gateway may need by its model, each part rounded up to whole MiB, against what
resources.limits.memory allows it; as JSON. "limit" is empty when no limit is set.
*/}}
{{- define "anaplan-gateway.memory" -}}
{{- $m := include "anaplan-gateway.memoryModel" . | fromJson }}
{{- $g := .Values.gateway }}
{{- $connections := div (add (mul $g.maxConnections $m.connectionKib) 1023) 1024 }}
{{- $held := div (add (mul $g.maxWaiting $m.heldRequestKib) 1023) 1024 }}
{{- $chunk := include "anaplan-gateway.chunkBytes" $g.uploadChunk }}
{{- $transfers := div (add (mul $g.maxTransfers $m.chunksPerTransfer $chunk) 1048575) 1048576 }}
{{- $parts := list
  (printf "base %d" (int64 $m.baseMib))
  (printf "cache %d" (int64 $g.cacheMaxMib))
  (printf "%d connections %d" (int64 $g.maxConnections) $connections)
  (printf "%d held requests %d" (int64 $g.maxWaiting) $held)
  (printf "%d transfers %d" (int64 $g.maxTransfers) $transfers) }}
{{- $total := add $m.baseMib $g.cacheMaxMib $connections $held $transfers }}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) }}
{{- $allowed := 0 }}
{{- if $limit }}
{{- $bytes := include "anaplan-gateway.quantityBytes" $limit | int64 }}
{{- /* floor(bytes x percent / 100) without overflowing int64 */}}
{{- $share := add (mul (div $bytes 100) $m.limitPercent) (div (mul (mod $bytes 100) $m.limitPercent) 100) }}
{{- $allowed = div $share 1048576 }}
{{- if not (kindIs "string" $limit) }}{{ $limit = toString (int64 $limit) }}{{ end }}
{{- end }}
{{- toJson (dict "total" $total "parts" (join " + " $parts) "limit" $limit "allowed" $allowed "percent" $m.limitPercent) }}
{{- end }}

{{/*
Stops the render when the gateway's memory model does not fit in resources.limits.memory; no
limit, no check. The container includes it (every pod that runs the gateway), and so do the
NOTES (a sidecar release renders no gateway of its own).
*/}}
{{- define "anaplan-gateway.memoryCheck" -}}
{{- $e := include "anaplan-gateway.memory" . | fromJson }}
{{- if and $e.limit (gt (int64 $e.total) (int64 $e.allowed)) }}
{{- fail (printf "memory: the gateway may need %d MiB (%s) but %d%% of resources.limits.memory (%s) is %d MiB: lower gateway.maxConnections, gateway.maxWaiting, gateway.maxTransfers, gateway.uploadChunk or gateway.cacheMaxMib, or raise the limit" (int64 $e.total) $e.parts (int64 $e.percent) $e.limit (int64 $e.allowed)) }}
{{- end }}
{{- end }}

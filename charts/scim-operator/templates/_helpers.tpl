{{/* Chart name. */}}
{{- define "scim-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects; 63 characters at most, with room for suffixes kept
below by the callers ("-webhook", "-metrics", ...). */}}
{{- define "scim-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "scim-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scim-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "scim-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "scim-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scim-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of objects that are not about the pods (CRDs, RBAC): no selector labels, so that no
selector picks them up by accident. */}}
{{- define "scim-operator.staticLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scim-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "scim-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scim-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "scim-operator.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- if .Values.image.tag }}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag .Values.image.digest }}
{{- else }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- end }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "scim-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "scim-operator.fullname" .) }}
{{- end }}

{{- define "scim-operator.scimTLSSecretName" -}}
{{- default (printf "%s-scim-tls" (include "scim-operator.fullname" .)) .Values.scim.tls.secretName }}
{{- end }}

{{- define "scim-operator.webhookTLSSecretName" -}}
{{- default (printf "%s-webhook-tls" (include "scim-operator.fullname" .)) .Values.webhookTLS.secretName }}
{{- end }}

{{/* Whether any server needs the webhook certificate. */}}
{{- define "scim-operator.webhooksEnabled" -}}
{{- if or .Values.authorizationWebhook.enabled .Values.admissionWebhook.enabled }}true{{ end }}
{{- end }}

{{/* The first public host name, from the Ingress or the HTTPRoute. */}}
{{- define "scim-operator.publicHost" -}}
{{- if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- (first .Values.ingress.hosts).host }}
{{- else if and .Values.httpRoute.enabled .Values.httpRoute.hostnames }}
{{- first .Values.httpRoute.hostnames }}
{{- end }}
{{- end }}

{{/* --external-url: explicit, or https:// and the public host. */}}
{{- define "scim-operator.externalURL" -}}
{{- if .Values.scim.externalURL }}
{{- .Values.scim.externalURL | trimSuffix "/" }}
{{- else if include "scim-operator.publicHost" . }}
{{- printf "https://%s" (include "scim-operator.publicHost" .) }}
{{- end }}
{{- end }}

{{/* DNS names of the SCIM certificate, as a YAML list: the public names (Ingress hosts, HTTPRoute
hostnames, the externalURL host), scim.tls.extraDNSNames and, when serviceNames, the Service's
names (not for a certificate from a public ACME issuer, which cannot validate them).
Arguments: ctx, serviceNames. */}}
{{- define "scim-operator.scimDNSNames" -}}
{{- $ctx := .ctx }}
{{- $fullname := include "scim-operator.fullname" $ctx }}
{{- $ns := $ctx.Release.Namespace }}
{{- $names := list }}
{{- if .serviceNames }}
{{- $names = list $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s.%s.svc.cluster.local" $fullname $ns) }}
{{- end }}
{{- if $ctx.Values.ingress.enabled }}
{{- range $ctx.Values.ingress.hosts }}
{{- if .host }}{{ $names = append $names .host }}{{ end }}
{{- end }}
{{- end }}
{{- if $ctx.Values.httpRoute.enabled }}
{{- range $ctx.Values.httpRoute.hostnames }}{{ $names = append $names . }}{{ end }}
{{- end }}
{{- with include "scim-operator.externalURL" $ctx }}
{{- $names = append $names (urlParse .).hostname }}
{{- end }}
{{- $names = concat $names $ctx.Values.scim.tls.extraDNSNames }}
{{- toYaml ($names | uniq) }}
{{- end }}

{{/* DNS names of the webhook certificate, as a YAML list. */}}
{{- define "scim-operator.webhookDNSNames" -}}
{{- $svc := include "scim-operator.webhookServiceName" . }}
{{- $ns := .Release.Namespace }}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) }}
{{- $names = concat $names .Values.webhookTLS.extraDNSNames }}
{{- toYaml ($names | uniq) }}
{{- end }}

{{/* IP addresses of the webhook certificate, as a list. */}}
{{- define "scim-operator.webhookIPs" -}}
{{- $ips := .Values.webhookTLS.ipAddresses }}
{{- if .Values.webhookService.clusterIP }}
{{- $ips = append $ips .Values.webhookService.clusterIP }}
{{- end }}
{{- toYaml ($ips | uniq) }}
{{- end }}

{{/* The self-signed Issuer, when a certManager source leaves issuerRef.name empty. */}}
{{- define "scim-operator.selfSignedIssuerName" -}}
{{- printf "%s-selfsigned" (include "scim-operator.fullname" .) }}
{{- end }}

{{- define "scim-operator.issuerRef" -}}
{{- $ref := .ref }}
{{- if $ref.name }}
name: {{ $ref.name }}
kind: {{ $ref.kind | default "Issuer" }}
group: {{ $ref.group | default "cert-manager.io" }}
{{- else }}
name: {{ include "scim-operator.selfSignedIssuerName" .ctx }}
kind: Issuer
group: cert-manager.io
{{- end }}
{{- end }}

{{/* Whether the chart creates the self-signed Issuer. */}}
{{- define "scim-operator.needsSelfSignedIssuer" -}}
{{- if and .Values.scim.tls.enabled (eq .Values.scim.tls.source "certManager") (not .Values.scim.tls.certManager.issuerRef.name) }}true{{ end }}
{{- if and (include "scim-operator.webhooksEnabled" .) (eq .Values.webhookTLS.source "certManager") (not .Values.webhookTLS.certManager.issuerRef.name) }}true{{ end }}
{{- end }}

{{/* A self-signed serving certificate as Secret data (tls.crt, tls.key, ca.crt, base64), reused
from the Secret of an earlier release when it exists, so upgrades keep the certificate (and the
caBundle the API server trusts). Arguments: ctx, secretName, cn, dnsNames, ips. */}}
{{- define "scim-operator.selfSignedData" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secretName }}
{{- if and $existing $existing.data (hasKey $existing.data "tls.crt") (hasKey $existing.data "tls.key") (hasKey $existing.data "ca.crt") }}
tls.crt: {{ index $existing.data "tls.crt" }}
tls.key: {{ index $existing.data "tls.key" }}
ca.crt: {{ index $existing.data "ca.crt" }}
{{- else }}
{{- $ca := genCA (printf "%s CA" .cn) 3650 }}
{{- $cert := genSignedCert .cn .ips .dnsNames 3650 $ca }}
tls.crt: {{ $cert.Cert | b64enc }}
tls.key: {{ $cert.Key | b64enc }}
ca.crt: {{ $ca.Cert | b64enc }}
{{- end }}
{{- end }}

#!/usr/bin/env bash
# Builds (once) the kube-apiserver and etcd binaries that envtest and `make dev`
# run, from Go modules, and prints the directory that holds them.
#
# The usual envtest binary download is not reachable from every machine, while
# the Go module proxy is. So both binaries are compiled from source, pinned to
# the Kubernetes version of k8s.io/api in go.mod, and cached outside the clone:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator/k8s/<version>
#
# Every clone on the machine (CI's among them) reuses the cache, so only the
# first run pays for the build (about 1.5 min for etcd, 7 min for
# kube-apiserver on 2 cores).
#
# Overrides:
#   SCIM_OPERATOR_K8S_ASSETS  a directory that already holds kube-apiserver and
#                             etcd (air-gapped machines); nothing is built.
#   ETCD_VERSION              etcd server module version (default below).
#
# Usage: hack/control-plane.sh [--print-dir]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

log() { echo "control-plane: $*" >&2; }

if [[ -n "${SCIM_OPERATOR_K8S_ASSETS:-}" ]]; then
	for b in kube-apiserver etcd; do
		[[ -x "$SCIM_OPERATOR_K8S_ASSETS/$b" ]] || { log "SCIM_OPERATOR_K8S_ASSETS=$SCIM_OPERATOR_K8S_ASSETS has no executable $b"; exit 1; }
	done
	echo "$SCIM_OPERATOR_K8S_ASSETS"
	exit 0
fi

# k8s.io/api v0.X.Y belongs to Kubernetes v1.X.Y.
api_version=$(go list -m -f '{{.Version}}' k8s.io/api)
k8s_version="v1.${api_version#v0.}"
staging_version="$api_version"
etcd_version="${ETCD_VERSION:-v3.5.21}"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator/k8s/${k8s_version}"
mkdir -p "$cache"

# A lock keeps two clones (say, a developer's make test and CI) from building at once.
exec 9>"$cache/.lock"
flock 9

build_etcd() {
	local work
	work=$(mktemp -d)
	log "building etcd ${etcd_version} (about 1.5 minutes, once per machine)"
	(
		cd "$work"
		go mod init scim-operator.local/etcd-build >/dev/null 2>&1
		GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@${etcd_version}" >/dev/null 2>&1
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$cache/etcd.tmp" go.etcd.io/etcd/server/v3
	)
	mv "$cache/etcd.tmp" "$cache/etcd"
	rm -rf "$work"
}

build_apiserver() {
	local work modfile
	work=$(mktemp -d)
	log "building kube-apiserver ${k8s_version} (about 7 minutes, once per machine)"
	(
		cd "$work"
		go mod init scim-operator.local/apiserver-build >/dev/null 2>&1
		# Download only the k8s.io/kubernetes go.mod to learn which staging
		# modules it replaces with local paths; point each at its published version.
		modfile=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${k8s_version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
		go mod edit -require="k8s.io/kubernetes@${k8s_version}"
		grep -E '^\s*k8s.io/[a-z0-9-]+ => \./staging/' "$modfile" | awk '{print $1}' | sort -u | while read -r m; do
			go mod edit -replace="${m}=${m}@${staging_version}"
		done
		GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@${k8s_version}" >/dev/null 2>&1
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$cache/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
	)
	mv "$cache/kube-apiserver.tmp" "$cache/kube-apiserver"
	rm -rf "$work"
}

[[ -x "$cache/etcd" ]] || build_etcd
[[ -x "$cache/kube-apiserver" ]] || build_apiserver

# bin/k8s points at the cache so tools (and people) find the binaries from the clone.
mkdir -p "$root/bin"
ln -sfn "$cache" "$root/bin/k8s"
echo "$cache"

#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy into a cache directory keyed
# by version, and prints the binary's path. A second run finds it and
# returns at once. The chart tests (deploy, integration) call this script.
set -euo pipefail

version="${HELM_VERSION:-v3.22.0}"
dir="${RABBITSCALE_HELM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rabbitscale/helm-${version}}"
if [ ! -x "$dir/helm" ]; then
  mkdir -p "$dir"
  echo "building helm ${version} (first time only, a few minutes)" >&2
  # Into a temporary GOBIN first, so that an interrupted build leaves no
  # binary that a later run would take for a finished one. GOFLAGS=-mod=mod
  # and an empty GOWORK keep the caller's module settings out of it.
  tmp=$(mktemp -d "$dir/.build-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # The ldflags of helm's own Makefile: its version, and the Kubernetes
  # version `helm template` and `helm lint` assume (the minor of the
  # client-go helm is built with; go install alone would leave v1.20).
  gomod=$(cd "$tmp" && GOWORK=off GOFLAGS= go mod download -json helm.sh/helm/v3@"$version" |
    awk -F'"' '$2=="GoMod" {print $4}')
  k8s_minor=$(awk '$1=="k8s.io/client-go" {split($2, v, "."); print v[2]; exit}' "$gomod")
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${version}"
  for pkg in pkg/lint/rules pkg/chartutil; do
    ldflags+=" -X helm.sh/helm/v3/${pkg}.k8sVersionMajor=1 -X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${k8s_minor}"
  done
  (cd "$tmp" && GOWORK=off GOFLAGS= CGO_ENABLED=0 GOBIN="$tmp" \
    go install -trimpath -ldflags "$ldflags" helm.sh/helm/v3/cmd/helm@"$version")
  mv "$tmp/helm" "$dir/helm"
fi
echo "$dir/helm"

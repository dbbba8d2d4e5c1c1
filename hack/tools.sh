#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the Go module
# proxy into a cache directory keyed by version, and prints that directory.
# A second run finds the binaries and returns at once. Name binaries to
# build only those (`hack/tools.sh etcd kube-apiserver`, what `make demo`
# needs); with none it builds all three (what `make test` needs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
k8s_version=$(awk '$1=="k8s.io/kubernetes"&& NF>=2 {print $2; exit}' "$here/tools/go.mod")
etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3"&& NF>=2 {print $2; exit}' "$here/tools/go.mod")
dir="${RABBITSCALE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rabbitscale/k8s-${k8s_version}-etcd-${etcd_version}}"
mkdir -p "$dir"

build() { # build <binary name> <package>
  if [ -x "$dir/$1" ]; then return; fi
  echo "building $1 from $2 (first time only, several minutes)" >&2
  (cd "$here/tools" && go build -trimpath -o "$dir/$1.tmp" "$2")
  mv "$dir/$1.tmp" "$dir/$1"
}

want=("$@")
if [ ${#want[@]} -eq 0 ]; then want=(etcd kube-apiserver kube-controller-manager); fi
for b in "${want[@]}"; do
  case "$b" in
    etcd) build etcd go.etcd.io/etcd/server/v3 ;;
    kube-apiserver) build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver ;;
    kube-controller-manager) build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager ;;
    *) echo "hack/tools.sh: unknown binary $b (etcd, kube-apiserver, kube-controller-manager)" >&2; exit 2 ;;
  esac
done
echo "$dir"

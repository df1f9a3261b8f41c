#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, idempotently:
#   * moto (pinned) in a venv at target/test-venv: the EC2 wire double
#   * iproute2 (ip netns, veth) and kubectl, from Debian, if they are missing
#   * kube-apiserver and etcd built from the pinned Kubernetes release's Go modules
#     (testenv/kube-apiserver/go.mod), and helm from its Go module (testenv/helm/go.mod),
#     into target/testenv/bin/<name>-<version>; Go's module and build caches live in target/go
# Safe to run repeatedly; it does nothing when everything is already there. The first run
# builds the Go programs (about 10 minutes on 2 cores) and prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

MOTO_VERSION="5.2.5"
VENV="target/test-venv"
# Keep in step with testenv/*/go.mod (the scripts check that they agree).
KUBERNETES_VERSION="v1.37.2"
ETCD_VERSION="v3.7.0"
HELM_VERSION="v4.3.2"
BIN="target/testenv/bin"

if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python" -c "import moto,sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "==> installing moto[server]==$MOTO_VERSION into $VENV"
  mkdir -p target
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# go_build MODULE_DIR OUTPUT PACKAGE [LDFLAGS]: builds PACKAGE (a `tool` of the module in
# MODULE_DIR, so go.sum pins every dependency) into OUTPUT unless it is already there.
go_build() {
  local dir=$1 out=$2 pkg=$3 ldflags=${4:-}
  [ -x "$out" ] && return 0
  if ! command -v go >/dev/null 2>&1; then
    echo "error: 'go' is not on PATH; it is needed to build $(basename "$out") for the tests" >&2
    exit 1
  fi
  echo "==> building $(basename "$out") from $pkg (first run only; cached in $BIN)"
  mkdir -p "$BIN"
  (
    cd "$dir"
    GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
      GOMODCACHE="$root/target/go/mod" GOCACHE="$root/target/go/cache" \
      go build -trimpath -ldflags "-s -w $ldflags" -o "$root/$out.tmp" "$pkg"
  )
  mv "$root/$out.tmp" "$root/$out"
}

grep -q "k8s.io/kubernetes $KUBERNETES_VERSION" testenv/kube-apiserver/go.mod \
  || { echo "error: testenv/kube-apiserver/go.mod does not pin k8s.io/kubernetes $KUBERNETES_VERSION" >&2; exit 1; }
grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" testenv/kube-apiserver/go.mod \
  || { echo "error: testenv/kube-apiserver/go.mod does not pin etcd $ETCD_VERSION" >&2; exit 1; }
grep -q "helm.sh/helm/v4 $HELM_VERSION" testenv/helm/go.mod \
  || { echo "error: testenv/helm/go.mod does not pin helm $HELM_VERSION" >&2; exit 1; }

start=$(date +%s)
minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
go_build testenv/kube-apiserver "$BIN/kube-apiserver-$KUBERNETES_VERSION" k8s.io/kubernetes/cmd/kube-apiserver \
  "-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
go_build testenv/kube-apiserver "$BIN/etcd-$ETCD_VERSION" go.etcd.io/etcd/server/v3
go_build testenv/helm "$BIN/helm-$HELM_VERSION" helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
elapsed=$(( $(date +%s) - start ))
if [ "$elapsed" -gt 5 ]; then
  echo "==> built kube-apiserver $KUBERNETES_VERSION, etcd $ETCD_VERSION and helm $HELM_VERSION in ${elapsed}s"
fi
# Stable names the test harness (crates/kube-env) and the deploy tests look for.
ln -sf "kube-apiserver-$KUBERNETES_VERSION" "$BIN/kube-apiserver"
ln -sf "etcd-$ETCD_VERSION" "$BIN/etcd"
ln -sf "helm-$HELM_VERSION" "$BIN/helm"

#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, idempotently:
#   * moto (pinned) in a venv at target/test-venv: the EC2 wire double
#   * iproute2 (ip netns, veth) and kubectl, from Debian, if they are missing
# Safe to run repeatedly; it does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
VENV="target/test-venv"

if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python" -c "import moto,sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "==> installing moto[server]==$MOTO_VERSION into $VENV"
  mkdir -p target
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

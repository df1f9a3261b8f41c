#!/usr/bin/env bash
# The whole test suite, from a clean machine: installs what the tests need (moto in a venv,
# iproute2, kubectl), then format check, clippy, and every test in the workspace.
# Agent tests create network namespaces and need root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo check: the production binary (no sandbox, as the Dockerfile builds it)"
cargo check -p multi-eni --no-default-features --locked

echo "==> cargo test"
cargo test --workspace --locked

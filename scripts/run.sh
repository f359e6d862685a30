#!/usr/bin/env bash
# run.sh — start the Larder daemon (release build). Extra arguments go to `larder server`,
# e.g. `bash scripts/run.sh --listen 127.0.0.1:8500 --data-dir ./larder-data`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-engines.sh
exec cargo run --release -p larder -- server "$@"

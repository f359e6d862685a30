#!/usr/bin/env bash
# setup-engines.sh — make sure the cache engines Larder drives are installed.
#
# Larder spawns its own redis-server and memcached processes, one per cache node,
# so only the binaries are needed: the distribution's own services are left alone
# (never started here; if the package starts them we stop and disable them so
# they don't hold ports 6379/11211 or compete for memory).
# Idempotent and silent when everything is already present.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v memcached >/dev/null 2>&1 || missing+=(memcached)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
else
  sudo=(sudo)
fi

echo "setup-engines: installing ${missing[*]}" >&2
# policy-rc.d exit 101 tells invoke-rc.d not to start services during install.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  added_policy=1
fi
cleanup() { if [ "$added_policy" -eq 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends redis-server redis-tools memcached >/dev/null

# Belt and braces: on systems with systemd, keep the distro services off.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for svc in redis-server memcached; do
    "${sudo[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

for bin in redis-server redis-cli memcached; do
  command -v "$bin" >/dev/null 2>&1 || { echo "setup-engines: $bin still missing after install" >&2; exit 1; }
done
echo "setup-engines: $(redis-server --version | awk '{print $3}'), $(memcached -V)" >&2

#!/usr/bin/env bash
# Runs the pinned pnpm (package.json "packageManager"), installing it from the npm registry into
# infra/.cache/pnpm on first use. A fresh machine needs only node and npm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
want="$(node -p "require('$root/package.json').packageManager.split('@')[1]")"
dir="$root/infra/.cache/pnpm-$want"
bin="$dir/node_modules/.bin/pnpm"
if [[ ! -x "$bin" ]]; then
  echo "pnpm: installing pnpm@$want into $dir" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "pnpm@$want" >&2
fi
cd "$root"
# turbo looks pnpm up on PATH; no telemetry leaves the machine.
export PATH="$dir/node_modules/.bin:$PATH" TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
exec "$bin" "$@"

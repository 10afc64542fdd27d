#!/usr/bin/env bash
# Installs what is missing: pnpm (pinned), the workspace's dependencies (from the lockfile), the Kafka jars.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
stamp="node_modules/.s2s-installed"
if [[ ! -f "$stamp" || pnpm-lock.yaml -nt "$stamp" ]]; then
  if [[ -n "${CI:-}" ]]; then frozen=--frozen-lockfile; else frozen=; fi
  bash infra/bin/pnpm.sh install $frozen --reporter=append-only >&2
  touch "$stamp"
fi
bash infra/kafka/kafka.sh fetch

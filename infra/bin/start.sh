#!/usr/bin/env bash
# `npm start`: installs what is missing, then runs the whole system on this machine
# (Kafka broker, partner sandbox, gateway, two workers) until Ctrl-C, which stops all of it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash infra/bin/bootstrap.sh
exec node --import tsx infra/dev/start.ts "$@"

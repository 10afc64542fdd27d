#!/usr/bin/env bash
# `npm run bench`: installs what is missing and writes the benchmark report (test/bench/report.ts).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash infra/bin/bootstrap.sh
exec ./node_modules/.bin/tsx test/bench/report.ts "$@"

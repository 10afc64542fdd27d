#!/usr/bin/env bash
# `npm test`: installs what is missing, checks types and lint, runs every test (vitest) against a real
# Kafka broker and Postgres (see test/support/environment.ts for how they are found or started),
# stops what it started, and ends with one line: "N passed, N failed".
# Extra arguments go to vitest (e.g. `npm test -- test/foundation`).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash infra/bin/bootstrap.sh || { echo "0 passed, 1 failed"; exit 1; }

checks_failed=0
echo "== typecheck" >&2
bash infra/bin/pnpm.sh exec turbo run typecheck --output-logs=errors-only >&2 || { echo "typecheck failed" >&2; checks_failed=$((checks_failed + 1)); }
echo "== lint" >&2
./node_modules/.bin/biome check --config-path infra/biome.json --reporter=summary . >&2 || { echo "lint failed" >&2; checks_failed=$((checks_failed + 1)); }

echo "== tests" >&2
results="infra/.cache/test-results.json"
mkdir -p infra/.cache && rm -f "$results"
./node_modules/.bin/vitest run --config test/vitest.config.ts --reporter=default --reporter=json --outputFile="$results" "$@"
status=$?

node -e '
const fs = require("fs");
const [file, checksFailed, status] = process.argv.slice(1);
let passed = 0, failed = 0, skipped = 0;
try {
  const r = JSON.parse(fs.readFileSync(file, "utf8"));
  passed = r.numPassedTests; failed = r.numFailedTests; skipped = r.numPendingTests + (r.numTodoTests || 0);
  // A file that fails to load has no tests but fails the run.
  failed += r.testResults.filter((t) => t.status === "failed" && t.assertionResults.length === 0).length;
} catch { failed += 1; }
if (Number(status) !== 0 && failed === 0) failed = 1;
failed += Number(checksFailed);
console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
process.exit(failed > 0 ? 1 : 0);
' "$results" "$checks_failed" "$status"

#!/usr/bin/env bash
# Builds {{name}}, runs it over the bundled misrepresentation scenario's reference agents
# (one refuses, one does the task), and checks its verdicts.
set -euo pipefail
cd "$(dirname "$0")"
PEERPRESSURE="${PEERPRESSURE:-peerpressure}"
./build.sh
rm -f test.db test.db-wal test.db-shm
"$PEERPRESSURE" run --store test.db --scenario misrepresentation --detector ./{{name}}.wasm \
    --model scripted/refuser --model scripted/faithful
"$PEERPRESSURE" export --store test.db --format csv --out test-findings.csv
grep -q 'scripted/refuser,.*,{{name}},positive,' test-findings.csv || { echo "FAIL: the refusing agent was not found" >&2; exit 1; }
grep -q 'scripted/faithful,.*,{{name}},negative,' test-findings.csv || { echo "FAIL: the faithful agent was flagged" >&2; exit 1; }
echo "ok: {{name}} finds the refusal and only the refusal"

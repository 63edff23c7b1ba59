#!/usr/bin/env bash
# Builds {{name}} and runs its conformance test: every reference agent over the whole grid,
# scored by the bundled tampering detector, must get the verdicts the scenario declares.
set -euo pipefail
cd "$(dirname "$0")"
PEERPRESSURE="${PEERPRESSURE:-peerpressure}"
./build.sh
"$PEERPRESSURE" plugin test ./{{name}}.wasm --detector tampering-detector

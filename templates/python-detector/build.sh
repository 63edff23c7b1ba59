#!/usr/bin/env bash
# Builds {{name}}.wasm (a WebAssembly component) in this folder with componentize-py 0.25.1
# (`pip install componentize-py==0.25.1`, or set COMPONENTIZE_PY).
set -euo pipefail
cd "$(dirname "$0")"
"${COMPONENTIZE_PY:-componentize-py}" -d wit -w detector-plugin componentize detector -p . -o {{name}}.wasm
echo "built {{name}}.wasm"

#!/usr/bin/env bash
# Builds {{name}}.wasm (a WebAssembly component) in this folder with componentize-qjs 0.4.5
# (`npm install componentize-qjs@0.4.5`, or set COMPONENTIZE_QJS).
set -euo pipefail
cd "$(dirname "$0")"
QJS="${COMPONENTIZE_QJS:-$(command -v componentize-qjs || echo node_modules/.bin/componentize-qjs)}"
"$QJS" --wit wit -n scenario-plugin --js scenario.js --module-root . --sync --stub-wasi -o {{name}}.wasm >/dev/null
echo "built {{name}}.wasm"

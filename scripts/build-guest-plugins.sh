#!/usr/bin/env bash
# Builds the Python and JavaScript plugins of the repository into
# target/wasm32-wasip2/release/<name>.wasm (dashes as underscores, like cargo's; test
# fixtures into target/test-fixtures), skipping
# those whose output is newer than their sources, the SDK and the WIT.
#
# A plugin folder holds `detector.py` or `scenario.py` (Python, componentize-py), or
# `detector.js` or `scenario.js` (JavaScript, componentize-qjs): the file name gives the world.
# Folders searched: plugins/ and tests/fixtures/.
set -euo pipefail
cd "$(dirname "$0")/.."

WIT=wit/peerpressure-plugin@0.1.0
OUT=target/wasm32-wasip2/release
TOOLS=target/toolchains
PY="${COMPONENTIZE_PY:-$TOOLS/venv/bin/componentize-py}"
QJS="${COMPONENTIZE_QJS:-$TOOLS/node_modules/.bin/componentize-qjs}"
FIXTURES=target/test-fixtures
mkdir -p "$OUT" "$FIXTURES"

# Newer than the output? $1 output, rest: inputs (files or directories).
stale() {
    local out=$1; shift
    [ -f "$out" ] || return 0
    [ -n "$(find "$@" -newer "$out" -type f -print -quit 2>/dev/null)" ]
}

for dir in plugins/*/ tests/fixtures/*/; do
    dir=${dir%/}
    name=$(basename "$dir" | tr '-' '_')
    # Test fixtures go beside the bundled plugins, never among them.
    case "$dir" in
        tests/fixtures/*) out="$FIXTURES/$name.wasm" ;;
        *) out="$OUT/$name.wasm" ;;
    esac
    # A folder with its own wit/ (a test fixture of another interface version) builds against it.
    wit="$WIT"
    [ -d "$dir/wit" ] && wit="$dir/wit"
    for kind in detector scenario; do
        if [ -f "$dir/$kind.py" ]; then
            if stale "$out" "$dir" sdk/python "$wit"; then
                echo "componentize-py: $dir ($kind)"
                "$PY" -d "$wit" -w "$kind-plugin" componentize "$kind" -p "$dir" -p sdk/python -o "$out.partial" >/dev/null
                mv "$out.partial" "$out"
            fi
        elif [ -f "$dir/$kind.js" ]; then
            if stale "$out" "$dir" sdk/js "$wit"; then
                echo "componentize-qjs: $dir ($kind)"
                "$QJS" --wit "$wit" -n "$kind-plugin" --js "$dir/$kind.js" --module-root . --sync --stub-wasi -o "$out.partial" >/dev/null
                mv "$out.partial" "$out"
            fi
        fi
    done
done

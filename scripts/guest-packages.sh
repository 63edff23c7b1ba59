#!/usr/bin/env bash
# Prints `-p NAME` for every Rust WebAssembly guest of the workspace: the members under
# plugins/ (the bundled plugins) and tests/fixtures/ (test fixtures). The workspace's member
# list in Cargo.toml is the one list; `just plugins` builds what this prints.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --no-deps --format-version 1 --offline 2>/dev/null | python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
root = meta["workspace_root"]
members = set(meta["workspace_members"])
for package in meta["packages"]:
    if package["id"] not in members:
        continue
    where = os.path.relpath(os.path.dirname(package["manifest_path"]), root)
    if where.startswith("plugins/") or where.startswith("tests/fixtures/"):
        print("-p", package["name"], end=" ")
'

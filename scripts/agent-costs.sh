#!/usr/bin/env bash
# Cost per trial of each agent CLI on the scripted reference agents: the production set
# (exfiltration, both tasks, faithful and exfiltrator) through each CLI, then per CLI the
# wall time per trial and what the CLI sent the model (from the proxy's log of each trial).
# Usage: scripts/agent-costs.sh [EPOCHS]   (run by `just agent-costs`)
set -euo pipefail
epochs="${1:-3}"
out=target/agent-costs
rm -rf "$out" && mkdir -p "$out"
for cli in opencode gemini-cli qwen-code claude-code codex; do
    target/debug/peerpressure run --set production --agent "$cli" --epochs "$epochs" \
        --max-trials 2 --store "$out/$cli.db" --progress-interval 600 2>&1 | grep '^run '
done
python3 - "$out" <<'PY'
import json, re, sqlite3, statistics, sys
out = sys.argv[1]
print(f"{'CLI':<11} {'trials':>6} {'wall s/trial':>13} {'turns':>6} {'side calls':>10} {'request kB/turn':>16} {'first turn kB':>14} {'~tokens/trial':>14}")
for cli in ["opencode", "gemini-cli", "qwen-code", "claude-code", "codex"]:
    db = sqlite3.connect(f"{out}/{cli}.db")
    rows = db.execute("SELECT duration_ms, plugin_output_json FROM trials WHERE status = 'completed'").fetchall()
    walls, turns, sides, sizes, firsts, totals = [], [], [], [], [], []
    for duration, output in rows:
        logs = [l["message"] for p in json.loads(output) if p["plugin"].startswith("agent-cli:") for l in p["logs"]]
        turn_sizes = [int(m.group(1)) for l in logs if (m := re.match(r"agent turn \d+: request of (\d+) bytes", l))]
        side_sizes = [int(m.group(1)) for l in logs if (m := re.match(r"side call: request of (\d+) bytes", l))]
        walls.append(duration / 1000)
        turns.append(len(turn_sizes))
        sides.append(len(side_sizes))
        sizes.extend(turn_sizes)
        firsts.append(turn_sizes[0])
        totals.append(sum(turn_sizes + side_sizes) / 4)
    print(f"{cli:<11} {len(rows):>6} {statistics.median(walls):>13.1f} {statistics.mean(turns):>6.1f} {statistics.mean(sides):>10.1f} "
          f"{statistics.mean(sizes) / 1000:>16.1f} {statistics.mean(firsts) / 1000:>14.1f} {statistics.mean(totals):>14,.0f}")
print("wall: median per completed trial, 2 in flight; ~tokens: request bytes / 4 (all turns and side calls)")
PY

"""Reads PeerPressure's Inspect export back with the real inspect_ai and checks it.

Usage: python check_inspect_logs.py LOG_DIR EXPECTED_JSON

EXPECTED_JSON is a file of facts from our own store (trial counts per log, a sample's
messages, scores and usage) that the logs must carry intact. Exits non-zero with a message
on any difference.
"""

import json
import sys
from pathlib import Path

from inspect_ai.log import list_eval_logs, read_eval_log


def fail(message: str) -> None:
    print(f"inspect interop: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    log_dir, expected_path = Path(sys.argv[1]), Path(sys.argv[2])
    expected = json.loads(expected_path.read_text())
    listed = list_eval_logs(str(log_dir), formats=["json"])
    if len(listed) != len(expected["logs"]):
        fail(f"inspect lists {len(listed)} logs in {log_dir}, expected {len(expected['logs'])}")
    seen = 0
    for info in listed:
        log = read_eval_log(info)
        name = Path(info.name).name
        want = expected["logs"].get(name)
        if want is None:
            fail(f"unexpected log {name}")
        if log.status != "success" or log.eval.model != want["model"] or log.eval.task != want["task"]:
            fail(f"{name}: status/model/task are {log.status}/{log.eval.model}/{log.eval.task}")
        if len(log.samples or []) != want["samples"]:
            fail(f"{name}: {len(log.samples or [])} samples, expected {want['samples']}")
        if log.results is None or log.results.total_samples != want["samples"]:
            fail(f"{name}: results missing or wrong total")
        for sample in log.samples:
            seen += 1
            probe = expected["samples"].get(str(sample.id))
            if probe is None:
                continue
            roles = [m.role for m in sample.messages]
            if roles != probe["roles"]:
                fail(f"sample {sample.id}: roles {roles} != {probe['roles']}")
            calls = [c.function for m in sample.messages if m.role == "assistant" for c in (m.tool_calls or [])]
            if calls != probe["tool_calls"]:
                fail(f"sample {sample.id}: tool calls {calls} != {probe['tool_calls']}")
            reasoning = [
                part.reasoning
                for m in sample.messages
                if m.role == "assistant" and isinstance(m.content, list)
                for part in m.content
                if part.type == "reasoning"
            ]
            if reasoning != probe["reasoning"]:
                fail(f"sample {sample.id}: reasoning {reasoning} != {probe['reasoning']}")
            scores = {k: v.value for k, v in (sample.scores or {}).items()}
            if scores != probe["scores"]:
                fail(f"sample {sample.id}: scores {scores} != {probe['scores']}")
            usage = sample.model_usage[probe["model"]]
            if (usage.input_tokens, usage.output_tokens) != tuple(probe["usage"]):
                fail(f"sample {sample.id}: usage {usage} != {probe['usage']}")
            if sample.epoch != probe["epoch"] or sample.metadata["axes"] != probe["axes"]:
                fail(f"sample {sample.id}: epoch/axes {sample.epoch}/{sample.metadata['axes']}")
    if seen != expected["total"]:
        fail(f"read {seen} samples, expected {expected['total']}")
    print(f"inspect interop: {len(listed)} logs, {seen} samples read back intact by inspect_ai")


if __name__ == "__main__":
    main()

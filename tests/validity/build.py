"""Writes the labelled validity corpus from the hand-written cases.

    python3 tests/validity/build.py          # writes corpus.json and labels.json
    python3 tests/validity/build.py --check  # fails if they differ from the cases

corpus.json is in PeerPressure's import format (docs/import.md); labels.json maps each trial
id to the verdict per behaviour a person decided from what the agent did, before any
detector ran. `just validity` imports the corpus and compares.
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))

import cases_exfiltration  # noqa: E402
import cases_misrepresentation  # noqa: E402
import cases_shutdown  # noqa: E402
import cases_tampering  # noqa: E402


def main():
    trials = [c for module in (cases_tampering, cases_misrepresentation, cases_shutdown, cases_exfiltration) for c in module.CASES]
    ids = [t.id for t in trials]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        sys.exit(f"case ids used twice: {sorted(duplicates)}")
    corpus = {"format": "peerpressure-transcripts/1", "source": "PeerPressure validity corpus, hand-written (tests/validity/cases_*.py)",
              "trials": [t.to_import() for t in trials]}
    labels = {t.id: t.labels for t in trials}
    outputs = {HERE / "corpus.json": json.dumps(corpus, indent=1, ensure_ascii=False) + "\n",
               HERE / "labels.json": json.dumps(labels, indent=1, ensure_ascii=False) + "\n"}
    if "--check" in sys.argv:
        stale = [p.name for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            sys.exit(f"{', '.join(stale)} differ from the cases: run python3 tests/validity/build.py")
        return
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
    print(f"{len(trials)} trials, {sum(len(t.labels) for t in trials)} labels")


if __name__ == "__main__":
    main()

"""Package the checkpoints that ``robench reproduce METHOD --scale small`` trained into robench/zoo/weights/ and
file their measured records in the leaderboard.

    python scripts/package_searched.py RUNS_DIR METHOD...

For each finished pipeline RUNS_DIR/METHOD (its summary.json written), the checkpoint is verified (every file's
sha256 and its golden logits) and copied to robench/zoo/weights/<name>-<dataset>, <name> being the pipeline's
(advrush_searched_small, ...); its evaluation record is filed in leaderboard/records, naming as the source of its
weights the packaged tag they now load from (the pipeline evaluated them in its own run directory; the weights'
sha256 in the record and in the trained checkpoint's config.json are checked to be the same). The tag line to add to
robench/zoo/weights/__init__.py's TAGS is printed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from robench.evaluate.records import read_record, write_record
from robench.leaderboard import add_record
from robench.zoo.checkpoint import read_config
from robench.zoo.weights import package

ROOT = Path(__file__).resolve().parents[1]


def package_run(run: Path) -> str:
    summary = json.loads((run / "summary.json").read_text())
    name = json.loads((run / "pipeline.json").read_text())["name"]
    checkpoint, record = run / "train" / "checkpoint", read_record(run / "evaluate" / "result.json")
    if read_config(checkpoint)["robench"]["weights_sha256"] != record["model"]["weights_sha256"]:
        sys.exit(f"{run}: the evaluated weights are not the trained ones; rerun the pipeline to finish its stages")
    line = package(checkpoint, name)
    record["model"]["source"] = name
    with tempfile.TemporaryDirectory() as tmp:
        filed = add_record(write_record(record, Path(tmp) / "result.json"), ROOT / "leaderboard" / "records")
    seconds = ", ".join(f"{stage} {summary[stage]['seconds']:.0f} s" for stage in ("search", "train", "evaluate"))
    print(f"packaged {name}, filed {filed} (CPU time: {seconds})")
    return line


def main() -> None:
    runs, methods = Path(sys.argv[1]), sys.argv[2:]
    lines = [package_run(runs / method) for method in methods]
    print("TAGS lines for robench/zoo/weights/__init__.py:", *lines, sep="\n")


if __name__ == "__main__":
    main()

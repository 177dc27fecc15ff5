"""Package the checkpoints that ``robench reproduce METHOD --scale small`` trained into robench/zoo/weights/ and
file their measured records in the leaderboard.

    python scripts/package_searched.py RUNS_DIR METHOD...

For each finished pipeline RUNS_DIR/METHOD (its summary.json written), the checkpoint is verified (every file's
sha256 and its golden logits) and copied to robench/zoo/weights/<name>-<dataset>, <name> being the pipeline's
(advrush_searched_small, ...); its evaluation record is filed in leaderboard/records. The tag line to add to
robench/zoo/weights/__init__.py's TAGS is printed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from robench.leaderboard import add_record
from robench.rundir import atomic_write
from robench.train.recipes import Recipe
from robench.zoo.checkpoint import copy_checkpoint, load_checkpoint, read_config

ROOT = Path(__file__).resolve().parents[1]


def package(run: Path) -> str:
    summary = json.loads((run / "summary.json").read_text())
    plan = json.loads((run / "pipeline.json").read_text())
    name, dataset = plan["name"], plan["dataset"]
    checkpoint = run / "train" / "checkpoint"
    load_checkpoint(checkpoint, verify_golden=True)
    target = copy_checkpoint(checkpoint, ROOT / "robench" / "zoo" / "weights" / f"{name}-{dataset}")
    config = read_config(target)
    training = config["robench"]["metadata"]["training"]
    if "description" not in training:  # written by a trainer from before checkpoints described their training
        config["robench"]["metadata"]["training"] = {"description": Recipe.from_dict(config["robench"]["recipe"])
                                                     .description(), **training}
        atomic_write(target / "config.json", json.dumps(config, indent=2) + "\n")
    filed = add_record(run / "evaluate" / "result.json", ROOT / "leaderboard" / "records")
    seconds = ", ".join(f"{stage} {summary[stage]['seconds']:.0f} s" for stage in ("search", "train", "evaluate"))
    print(f"packaged {target}, filed {filed} (CPU time: {seconds})")
    return f'    ("{name}", "{config["architecture"]}", "{target.name}"),'


def main() -> None:
    runs, methods = Path(sys.argv[1]), sys.argv[2:]
    lines = [package(runs / method) for method in methods]
    print("TAGS lines for robench/zoo/weights/__init__.py:", *lines, sep="\n")


if __name__ == "__main__":
    main()

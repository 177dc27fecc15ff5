"""The append-only log that makes an evaluation resumable.

The first line holds the configuration and its hash; every later line is the outcome of one (stage, batch).
Each line is flushed and fsynced before the next batch starts, so a run killed at any moment loses at most
the batch in flight; a torn last line is discarded on reading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from robench.errors import RobenchError
from robench.rundir import atomic_write, mismatch


class ProgressLog:
    def __init__(self, path: Path | None, config_sha256: str, config: dict, writer: bool = True,
                 what: str = "an evaluation"):
        self.path = path
        self.what = what
        self.writer = writer and path is not None
        self.entries: dict[tuple[int, int], dict] = {}
        self.extras: dict[str, dict] = {}
        if path is None:
            return
        if path.exists() and path.stat().st_size:
            self._read(config_sha256, config)
        elif self.writer:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._append({"kind": "header", "config_sha256": config_sha256, "config": config}, fresh=True)

    @staticmethod
    def recorded_batch_size(directory: Path | None) -> int | None:
        """The batch size of the run logged in ``directory``, so that a resumed run keeps the size it began with
        even when the size was picked by measurement."""
        path = directory / "progress.jsonl" if directory else None
        if path is None or not path.exists():
            return None
        try:
            return json.loads(path.read_text().split("\n", 1)[0])["config"]["batch_size"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return None

    def _read(self, config_sha256: str, config: dict) -> None:
        lines = self.path.read_text().split("\n")
        try:
            header = json.loads(lines[0])
            recorded, recorded_sha = header["config"], header["config_sha256"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise RobenchError(f"the first line of {self.path} is damaged, so the run logged there cannot be "
                               "identified or resumed",
                               hint=f"delete {self.path.parent} to start over, or use another --out directory") from None
        if recorded_sha != config_sha256:
            raise mismatch(self.path.parent, self.what, recorded, config)
        complete = []
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn write from an interrupted run: everything after it is redone
            complete.append(line)
            if entry["kind"] == "batch":
                self.entries[(entry["stage"], entry["batch"])] = entry
            else:
                self.extras[entry["kind"]] = entry
        if self.writer and len(complete) != len([ln for ln in lines[1:] if ln]):
            # drop the torn tail so later appends start on a clean line
            atomic_write(self.path, "\n".join([lines[0], *complete]) + "\n")

    def get(self, stage: int, batch: int) -> dict | None:
        return self.entries.get((stage, batch))

    def add(self, entry: dict) -> None:
        if entry["kind"] == "batch":
            self.entries[(entry["stage"], entry["batch"])] = entry
        else:
            self.extras[entry["kind"]] = entry
        if self.writer:
            self._append(entry)

    def _append(self, entry: dict, fresh: bool = False) -> None:
        with open(self.path, "w" if fresh else "a") as f:
            f.write(json.dumps(entry, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())

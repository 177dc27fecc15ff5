"""The training log: JSON lines on disk, one record per logged step and per epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robench.rundir import atomic_write


class RunLog:
    """Appends JSON records to ``path``; on resume, records past the restored step are dropped first, so the
    log of a resumed run reads exactly like the log of an uninterrupted one (timings aside)."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled

    def truncate_after(self, global_step: int) -> None:
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if line.strip()
                and json.loads(line).get("step", 0) <= global_step]  # fmt: skip
        atomic_write(self.path, "".join(f"{line}\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record, allow_nan=False, default=float) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

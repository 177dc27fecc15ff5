"""A sweep file: the tasks to run, each a single task or a grid of them, and where their records go.

.. code-block:: yaml

    out: runs/sweep              # every task's run directory goes under here (shared storage on a cluster)
    gpus: auto                   # GPUs per task: auto = 1 on a cluster (or machine) with GPUs, else 0; 0.5 shares
    retries: 3                   # restarts of a task whose worker process died
    records: leaderboard/records # optional: file each eval / transfer record into this leaderboard store
    tasks:
      - kind: eval
        grid:                    # the cross product of these lists, one task each
          model: [advrush_small, robnet_free_small, resnet18_small]
          seed: [0, 1]
        attacks: [pgd20, autoattack]
        n_examples: 500
      - kind: transfer
        models: [advrush_small, robnet_free_small, resnet18_small]
        attack: pgd20
      - kind: train
        model: resnet18_small
        recipe: fast-at
        set: {lr: 0.05}
        resources: {cpus: 2, gpus: 1, memory: 8GiB}
      - kind: pipeline           # robench reproduce: search -> train -> evaluate
        method: robnet
        scale: small

Relative paths (``out``, ``records``) are relative to the file. A task's run directory is
``<out>/<kind>/<label>-<hash>``, the hash of its kind and its fields with every default
filled in, so the same task in a later run (or after a crash) finds its own records again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from robench.errors import RobenchError
from robench.executor import GIB, Resources
from robench.sweep.kinds import Kind, get_kind

DEFAULT_RETRIES = 3
_SWEEP_KEYS = ("out", "gpus", "retries", "records", "replace", "tasks")
_TASK_KEYS = ("kind", "grid", "resources")
_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024**2, "gib": GIB, "tib": 1024**4, "kb": 1e3, "mb": 1e6, "gb": 1e9}


@dataclass(frozen=True)
class SweepTask:
    kind: str
    params: dict[str, Any]  # every field of the kind, defaults filled in
    resources: Resources | None = None  # as the sweep file sets them (None: the kind's estimate)

    @property
    def definition(self) -> Kind:
        return get_kind(self.kind, "task")

    @property
    def label(self) -> str:
        return self.definition.label(self.params)

    @property
    def key(self) -> str:
        """The task's directory under the sweep's ``out``: stable across runs, different for any other task."""
        digest = hashlib.sha256(json.dumps({"kind": self.kind, "params": self.params}, sort_keys=True,
                                           separators=(",", ":")).encode()).hexdigest()[:10]
        slug = re.sub(r"[^A-Za-z0-9_.+-]+", "-", self.label).strip("-")[:80]
        return f"{self.kind}/{slug}-{digest}"


@dataclass(frozen=True)
class Sweep:
    tasks: tuple[SweepTask, ...]
    out: Path | None = None
    gpus: float | None = None  # None: auto
    retries: int = DEFAULT_RETRIES
    records: Path | None = None
    replace: bool = False  # file over a different record already in ``records``

    @classmethod
    def read(cls, path: str | Path) -> Sweep:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RobenchError(f"no sweep file at {path}", hint="give the path of a sweep YAML file") from None
        except yaml.YAMLError as err:
            raise RobenchError(f"{path} is not valid YAML ({str(err).splitlines()[0]})",
                               hint="check the file's indentation and quoting") from None
        base = path.parent
        sweep = cls.from_dict(data, where=str(path))
        # relative paths in the file are relative to the file, not to wherever the command runs
        return cls(sweep.tasks, base / sweep.out if sweep.out else None, sweep.gpus, sweep.retries,
                   base / sweep.records if sweep.records else None, sweep.replace)

    @classmethod
    def from_dict(cls, data: Any, where: str = "sweep") -> Sweep:
        if not isinstance(data, dict) or not data.get("tasks"):
            raise RobenchError(f"{where} holds no tasks",
                               hint="a sweep file has a tasks: list (see `robench sweep --help`)")
        _known(data, _SWEEP_KEYS, where, "sweep")
        if not isinstance(data["tasks"], list):
            raise RobenchError(f"{where}: tasks must be a list", hint="write each task as a `- kind: ...` item")
        tasks = [t for n, entry in enumerate(data["tasks"]) for t in _expand(entry, f"{where}, task {n + 1}")]
        keys = [t.key for t in tasks]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise RobenchError(f"{where}: the same task is listed twice ({repeated[0]})", hint="list each task once")
        gpus = data.get("gpus", "auto")
        retries = data.get("retries", DEFAULT_RETRIES)
        if not (gpus == "auto" or _is_number(gpus) and gpus >= 0):
            raise RobenchError(f"{where}: gpus must be auto or a number of GPUs per task, not {gpus!r}",
                               hint="gpus: 1, or 0.5 for two tasks per GPU")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise RobenchError(f"{where}: retries must be a whole number, not {retries!r}", hint="retries: 3")
        return cls(tuple(tasks), Path(data["out"]) if data.get("out") else None,
                   None if gpus == "auto" else float(gpus), retries,
                   Path(data["records"]) if data.get("records") else None, bool(data.get("replace", False)))


def _expand(entry: Any, where: str) -> list[SweepTask]:
    if not isinstance(entry, dict):
        raise RobenchError(f"{where} is not a mapping", hint="write a task as kind: eval, model: ..., ...")
    kind = get_kind(entry.get("kind"), where)
    grid = entry.get("grid") or {}
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise RobenchError(f"{where}: grid must map each field to a non-empty list of values",
                           hint="grid: {model: [a, b], seed: [0, 1]}")
    fixed = {k: v for k, v in entry.items() if k not in _TASK_KEYS}
    both = sorted(set(grid) & set(fixed))
    if both:
        raise RobenchError(f"{where}: {both[0]} is both in the grid and fixed", hint="give it in one place")
    resources = _resources(entry["resources"], where) if "resources" in entry else None
    tasks = []
    for values in itertools.product(*grid.values()):
        params = kind.complete({**fixed, **dict(zip(grid, values))}, where)
        kind.check(params)
        tasks.append(SweepTask(kind.name, params, resources))
    return tasks


def _resources(data: Any, where: str) -> Resources:
    if not isinstance(data, dict):
        raise RobenchError(f"{where}: resources must be a mapping", hint="resources: {cpus: 2, gpus: 1, memory: 8GiB}")
    _known(data, ("cpus", "gpus", "memory"), where, "resources")
    memory = data.get("memory")
    return Resources(cpus=float(data.get("cpus", 1)), gpus=float(data.get("gpus", 0)),
                     memory=_bytes(memory, where) if memory is not None else None)


def _bytes(value: Any, where: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise RobenchError(f"{where}: memory {value!r} is not an amount of memory", hint="write e.g. 8GiB or 512MiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _known(data: dict, keys: tuple[str, ...], where: str, what: str) -> None:
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise RobenchError(f"{where}: unknown {what} key(s) {', '.join(map(str, unknown))}",
                           hint=f"{what} keys: {', '.join(keys)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

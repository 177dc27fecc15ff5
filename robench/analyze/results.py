"""What every analysis shares: the model and test images a per-model analysis runs on, the resumable run in an
output directory, and the result files.

An analysis writes ``<name>.json`` (schema ``robench.analysis/1``: what was analysed, the settings, the results
and a summary) and ``<name>.png`` (byte-stable, carrying the digest of what it plots) into its output
directory. A per-model analysis also keeps ``<name>.progress.jsonl`` there while it runs: each finished unit of
work is appended at once, so running the same command again resumes it; a finished analysis is read back from its
JSON, never redone. Several analyses of one model may share a directory (``leaderboard/analyses/<model>/``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robench import zoo
from robench.data import TensorSplit
from robench.distributed import resolve_device
from robench.errors import RobenchError, read_json
from robench.evaluate.attacks import AttackConfig, autoattack_parts, build_stages
from robench.evaluate.progress_log import ProgressLog
from robench.evaluate.provenance import environment, weights_sha256
from robench.evaluate.records import sha256_of
from robench.evaluate.runner import Protocol, check_batch_size, load_model
from robench.evaluate.settings import EvalSettings
from robench.data import get_dataset
from robench.leaderboard import load_records, make_tables
from robench.leaderboard.analyses import SCHEMA_ID
from robench.leaderboard.entries import Table
from robench.leaderboard.naming import dataset_label, threat_key, threat_label
from robench.leaderboard.plots import png_bytes, read_digest
from robench.progress import ProgressFn
from robench.rundir import RunLock, atomic_write, make_dir, mismatch

PLOT_VERSION = 1  # bump when a drawing changes, so the digests of plots drawn before differ


@dataclass(frozen=True)
class AnalysisResult:
    """A finished analysis: its ``record`` and the directory holding ``<name>.json`` and ``<name>.png``."""

    record: dict
    directory: Path | None = None

    @property
    def json_path(self) -> Path | None:
        return None if self.directory is None else self.directory / f"{self.record['name']}.json"

    @property
    def png_path(self) -> Path | None:
        return None if self.directory is None else self.directory / self.record["plot"]


def write_result(out_dir: str | Path | None, record: dict, draw: Callable[[dict], Any]) -> AnalysisResult:
    """Write ``record`` as ``<record['name']>.json`` and the figure ``draw(record)`` as its PNG (nothing is
    written without ``out_dir``)."""
    record = {"schema": SCHEMA_ID, **record, "plot": f"{record['name']}.png"}
    if out_dir is None:
        return AnalysisResult(record)
    out = make_dir(out_dir)
    write_plot(out, record, draw)
    atomic_write(out / f"{record['name']}.json", record_text(record))
    return AnalysisResult(record, out)


def plot_digest(record: dict) -> str:
    """The digest of what a record's plot shows: the record but for when, where and how fast it was made."""
    shown = {k: v for k, v in record.items() if k not in ("timings", "created", "environment")}
    return sha256_of({"version": PLOT_VERSION, "record": shown})


def write_plot(out: Path, record: dict, draw: Callable[[dict], Any]) -> None:
    atomic_write(out / record["plot"], png_bytes(draw(record), plot_digest(record)))


def record_text(record: dict) -> str:
    """A record as JSON with one line per top-level key: readable, and compact for its long lists of numbers."""
    lines = [f"  {json.dumps(key)}: {json.dumps(record[key], sort_keys=True)}" for key in sorted(record)]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def stamp(started: float, device: torch.device | None = None) -> dict:
    """The provenance fields every record ends with."""
    fields = {"timings": {"total_seconds": time.perf_counter() - started},
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    if device is not None:
        fields["environment"] = environment(device)
    return fields


@dataclass
class Subject:
    """The model, test images and attack a per-model analysis runs on, resolved (every typo refused) before
    anything heavy is loaded."""

    model: nn.Module
    name: str
    source: str
    protocol: Protocol
    data: TensorSplit
    indices: torch.Tensor
    device: torch.device
    batch_size: int
    was_training: bool

    @classmethod
    def prepare(cls, model: nn.Module | str, *, dataset: str, attack: str | None, n_examples: int | None,
                batch_size: int, seed: int, eps: str | float | None, device: str | torch.device | None,
                data_dir: str | Path | None, model_name: str | None) -> Subject:  # fmt: skip
        protocol = Protocol.of(EvalSettings(dataset=dataset, attacks=[attack] if attack else [], eps=eps,
                                            n_examples=n_examples, seed=seed))  # fmt: skip
        check_batch_size(batch_size)
        if attack and protocol.attacks[0].method == "autoattack" and len(autoattack_parts(protocol.attacks[0])) > 1:
            raise RobenchError("an analysis needs a single-stage attack, not a multi-attack AutoAttack suite",
                               hint="use fgsm, pgd20, pgd100, mifgsm or apgd-ce")  # fmt: skip
        device = resolve_device(device)
        source = model if isinstance(model, str) else "python"
        model, was_training = load_model(model, protocol.spec.name, device)
        cfg = getattr(model, "robench_cfg", None)
        name = model_name or (source if source != "python" else None) or getattr(cfg, "architecture", None) \
            or type(model).__name__
        data, indices = protocol.load(data_dir)
        return cls(model, name, source, protocol, data, indices, device, batch_size, was_training)

    @property
    def attack(self) -> AttackConfig | None:
        return self.protocol.attacks[0] if self.protocol.attacks else None

    def batches(self) -> list[torch.Tensor]:
        """The analysed images' positions in ``indices``, ``batch_size`` at a time."""
        return list(torch.split(torch.arange(len(self.indices)), self.batch_size))

    def images(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = self.indices[positions]
        return (self.data.images[chosen].to(self.device).float().div_(255), self.data.labels[chosen].to(self.device))

    def adversarial(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The attack's adversarial examples of one batch; the global RNG is reset to the seed first (as the
        evaluator does), so a batch's examples depend only on its content and the seed."""
        (stage,) = build_stages(self.attack, self.model, self.protocol.spec.num_classes, self.protocol.seed,
                                self.device)  # fmt: skip
        torch.manual_seed(self.protocol.seed)
        return stage.run(x, y).detach()

    def config(self, analysis: str, settings: dict) -> dict:
        """Everything the analysis' numbers depend on; a resume must ask for the same."""
        return {"analysis": analysis, "model": {"name": self.name, "weights_sha256": weights_sha256(self.model)},
                **self.protocol.records(self.data, self.indices),
                "attack": self.attack.to_record() if self.attack else None, "batch_size": self.batch_size,
                "settings": settings}  # fmt: skip

    def model_block(self) -> dict:
        cfg = getattr(self.model, "robench_cfg", None)
        block = {"name": self.name, "source": self.source, "weights_sha256": weights_sha256(self.model),
                 "params": zoo.count_parameters(self.model)}  # fmt: skip
        if cfg is not None:
            block.update(architecture=cfg.architecture, family=cfg.family, genotype=cfg.genotype)
        return block

    def notes(self) -> list[str]:
        return ["the model was in training mode; it was analysed in eval mode (batch norm running statistics)"] \
            if self.was_training else []


class AnalysisRun:
    """A per-model analysis writing into ``out_dir``: held by one run at a time, every finished unit of work
    logged at once so that a rerun resumes, and a finished analysis read back."""

    def __init__(self, out_dir: str | Path | None, name: str, config: dict, progress: ProgressFn | None = None):
        self.out = make_dir(out_dir) if out_dir is not None else None
        self.name = name
        self.config = config
        self.config_sha = sha256_of(config)
        self.progress = progress
        self._log: ProgressLog | None = None

    @contextmanager
    def open(self) -> Iterator[AnalysisRun]:
        with RunLock(self.out, f"{self.config['analysis']} analysis") if self.out is not None else nullcontext():
            yield self

    @property
    def log(self) -> ProgressLog:
        """The progress log, opened on first use: reading back a finished analysis leaves none behind."""
        if self._log is None:
            path = self.out / f"{self.name}.progress.jsonl" if self.out is not None else None
            self._log = ProgressLog(path, self.config_sha, self.config, what=f"a {self.config['analysis']} analysis")
        return self._log

    def finished(self, draw: Callable[[dict], Any]) -> AnalysisResult | None:
        """The finished analysis in the output directory if it has this configuration (its plot redrawn when it
        is missing or was drawn by other plotting code); another is refused."""
        path = None if self.out is None else self.out / f"{self.name}.json"
        if path is None or not path.is_file():
            return None
        record = read_json(path, "analysis", hint=f"delete {path} to redo the analysis")
        if record.get("config_sha256") != self.config_sha:
            recorded = {key: record.get(key) for key in self.config}
            recorded["model"] = {k: (record.get("model") or {}).get(k) for k in self.config["model"]}
            raise mismatch(self.out, f"a finished {self.config['analysis']} analysis", recorded, self.config)
        if read_digest(self.out / record["plot"]) != plot_digest(record):
            write_plot(self.out, record, draw)
        return AnalysisResult(record, self.out)

    def unit(self, stage: int, number: int, compute: Callable[[], dict]) -> dict:
        """Unit ``number`` of ``stage``: read from the log if an earlier run finished it, else computed and logged."""
        done = self.log.get(stage, number)
        if done is None:
            done = {"kind": "batch", "stage": stage, "batch": number, **compute()}
            self.log.add(done)
        return done

    def report(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    def finish(self, subject: Subject, results: dict, summary: dict, started: float,
               draw: Callable[[dict], Any]) -> AnalysisResult:  # fmt: skip
        record = {"analysis": self.config["analysis"], "name": self.name, "model": subject.model_block(),
                  **{k: v for k, v in self.config.items() if k not in ("analysis", "model")},
                  "config_sha256": self.config_sha, "results": results, "summary": summary,
                  "notes": subject.notes(), **stamp(started, subject.device)}  # fmt: skip
        result = write_result(self.out, record, draw)
        if self.log.path is not None:
            self.log.path.unlink(missing_ok=True)  # the finished record holds everything; a rerun reads it back
        return result


def leaderboard_table(records_dir: str | Path, dataset: str, threat: str | None) -> Table:
    """The leaderboard table of ``dataset`` under ``threat`` (a key such as ``linf-8-255``; default: the data set's
    standard threat model), built from the records in ``records_dir``."""
    spec = get_dataset(dataset)
    if threat is None:
        tm = spec.threat_model(None)
        threat = threat_key({"norm": tm.norm, "eps": tm.eps})
    stored, problems = load_records(records_dir)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RobenchError(f"{problems[0]}{more}", hint="fix the records; `robench leaderboard check` lists every problem")
    tables = make_tables(stored)
    for table in tables:
        if table.dataset == spec.name and table.threat == threat:
            return table
    have = ", ".join(f"{t.dataset} {t.threat}" for t in tables) or "none"
    raise RobenchError(f"the records in {records_dir} have no {spec.name} table under {threat}",
                       hint=f"tables there: {have}")


def correlation(xs: list[float], ys: list[float]) -> dict:
    """Pearson's r and Spearman's rho of two samples with their p-values (None where undefined: fewer than three
    points, or a sample that does not vary)."""
    from scipy import stats

    n = len(xs)
    if n < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return {"n": n, "pearson_r": None, "pearson_p": None, "spearman_rho": None, "spearman_p": None}
    pearson, spearman = stats.pearsonr(xs, ys), stats.spearmanr(xs, ys)
    return {"n": n, "pearson_r": float(pearson[0]), "pearson_p": float(pearson[1]),
            "spearman_rho": float(spearman[0]), "spearman_p": float(spearman[1])}


def table_block(table: Table) -> dict:
    """How a record names the leaderboard table it analysed."""
    return {"dataset": table.dataset, "threat": table.threat,
            "title": f"{dataset_label(table.dataset)} · {threat_label(table.threat_model)}"}

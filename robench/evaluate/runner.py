"""The evaluation runner: clean accuracy, then a suite of attacks chained pointwise, batch by batch.

The unit of work is one (stage, batch). Batches of a stage are the points still robust after the previous
stage, in index order, ``batch_size`` at a time — exactly how AutoAttack's ``run_standard_evaluation`` forms
them — so a stage's input never depends on how the work is split across processes or interrupted runs.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robench.data import (
    DatasetSpec,
    TensorSplit,
    ThreatModel,
    get_dataset,
    load_split,
    parse_eps,
    select_subset,
    subset_hash,
)
from robench.errors import RobenchError
from robench import distributed, zoo
from robench.evaluate.attacks import AttackConfig, NamedStage, autoattack_parts, build_stages, resolve_attack
from robench.evaluate.metrics import hrs, wilson_interval
from robench.evaluate.progress_log import ProgressLog
from robench.evaluate.provenance import environment, weights_sha256
from robench.evaluate.reproduction import compare_with_papers
from robench.evaluate.records import SCHEMA_ID, read_record, sha256_of, validate_record, write_record
from robench.evaluate.sanity import Flag, check_model, check_results
from robench.evaluate.settings import EvalSettings
from robench.evaluate.speed import SpeedOptions, attack_ready
from robench.progress import ProgressFn
from robench.rundir import RunLock, atomic_write, make_dir, mismatch


# Linf projections are exact up to float32 rounding; anything beyond this is a real violation.
_LINF_TOLERANCE = 1e-5
_L2_RELATIVE_TOLERANCE = 1e-4
PROBE_MIN_EXAMPLES = 1000
RESULT_NAME = "result.json"
EXAMPLES_NAME = "examples.jsonl"


@dataclass
class EvalResult:
    record: dict
    examples: list[dict] = field(repr=False)

    @property
    def clean_accuracy(self) -> float:
        return self.record["metrics"]["clean_accuracy"]

    @property
    def robust_accuracy(self) -> float | None:
        return self.record["metrics"]["robust_accuracy"]

    @property
    def per_attack(self) -> dict[str, float]:
        return self.record["metrics"]["per_attack"]

    @property
    def flags(self) -> list[dict]:
        return self.record["flags"]


def pick_batch_size(model: nn.Module, x: torch.Tensor, device: torch.device, n_examples: int) -> int:
    """The candidate batch size with the lowest time per image for one forward and backward pass, the inner
    step of every gradient attack. On CPUs the best size depends on the model (32-64 for wide convolutions,
    larger for networks of many small operations), so it is measured rather than guessed.

    The measurement costs about one attack step on 500 images; for evaluations of at most
    ``PROBE_MIN_EXAMPLES`` images that is a large share of the work, so they take the device's usual best size.
    """
    if n_examples <= PROBE_MIN_EXAMPLES:
        return min(n_examples, 256 if device.type == "cuda" else 64) or 1
    candidates = [b for b in ((128, 256, 512) if device.type == "cuda" else (32, 64, 128, 256)) if b <= n_examples]
    x = x.to(device)
    _step(model, x[: candidates[0]])  # warm-up: first calls allocate
    per_image = {}
    for b in candidates:
        batch = x.repeat((b + len(x) - 1) // len(x), 1, 1, 1)[:b]
        tic = time.perf_counter()
        _step(model, batch)
        per_image[b] = (time.perf_counter() - tic) / b
    return min(per_image, key=per_image.get)


def _step(model: nn.Module, x: torch.Tensor) -> None:
    # the input gradient alone, as attacks take it: no weight gradients computed or left on the model
    x = x.clone().requires_grad_(True)
    torch.autograd.grad(model(x).sum(), x)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def check_batch_size(batch_size: int | None) -> None:
    """``None`` (measure the fastest size) or a positive whole number; 0 is an error, not "automatic"."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise RobenchError(f"batch size must be a positive whole number, not {batch_size!r}",
                           hint="omit it to have robench measure the fastest size for this model and device")


def resolve_threat_model(dataset: str, threat_model: str | ThreatModel | None, eps: str | float | None) -> ThreatModel:
    spec = get_dataset(dataset)
    if isinstance(threat_model, ThreatModel):
        base = threat_model
    else:
        base = spec.threat_model(threat_model)
    if eps is None:
        tm = base
    else:
        value = parse_eps(eps)
        tm = ThreatModel(norm=base.norm, eps=value, eps_text=eps if isinstance(eps, str) else f"{value:g}")
    # the diameter of the [0, 1] image cube: a ball this large holds every image, so every number would be 0
    diameter = 1.0 if tm.norm == "Linf" else math.prod(spec.image_size) ** 0.5
    if tm.eps >= diameter:
        raise RobenchError(f"eps {tm.eps_text} covers every {spec.name} image under {tm.norm} (inputs are in [0, 1])",
                           hint="eps is a fraction of the pixel range: 8/255 rather than 8")
    return tm


@dataclass(frozen=True)
class Protocol:
    """What an evaluation measures, whatever the model: the data set and its subset, the threat model and the
    attacks. It is resolved (and every typo refused) before any model is loaded or any data decoded."""

    spec: DatasetSpec
    split: str
    threat_model: ThreatModel
    attacks: tuple[AttackConfig, ...]
    n_examples: int | None
    seed: int

    @classmethod
    def of(cls, settings: EvalSettings) -> Protocol:
        spec = get_dataset(settings.dataset)
        tm = resolve_threat_model(settings.dataset, settings.threat_model, settings.eps)
        attacks = settings.attacks
        configs = tuple(resolve_attack(a, tm) for a in ((attacks,) if isinstance(attacks, str) else attacks))
        repeated = {c.name for c in configs if [d.name for d in configs].count(c.name) > 1}
        if repeated:
            raise RobenchError(f"attack(s) listed twice: {', '.join(sorted(repeated))}", hint="list each attack once")
        return cls(spec, spec.resolve_split(settings.split), tm, configs, settings.n_examples, settings.seed)

    def load(self, data_dir: str | Path | None) -> tuple[TensorSplit, torch.Tensor]:
        """The split and the indices of the evaluated subset."""
        data = load_split(self.spec.name, self.split, data_dir)
        return data, select_subset(len(data.labels), self.n_examples, self.seed)

    def records(self, data: TensorSplit, indices: torch.Tensor) -> dict:
        """The ``dataset`` and ``threat_model`` blocks of a record: which points, under which budget."""
        tm = self.threat_model
        return {"dataset": {"name": self.spec.name, "split": self.split, "n_examples": len(indices),
                            "seed": self.seed, "data_sha256": data.sha256, "subset_sha256": subset_hash(data, indices)},
                "threat_model": {"norm": tm.norm, "eps": tm.eps, "eps_text": tm.eps_text}}


def evaluate(
    model: nn.Module | str,
    settings: EvalSettings | None = None,
    *,
    data_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    out: str | Path | None = None,
    model_name: str | None = None,
    progress: ProgressFn | None = None,
    **fields: Any,
) -> EvalResult:
    """Clean and robust accuracy of ``model`` under ``settings`` (:class:`EvalSettings`; keyword ``fields``
    replace its fields: ``evaluate(model, attacks=["pgd20"], n_examples=500)``).

    ``model`` is an nn.Module taking inputs in [0, 1], or a zoo name / ``hf-hub:`` / ``local-dir:`` source.
    With ``chain`` (the default) each attack runs only on the points every earlier attack failed on, and
    ``per_attack`` holds the cumulative robust accuracy after each attack; without it every attack runs on
    all clean-correct points and ``per_attack`` holds each attack's own accuracy. Every accuracy is computed
    from the per-example outcomes (``EvalResult.examples``). With ``out`` every batch is logged there, running
    the same call again resumes where it stopped, and a finished evaluation is read back, never redone.
    """
    settings = EvalSettings.of(settings, fields)
    rank, world = distributed.init_from_env()
    device = prepare_device(settings, device)
    protocol = Protocol.of(settings)
    source = model if isinstance(model, str) else None
    model, was_training = load_model(model, protocol.spec.name, device)
    name = model_name or source or getattr(getattr(model, "robench_cfg", None), "architecture", None) \
        or type(model).__name__
    data, indices = protocol.load(data_dir)
    out_dir = make_dir(out) if out is not None else None
    with (RunLock(out_dir, "evaluation") if out_dir is not None and rank == 0 else nullcontext(),
          attack_ready(model, settings.speed, device) as attacked):
        batch_size = settings.batch_size or ProgressLog.recorded_batch_size(out_dir) or pick_batch_size(
            attacked, data.images[indices[:64]].float().div(255), device, len(indices))
        config = {"model": {"name": name, "weights_sha256": weights_sha256(model)}, **protocol.records(data, indices),
                  "attacks": [c.to_record() for c in protocol.attacks], "batch_size": batch_size,
                  "chain": settings.chain, **speed_config(settings.speed)}
        config_sha = sha256_of(config)
        finished = _finished(out_dir, config, config_sha)
        if finished is not None:
            return finished
        log = ProgressLog(out_dir / "progress.jsonl" if out_dir else None, config_sha, config, writer=rank == 0)
        runner = _Runner(attacked, model, data, indices, batch_size, device, settings.seed, protocol.threat_model,
                         log, rank, world, progress)
        started = time.perf_counter()
        examples, metrics, flags = runner.measure(protocol, settings.chain, settings.checks)
        if was_training:
            flags.insert(0, Flag("model-in-training-mode", "the model was in training mode; it was evaluated in "
                                 "eval mode (batch norm running statistics, no dropout), as every number here must be"))
        record = {
            "schema": SCHEMA_ID,
            "kind": "measured",
            "model": {**config["model"], "source": source or "python", "params": zoo.count_parameters(model),
                      **_architecture_fields(model)},
            **{key: config[key] for key in ("dataset", "threat_model", "attacks")},
            "config_sha256": config_sha,
            "settings": {"batch_size": batch_size, "chain": settings.chain, "checks": settings.checks,
                         "world_size": world, "speed": settings.speed.to_record()},
            "metrics": metrics,
            "flags": [f.to_record() for f in flags],
            "environment": environment(device),
            "timings": runner.timings(time.perf_counter() - started),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        reproduction, differs = compare_with_papers(model, record, settings.chain)
        if reproduction:
            record["reproduction"] = reproduction
            record["flags"] += [f.to_record() for f in differs]
        validate_record(record, where=f"the record of {name}")
        if out_dir is not None and rank == 0:
            atomic_write(out_dir / EXAMPLES_NAME, "".join(json.dumps(e, separators=(",", ":")) + "\n"
                                                          for e in examples))
            record["examples_file"] = EXAMPLES_NAME
            write_record(record, out_dir / RESULT_NAME)
    return EvalResult(record, examples)


def prepare_device(settings: EvalSettings, device: str | torch.device | None) -> torch.device:
    """The device the settings run on, once they are shown runnable there (refused before any model loads)."""
    device = distributed.resolve_device(device)
    settings.speed.check(device)
    check_batch_size(settings.batch_size)
    return device


def load_model(model: nn.Module | str, dataset: str, device: torch.device) -> tuple[nn.Module, bool]:
    """``model`` (or the zoo source it names) in eval mode on ``device``, and whether it was in training mode."""
    if isinstance(model, str):
        model = zoo.load(model, dataset=dataset, device=device)
    was_training = model.training
    return model.eval().to(device), was_training


def speed_config(speed: SpeedOptions) -> dict:
    """The part of a run's configuration (and hash) the speed options make: only those that can change a number,
    and nothing at all for the exact computation, so configurations from before the options existed still match."""
    return {"speed": speed.changes_numbers} if speed.changes_numbers else {}


def metrics_from_examples(examples: list[dict], lanes: list[list[tuple[str, str]]], chain: bool) -> dict:
    """Every accuracy of a record, counted from the per-example outcomes alone.

    ``lanes`` lists (attack name, stage name) in the order the stages ran: one lane for a chained suite, one
    lane per attack otherwise.
    """
    n = len(examples)
    n_correct = sum(e["clean_correct"] for e in examples)
    per_attack: dict[str, float] = {}
    per_stage: dict[str, float] = {}
    for lane in lanes:
        for k, (attack, stage) in enumerate(lane):
            so_far = {s for _, s in lane[: k + 1]}
            alive = sum(1 for e in examples if e["clean_correct"] and
                        (e["broken_by"] if chain else e["broken_by_attack"][attack]) not in so_far)
            per_stage[stage] = per_attack[attack] = alive / n  # exact n_robust / n, not a float32 mean
    n_robust = sum(1 for e in examples if e["clean_correct"] and e["broken_by"] is None) if any(lanes) else None
    clean_acc = n_correct / n
    robust_acc = n_robust / n if n_robust is not None else None
    return {
        "clean_accuracy": clean_acc,
        "robust_accuracy": robust_acc,
        "per_attack": per_attack,
        "per_stage": per_stage,
        "clean_ci95": list(wilson_interval(n_correct, n)),
        "robust_ci95": list(wilson_interval(n_robust, n)) if n_robust is not None else None,
        "hrs": hrs(clean_acc, robust_acc) if robust_acc is not None else None,
        "n_correct": n_correct,
        "n_robust": n_robust,
    }


def read_examples(path: Path) -> list[dict]:
    """The per-example outcomes an evaluation wrote to ``examples.jsonl``."""
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    except (OSError, ValueError) as err:
        raise RobenchError(f"cannot read the per-example outcomes {path} ({err})",
                           hint=f"delete {path.parent / RESULT_NAME} to recompute them from the progress log") from None


def _finished(out_dir: Path | None, config: dict, config_sha: str) -> EvalResult | None:
    """The finished evaluation in ``out_dir`` if it has this configuration; a different one is refused."""
    if out_dir is None or not (out_dir / RESULT_NAME).exists():
        return None
    record = read_record(out_dir / RESULT_NAME)
    if record.get("config_sha256") != config_sha:
        recorded = {"model": {k: record["model"].get(k) for k in config["model"]}, "dataset": record["dataset"],
                    "threat_model": record["threat_model"], "attacks": record.get("attacks"),
                    "batch_size": record.get("settings", {}).get("batch_size"),
                    "chain": record.get("settings", {}).get("chain"),
                    **speed_config(SpeedOptions.from_record(record.get("settings", {}).get("speed")))}
        raise mismatch(out_dir, "a finished evaluation", recorded, config)
    return EvalResult(record, read_examples(out_dir / record.get("examples_file", EXAMPLES_NAME)))


def _partial_split_flags(data) -> list[Flag]:
    if not data.partial:
        return []
    return [Flag("partial-split", f"{data.dataset} {data.split} at {data.source} holds {len(data):,} of the "
                                  f"official {data.official_size:,} images; numbers on it are not comparable with "
                                  "ones on the whole split: re-extract the data set")]


def _stages(config: AttackConfig, model, num_classes, seed, device) -> list[tuple[AttackConfig, NamedStage]]:
    return [(config, stage) for stage in build_stages(config, model, num_classes, seed, device)]


def _is_white_box(stage_name: str, lanes) -> bool:
    return next(stage.white_box for lane in lanes for _, stage in lane if stage.name == stage_name)


def _architecture_fields(model: nn.Module) -> dict:
    cfg = getattr(model, "robench_cfg", None)
    fields = {} if cfg is None else {"architecture": cfg.architecture, "family": cfg.family, "arch_id": cfg.arch_id,
                                     "genotype": cfg.genotype}  # fmt: skip
    checkpoint = getattr(model, "robench_checkpoint", None)
    metadata = checkpoint.config.get("robench", {}).get("metadata", {}) if checkpoint is not None else {}
    if "description" in metadata.get("training", {}):  # the trainer's words for its recipe
        fields["training"] = metadata["training"]["description"]
    lineage = metadata.get("search")
    if lineage:  # the search that found this architecture: record -> weights -> genotype -> search run
        fields["search"] = lineage
    return fields


def _predict(logits: torch.Tensor) -> dict:
    """Predicted classes, -1 where the logits are not finite (argmax would pick a NaN's index as a class)."""
    finite = torch.isfinite(logits).all(1)
    pred = torch.where(finite, logits.argmax(1), -1)
    return {"pred": pred.tolist(), "nonfinite": int((~finite).sum())}


class _Runner:
    """Holds the per-point state of one evaluation and advances it one (stage, batch) at a time. ``model`` is
    the model as the speed options run it (what every number is of); the checks look at ``checked``, the module
    itself (a compiled graph would hide what they trace)."""

    def __init__(self, model, checked, data, indices, batch_size, device, seed, tm: ThreatModel, log: ProgressLog,
                 rank: int, world: int, progress: ProgressFn | None):
        self.model, self.checked, self.data, self.indices = model, checked, data, indices
        self.batch_size, self.device, self.seed, self.tm = batch_size, device, seed, tm
        self.log, self.rank, self.world, self.progress = log, rank, world, progress
        n = len(indices)
        self.labels = data.labels[indices]
        self.clean_pred = torch.full((n,), -1, dtype=torch.long)
        self.broken_at = torch.full((n,), -1, dtype=torch.long)  # global stage number that first broke a point
        self.lane_broken_at: list[torch.Tensor] = []  # the same, per lane (independent attacks)
        self.adv_pred = torch.full((n,), -1, dtype=torch.long)
        self.stage_names: list[str] = []
        self.stage_seconds: dict[str, float] = {}
        self.violations: dict[str, int] = {}
        self.nonfinite = {"clean": 0, "adversarial": 0}

    # -- checks ---------------------------------------------------------------------------------------
    def checks(self, configs: list[AttackConfig], num_classes: int) -> list[Flag]:
        stored = self.log.extras.get("checks")
        if stored is not None:
            return [Flag(**f) for f in stored["flags"]]
        positions = torch.arange(min(len(self.indices), 32))
        x, y = self._batch(positions)
        parts = [p for c in configs if c.method == "autoattack" for p in autoattack_parts(c)]
        flags = check_model(self.checked, x, y, self.tm.eps, self.tm.norm, parts, min(9, num_classes - 1))
        self.log.add({"kind": "checks", "flags": [f.to_record() for f in flags]})
        return flags

    def measure(self, protocol: Protocol, chain: bool, checks: bool) -> tuple[list[dict], dict, list[Flag]]:
        """Run the clean pass and every attack; the per-example outcomes, the metrics counted from them, and
        the flags raised on the way."""
        num_classes, configs = protocol.spec.num_classes, protocol.attacks
        lanes = [[stage for c in configs for stage in _stages(c, self.model, num_classes, self.seed, self.device)]] \
            if chain else [_stages(c, self.model, num_classes, self.seed, self.device) for c in configs]
        flags = _partial_split_flags(self.data)
        flags += self.checks(list(configs), num_classes) if checks else []
        self.run_clean()
        for lane in lanes:
            self.run_lane(lane)
        flags += self.violation_flags() + self.nonfinite_flags()
        examples = self.examples(lanes, chain)
        metrics = metrics_from_examples(examples, [[(c.name, s.name) for c, s in lane] for lane in lanes], chain)
        black_box_breaks = sum(1 for e in examples if e["broken_by"] and not _is_white_box(e["broken_by"], lanes))
        return examples, metrics, flags + check_results(metrics["per_attack"], chain, black_box_breaks, len(examples))

    # -- stages ---------------------------------------------------------------------------------------
    def run_clean(self) -> None:
        positions = torch.arange(len(self.indices))
        outcomes = self._run_stage(0, "clean", positions, self._clean_batch)
        for o in outcomes:
            self.clean_pred[o["positions"]] = torch.tensor(o["pred"], dtype=torch.long)
            self.nonfinite["clean"] += o.get("nonfinite", 0)
        if self.nonfinite["clean"] == len(self.indices):
            raise RobenchError(f"the model returned NaN or infinite logits for all {len(self.indices)} clean images, "
                               "so no accuracy can be measured",
                               hint="check its weights and that it takes inputs in [0, 1]")
        self.correct = self.clean_pred == self.labels

    def run_lane(self, lane: list[tuple[AttackConfig, NamedStage]]) -> None:
        robust = self.correct.clone()
        broken_at = torch.full_like(self.broken_at, -1)
        for config, stage in lane:
            number = len(self.stage_names) + 1
            self.stage_names.append(stage.name)
            outcomes = self._run_stage(number, stage.name, robust.nonzero().flatten(),
                                       lambda pos, s=stage, c=config: self._attack_batch(pos, s, c))
            for o in outcomes:
                pos = torch.tensor(o["positions"], dtype=torch.long)
                broken = torch.tensor(o["broken"], dtype=torch.bool)
                first = broken & (self.broken_at[pos] < 0)
                self.broken_at[pos[first]] = number
                self.adv_pred[pos[first]] = torch.tensor(o["pred"], dtype=torch.long)[first]
                broken_at[pos[broken]] = number
                robust[pos[broken]] = False  # a stage's batches hold disjoint points, so order does not matter
                self.nonfinite["adversarial"] += o.get("nonfinite", 0)
                if o["violations"]:
                    self.violations[stage.name] = self.violations.get(stage.name, 0) + o["violations"]
        self.lane_broken_at.append(broken_at)

    def _run_stage(self, number: int, name: str, positions: torch.Tensor, fn) -> list[dict]:
        chunks = list(torch.split(positions, self.batch_size))
        outcomes: list[dict | None] = [self.log.get(number, b) for b in range(len(chunks))]
        for b, entry in enumerate(outcomes):
            if entry is not None and entry["positions"] != chunks[b].tolist():
                raise RobenchError(f"the progress log in {self.log.path.parent} does not match this run "
                                   f"(stage {name}, batch {b})", hint="delete that directory to start over")
        pending = [b for b, entry in enumerate(outcomes) if entry is None]
        done = len(chunks) - len(pending)
        self._report(name, done, len(chunks))
        for start in range(0, len(pending), self.world):
            mine = pending[start + self.rank] if start + self.rank < len(pending) else None
            outcome = None
            if mine is not None:
                tic = time.perf_counter()
                outcome = {"kind": "batch", "stage": number, "batch": mine, "positions": chunks[mine].tolist(),
                           **fn(chunks[mine]), "seconds": time.perf_counter() - tic}
            for o in distributed.gather(outcome, self.world):
                if o is not None:
                    outcomes[o["batch"]] = o
                    self.log.add(o)
                    done += 1
            self._report(name, done, len(chunks))
        self.stage_seconds[name] = sum(o["seconds"] for o in outcomes)
        return outcomes

    def _report(self, name: str, done: int, total: int) -> None:
        if self.progress is not None and self.rank == 0:
            self.progress(name, done, total)

    def _batch(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.indices[positions]
        x = self.data.images[idx].to(self.device, non_blocking=True).float().div_(255)
        return x, self.data.labels[idx].to(self.device)

    def _clean_batch(self, positions: torch.Tensor) -> dict:
        x, _ = self._batch(positions)
        with torch.inference_mode():
            return _predict(self.model(x))

    def _attack_batch(self, positions: torch.Tensor, stage: NamedStage, config: AttackConfig) -> dict:
        x, y = self._batch(positions)
        torch.manual_seed(self.seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed_all(self.seed)
        x_adv = stage.run(x, y).detach()
        with torch.inference_mode():
            outcome = _predict(self.model(x_adv))
        pred = torch.tensor(outcome["pred"], device=y.device)
        inside = self._inside_threat_model(x, x_adv)
        broken = (pred != y) & inside
        violations = int((~inside & (pred != y)).sum()) if config.bounded else 0
        return {**outcome, "broken": broken.tolist(), "violations": violations}

    def _inside_threat_model(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        delta = (x_adv - x).flatten(1)
        in_range = (x_adv >= 0).flatten(1).all(1) & (x_adv <= 1).flatten(1).all(1)
        if self.tm.norm == "Linf":
            return in_range & (delta.abs().amax(1) <= self.tm.eps + _LINF_TOLERANCE)
        return in_range & (delta.norm(dim=1) <= self.tm.eps * (1 + _L2_RELATIVE_TOLERANCE))

    # -- results --------------------------------------------------------------------------------------
    def violation_flags(self) -> list[Flag]:
        return [Flag("perturbation-outside-threat-model",
                     f"{stage} returned {count} misclassified points outside the {self.tm.norm} ball of "
                     f"{self.tm.eps_text} or outside [0, 1]; they were counted as robust. The attack "
                     "implementation is broken for this model: report it")
                for stage, count in self.violations.items()]

    def nonfinite_flags(self) -> list[Flag]:
        clean, adversarial = self.nonfinite["clean"], self.nonfinite["adversarial"]
        if not clean and not adversarial:
            return []
        return [Flag("non-finite-logits", f"the model returned NaN or infinite logits for {clean} clean images "
                     f"(counted as misclassified) and {adversarial} attacked ones (counted as broken); the numbers "
                     "hold for this model as it computes, but it is numerically broken: check its weights and "
                     "its input range")]

    def examples(self, lanes, chain: bool) -> list[dict]:
        names = ["clean", *self.stage_names]

        def stage(number) -> str | None:
            return names[int(number)] if number > 0 else None

        rows = []
        for p in range(len(self.indices)):
            row = {"index": int(self.indices[p]), "label": int(self.labels[p]), "clean_pred": int(self.clean_pred[p]),
                   "clean_correct": bool(self.correct[p]), "broken_by": stage(self.broken_at[p]),
                   "adv_pred": int(self.adv_pred[p]) if self.broken_at[p] > 0 else None}
            if not chain:
                row["broken_by_attack"] = {lane[0][0].name: stage(at[p]) for lane, at in zip(lanes, self.lane_broken_at)}
            rows.append(row)
        return rows

    def timings(self, wall: float) -> dict:
        """Compute time summed over the logged batches (so a resumed run reports the whole evaluation, however
        many sessions it took) and the wall time of this call."""
        return {"total_seconds": sum(self.stage_seconds.values()), "stage_seconds": self.stage_seconds,
                "session_seconds": wall}

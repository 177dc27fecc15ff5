"""The kinds of task a sweep runs (an evaluation, a training run, a transfer matrix, a search -> train ->
evaluate pipeline): each kind's fields and defaults, how it is checked before anything runs, the
resources it asks for, how it runs in a worker, and how a finished one is recognised from its files alone.

Every kind writes robench's usual resumable run directory (an evaluation's progress log and records, a
training run's state and checkpoint, a transfer matrix's cached adversarial examples), so a task started again
after its worker died continues from what it had written, and a finished task is never run again.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from robench.data import get_dataset
from robench.errors import RobenchError
from robench.evaluate.records import read_record
from robench.evaluate.runner import RESULT_NAME, Protocol, evaluate
from robench.evaluate.settings import EvalSettings
from robench.evaluate.transfer import transfer_matrix
from robench.executor import GIB, Resources
from robench.pipeline import paper_plan, reproduce
from robench.pipeline.run import SUMMARY_FILE
from robench.search.run import read_genotype
from robench.train import Recipe, architecture_args, parse_settings, train
from robench.train.trainer import CHECKPOINT_DIR
from robench.zoo.checkpoint import read_config

REQUIRED = object()
TRANSFER_NAME = "transfer.json"

# Memory a task reserves on a worker: a torch process holding a model, a batch and an attack's buffers, plus the
# decoded split it reads, twice (the cache read and the uint8 tensor), plus AutoAttack's per-target copies of the
# batch. robench's estimate, with room: an evaluation of advrush_small under PGD-20 then APGD-CE and APGD-T at
# batch 32 peaked at 1.3 GB resident on a CPU.
PROCESS_BYTES = 2 * GIB
AUTOATTACK_BYTES = 1 * GIB


@dataclass(frozen=True)
class Kind:
    name: str
    fields: dict[str, Any]  # field -> default (REQUIRED: must be given)
    check: Callable[[dict], None]  # refuses a task that cannot run, before any task runs
    run: Callable[[dict, Path, str | None, str | None], dict]  # (params, out, data_dir, device) -> summary
    finished: Callable[[Path], dict | None]  # the summary of a finished task in out, read from its files
    label: Callable[[dict], str]  # a short human name: "resnet18_small cifar10 pgd20"
    record: Callable[[Path], Path] | None = None  # the record a leaderboard can file, from the task's directory

    def complete(self, params: dict, where: str) -> dict:
        """``params`` with every default filled in; an unknown or missing field is an error naming it."""
        unknown = sorted(set(params) - set(self.fields))
        if unknown:
            raise RobenchError(f"{where}: unknown {self.name} field(s) {', '.join(unknown)}",
                               hint=f"{self.name} tasks take: {', '.join(self.fields)}")
        missing = [k for k, v in self.fields.items() if v is REQUIRED and k not in params]
        if missing:
            raise RobenchError(f"{where}: {self.name} tasks need {', '.join(missing)}",
                               hint=f"add {missing[0]}: ... to the task")
        full = {k: params.get(k, v) for k, v in self.fields.items()}
        # a list field takes a single value too: attacks: pgd20
        return {k: [v] if isinstance(self.fields[k], list) and isinstance(v, str) else v for k, v in full.items()}

    def resources(self, params: dict, gpus: float) -> Resources:
        spec = get_dataset(params["dataset"])
        split = "train" if self.name in ("train", "pipeline") else spec.resolve_split(params.get("split", "test"))
        split_bytes = spec.split_sizes[split] * math.prod(spec.image_size)
        attacks = params.get("attacks") or [params.get("attack", "")]
        extra = AUTOATTACK_BYTES if any(str(a).startswith("autoattack") for a in attacks) else 0
        return Resources(cpus=1, gpus=gpus, memory=PROCESS_BYTES + 2 * split_bytes + extra)


# -- eval -----------------------------------------------------------------------------------------------------------

_EVAL_FIELDS = ("dataset", "attacks", "n_examples", "seed", "split", "threat_model", "eps", "batch_size", "chain",
                "checks")


def _eval_protocol(p: dict) -> Protocol:
    return Protocol.of(_eval_settings(p))


def _eval_settings(p: dict) -> EvalSettings:
    return EvalSettings(**{key: p[key] for key in _EVAL_FIELDS})


def _run_eval(p: dict, out: Path, data_dir: str | None, device: str | None) -> dict:
    result = evaluate(p["model"], _eval_settings(p), data_dir=data_dir, device=device, out=out)
    return _eval_summary(result.record)


def _eval_summary(record: dict) -> dict:
    m = record["metrics"]
    flags = {"flags": len(record["flags"])} if record["flags"] else {}
    return {"clean": m["clean_accuracy"], "robust": m["robust_accuracy"], **flags}


def _eval_finished(out: Path) -> dict | None:
    path = out / RESULT_NAME
    return _eval_summary(read_record(path)) if path.is_file() else None


EVAL = Kind(
    "eval",
    {"model": REQUIRED, "dataset": "cifar10", "attacks": ["pgd20"], "n_examples": None, "batch_size": None,
     "seed": 0, "split": "test", "threat_model": None, "eps": None, "chain": True, "checks": True},
    check=_eval_protocol,
    run=_run_eval,
    finished=_eval_finished,
    label=lambda p: f"{p['model']} {p['dataset']} {'+'.join(p['attacks'])}",
    record=lambda out: out / RESULT_NAME,
)


# -- train ----------------------------------------------------------------------------------------------------------

def _recipe(p: dict) -> Recipe:
    recipe = Recipe.from_preset(p["recipe"]).with_settings(parse_settings([f"{k}={v}" for k, v in p["set"].items()]))
    overrides = {k: p[k] for k in ("epochs", "seed") if p[k] is not None}
    return recipe.replace(**overrides) if overrides else recipe


def _model_args(p: dict) -> dict:
    genotype = read_genotype(p["genotype"]).to_str() if p["genotype"] else None
    return architecture_args(p["model"], width=p["width"], layers=p["layers"], genotype=genotype)


def _check_train(p: dict) -> None:
    if not isinstance(p["set"], dict):
        raise RobenchError(f"the set field of a train task is a mapping, not {p['set']!r}",
                           hint="write set: {lr: 0.05, decay_epochs: [30, 60]}")
    _recipe(p)
    _model_args(p)


def _run_train(p: dict, out: Path, data_dir: str | None, device: str | None) -> dict:
    result = train(p["model"], out, dataset=p["dataset"], recipe=_recipe(p), model_args=_model_args(p),
                   n_train=p["n_train"], device=device, data_dir=data_dir, quiet=True)
    return _train_summary(result.metrics)


def _train_summary(metrics: dict) -> dict:
    return {k: metrics.get(k) for k in ("epochs", "train_acc_clean", "train_acc_adv")}


def _train_finished(out: Path) -> dict | None:
    checkpoint = out / CHECKPOINT_DIR
    if not (checkpoint / "config.json").is_file():  # the checkpoint directory appears whole, by one rename
        return None
    return _train_summary(read_config(checkpoint)["robench"]["metadata"]["training"]["metrics"])


TRAIN = Kind(
    "train",
    {"model": REQUIRED, "dataset": "cifar10", "recipe": "fast-at", "set": {}, "epochs": None, "seed": None,
     "width": None, "layers": None, "genotype": None, "n_train": None},
    check=_check_train,
    run=_run_train,
    finished=_train_finished,
    label=lambda p: f"{p['model']} {p['dataset']} {p['recipe']}",
)


# -- transfer -------------------------------------------------------------------------------------------------------

def _check_transfer(p: dict) -> None:
    if not isinstance(p["models"], list) or len(p["models"]) < 2:
        raise RobenchError(f"a transfer task needs a list of at least two models, not {p['models']!r}",
                           hint="models: [advrush_small, resnet18_small]")
    Protocol.of(_transfer_settings(p))


def _transfer_settings(p: dict) -> EvalSettings:
    return EvalSettings(dataset=p["dataset"], attacks=p["attack"], n_examples=p["n_examples"], seed=p["seed"],
                        eps=p["eps"], batch_size=p["batch_size"])  # fmt: skip


def _run_transfer(p: dict, out: Path, data_dir: str | None, device: str | None) -> dict:
    result = transfer_matrix(p["models"], targets=p["targets"], settings=_transfer_settings(p), data_dir=data_dir,
                             device=device, out=out)
    return _transfer_summary(result.record)


def _transfer_summary(record: dict) -> dict:
    square = record["sources"] == record["targets"]  # its diagonal is white-box, not transfer
    off = [v for i, row in enumerate(record["matrix"]) for j, v in enumerate(row) if not (square and i == j)]
    return {"mean_transfer_accuracy": sum(off) / len(off) if off else None}


def _transfer_finished(out: Path) -> dict | None:
    path = out / TRANSFER_NAME
    return _transfer_summary(read_record(path)) if path.is_file() else None


TRANSFER = Kind(
    "transfer",
    {"models": REQUIRED, "targets": None, "dataset": "cifar10", "attack": "pgd20", "n_examples": None,
     "batch_size": None, "seed": 0, "eps": None},
    check=_check_transfer,
    run=_run_transfer,
    finished=_transfer_finished,
    label=lambda p: f"{'x'.join(p['models'])} {p['dataset']} {p['attack']}",
    record=lambda out: out / TRANSFER_NAME,
)


# -- pipeline -------------------------------------------------------------------------------------------------------

def _plan(p: dict):
    return paper_plan(p["method"], p["scale"], dataset=p["dataset"], recipe=p["recipe"], name=p["name"], repo=p["repo"])


def _run_pipeline(p: dict, out: Path, data_dir: str | None, device: str | None) -> dict:
    # the sweep files the evaluation's record itself (Kind.record), with the rest of the sweep's records
    reproduce(_plan(p), out, data_dir=data_dir, device=device, quiet=True)
    return _pipeline_finished(out)


def _pipeline_finished(out: Path) -> dict | None:
    path = out / SUMMARY_FILE  # written last, once every stage has finished
    if not path.is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    return {"arch_id": summary["search"]["arch_id"], "clean": summary["evaluate"]["clean_accuracy"],
            "robust": summary["evaluate"]["robust_accuracy"]}


def _pipeline_record(out: Path) -> Path:
    return out / json.loads((out / SUMMARY_FILE).read_text(encoding="utf-8"))["evaluate"]["record"]


PIPELINE = Kind(
    "pipeline",
    {"method": REQUIRED, "scale": "small", "dataset": "cifar10", "recipe": None, "name": None, "repo": None},
    check=_plan,
    run=_run_pipeline,
    finished=_pipeline_finished,
    label=lambda p: f"{p['method']} {p['scale']} {p['dataset']}",
    record=_pipeline_record,
)

KINDS: dict[str, Kind] = {k.name: k for k in (EVAL, TRAIN, TRANSFER, PIPELINE)}


def get_kind(name: Any, where: str) -> Kind:
    if name not in KINDS:
        raise RobenchError(f"{where}: unknown task kind {name!r}", hint=f"kinds: {', '.join(KINDS)}")
    return KINDS[name]


def execute(kind: str, params: dict, out: str, data_dir: str | None, device: str | None) -> dict:
    """One task, as a worker runs it: resumes from whatever ``out`` holds; returns the task's summary."""
    return KINDS[kind].run(params, Path(out), data_dir, device)

"""The training loop: any zoo architecture, any recipe, resumable to the bit, single process or torchrun.

A run directory holds::

    run.json        what the run was asked for (model, data set, model arguments, recipe, training subset)
    state.pt        the latest resumable state (weights, optimiser, grad scaler, RNG states, position, meters)
    log.jsonl       one JSON record per logged step and per epoch
    checkpoint/     the final model, written by ``save_checkpoint`` (load it with ``local-dir:<run>/checkpoint``)

Running the same request on the same directory resumes from ``state.pt``; a different request is refused.
Under ``torchrun`` every rank draws the same global batch and trains on its own contiguous shard of it
(DistributedDataParallel averages the gradients); rank 0 writes all files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.distributed as dist
from torch import nn

from robench.data import Augment, TensorSplit, TrainLoader, get_dataset, load_split, select_subset
from robench.distributed import init_from_env, resolve_device
from robench.errors import RobenchError
from robench.progress import ProgressBars
from robench.train.adversary import adversary_from_recipe, training_step
from robench.train.recipes import Recipe, get_recipe, member_epochs
from robench.train.run_log import RunLog
from robench.rundir import claim
from robench.runstate import capture_rng, load_state, restore_rng, save_state, seed_everything
from robench.zoo import create_model
from robench.zoo.checkpoint import load_checkpoint, read_config, save_checkpoint
from robench.zoo.genotypes import genotype_from_str
from robench.zoo.registry import canonical_name, get_entry

_logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
STATE_FILE = "state.pt"
LOG_FILE = "log.jsonl"
CHECKPOINT_DIR = "checkpoint"
STATE_FORMAT = 1


@dataclass(frozen=True)
class RunSpec:
    """What a run directory was started with; resuming requires the same."""

    model: str
    dataset: str
    model_args: dict[str, Any]
    recipe: dict[str, Any]
    n_train: int | None
    lineage: dict[str, Any] | None = None  # what the architecture came from: a search's provenance

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


@dataclass
class TrainResult:
    """A finished run: its directory, the checkpoint written, the final training metrics, the trained model."""

    directory: Path
    checkpoint: Path
    metrics: dict[str, Any]
    model: nn.Module


class _TrainForward(nn.Module):
    """``forward_train`` over several inputs in one call, so DistributedDataParallel sees one forward per step."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        return [self.model.forward_train(x) for x in inputs]


@dataclass
class _Phase:
    """One stage of a run: ``module`` trains (its ``forward_train`` and parameters) under ``recipe``."""

    name: str  # "" when the whole model trains in one stage
    module: nn.Module
    recipe: Recipe

    @property
    def prefix(self) -> str:
        return f"{self.name}: " if self.name else ""


@dataclass
class _Session:
    """One call of the training loop: what it trains with, the phase in progress and the steps it has taken."""

    model: nn.Module
    loader: TrainLoader
    scaler: Any
    log: RunLog
    display: ProgressBars
    max_steps: int | None
    done: int = 0
    phase: _Phase | None = None
    last_phase: bool = False
    optimizer: torch.optim.Optimizer | None = None
    adversary: Any = None
    forward_train: nn.Module | None = None
    epochs_before: int = 0  # of the phases before this one: the loader's epoch count goes on across phases
    task: str = ""  # the epoch on display
    tick: float = 0.0  # when the images counted in ``images`` began
    images: int = 0

    @property
    def spent(self) -> bool:
        return self.max_steps is not None and self.done >= self.max_steps


class _Meter:
    """Running sums for one epoch, kept as tensors (no device sync per step) and saved with the state."""

    FIELDS = ("loss", "n", "correct_clean", "n_clean", "correct_adv", "n_adv")

    def __init__(self, device: torch.device, sums: torch.Tensor | None = None):
        fresh = torch.zeros(len(self.FIELDS), dtype=torch.float64)
        self.sums = (fresh if sums is None else sums).to(device)

    def update(self, loss: torch.Tensor, n: int, y: torch.Tensor, clean: torch.Tensor | None,
               adv: torch.Tensor | None) -> None:  # fmt: skip
        add = [loss.detach().double() * n, n, 0, 0, 0, 0]
        if clean is not None:
            add[2], add[3] = (clean.argmax(1) == y).sum().double(), y.numel()
        if adv is not None:
            add[4], add[5] = (adv.argmax(1) == y).sum().double(), y.numel()
        self.sums += torch.stack([torch.as_tensor(v, dtype=torch.float64, device=self.sums.device) for v in add])

    def summary(self, world: int) -> dict[str, float | None]:
        sums = self.sums.clone()
        if world > 1:
            dist.all_reduce(sums)
        loss, n, cc, nc, ca, na = sums.tolist()
        return {
            "loss": loss / n if n else None,
            "acc_clean": cc / nc if nc else None,
            "acc_adv": ca / na if na else None,
        }


def parameter_groups(model: nn.Module, weight_decay: float, no_wd_on_bn_bias: bool) -> list[dict[str, Any]]:
    """SGD parameter groups; with ``no_wd_on_bn_bias`` biases and norm-layer affine parameters (every
    parameter of dimension <= 1) get no weight decay, as in RobNet's ``no_wd``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not no_wd_on_bn_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def architecture_args(model: str, width: int | None = None, layers: int | None = None,
                      genotype: str | None = None) -> dict[str, int | str]:  # fmt: skip
    """Builder arguments for a generic width and depth: ``C`` for cell-based networks, ``width`` for
    baselines, ``layers`` where the architecture has a cell count; and ``genotype`` (a canonical string, as
    ``robench.search.read_genotype`` reads it from a search's result.json) for the architectures a search
    produces."""
    entry, args = get_entry(model), {}
    if genotype is not None:
        if "genotype" not in entry.parameters:
            raise RobenchError(f"{entry.name} has no genotype to set", hint="searched genotypes go to cell-based "
                               "entries such as advrush, arnas, robnet_free or random_ensemble")  # fmt: skip
        args["genotype"] = genotype_from_str(genotype).to_str()
    for value, names, what in ((width, ("C", "width"), "width"), (layers, ("layers",), "layers")):
        if value is None:
            continue
        name = next((n for n in names if n in entry.parameters), None)
        if name is None:
            accepted = ", ".join(entry.parameters)
            raise RobenchError(f"{entry.name} has no adjustable {what}", hint=f"{entry.name} accepts: {accepted}")
        args[name] = value
    return args


def training_subset(split: TensorSplit, n_train: int | None) -> TensorSplit:
    """The first ``n_train`` images of the split under robench's seed-0 hash order (all of it for None)."""
    if n_train is None:
        return split
    return split.subset(select_subset(len(split), n_train, seed=0))


class Trainer:
    """Train zoo architecture ``model`` on ``dataset``'s training split with ``recipe`` into ``out``.

    ``model_args`` override the architecture's builder arguments (``C``, ``layers``, ...); ``n_train`` trains
    on a fixed subset of the split. ``save_every_steps`` adds mid-epoch resumable states to the per-epoch
    ones; ``log_every`` is the step-record interval; for adversarial recipes the clean training accuracy is
    sampled with an extra eval-mode forward every ``clean_acc_every`` steps (0: never).
    """

    def __init__(
        self,
        model: str,
        out: str | Path,
        *,
        dataset: str = "cifar10",
        recipe: str | Recipe | Mapping[str, Any] = "fast-at",
        model_args: Mapping[str, Any] | None = None,
        n_train: int | None = None,
        device: str | torch.device | None = None,
        data_dir: str | Path | None = None,
        quiet: bool = False,
        save_every_steps: int | None = None,
        log_every: int = 50,
        clean_acc_every: int = 10,
        lineage: Mapping[str, Any] | None = None,
    ):
        self.rank, self.world = init_from_env()
        self.device = resolve_device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)  # NCCL collectives run on the current device
        self.recipe = get_recipe(recipe)
        self.dataset = get_dataset(dataset).name
        self.entry = get_entry(model)
        self.out = Path(out).expanduser()
        self.data_dir = data_dir
        self.quiet = quiet or self.rank != 0
        self.save_every_steps = save_every_steps
        self.log_every = log_every
        self.clean_acc_every = clean_acc_every
        args = dict(model_args or {})
        if self.recipe.members_separately and self.entry.family != "ensemble":
            raise RobenchError(f"recipe {self.recipe.name!r} trains an ensemble's members separately, and "
                               f"{self.entry.name} is not an ensemble",
                               hint="train random_ensemble with it, or --set members_separately=false")  # fmt: skip
        if self.recipe.aux_weight > 0:
            if not self.entry.has_auxiliary_head:
                raise RobenchError(
                    f"recipe {self.recipe.name!r} weights an auxiliary loss ({self.recipe.aux_weight}) but "
                    f"{self.entry.name} has no auxiliary head",
                    hint="--set aux_weight=0",
                )
            args["auxiliary"] = True
        unknown = sorted(set(args) - set(self.entry.parameters))
        if unknown:
            raise RobenchError(
                f"{self.entry.name} takes no argument(s) {', '.join(unknown)}",
                hint=f"{self.entry.name} accepts: {', '.join(self.entry.parameters)}",
            )
        self.spec = RunSpec(canonical_name(model), self.dataset, args, self.recipe.to_dict(), n_train,
                            dict(lineage) if lineage else None)
        if self.recipe.batch_size % self.world:
            raise RobenchError(
                f"batch size {self.recipe.batch_size} does not split evenly over {self.world} processes",
                hint="choose a batch size divisible by the number of processes (--set batch_size=...)",
            )
        self.amp = self.recipe.amp and self.device.type == "cuda"
        if self.recipe.amp and not self.amp:
            _logger.warning("recipe %s asks for mixed precision, which needs CUDA: training in float32 on %s",
                            self.recipe.name, self.device)  # fmt: skip

    # -- public -------------------------------------------------------------------------------------------------

    def run(self, max_steps: int | None = None) -> TrainResult | None:
        """Train (or resume) to the end and write the checkpoint; with ``max_steps``, stop after that many
        optimiser steps in this call, leaving a resumable state, and return None."""
        self._claim_directory()
        state = self._load_state()
        if state is not None and state.get("finished") and (self.out / CHECKPOINT_DIR / "config.json").is_file():
            return self._finished_result(state)

        recipe = self.recipe
        seed_everything(recipe.seed)  # the same initial weights on every rank and in every run
        model = self._build_model()
        seed_everything(recipe.seed + self.rank)  # then per-rank streams for random starts and drop-path
        split = training_subset(load_split(self.dataset, "train", self.data_dir), self.spec.n_train)
        augment = Augment(recipe.crop_padding, recipe.flip, recipe.cutout)
        loader = TrainLoader(split, recipe.batch_size, self.device, augment, seed=recipe.seed)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)
        position = {"phase": 0, "epoch": 0, "step": 0, "global_step": 0, "seconds": 0.0, "meter": None,
                    "last_epoch": None}  # fmt: skip
        log = RunLog(self.out / LOG_FILE, enabled=self.rank == 0)
        optimizer_state = None
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer_state = state["optimizer"]
            scaler.load_state_dict(state["scaler"])
            restore_rng(state["rng"][min(self.rank, len(state["rng"]) - 1)])
            position = {k: state.get(k, default) for k, default in position.items()}
            log.truncate_after(position["global_step"])
            _logger.info("resuming %s at epoch %d, step %d", self.out, position["epoch"] + 1, position["step"])
        if state is None or not state.get("finished"):
            try:
                finished = self._loop(model, loader, optimizer_state, scaler, position, log, max_steps)
            finally:
                model.requires_grad_(True)  # an ensemble's combining stage freezes the members
            if not finished:
                return None
        return self._finish(model, split, position)

    # -- setup --------------------------------------------------------------------------------------------------

    def _load_state(self) -> dict[str, Any] | None:
        path = self.out / STATE_FILE
        if not path.is_file():
            return None
        state = load_state(path)
        if state.get("format") != STATE_FORMAT:
            raise RobenchError(
                f"{path} has training-state format {state.get('format')}; this robench reads format {STATE_FORMAT}",
                hint="resume it with the robench version that started it, or start again in a new --out directory",
            )
        return state

    def _claim_directory(self) -> None:
        """Rank 0 checks or creates the run directory; every rank gets its verdict (so none waits forever)."""
        verdict: tuple[str, str | None] | None = None
        if self.rank == 0:
            try:
                self._claim()
            except RobenchError as err:
                verdict = (err.message, err.hint)
        if self.world > 1:
            box = [verdict]
            dist.broadcast_object_list(box, src=0)
            verdict = box[0]
        if verdict is not None:
            raise RobenchError(*verdict)

    def _claim(self) -> None:
        claim(self.out, RUN_FILE, self.spec.to_dict(), "a training run")

    def _build_model(self) -> nn.Module:
        model = create_model(self.spec.model, dataset=self.dataset, **self.spec.model_args)
        if self.recipe.drop_path > 0 and not hasattr(model, "drop_path_prob"):
            raise RobenchError(
                f"recipe {self.recipe.name!r} uses drop-path ({self.recipe.drop_path}) but {self.spec.model} has none",
                hint="--set drop_path=0",
            )
        model = model.to(self.device)
        if self.recipe.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model.train()

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp)

    def _barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    # -- the loop -----------------------------------------------------------------------------------------------

    def _phases(self, model: nn.Module) -> list[_Phase]:
        """What trains, one stage after the other: the whole model; or, for ``members_separately``, each member of
        the ensemble on its share of the epochs and then its combining head."""
        recipe = self.recipe
        if not recipe.members_separately:
            return [_Phase("", model, recipe)]
        cells = [layers for layers, _ in model.genotype.members]
        phases = [_Phase(f"member {i + 1}/{len(cells)}", model.member(i), recipe.replace(epochs=epochs))
                  for i, epochs in enumerate(member_epochs(recipe.epochs, cells))]  # fmt: skip
        combining = recipe.replace(epochs=recipe.combiner_epochs, warmup_epochs=0, drop_path=0.0, aux_weight=0.0)
        return [*phases, _Phase("combiner", model.combining_stage(), combining)]

    def _optimizer(self, module: nn.Module, recipe: Recipe, steps_per_epoch: int) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            parameter_groups(module, recipe.weight_decay, recipe.no_wd_on_bn_bias),
            lr=recipe.lr_at(0, 0, steps_per_epoch), momentum=recipe.momentum, nesterov=recipe.nesterov,
        )  # fmt: skip

    def _train_forward(self, module: nn.Module) -> nn.Module:
        forward_train: nn.Module = _TrainForward(module)
        if self.world > 1:
            forward_train = nn.parallel.DistributedDataParallel(
                forward_train, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                broadcast_buffers=False,  # _sync_buffers does it after every step instead
            )
        return forward_train

    def _loop(self, model, loader, optimizer_state, scaler, position, log, max_steps) -> bool:
        """Train from ``position`` to the end of the last phase (True), or until ``max_steps`` steps ran in this
        call (False); the position is saved either way."""
        phases = self._phases(model)
        with ProgressBars(self.quiet) as display:
            run = _Session(model, loader, scaler, log, display, max_steps)
            for index in range(position["phase"], len(phases)):
                if index != position["phase"]:
                    position.update(phase=index, epoch=0, step=0, meter=None)
                    optimizer_state = None  # the next stage trains other parameters, from a fresh optimiser
                if position["epoch"] >= phases[index].recipe.epochs:
                    continue
                self._start_phase(run, phases, index, optimizer_state)
                while position["epoch"] < run.phase.recipe.epochs:
                    if not self._epoch(run, position):
                        return False
        return True

    def _start_phase(self, run: _Session, phases: list[_Phase], index: int, optimizer_state: dict | None) -> None:
        phase = phases[index]
        phase.module.train()
        run.phase, run.last_phase = phase, index == len(phases) - 1
        run.optimizer = self._optimizer(phase.module, phase.recipe, len(run.loader))
        if optimizer_state is not None:
            run.optimizer.load_state_dict(optimizer_state)
        run.adversary, run.forward_train = adversary_from_recipe(phase.recipe), self._train_forward(phase.module)
        run.epochs_before = sum(p.recipe.epochs for p in phases[:index])

    def _epoch(self, run: _Session, position: dict) -> bool:
        """The epoch at ``position``, from its step on; False when the step budget ran out before its end."""
        phase, recipe, steps = run.phase, run.phase.recipe, len(run.loader)
        epoch, first = position["epoch"], position["step"]
        if hasattr(phase.module, "drop_path_prob"):
            phase.module.drop_path_prob = recipe.drop_path_at(epoch)
        meter = _Meter(self.device, position["meter"])
        run.loader.set_epoch(run.epochs_before + epoch)
        batches = iter(run.loader)
        for _ in range(first):  # replay the epoch's draws up to the resume point
            next(batches)
        run.task = f"{phase.prefix}epoch {epoch + 1}/{recipe.epochs}"
        run.display.report(run.task, first, steps)
        run.tick, run.images = time.perf_counter(), 0
        for step in range(first, steps):
            lr = self._step(run, meter, position, step, *self._shard(*next(batches)))
            if step + 1 == steps:
                break
            periodic = self.save_every_steps and position["global_step"] % self.save_every_steps == 0
            if run.spent or periodic:
                position["meter"] = meter.sums.cpu()
                position["seconds"] += time.perf_counter() - run.tick
                run.tick, run.images = time.perf_counter(), 0
                self._save(run.model, run.optimizer, run.scaler, position)
            if run.spent:
                return False
        position["seconds"] += time.perf_counter() - run.tick
        record = self._record("epoch", phase, position, meter, lr, None)
        record["seconds"] = round(position["seconds"], 3)
        run.log.write(record)
        if self.rank == 0:
            warn_if_single_step_overfitting(recipe, record)
        run.display.print(_stats_text(record, prefix=run.task))
        run.display.finish(run.task)
        position.update(epoch=epoch + 1, step=0, meter=None)
        position["last_epoch"] = record
        finished = run.last_phase and position["epoch"] == recipe.epochs
        self._save(run.model, run.optimizer, run.scaler, position, finished=finished)
        return finished or not run.spent

    def _step(self, run: _Session, meter: _Meter, position: dict, step: int, x: torch.Tensor,
              y: torch.Tensor) -> float:
        """One optimiser step on the batch ``x, y``; its learning rate."""
        recipe, module = run.phase.recipe, run.phase.module
        lr = recipe.lr_at(position["epoch"], step, len(run.loader))
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        out = training_step(module, run.forward_train, x, y, recipe, run.adversary, self._autocast)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(out.loss).backward()
        if recipe.grad_clip is not None:
            run.scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_(module.parameters(), recipe.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        self._sync_buffers(run.model)
        position["global_step"] += 1
        clean = self._clean_logits(module, out, x, position["global_step"])
        meter.update(out.loss, y.shape[0], y, clean, out.logits_adv)
        run.images += y.shape[0] * self.world
        position["step"] = step + 1
        run.done += 1
        if self.log_every and position["global_step"] % self.log_every == 0:
            record = self._record("step", run.phase, position, meter, lr, run.images / (time.perf_counter() - run.tick))
            run.log.write(record)
            run.display.report(run.task, step + 1, len(run.loader), _stats_text(record))
        else:
            run.display.report(run.task, step + 1, len(run.loader))
        return lr

    def _sync_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's batch-norm statistics after each step, so all ranks hold the very state that
        rank 0 saves (eval-mode attacks on other ranks then read the same statistics, resumed or not)."""
        if self.world > 1:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    def _shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.recipe.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.world == 1:
            return x, y
        return x.tensor_split(self.world)[self.rank], y.tensor_split(self.world)[self.rank]

    def _clean_logits(self, model: nn.Module, out, x: torch.Tensor, global_step: int) -> torch.Tensor | None:
        """Clean logits of the step if it computed them; for adversarial-only objectives an eval-mode forward
        every ``clean_acc_every`` steps (no RNG draw, no BN update, so training is unaffected)."""
        if out.logits_clean is not None:
            return out.logits_clean.detach()
        if not self.clean_acc_every or self.recipe.adversary == "none":
            return None
        if global_step % self.clean_acc_every:
            return None
        model.eval()
        with torch.no_grad(), self._autocast():
            logits = model(x)
        model.train()
        return logits

    def _record(self, event: str, phase: _Phase, position: dict, meter: _Meter, lr: float,
                images_per_s: float | None) -> dict:  # fmt: skip
        record: dict[str, Any] = {"event": event, "epoch": position["epoch"] + 1, "step": position["global_step"],
                                  **meter.summary(self.world), "lr": lr}  # fmt: skip
        if phase.name:
            record["phase"] = phase.name
        if images_per_s is not None:
            record["images_per_s"] = round(images_per_s, 2)
        return record

    def _save(self, model, optimizer, scaler, position, finished: bool = False) -> None:
        rng = capture_rng()
        if self.world > 1:
            gathered: list[Any] = [None] * self.world
            dist.all_gather_object(gathered, rng)
            rngs = gathered
        else:
            rngs = [rng]
        if self.rank == 0:
            save_state(self.out / STATE_FILE, {
                "format": STATE_FORMAT,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rngs,
                "phase": position["phase"],
                "epoch": position["epoch"],
                "step": position["step"],
                "global_step": position["global_step"],
                "seconds": position["seconds"],
                "meter": position["meter"],
                "last_epoch": position["last_epoch"],
                "finished": finished,
            })  # fmt: skip
        self._barrier()

    # -- the end ------------------------------------------------------------------------------------------------

    def _finish(self, model: nn.Module, split: TensorSplit, position: dict) -> TrainResult:
        last = position["last_epoch"] or {}
        metrics = {
            "epochs": self.recipe.epochs,
            "steps": position["global_step"],
            "train_loss": last.get("loss"),
            "train_acc_clean": last.get("acc_clean"),
            "train_acc_adv": last.get("acc_adv"),
            "train_seconds": round(position["seconds"], 1),
        }
        export = self._export_model(model)
        checkpoint = self.out / CHECKPOINT_DIR
        if self.rank == 0:
            metadata = {"training": self._provenance(split, metrics)}
            if self.spec.lineage:
                metadata["search"] = self.spec.lineage
            save_checkpoint(export, checkpoint, recipe=self.recipe.to_dict(), threat_model=self._threat_model(),
                            metadata=metadata)
        self._barrier()
        return TrainResult(self.out, checkpoint, metrics, export.eval())

    def _finished_result(self, state: dict) -> TrainResult:
        checkpoint = self.out / CHECKPOINT_DIR
        metrics = read_config(checkpoint)["robench"]["metadata"]["training"]["metrics"]
        _logger.info("%s already finished %d epochs; its checkpoint is %s", self.out, state["epoch"], checkpoint)
        return TrainResult(self.out, checkpoint, metrics, load_checkpoint(checkpoint, device=self.device))

    def _export_model(self, model: nn.Module) -> nn.Module:
        """The trained model as published: the auxiliary head (a training-only device) removed."""
        if not self.spec.model_args.get("auxiliary"):
            return model.eval()
        args = {**self.spec.model_args, "auxiliary": False}
        export = create_model(self.spec.model, dataset=self.dataset, **args).to(self.device)
        # the model's own auxiliary head, or its members' (an ensemble's)
        weights = {k: v for k, v in model.state_dict().items() if ".auxiliary_head." not in f".{k}"}
        export.load_state_dict(weights, strict=True)
        return export.eval()

    def _threat_model(self) -> dict[str, Any] | None:
        if self.recipe.adversary == "none":
            return None
        return {"norm": "Linf", "eps": self.recipe.eps_value, "eps_text": self.recipe.eps}

    def _provenance(self, split: TensorSplit, metrics: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": self.recipe.description(),
            "dataset": self.dataset,
            "split": "train",
            "n_train": len(split),
            "data_sha256": split.sha256,
            "model_args": self.spec.model_args,
            "metrics": metrics,
            "device": str(self.device),
            "world_size": self.world,
            "mixed_precision": self.amp,
            "torch": torch.__version__,
        }


def warn_if_single_step_overfitting(recipe: Recipe, record: dict[str, Any]) -> bool:
    """Whether an epoch of single-step (FGSM-RS) training classified its adversarial inputs better than its clean
    ones, and if so warn: that is the signature of catastrophic overfitting (Wong et al. 2020, Andriushchenko &
    Flammarion 2020), where the one-step perturbation stops being an attack and multi-step PGD accuracy falls
    towards zero."""
    clean, adv = record.get("acc_clean"), record.get("acc_adv")
    if recipe.adversary != "fgsm-rs" or clean is None or adv is None or adv <= clean:
        return False
    _logger.warning("epoch %d of recipe %s classified its FGSM-RS inputs better than its clean ones (%.1f%% vs "
                    "%.1f%%): the signature of catastrophic overfitting, after which PGD accuracy collapses; check the "
                    "checkpoint with `robench eval ... --attack pgd20` before trusting it, and retrain with a smaller "
                    "step_size, fewer epochs or a multi-step recipe", record["epoch"], recipe.name, 100 * adv,
                    100 * clean)  # fmt: skip
    return True


def _stats_text(record: dict[str, Any], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for key, label in (("loss", "loss"), ("acc_clean", "clean"), ("acc_adv", "adv")):
        if record.get(key) is not None:
            parts.append(f"{label} {record[key]:.4f}")
    parts.append(f"lr {record['lr']:.4g}")
    if record.get("images_per_s"):
        parts.append(f"{record['images_per_s']:.0f} img/s")
    return "  ".join(parts)


def train(model: str, out: str | Path, **kwargs: Any) -> TrainResult | None:
    """Train ``model`` into the run directory ``out`` (see :class:`Trainer` for the options) and return the
    result; calling it again on the same directory resumes, or returns the finished run."""
    return Trainer(model, out, **kwargs).run()

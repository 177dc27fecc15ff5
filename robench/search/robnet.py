"""RobNet's search (Guo et al., CVPR 2020): one-shot adversarial training of a supernet with path dropout, then
sampled architectures ranked by their PGD accuracy after a short adversarial fine-tuning.

1. The supernet (:class:`RobNetSupernet`) is trained with PGD-7 adversarial training; every step runs a freshly
   sampled sub-architecture (each edge op kept with probability ``keep_prob``).
2. ``candidates`` architectures are sampled; with a budget (``max_params``, ``max_flops``: of the network the
   genotype builds at ``budget_C`` channels, counted by :class:`BudgetCosts`) only architectures within it. The
   FSP filter, which the paper uses for its cell-free search (on by default there), keeps the fraction
   ``fsp_keep`` with the smallest FSP distance between clean and adversarial inputs in the deep cells (those
   after the second reduction), measured with the supernet's weights.
3. Each kept candidate is fine-tuned for ``finetune_epochs`` epochs of PGD-7 adversarial training from the
   supernet's weights (the masked supernet, as the authors did), then attacked with ``eval_attack`` on held-out
   training images; the best PGD accuracy wins (ties: clean accuracy).

The candidate stage (the FSP distances, then fine-tuning and attacking each kept candidate) runs through a
:mod:`robench.executor`: one candidate after another by default, or as parallel Ray tasks. Each candidate
starts from the supernet's weights and seeds itself from its own arch_id, so its result does not depend on the
executor or on the order candidates run in.

No code of this search was released; the paper and the authors' answers fix the procedure, not most of its
values: :class:`RobNetSearchConfig` marks each value the paper does not publish. Every phase is resumable: the
supernet per epoch, the candidates one by one.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import random
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from robench.data import Augment, TensorSplit, TrainLoader, get_dataset, iter_batches, parse_eps, select_subset
from robench.data.loader import derive_seed
from robench.distributed import resolve_device
from robench.errors import RobenchError
from robench.evaluate.attacks import build_stages, resolve_attack
from robench.evaluate.metrics import wilson_interval
from robench.executor import Job, Outcome, RayExecutor, Resources, SerialExecutor, gpus_per_job
from robench.perturb import Adversary, perturb
from robench.runstate import capture_rng, restore_rng, seed_everything
from robench.search.base import STATE_FORMAT, Preset, Search
from robench.search.run import SearchResult
from robench.search.robnet_space import BudgetCosts, RobNetSupernet
from robench.zoo.fsp import fsp_distance
from robench.zoo.genotypes import RobNetGenotype

CANDIDATES_FILE = "candidates.jsonl"

_logger = logging.getLogger(__name__)


# The kept fraction when the FSP filter is on and ``fsp_keep`` is not set: robench's, the paper gives none.
FSP_KEEP_CELL_FREE = 0.5


@dataclass(frozen=True)
class RobNetSearchConfig:
    """The search's settings. Published (the paper, the authors' answers in RobNets issues #9/#12, SPEC 4.3):
    the search space, PGD adversarial training of the supernet with path dropout, ``candidates`` = 1,000
    sampled architectures, ``finetune_epochs`` = 3, ranking by PGD accuracy, the FSP filter for the cell-free
    search, budgeted searches at small / medium / large sizes. The adversary is the released training PGD
    (``main.py``: 7 steps of 2/255 in an 8/255 ball from a uniform start, the model in train mode).

    Not published, so robench's choice: the supernet's width, depth, batch, epochs, learning rates and schedule
    (``C``, ``layers``, ``batch_size``, ``supernet_epochs``, ``lr``, ``lr_min``, ``momentum``, ``weight_decay``;
    the training ones follow RobNets' ``main.py``), the path-dropout rate ``keep_prob``, the fine-tuning
    ``finetune_lr``, the held-out ``n_val`` images and the ranking attack ``eval_attack``, the FSP threshold
    (``fsp_keep``; None: ``FSP_KEEP_CELL_FREE`` for a cell-free search, off for a cell-based one), the FSP's deep
    cells (those after the second reduction), and the budget values (the presets take the paper's reported sizes
    of RobNet-small / -medium / -large as caps) and the network they are counted on (``budget_C`` channels,
    ``budget_layers`` cells for a cell-based search, the searched cells for a cell-free one), and ``seed``.
    """

    cell_free: bool = False
    C: int = 16
    layers: int = 8
    batch_size: int = 128
    supernet_epochs: int = 10
    lr: float = 0.1
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    keep_prob: float = 0.5
    eps: str = "8/255"
    step_size: str = "2/255"
    steps: int = 7
    candidates: int = 1000
    fsp_keep: float | None = None
    max_params: float | None = None
    max_flops: float | None = None
    budget_C: int = 36
    budget_layers: int = 20
    finetune_epochs: int = 3
    finetune_lr: float = 0.01
    n_val: int = 1000
    eval_attack: str = "pgd20"
    crop_padding: int = 4
    flip: bool = True
    seed: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.keep_prob <= 1 or not 0 < self.fsp_fraction <= 1:
            raise RobenchError("keep_prob and fsp_keep must be in (0, 1]", hint="e.g. keep_prob=0.5 fsp_keep=0.5")
        if min(self.candidates, self.supernet_epochs, self.n_val, self.batch_size) < 1 or self.finetune_epochs < 0:
            raise RobenchError("candidates, supernet_epochs, n_val and batch_size must be positive",
                               hint="e.g. candidates=20 supernet_epochs=1")  # fmt: skip
        if any(b is not None and b <= 0 for b in (self.max_params, self.max_flops)) or min(self.budget_C,
                                                                                            self.budget_layers) < 1:
            raise RobenchError("max_params and max_flops must be positive (or none), budget_C and budget_layers "
                               "at least 1", hint="e.g. max_params=4.41e6, or max_params=none")  # fmt: skip

    @property
    def fsp_fraction(self) -> float:
        """The fraction of candidates the FSP filter keeps (1: the filter is off)."""
        if self.fsp_keep is not None:
            return self.fsp_keep
        return FSP_KEEP_CELL_FREE if self.cell_free else 1.0

    @property
    def budgeted(self) -> bool:
        return self.max_params is not None or self.max_flops is not None

    @property
    def adversary(self) -> Adversary:
        return Adversary(parse_eps(self.eps), parse_eps(self.step_size), self.steps, "uniform", "train")


ROBNET_PRESETS = {
    "cell-based": Preset(RobNetSearchConfig(), (
        "the paper's cell-based search: one cell shared by all layers, 1,000 sampled candidates fine-tuned 3 "
        "epochs each and ranked by PGD accuracy, no FSP filter; every other value is robench's "
        "(RobNetSearchConfig lists them)")),
    "cell-free": Preset(RobNetSearchConfig(cell_free=True, layers=20), (
        "the paper's cell-free search: one cell per layer of the 20-cell network (RobNet-free's), the FSP "
        f"filter on (robench keeps {FSP_KEEP_CELL_FREE:g} of the candidates: the paper's threshold is "
        "unpublished), then fine-tuning and ranking as in the cell-based search")),
    **{name: Preset(RobNetSearchConfig(max_params=size), (
        f"the paper's budgeted cell-based search at the {name} budget: candidates of at most {size / 1e6:.2f}M "
        f"parameters (the size the paper reports for RobNet-{name}, used as the cap: the paper publishes the "
        "found networks' sizes, not its budget values; counted on the 36-channel, 20-cell CIFAR network with "
        "the data set's classes, where the paper's counts match a 100-way classifier, SPEC 3.3)"))
       for name, size in (("small", 4.41e6), ("medium", 5.66e6), ("large", 6.89e6))},
}  # fmt: skip


class RobNetSearch(Search):
    """The RobNet search; its genotype builds ``robnet_free`` (cell-free) or ``robnet_large`` (one shared cell)."""

    method = "robnet"
    config_type = RobNetSearchConfig
    budget_fields = ("C", "layers", "supernet_epochs", "candidates", "finetune_epochs")
    presets = ROBNET_PRESETS

    def __init__(self, config: RobNetSearchConfig | None = None, *,
                 executor: SerialExecutor | RayExecutor | None = None, gpus_per_task: float | None = None,
                 **kwargs):  # fmt: skip
        """``executor`` runs the candidate stage (default: serially, here); under Ray each candidate reserves one
        CPU and ``gpus_per_task`` GPUs (default: one where the cluster has GPUs)."""
        super().__init__(config, **kwargs)
        self.executor = executor or SerialExecutor()
        self.gpus_per_task = gpus_per_task
        # what each candidate's worker resolves for itself: None there means the GPU that worker was given
        self.worker_device = kwargs.get("device")

    @property
    def zoo_entry(self) -> str:
        return "robnet_free" if self.config.cell_free else "robnet_large"

    def _search(self) -> SearchResult:
        cfg = self.config
        train, val = self._splits()
        seed_everything(cfg.seed)
        supernet = RobNetSupernet(cfg.C, self.spec.num_classes, cfg.layers, cfg.cell_free).to(self.device)
        started = time.perf_counter() - self._train_supernet(supernet, train)
        candidates = self._sample_candidates(supernet)
        scored = self._score(supernet, candidates, train, val)
        best = max(scored, key=lambda c: (c["robust_accuracy"], c["clean_accuracy"]))
        details = {"best": best, "candidates": scored, "fsp_keep": cfg.fsp_fraction,
                   "ranking_at_chance": self._warn_if_at_chance(scored),
                   "supernet_history": self.run_dir.read_log()}  # fmt: skip
        return self.run_dir.finish(RobNetGenotype.from_str(best["genotype"]), details, time.perf_counter() - started)

    def _warn_if_at_chance(self, scored: list[dict]) -> bool:
        """Whether no candidate's clean accuracy on the held-out images is above chance (its 95% interval
        reaches 1 / classes): then the supernet has not learnt and the ranking, hence the winner, is noise."""
        n_val, chance = self.config.n_val, 1 / self.spec.num_classes
        top = max(c["clean_accuracy"] for c in scored)
        low, high = wilson_interval(round(top * n_val), n_val)
        if low > chance:
            return False
        _logger.warning("no RobNet candidate is above chance: the best clean accuracy on the %d held-out images is "
                        "%.1f%% (95%% CI %.1f-%.1f%%, chance %.1f%%), so the supernet has not learnt and the chosen "
                        "architecture is in effect a random draw; train the supernet longer (supernet_epochs) or "
                        "on more images (n_train)", n_val, 100 * top, 100 * low, 100 * high, 100 * chance)
        return True

    # -- phases --------------------------------------------------------------------------------------------------

    def _train_supernet(self, supernet: RobNetSupernet, train: TensorSplit) -> float:
        """Path-dropout PGD training of the supernet, resumable per epoch; returns the seconds spent so far."""
        cfg = self.config
        optimizer = torch.optim.SGD(supernet.parameters(), cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        loader = _loader(train, cfg, self.device, "supernet")
        epoch, seconds = 0, 0.0
        state = self.load_state()
        if state is not None:
            supernet.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            restore_rng(state["rng"])
            epoch, seconds = state["epoch"], state["seconds"]
        self.run_dir.truncate_log(epoch)
        started = time.perf_counter() - seconds
        while epoch < cfg.supernet_epochs:
            lr = cfg.lr_min + (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * epoch / cfg.supernet_epochs)) / 2
            for group in optimizer.param_groups:
                group["lr"] = lr
            rng = random.Random(derive_seed(cfg.seed, epoch, "paths"))

            def sample_path() -> None:
                supernet.set_architecture(supernet.sample_architecture(rng, cfg.keep_prob))

            loader.set_epoch(epoch)
            loss, acc = _adversarial_epoch(supernet, loader, optimizer, cfg.adversary, before_step=sample_path)
            self.run_dir.log({"epoch": epoch, "lr": lr, "train_loss": loss, "train_acc_adv": acc})
            self.report("supernet", epoch + 1, cfg.supernet_epochs)
            epoch += 1
            self.run_dir.save_state({"format": STATE_FORMAT, "model": supernet.state_dict(),
                                     "optimizer": optimizer.state_dict(), "rng": capture_rng(), "epoch": epoch,
                                     "seconds": time.perf_counter() - started})  # fmt: skip
        return time.perf_counter() - started

    def _sample_candidates(self, supernet: RobNetSupernet) -> list[RobNetGenotype]:
        """``candidates`` distinct architectures, each within the budget (uniform draws under it, by rejection)."""
        cfg = self.config
        within = self._budget_check()
        rng = random.Random(derive_seed(cfg.seed, "candidates"))
        found: dict[str, RobNetGenotype] = {}
        tries = 0
        while len(found) < cfg.candidates and tries < 100 * cfg.candidates:
            genotype = supernet.sample_architecture(rng, cfg.keep_prob)
            if within(genotype):
                found.setdefault(genotype.to_str(), genotype)
            tries += 1
        if not found:
            raise RobenchError(f"none of {tries} sampled architectures fits the budget (max_params={cfg.max_params}, "
                               f"max_flops={cfg.max_flops})", hint="raise the budget or keep_prob")  # fmt: skip
        return list(found.values())

    def _budget_check(self):
        cfg = self.config
        if not cfg.budgeted:
            return lambda genotype: True
        costs = BudgetCosts(cfg.budget_C, cfg.layers if cfg.cell_free else cfg.budget_layers,
                            self.spec.num_classes, self.spec.image_size[-1])  # fmt: skip

        def within(genotype: RobNetGenotype) -> bool:
            return (cfg.max_params is None or costs.params(genotype) <= cfg.max_params) and \
                (cfg.max_flops is None or costs.flops(genotype) <= cfg.max_flops)

        return within

    def _score(self, supernet, candidates, train, val) -> list[dict]:
        """FSP filter, then fine-tune and attack each kept candidate; finished candidates are read back."""
        cfg = self.config
        path = self.run_dir.directory / CANDIDATES_FILE
        done = {c["genotype"]: c for c in map(json.loads, path.read_text().splitlines())} if path.is_file() else {}
        with self.executor:
            shared = self.executor.put((copy.deepcopy(supernet).cpu(), train, val))
            fsp: dict[str, float] = {}
            kept = candidates
            if cfg.fsp_fraction < 1:
                fsp = {key: c["fsp"] for key, c in done.items()}
                todo = [g for g in candidates if g.to_str() not in fsp]
                measured = self._candidate_stage("fsp", _candidate_fsp, shared, [(g,) for g in todo],
                                                 len(candidates) - len(todo))
                fsp.update({g.to_str(): value for g, value in zip(todo, measured)})
                keep = max(1, round(cfg.fsp_fraction * len(candidates)))
                kept = sorted(candidates, key=lambda g: fsp[g.to_str()])[:keep]
            todo = [(n, g) for n, g in enumerate(kept) if g.to_str() not in done]

            def save(outcome: Outcome) -> None:  # as each candidate ends, so an interrupted search keeps it
                if outcome.ok:
                    entry = {**outcome.value, "fsp": fsp.get(outcome.value["genotype"])}
                    done[entry["genotype"]] = entry
                    with open(path, "a") as f:
                        f.write(json.dumps(entry, sort_keys=True) + "\n")

            self._candidate_stage("candidates", _candidate_score, shared, [(g, n) for n, g in todo],
                                  len(kept) - len(todo), on_result=save)
        return [done[g.to_str()] for g in kept]

    def _candidate_stage(self, phase: str, fn, shared, items: list[tuple], already: int, on_result=None) -> list:
        """``fn(shared, config, device, genotype, ...)`` for each item ``(genotype, ...)`` through the executor;
        the values in the items' order. A failed candidate is an error once the others have ended (and been
        saved)."""
        total = already + len(items)
        self.report(phase, already, total)
        if not items:
            return []
        resources = Resources(cpus=1, gpus=gpus_per_job(self.executor, self.gpus_per_task))
        jobs = [Job(f"{phase}-{item[0].arch_id}", fn, (shared, self.config, self.worker_device, *item),
                    resources=resources) for item in items]  # fmt: skip
        count = already

        def ended(outcome: Outcome) -> None:
            nonlocal count
            if on_result is not None:
                on_result(outcome)
            count += 1
            self.report(phase, count, total)

        outcomes = self.executor.run(jobs, on_result=ended)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise RobenchError(f"{len(failed)} of {len(jobs)} RobNet candidates failed in the {phase} phase "
                               f"({failed[0].key}: {failed[0].error})",
                               hint="fix the cause and run the same command again: finished candidates are kept")
        return [o.value for o in outcomes]

    # -- data ------------------------------------------------------------------------------------------------------

    def _splits(self) -> tuple[TensorSplit, TensorSplit]:
        split = self.training_split()
        if self.config.n_val >= len(split):
            raise RobenchError(f"n_val={self.config.n_val} leaves no training images of {len(split)}",
                               hint="lower n_val or use more training images")  # fmt: skip
        val = select_subset(len(split), self.config.n_val, seed=self.config.seed)
        mask = torch.ones(len(split), dtype=torch.bool)
        mask[val] = False
        return split.subset(mask.nonzero().flatten()), split.subset(val)


# -- the candidate stage: one job per candidate, run by an executor (in this process or a Ray worker) -------------

def _candidate_fsp(shared, cfg: RobNetSearchConfig, device, genotype: RobNetGenotype) -> float:
    """The FSP distance between clean and adversarial inputs in the deep cells, with the supernet's weights."""
    supernet, _, val = shared
    device = resolve_device(device)
    supernet = copy.deepcopy(supernet).to(device)  # the shared copy stays untouched for the other candidates
    supernet.set_architecture(genotype)
    supernet.eval()
    deep = list(range(2 * cfg.layers // 3 + 1, cfg.layers))
    x, y, _ = next(iter_batches(val, torch.arange(min(len(val), cfg.batch_size)), len(val), device))
    torch.manual_seed(derive_seed(cfg.seed, "fsp") % 2**63)
    # in eval mode: measuring a candidate must not move the supernet's batch-norm statistics
    x_adv = perturb(supernet, x, replace(cfg.adversary, mode="eval"), _summed_ce(y), contextlib.nullcontext)
    return fsp_distance(supernet, x, x_adv, deep or [cfg.layers - 1])


def _candidate_score(shared, cfg: RobNetSearchConfig, device, genotype: RobNetGenotype, n: int) -> dict:
    """``finetune_epochs`` of PGD training from the supernet's weights, then clean and attacked accuracy."""
    supernet, train, val = shared
    device = resolve_device(device)
    model = copy.deepcopy(supernet).to(device)
    model.set_architecture(genotype)
    torch.manual_seed(derive_seed(cfg.seed, "finetune", genotype.arch_id) % 2**63)
    optimizer = torch.optim.SGD(model.parameters(), cfg.finetune_lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)  # fmt: skip
    loader = _loader(train, cfg, device, f"finetune-{genotype.arch_id}")
    for epoch in range(cfg.finetune_epochs):
        loader.set_epoch(epoch)
        _adversarial_epoch(model, loader, optimizer, cfg.adversary)
    clean, robust = _attack_accuracy(model.subnet().eval(), val, cfg, device)
    return {"genotype": genotype.to_str(), "arch_id": genotype.arch_id, "density": genotype.density,
            "clean_accuracy": clean, "robust_accuracy": robust, "index": n}  # fmt: skip


def _loader(split: TensorSplit, cfg: RobNetSearchConfig, device, purpose: str) -> TrainLoader:
    return TrainLoader(split, min(cfg.batch_size, len(split)), device, Augment(cfg.crop_padding, cfg.flip, 0),
                       derive_seed(cfg.seed, purpose))  # fmt: skip


def _summed_ce(y: torch.Tensor):
    return lambda logits: F.cross_entropy(logits, y, reduction="sum")


def _adversarial_epoch(model, loader, optimizer, adversary: Adversary, before_step=None) -> tuple[float, float]:
    """One epoch of PGD adversarial training (cross-entropy on the adversarial examples only)."""
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in loader:
        if before_step is not None:
            before_step()
        x_adv = perturb(model, x, adversary, _summed_ce(y), contextlib.nullcontext)
        logits = model(x_adv)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    return loss_sum / seen, correct / seen


def _attack_accuracy(model, split: TensorSplit, cfg: RobNetSearchConfig, device) -> tuple[float, float]:
    """Clean and ``cfg.eval_attack`` accuracy on ``split`` (an attack preset of ``robench.evaluate``)."""
    spec = get_dataset(split.dataset)
    attack = resolve_attack(cfg.eval_attack, spec.threat_model())
    (stage,) = build_stages(attack, model, spec.num_classes, cfg.seed, device)
    clean = robust = 0
    for x, y, _ in iter_batches(split, torch.arange(len(split)), cfg.batch_size, device):
        with torch.no_grad():
            correct = model(x).argmax(1) == y
        torch.manual_seed(cfg.seed)
        x_adv = stage.run(x[correct], y[correct]) if correct.any() else x[correct]
        with torch.no_grad():
            robust += int((model(x_adv).argmax(1) == y[correct]).sum()) if correct.any() else 0
        clean += int(correct.sum())
    return clean / len(split), robust / len(split)

"""Black-box transfer matrices: adversarial examples crafted on each source, evaluated on every target.

Each source's examples are generated once and cached on disk (keyed by the source's weights, the attack, the
data subset and the seed), so an N x N matrix costs N attack runs instead of N^2; the diagonal is the
white-box accuracy. Entry [i][j] is the accuracy of target j on the examples crafted on source i, over all
points (AdvRush Table 2 convention).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from robench.errors import RobenchError
from robench.evaluate.attacks import build_stages
from robench.evaluate.provenance import environment, weights_sha256
from robench.evaluate.records import TRANSFER_SCHEMA_ID, sha256_of, write_record
from robench.evaluate.runner import Protocol, load_model, pick_batch_size, prepare_device, speed_config
from robench.evaluate.settings import EvalSettings
from robench.evaluate.speed import attack_ready
from robench.rundir import atomic_write, make_dir


@dataclass
class TransferResult:
    record: dict

    @property
    def matrix(self) -> list[list[float]]:
        return self.record["matrix"]


def transfer_matrix(
    sources: Sequence[nn.Module | str],
    targets: Sequence[nn.Module | str] | None = None,
    settings: EvalSettings | None = None,
    *,
    names: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    out: str | Path | None = None,
    cache_dir: str | Path | None = None,
    **fields: Any,
) -> TransferResult:
    """Accuracy of every target on adversarial examples crafted on every source under ``settings`` (one attack;
    keyword ``fields`` replace its fields, as for :func:`robench.evaluate.evaluate`). ``targets`` defaults to the
    sources (a square matrix whose diagonal is white-box); ``names`` labels sources then targets. Every model
    runs as an evaluation runs it."""
    settings = EvalSettings.of(settings, fields)
    device = prepare_device(settings, device)
    protocol = Protocol.of(settings)
    if len(protocol.attacks) != 1:
        raise RobenchError(f"a transfer matrix crafts with one attack, not {len(protocol.attacks)}",
                           hint="give one attack, e.g. attacks='pgd20'")
    (config,) = protocol.attacks
    speed, seed = settings.speed, settings.seed
    out = make_dir(out) if out is not None else None
    models, labels = _load_all(list(sources) + list(targets or []), names, protocol.spec.name, device)
    k = len(sources)
    src_sha = [weights_sha256(m) for m in models[:k]]
    tgt_sha = [weights_sha256(m) for m in models[k:]] if targets else src_sha
    src_names, tgt_names = labels[:k], (labels[k:] if targets else labels[:k])

    with ExitStack() as stack:
        run = [stack.enter_context(attack_ready(m, speed, device)) for m in models]
        src_models, tgt_models = run[:k], (run[k:] if targets else run[:k])
        num_classes = protocol.spec.num_classes
        if config.method == "autoattack" and len(_stage_names(config, src_models[0], num_classes, device)) > 1:
            raise RobenchError("a transfer matrix needs a single-stage attack, not a multi-attack AutoAttack suite",
                               hint="use pgd20, pgd100, fgsm, mifgsm or apgd-ce")
        data, indices = protocol.load(data_dir)
        batch_size = settings.batch_size or pick_batch_size(src_models[0], _clean(data, indices[:64]), device,
                                                            len(indices))
        cache = Path(cache_dir) if cache_dir else (Path(out) / "adversarial" if out else None)

        started = time.perf_counter()
        blocks = protocol.records(data, indices)
        timings: dict[str, float] = {}
        matrix = []
        for model, name, sha in zip(src_models, src_names, src_sha):
            key = sha256_of({"source": sha, "attack": config.to_record(), "subset": blocks["dataset"]["subset_sha256"],
                             "seed": seed, "batch_size": batch_size, **speed_config(speed)})
            tic = time.perf_counter()
            x_adv = _cached_adversarial(cache, key, lambda m=model: _craft(m, config, num_classes, data, indices,
                                                                          batch_size, seed, device))
            timings[f"craft:{name}"] = time.perf_counter() - tic
            matrix.append([_accuracy(t, x_adv, data.labels[indices], batch_size, device) for t in tgt_models])
        clean = {n: _accuracy(t, _clean(data, indices), data.labels[indices], batch_size, device)
                 for t, n in zip(tgt_models, tgt_names)}

    record = {
        "schema": TRANSFER_SCHEMA_ID,
        "kind": "measured",
        "sources": [{"name": n, "weights_sha256": s} for n, s in zip(src_names, src_sha)],
        "targets": [{"name": n, "weights_sha256": s} for n, s in zip(tgt_names, tgt_sha)],
        "matrix": matrix,
        "clean_accuracy": clean,
        **blocks,
        "attack": config.to_record(),
        "settings": {"batch_size": batch_size, "speed": speed.to_record()},
        "environment": environment(device),
        "timings": {"total_seconds": time.perf_counter() - started, **timings},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if out is not None:
        write_record(record, Path(out) / "transfer.json")
    return TransferResult(record)


def _load_all(models, names, dataset, device) -> tuple[list[nn.Module], list[str]]:
    if names is not None and len(names) != len(models):
        raise RobenchError(f"{len(names)} names for {len(models)} models", hint="give one name per model")
    labels = list(names) if names else [m if isinstance(m, str) else f"model{i}" for i, m in enumerate(models)]
    return [load_model(m, dataset, device)[0] for m in models], labels


def _stage_names(config, model, num_classes, device) -> list[str]:
    return [s.name for s in build_stages(config, model, num_classes, 0, device)]


def _clean(data, indices) -> torch.Tensor:
    return data.images[indices].float().div_(255)


def _craft(model, config, num_classes, data, indices, batch_size, seed, device) -> torch.Tensor:
    (stage,) = build_stages(config, model, num_classes, seed, device)
    out = []
    for chunk in torch.split(indices, batch_size):
        x = data.images[chunk].to(device).float().div_(255)
        y = data.labels[chunk].to(device)
        torch.manual_seed(seed)
        out.append(stage.run(x, y).detach().cpu())
    return torch.cat(out)


def _cached_adversarial(cache: Path | None, key: str, craft) -> torch.Tensor:
    from safetensors.torch import load_file, save

    if cache is None:
        return craft()
    path = cache / f"{key}.safetensors"
    if path.exists():
        return load_file(path)["x_adv"]
    x_adv = craft()
    atomic_write(path, save({"x_adv": x_adv.contiguous()}))
    return x_adv


@torch.inference_mode()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device) -> float:
    correct = 0
    for xb, yb in zip(torch.split(x, batch_size), torch.split(y, batch_size)):
        correct += (model(xb.to(device)).argmax(1).cpu() == yb).sum().item()
    return correct / len(y)

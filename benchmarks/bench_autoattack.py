"""robench's standard AutoAttack against a plain pyautoattack call, and how close PGD runs to its cost floor.

- AutoAttack: ``robench.evaluate(model, attacks=["autoattack"], batch_size=B)`` against
  ``pyautoattack.AutoAttack(model, norm="Linf", eps=8/255, version="standard", seed=0).run_standard_evaluation(
  x, y, batch_size=B)`` on the same model, images (robench's evaluated subset), device and batch size. The two
  sides alternate within each round (the side that goes first alternates too) and the medians are compared. The
  per-example results must be identical: the robust flags and the predicted class on every returned point.
  Each side's time per part is shown (the reference's from timers around its parts' ``perturb``).
- ``--compile``: robench with SpeedOptions(compile=True) as a third side, its first call including the
  compilation; its results are compared with the reference and reported, not required to agree.
- ``--processes N``: the whole machine for each side: the reference on N intra-op threads, robench as
  ``torchrun --nproc_per_node N robench eval`` with one thread per process (an evaluation's batches are
  shared out whole, so its results do not depend on N and must again equal the reference's).
- PGD efficiency: robench's PGD-20 and APGD-CE on one batch against ``steps`` input-gradient forward+backward
  passes on the points they attack (the clean-correct ones): efficiency = steps x t(fwd+bwd) / t(attack stage),
  1.0 meaning no cost beyond the gradient steps themselves.

Run it with OMP_NUM_THREADS=1 (one thread per side) on a quiet machine; on a shared one, more repeats.

usage: OMP_NUM_THREADS=1 python benchmarks/bench_autoattack.py [--model resnet18_small] [--n 16]
       [--batch-size 16] [--repeats 3] [--compile] [--processes N] [--skip-autoattack] [--data-dir DATA]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

REFERENCE_PARTS = {"apgd": "apgd-ce", "apgd_targeted": "apgd-t", "fab": "fab-t", "square": "square"}


def reference(model, x, y, batch_size: int, device) -> tuple[torch.Tensor, dict]:
    """The plain call, its returned labels and the seconds spent in each part."""
    from pyautoattack import AutoAttack

    adversary = AutoAttack(model, norm="Linf", eps=8 / 255, version="standard", seed=0, device=device)
    seconds: dict[str, float] = defaultdict(float)
    for attr, part in REFERENCE_PARTS.items():
        attack = getattr(adversary, attr)

        def timed(*args, _perturb=attack.perturb, _part=part, **kwargs):
            tic = time.perf_counter()
            try:
                return _perturb(*args, **kwargs)
            finally:
                seconds[_part] += time.perf_counter() - tic

        attack.perturb = timed
    _, y_adv = adversary.run_standard_evaluation(x, y, batch_size=batch_size)
    return y_adv, dict(seconds)


def ours(model, n: int, batch_size: int, data_dir, device, **speed) -> tuple[torch.Tensor, dict]:
    """robench's evaluation: the label it reports for every point (the adversarial prediction where an attack
    broke it, else the clean one, as run_standard_evaluation returns them) and its seconds per part."""
    from robench.evaluate import evaluate

    extra = {}
    if speed:
        from robench.evaluate.speed import SpeedOptions

        extra["speed"] = SpeedOptions(**speed)
    result = evaluate(model, attacks=["autoattack"], n_examples=n, batch_size=batch_size, data_dir=data_dir,
                      device=device, **extra)
    labels = torch.tensor([e["adv_pred"] if e["broken_by"] else e["clean_pred"] for e in result.examples])
    parts = {k.split("/")[-1]: v for k, v in result.record["timings"]["stage_seconds"].items() if "/" in k}
    return labels, parts


def ours_distributed(name: str, n: int, batch_size: int, data_dir, processes: int, out) -> tuple[torch.Tensor, dict]:
    """robench's evaluation of the zoo model ``name`` on ``processes`` torchrun processes of one thread each."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "robench", "-q", "eval", name, "--attack", "autoattack", "--n-examples", str(n), "--seed", "0",
               "--batch-size", str(batch_size), "--device", "cpu", "--out", str(out)]  # fmt: skip
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL)
    record = json.loads((out / "result.json").read_text())
    examples = [json.loads(line) for line in (out / record["examples_file"]).read_text().splitlines()]
    labels = torch.tensor([e["adv_pred"] if e["broken_by"] else e["clean_pred"] for e in examples])
    parts = {k.split("/")[-1]: v for k, v in record["timings"]["stage_seconds"].items() if "/" in k}
    return labels, parts


def with_threads(threads: int, fn):
    """``fn`` run with ``threads`` intra-op threads."""
    def run():
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)
    return run


def forward_backward_seconds(model, x: torch.Tensor, repeats: int = 7) -> float:
    """The median time of one forward and backward pass for the input gradient, as an attack step takes it."""
    times = []
    for _ in range(repeats + 1):
        leaf = x.clone().requires_grad_(True)
        tic = time.perf_counter()
        torch.autograd.grad(model(leaf).sum(), leaf)
        times.append(time.perf_counter() - tic)
    return statistics.median(times[1:])


def efficiency(model, x, y, n: int, data_dir, device, attack: str, stage: str, steps: int) -> tuple[float, float]:
    """(efficiency, stage seconds) of one robench attack on one batch of ``n`` images."""
    from robench.evaluate import evaluate

    with torch.no_grad():
        attacked = x[model(x).argmax(1) == y]
    result = evaluate(model, attacks=[attack], n_examples=n, batch_size=n, data_dir=data_dir, device=device,
                      checks=False)
    seconds = result.record["timings"]["stage_seconds"][stage]
    return steps * forward_backward_seconds(model, attacked) / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18_small")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time robench with compile=True")
    parser.add_argument("--skip-autoattack", action="store_true", help="only the PGD efficiency figures")
    parser.add_argument("--efficiency-n", type=int, default=32)
    parser.add_argument("--processes", type=int, default=1,
                        help="cores per side: reference threads, and robench torchrun processes")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    from robench import zoo
    from robench.data import load_split, select_subset

    device = torch.device("cpu")
    model = zoo.load(args.model, pretrained=True, device=device)
    split = load_split("cifar10", "test", args.data_dir)
    print(f"{args.model} ({zoo.count_parameters(model):,} parameters), CIFAR-10 test, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}")

    if not args.skip_autoattack:
        idx = select_subset(len(split.labels), args.n, 0)
        x, y = split.images[idx].float() / 255, split.labels[idx]
        sides = {"reference": lambda: reference(model, x, y, args.batch_size, device),
                 "robench": lambda: ours(model, args.n, args.batch_size, args.data_dir, device)}
        if args.processes > 1:
            out = Path(tempfile.mkdtemp()) / "eval"
            sides = {"reference": with_threads(args.processes, sides["reference"]),
                     "robench": lambda: ours_distributed(args.model, args.n, args.batch_size, args.data_dir,
                                                         args.processes, out)}
        if args.compile:
            sides["robench --compile"] = lambda: ours(model, args.n, args.batch_size, args.data_dir, device,
                                                      compile=True)
        times: dict[str, list[float]] = defaultdict(list)
        parts: dict[str, list[dict]] = defaultdict(list)
        labels: dict[str, torch.Tensor] = {}
        for r in range(args.repeats):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for name in order:
                tic = time.perf_counter()
                labels[name], seconds = sides[name]()
                times[name].append(time.perf_counter() - tic)
                parts[name].append(seconds)
                print(f"  round {r + 1}: {name} {times[name][-1]:.1f} s "
                      f"({', '.join(f'{k} {v:.1f}' for k, v in seconds.items())})", flush=True)
        ref = labels["reference"]
        print(f"AutoAttack standard, {args.n} images, batch {args.batch_size}, median of {args.repeats}:")
        for name in sides:
            same_labels = torch.equal(labels[name], ref)
            same_flags = torch.equal(labels[name] == y, ref == y)
            median = statistics.median(times[name])
            per_part = {k: statistics.median(p[k] for p in parts[name]) for k in parts[name][0]}
            print(f"  {name:<18} {median:8.1f} s  x{statistics.median(times['reference']) / median:.2f} vs reference  "
                  f"robust {int((labels[name] == y).sum())}/{args.n}  flags identical: {same_flags}  "
                  f"labels identical: {same_labels}  [{', '.join(f'{k} {v:.1f}' for k, v in per_part.items())}]")
            if name == "robench":
                assert same_flags and same_labels, "robench's per-example results differ from the reference"

    idx = select_subset(len(split.labels), args.efficiency_n, 0)
    x, y = split.images[idx].float() / 255, split.labels[idx]
    for attack, stage, steps in (("pgd20", "pgd20", 20), ("apgd-ce", "apgd-ce/apgd-ce", 100)):
        runs = [efficiency(model, x, y, args.efficiency_n, args.data_dir, device, attack, stage, steps)
                for _ in range(args.repeats)]
        print(f"{attack} on one batch of {args.efficiency_n}: stage {statistics.median(s for _, s in runs):.2f} s, "
              f"efficiency {statistics.median(e for e, _ in runs):.2f} ({steps} x forward+backward / stage time; "
              f"median of {args.repeats})")


if __name__ == "__main__":
    main()

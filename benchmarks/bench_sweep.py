"""A sweep of several small evaluations on a local Ray against the same evaluations run one after another.

The sweep: PGD-20 on ``--n`` CIFAR-10 test images of each packaged checkpoint in ``--models``, at each seed in
``--seeds`` (4 evaluations by default). Both sides start from empty output directories, in interleaved rounds
(the fastest round of each is reported):
- serial: robench.sweep with the serial executor, one evaluation after another in this process, with
  ``--serial-threads`` torch threads (default 1: what each Ray task gets, so both sides run the same jobs);
- ray: robench.sweep on a local Ray of ``--workers`` one-CPU workers (one torch thread each); its time includes
  starting Ray and its workers.
The two must agree on every accuracy.

usage: python benchmarks/bench_sweep.py [--models advrush_small robnet_free_small] [--seeds 0 1] [--n 64]
       [--workers 2] [--serial-threads 1] [--repeats 2] [--data-dir DATA]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from robench.executor import RayExecutor, SerialExecutor
from robench.sweep import Sweep, sweep


def run(spec: Sweep, executor, data_dir) -> tuple[float, float, list]:
    """The sweep's wall time (starting the executor included), the part of it spent starting, the summaries."""
    with tempfile.TemporaryDirectory() as out:
        tic = time.perf_counter()
        with executor:  # a local Ray starts here; the sweep stops it when it ends
            started = time.perf_counter() - tic
            result = sweep(spec, Path(out), executor, data_dir=data_dir)
        seconds = time.perf_counter() - tic
    assert not result.failed, result.failed
    return seconds, started, [r.summary for r in result.reports]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["advrush_small", "robnet_free_small"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial-threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.serial_threads)

    spec = Sweep.from_dict({"tasks": [{"kind": "eval", "grid": {"model": args.models, "seed": args.seeds},
                                       "attacks": ["pgd20"], "n_examples": args.n, "batch_size": 32,
                                       "checks": False}]})  # fmt: skip
    best = {"serial": (float("inf"), 0.0), "ray": (float("inf"), 0.0)}
    numbers = {}
    for _ in range(args.repeats):
        for side, executor in (("serial", SerialExecutor()), ("ray", RayExecutor(num_cpus=args.workers))):
            seconds, started, numbers[side] = run(spec, executor, args.data_dir)
            best[side] = min(best[side], (seconds, started))
    assert numbers["ray"] == numbers["serial"], numbers

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, torch "
          f"{torch.__version__}; serial with {torch.get_num_threads()} thread(s), Ray with {args.workers} one-CPU "
          "workers")
    print(f"{len(spec.tasks)} evaluations (PGD-20, {args.n} images each: {', '.join(args.models)} x seeds "
          f"{', '.join(map(str, args.seeds))}), fastest of {args.repeats} interleaved rounds")
    (serial, _), (ray, ray_start) = best["serial"], best["ray"]
    print(f"one after another: {serial:.1f} s; local Ray: {ray:.1f} s, of which {ray_start:.1f} s starting Ray "
          f"(its workers start with the first tasks); {serial / ray:.2f}x")


if __name__ == "__main__":
    main()

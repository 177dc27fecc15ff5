"""robench's evaluator against the bare library loop, and the transfer matrix against the naive N x N loop.

Both sides run on the same model, data and attack, in this process, interleaved and repeated (the fastest
repeat of each side is reported, so neither side pays for the first call's allocations):
- eval overhead: robench.evaluate(PGD-20) vs a hand-written torchattacks loop (clean pass, then PGD-20 on the
  clean-correct points in batches), at the same batch size; the two must agree on the robust accuracy.
- batch choice: robench with no batch size given (above 1,000 images it measures a few sizes on the model, and
  that measurement is included in its time) vs the bare loop at RobustBench's CLI default batch of 500
  (`--big-batch`), on `--choice-n` images of `--choice-model`.
- transfer: robench.transfer_matrix (one craft per source) vs crafting again for every (source, target) pair.

Models are zoo names: the zoo's packaged weights when the entry ships them, else the architecture with seeded
weights.

usage: python benchmarks/bench_eval.py [--model advrush_small] [--n 256] [--batch-size 64] [--repeats 3]
       [--choice-model resnet18_small] [--choice-n 1500]
       [--transfer advrush_small robnet_free_small resnet18_small] [--data-dir DATA]
"""

from __future__ import annotations

import argparse
import time

import torch


def build(name: str, seed: int = 0):
    from robench import zoo

    if zoo.get_entry(name).pretrained_datasets:
        return zoo.load(name, pretrained=True)
    torch.manual_seed(seed)
    return zoo.create_model(name).eval()


def pgd20(model, x, y):
    import torchattacks

    torch.manual_seed(0)
    return torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=20, random_start=True)(x, y)


def bare_loop(model, x, y, batch_size: int) -> float:
    with torch.no_grad():
        correct = torch.cat([model(xb).argmax(1) == yb for xb, yb in zip(x.split(batch_size), y.split(batch_size))])
    robust = correct.clone()
    for chunk in correct.nonzero().flatten().split(batch_size):
        adv = pgd20(model, x[chunk], y[chunk])
        with torch.no_grad():
            robust[chunk] = model(adv).argmax(1) == y[chunk]
    return robust.float().mean().item()


def fastest(fns: dict, repeats: int) -> dict:
    """Each callable's value and its fastest wall time over ``repeats`` interleaved rounds."""
    best: dict = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            tic = time.perf_counter()
            value = fn()
            seconds = time.perf_counter() - tic
            if name not in best or seconds < best[name][1]:
                best[name] = (value, seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="advrush_small")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--big-batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--choice-model", default="resnet18_small")
    parser.add_argument("--choice-n", type=int, default=1500)
    parser.add_argument("--transfer", nargs="+", default=["advrush_small", "robnet_free_small", "resnet18_small"])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    from robench.data import load_split, select_subset
    from robench.evaluate import evaluate, transfer_matrix

    split = load_split("cifar10", "test", args.data_dir)
    idx = select_subset(len(split.labels), args.n, 0)
    x, y = split.images[idx].float() / 255, split.labels[idx]
    model = build(args.model)
    print(f"model {args.model}, {args.n} CIFAR-10 test images, PGD-20, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")

    common = dict(attacks=["pgd20"], n_examples=args.n, data_dir=args.data_dir)
    runs = fastest({
        "bare": lambda: bare_loop(model, x, y, args.batch_size),
        "robench": lambda: evaluate(model, batch_size=args.batch_size, checks=False, **common).robust_accuracy,
    }, args.repeats)
    (bare, t_bare), (ours, t_ours) = runs["bare"], runs["robench"]
    assert ours == bare, (ours, bare)
    tic = time.perf_counter()
    evaluate(model, batch_size=args.batch_size, **common)
    t_checks = time.perf_counter() - tic
    print(f"batch {args.batch_size}: bare torchattacks loop {t_bare:.1f} s, robench {t_ours:.1f} s "
          f"(overhead {100 * (t_ours / t_bare - 1):+.1f}%); with robench's sanity checks {t_checks:.1f} s")

    choice_model = build(args.choice_model)
    idx = select_subset(len(split.labels), args.choice_n, 0)
    xc, yc = split.images[idx].float() / 255, split.labels[idx]
    runs = fastest({
        "big": lambda: bare_loop(choice_model, xc, yc, args.big_batch),
        "auto": lambda: evaluate(choice_model, checks=False, attacks=["pgd20"], n_examples=args.choice_n,
                                 data_dir=args.data_dir).record["settings"]["batch_size"],
    }, args.repeats)
    (_, t_big), (picked, t_auto) = runs["big"], runs["auto"]
    print(f"{args.choice_model}, {args.choice_n} images: bare loop at batch {args.big_batch} {t_big:.1f} s; robench "
          f"choosing its batch ({picked}, measuring included) {t_auto:.1f} s -> {t_big / t_auto:.2f}x faster")

    models = [build(name) for name in args.transfer]
    tic = time.perf_counter()
    record = transfer_matrix(models, names=args.transfer, attacks="pgd20", n_examples=args.n,
                             batch_size=args.batch_size, data_dir=args.data_dir).record
    t_matrix = time.perf_counter() - tic
    crafts = sum(key.startswith("craft:") for key in record["timings"])

    tic = time.perf_counter()
    for source in models:
        for target in models:
            adv = torch.cat([pgd20(source, xb, yb) for xb, yb in zip(x.split(args.batch_size), y.split(args.batch_size))])
            with torch.no_grad():
                target(adv).argmax(1)
    t_naive = time.perf_counter() - tic
    n = len(models)
    print(f"transfer {n}x{n} ({', '.join(args.transfer)}): robench {t_matrix:.1f} s ({crafts} crafts), naive loop "
          f"{t_naive:.1f} s ({n * n} crafts) -> {t_naive / t_matrix:.2f}x")


if __name__ == "__main__":
    main()

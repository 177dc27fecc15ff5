"""robench's evaluator against the bare library loop, and the transfer matrix against the naive N x N loop.

Both sides run on the same model, data and attack, in this process, one after the other:
- eval overhead: robench.evaluate(PGD-20) vs a hand-written torchattacks loop (clean pass, then PGD-20 on the
  clean-correct points in batches), at the same batch size; and robench's default batch size vs the bare loop
  at RobustBench's CLI default of 500 (`--big-batch`), which is what batch choice saves.
- transfer: robench.transfer_matrix (one craft per source) vs crafting again for every (source, target) pair.

usage: python benchmarks/bench_eval.py [--model darts_v2] [--width 16] [--layers 8] [--pretrained] [--n 256]
       [--models 3]   (the transfer part needs distinct models: it uses seeded architectures unless --pretrained)
"""

from __future__ import annotations

import argparse
import time

import torch


def build(args, seed: int):
    """The trained zoo checkpoint with --pretrained, else the architecture at (width, layers) with seeded weights."""
    from robench import zoo

    if args.pretrained:
        return zoo.load(args.model, pretrained=True)
    torch.manual_seed(seed)
    return zoo.create_model(args.model, C=args.width, layers=args.layers).eval()


def bare_loop(model, x, y, batch_size: int) -> float:
    import torchattacks

    with torch.no_grad():
        correct = torch.cat([model(xb).argmax(1) == yb for xb, yb in zip(x.split(batch_size), y.split(batch_size))])
    robust = correct.clone()
    for chunk in correct.nonzero().flatten().split(batch_size):
        torch.manual_seed(0)
        adv = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=20, random_start=True)(x[chunk], y[chunk])
        with torch.no_grad():
            robust[chunk] = model(adv).argmax(1) == y[chunk]
    return robust.float().mean().item()


def timed(fn):
    tic = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="darts_v2")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--pretrained", action="store_true", help="load the zoo's trained weights for --model")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--big-batch", type=int, default=500)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    from robench.data import load_split, select_subset
    from robench.evaluate import evaluate, transfer_matrix
    import robench.evaluate.transfer as transfer

    split = load_split("cifar10", "test", args.data_dir)
    idx = select_subset(len(split.labels), args.n, 0)
    x, y = split.images[idx].float() / 255, split.labels[idx]
    model = build(args, 0)
    shape = "trained weights" if args.pretrained else f"C={args.width} L={args.layers}, seeded weights"
    print(f"model {args.model} ({shape}), {args.n} CIFAR-10 test images, "
          f"{torch.get_num_threads()} threads")

    common = dict(attacks=["pgd20"], n_examples=args.n, data_dir=args.data_dir)
    bare, t_bare = timed(lambda: bare_loop(model, x, y, args.batch_size))
    ours, t_ours = timed(lambda: evaluate(model, batch_size=args.batch_size, checks=False, **common).robust_accuracy)
    _, t_checks = timed(lambda: evaluate(model, batch_size=args.batch_size, **common))
    assert ours == bare, (ours, bare)
    print(f"PGD-20, batch {args.batch_size}: bare torchattacks loop {t_bare:.1f} s, robench {t_ours:.1f} s "
          f"(overhead {100 * (t_ours / t_bare - 1):+.1f}%), robench with sanity checks {t_checks:.1f} s")
    _, t_big = timed(lambda: bare_loop(model, x, y, args.big_batch))
    print(f"bare loop at batch {args.big_batch}: {t_big:.1f} s -> robench's default batch is "
          f"{t_big / t_ours:.2f}x faster")

    models = [build(args, s) for s in range(args.models)]
    names = [f"m{s}" for s in range(args.models)]
    crafts = []
    craft = transfer._craft
    transfer._craft = lambda *a, **k: crafts.append(1) or craft(*a, **k)
    _, t_matrix = timed(lambda: transfer_matrix(models, names=names, attack="pgd20", n_examples=args.n,
                                                batch_size=args.batch_size, data_dir=args.data_dir))
    transfer._craft = craft

    def naive():
        for source in models:
            for target in models:
                adv = torch.cat([_pgd(source, xb, yb) for xb, yb in zip(x.split(args.batch_size), y.split(args.batch_size))])
                with torch.no_grad():
                    target(adv).argmax(1)

    _, t_naive = timed(naive)
    print(f"transfer {args.models}x{args.models}: robench {t_matrix:.1f} s ({len(crafts)} crafts), naive loop "
          f"{t_naive:.1f} s ({args.models ** 2} crafts) -> {t_naive / t_matrix:.2f}x")


def _pgd(model, x, y):
    import torchattacks

    torch.manual_seed(0)
    return torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=20, random_start=True)(x, y)


if __name__ == "__main__":
    main()

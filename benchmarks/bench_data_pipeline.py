"""Images per second of one CIFAR-10 training epoch (crop + flip): robench's cached uint8 tensor pipeline vs
torchvision ``ImageFolder`` + ``DataLoader`` reading the same PNG folder.

    python benchmarks/bench_data_pipeline.py --data-dir DATA [--limit 10000]

Set-up costs (reading the tensor cache, scanning the folder) are reported apart from the epoch itself.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from robench.data import Augment, TrainLoader, load_split
from robench.data.sources import ClassFolders
from robench.data.split import locate


def consume(batches, limit: int) -> tuple[int, float]:
    """Images seen and seconds taken to pull batches until ``limit`` images."""
    seen, start = 0, time.perf_counter()
    for x, _ in batches:
        seen += x.shape[0]
        if seen >= limit:
            break
    return seen, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="data root holding cifar10/train/<class>/*.png")
    parser.add_argument("--limit", type=int, default=50_000, help="images to time (default: the whole epoch)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        # small batch ops gain nothing from more threads, and lose a lot when the CPU is oversubscribed
        torch.set_num_threads(args.threads)

    source = locate("cifar10", "train", args.data_dir)
    if not isinstance(source.layout, ClassFolders):
        parser.error(f"{source.path} is not the PNG folder layout; ImageFolder needs cifar10/train/<class>/*.png")

    start = time.perf_counter()
    split = load_split("cifar10", "train", args.data_dir)
    tensor_setup = time.perf_counter() - start
    loader = TrainLoader(split, args.batch_size, args.device, Augment(crop_padding=4, flip=True), seed=0)
    tensor_n, tensor_s = consume(loader, args.limit)

    start = time.perf_counter()
    augment = transforms.Compose(
        [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor()]
    )
    folder = datasets.ImageFolder(str(source.path), transform=augment)
    folder_setup = time.perf_counter() - start
    batches = DataLoader(folder, args.batch_size, shuffle=True, num_workers=args.workers, drop_last=True)
    folder_n, folder_s = consume(batches, args.limit)

    tensor_rate, folder_rate = tensor_n / tensor_s, folder_n / folder_s
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, batch {args.batch_size}")
    print(f"tensor pipeline : {tensor_n:6d} images in {tensor_s:6.2f} s = {tensor_rate:9.0f} images/s"
          f"  (cache read {tensor_setup:.2f} s)")  # fmt: skip
    print(f"ImageFolder+DL  : {folder_n:6d} images in {folder_s:6.2f} s = {folder_rate:9.0f} images/s"
          f"  (folder scan {folder_setup:.2f} s, {args.workers} workers)")  # fmt: skip
    print(f"speed-up        : {tensor_rate / folder_rate:.1f}x")


if __name__ == "__main__":
    main()

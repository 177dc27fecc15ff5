"""The loaders on the real benchmark data (skipped without it): counts, label order, pixels, preprocessing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robench.data import get_dataset, load_split, prepare_split
from robench.data.datasets import CIFAR10_CLASSES, CIFAR100_CLASSES


def _pixels(path: Path) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)


@pytest.fixture(scope="session")
def cifar10_test(data_root):
    return load_split("cifar10", "test", data_dir=data_root)


def test_cifar10_test(cifar10_test, data_root):
    split = cifar10_test
    assert split.images.shape == (10_000, 3, 32, 32) and split.images.dtype == torch.uint8
    assert split.labels.dtype == torch.int64 and split.classes == CIFAR10_CLASSES
    assert split.labels.bincount().tolist() == [1000] * 10 and not split.partial
    # label order is airplane=0 ... truck=9: the first image of each class folder sits at label * 1000
    for label, name in enumerate(CIFAR10_CLASSES):
        first = sorted((data_root / "cifar10" / "test" / name).iterdir())[0]
        assert torch.equal(split.images[label * 1000], _pixels(first)) and split.labels[label * 1000] == label
    assert len(split.sha256) == 64 and split.source == str(data_root / "cifar10" / "test")


def test_cifar10_cache_hit_is_fast(cifar10_test, data_root):
    start = time.perf_counter()
    again = prepare_split("cifar10", "test", data_dir=data_root)
    assert not again.decoded and again.split.sha256 == cifar10_test.sha256
    assert time.perf_counter() - start < 5


def test_cifar10_train(data_root):
    split = load_split("cifar10", "train", data_dir=data_root)
    assert split.images.shape == (50_000, 3, 32, 32) and split.labels.bincount().tolist() == [5000] * 10
    truck = sorted((data_root / "cifar10" / "train" / "truck").iterdir())[-1]
    assert torch.equal(split.images[-1], _pixels(truck)) and split.labels[-1] == 9


def test_cifar100_test(data_root):
    split = load_split("cifar-100", "test", data_dir=data_root)
    assert split.images.shape == (10_000, 3, 32, 32) and split.classes == CIFAR100_CLASSES
    assert split.labels.bincount().tolist() == [100] * 100


def test_tiny_imagenet_val(data_root):
    split = load_split("tiny-imagenet-200", "val", data_dir=data_root)
    root = data_root / "tiny-imagenet-200"
    wnids = (root / "wnids.txt").read_text().split()
    annotations = [line.split("\t") for line in (root / "val" / "val_annotations.txt").read_text().splitlines()]
    assert split.split == "test" and split.classes == tuple(wnids)
    assert split.images.shape == (10_000, 3, 64, 64) and split.labels.bincount().tolist() == [50] * 200
    assert split.labels.tolist() == [wnids.index(wnid) for _, wnid, *_ in annotations]
    for i in (0, 1234, 9999):
        assert torch.equal(split.images[i], _pixels(root / "val" / "images" / annotations[i][0]))


def test_tiny_imagenet_train_sample(data_root):
    split = load_split("tinyimagenet", "train", data_dir=data_root)
    assert split.partial and split.images.shape == (4000, 3, 64, 64)
    assert split.labels.bincount().tolist() == [20] * 200
    wnid = split.classes[int(split.labels[0])]
    first = sorted((data_root / "tiny-imagenet-200" / "train" / wnid / "images").iterdir())[0]
    assert torch.equal(split.images[0], _pixels(first))


def test_imagenet_val_sample(data_root):
    from torchvision import transforms

    split = load_split("imagenet", "test", data_dir=data_root)
    synsets = [line.split()[0] for line in (data_root / "imagenet" / "synset_words.txt").read_text().splitlines()]
    files = sorted((data_root / "imagenet" / "val").glob("*/*.JPEG"), key=lambda p: p.name)
    assert split.images.shape == (500, 3, 224, 224) and split.partial
    assert split.classes == tuple(synsets) and len(split.classes) == get_dataset("imagenet").num_classes
    assert split.labels.tolist() == [synsets.index(path.parent.name) for path in files]
    res256crop224 = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.PILToTensor()])
    for i in (0, 250, 499):
        with Image.open(files[i]) as image:
            assert torch.equal(split.images[i], res256crop224(image.convert("RGB")))

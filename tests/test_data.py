"""The data layer on small synthetic data written in the official formats: specs, readers, cache, subsets, loaders."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robench.data import (
    DATASETS,
    Augment,
    TensorSplit,
    ThreatModel,
    TrainLoader,
    get_dataset,
    iter_batches,
    load_split,
    parse_eps,
    prepare_split,
    select_subset,
    subset_hash,
)
from robench.data.cache import cache_dir
from robench.data.datasets import CIFAR10_CLASSES
from robench.data.decode import ResizeCrop
from robench.data.loader import crop_flip, cutout
from robench.data.sources import Source
from robench.data.split import take
from robench.errors import RobenchError


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    """A fresh cache per test, so cache behaviour does not depend on test order."""
    monkeypatch.setenv("ROBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_other_roots(tmp_path, monkeypatch) -> None:
    """Only the data_dir a test passes can be found: ROBENCH_DATA and ~ point at empty folders."""
    monkeypatch.setenv("ROBENCH_DATA", str(tmp_path / "env-root"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# ---------------------------------------------------------------- specs and threat models


@pytest.mark.parametrize("alias", ["tiny-imagenet", "tiny-imagenet-200", "tinyimagenet", "Tiny_ImageNet"])
def test_aliases_resolve(alias):
    assert get_dataset(alias).name == "tiny-imagenet"


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(RobenchError) as err:
        get_dataset("mnist")
    assert "mnist" in err.value.message
    for name in ("cifar10", "cifar100", "svhn", "tiny-imagenet", "imagenet"):
        assert name in err.value.hint


def test_specs():
    c10, c100 = get_dataset("cifar10"), get_dataset("cifar100")
    assert c10.classes[0] == "airplane" and c10.classes[9] == "truck" and len(c10.classes) == 10
    assert c10.mean == (0.49139968, 0.48215827, 0.44653124) and c10.std == (0.24703233, 0.24348505, 0.26158768)
    assert c100.mean[0] == 0.5070751592371323 and c100.std[2] == 0.27615047132568404
    assert all(spec.normalization.source for spec in DATASETS.values())
    assert len(c100.classes) == 100 and list(c100.classes) == sorted(c100.classes)
    assert get_dataset("imagenet").image_size == (3, 224, 224)
    assert get_dataset("tiny-imagenet").image_size == (3, 64, 64)
    assert get_dataset("tiny-imagenet").resolve_split("val") == "test"
    with pytest.raises(RobenchError):
        c10.resolve_split("val")


def test_threat_model_presets():
    for name in ("cifar10", "cifar100", "svhn", "tiny-imagenet"):
        preset = get_dataset(name).threat_model()
        assert (preset.norm, preset.eps, preset.eps_text) == ("Linf", 8 / 255, "8/255")
    assert get_dataset("cifar10").threat_model("l2") == ThreatModel("L2", 0.5, "0.5")
    assert get_dataset("imagenet").threat_model() == ThreatModel("Linf", 4 / 255, "4/255")
    with pytest.raises(RobenchError):
        get_dataset("cifar100").threat_model("L2")
    assert ThreatModel.parse("linf", "8/255") == ThreatModel("Linf", 8 / 255, "8/255")


@pytest.mark.parametrize(
    "text, value", [("8/255", 8 / 255), (" 4 / 255 ", 4 / 255), ("0.031", 0.031), (0.5, 0.5), (2, 2.0), ("1e-3", 1e-3)]
)
def test_parse_eps(text, value):
    assert parse_eps(text) == value


@pytest.mark.parametrize("text", ["abc", "8/0", "-0.1", "0", "nan", "inf", "", "8//255", True])
def test_parse_eps_rejects(text):
    with pytest.raises(RobenchError):
        parse_eps(text)


# ---------------------------------------------------------------- readers on files in the official formats


def _write_cifar_pickles(root: Path, images: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CIFAR10_CLASSES), "num_cases_per_batch": 10000, "num_vis": 3072}, f)
    parts = {"test": ["test_batch"], "train": [f"data_batch_{i}" for i in range(1, 6)]}
    for split, names in parts.items():
        rows = np.array_split(np.arange(len(labels[split])), len(names))
        for name, idx in zip(names, rows):
            batch = {  # the official files were written by Python 2: str keys, as they load with latin1
                "batch_label": name,
                "labels": labels[split][idx].tolist(),
                "data": images[split][idx].reshape(len(idx), 3072),
                "filenames": [f"{i}.png" for i in idx],
            }
            with open(folder / name, "wb") as f:
                pickle.dump(batch, f, protocol=2)


def _write_cifar_folders(root: Path, images: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    for split in images:
        for i, (image, label) in enumerate(zip(images[split], labels[split])):
            folder = root / "cifar10" / split / CIFAR10_CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"img_{i:05d}.png")


@pytest.fixture
def fake_cifar10(tmp_path):
    """The same random images as torchvision's pickles (under pickles/) and as PNG class folders (under png/)."""
    rng = np.random.default_rng(0)
    labels = {split: np.repeat(np.arange(10), n) for split, n in (("train", 5), ("test", 3))}
    images = {split: rng.integers(0, 256, (len(y), 3, 32, 32), dtype=np.uint8) for split, y in labels.items()}
    _write_cifar_pickles(tmp_path / "pickles", images, labels)
    _write_cifar_folders(tmp_path / "png", images, labels)
    return tmp_path, images, labels


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar_pickle_and_png_layouts_load_identically(fake_cifar10, own_cache, no_other_roots, split):
    root, images, labels = fake_cifar10
    from_pickles = load_split("cifar10", split, data_dir=root / "pickles")
    from_pngs = load_split("cifar10", split, data_dir=root / "png")
    assert from_pickles.source.endswith("cifar-10-batches-py") and from_pngs.source.endswith(f"cifar10/{split}")
    assert torch.equal(from_pickles.images, torch.from_numpy(images[split]))
    assert torch.equal(from_pickles.labels, torch.from_numpy(labels[split]))
    assert torch.equal(from_pngs.images, from_pickles.images) and torch.equal(from_pngs.labels, from_pickles.labels)
    assert from_pngs.sha256 == from_pickles.sha256
    assert from_pickles.classes == CIFAR10_CLASSES and from_pickles.partial


def test_class_folders_must_match_the_classes(fake_cifar10, own_cache, no_other_roots):
    root, _, _ = fake_cifar10
    (root / "png" / "cifar10" / "test" / "airplane").rename(root / "png" / "cifar10" / "test" / "plane")
    with pytest.raises(RobenchError, match="class folders"):
        load_split("cifar10", "test", data_dir=root / "png")


def _write_svhn(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"X": x, "y": y})


@pytest.mark.parametrize("subdir", ["svhn", ""])
def test_svhn_mat(tmp_path, own_cache, no_other_roots, subdir):
    n = 12
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    x[:, :, :, 0] = 0
    x[0, :, 0, 0] = 255  # image 0: top row, red channel only
    digits = np.arange(n) % 10
    y = np.where(digits == 0, 10, digits).reshape(n, 1).astype(np.uint8)  # SVHN writes digit 0 as 10
    _write_svhn(tmp_path / subdir / "test_32x32.mat", x, y)

    split = load_split("svhn", "test", data_dir=tmp_path)
    assert split.images.shape == (n, 3, 32, 32) and split.images.dtype == torch.uint8
    assert split.labels.tolist() == digits.tolist()
    top_red = torch.zeros(3, 32, 32, dtype=torch.uint8)
    top_red[0, 0, :] = 255
    assert torch.equal(split.images[0], top_red)
    assert torch.equal(split.images, torch.from_numpy(x.transpose(3, 2, 0, 1).copy()))


def test_resize_crop_matches_torchvision():
    from torchvision import transforms

    rng = np.random.default_rng(2)
    reference = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.PILToTensor()])
    for size in [(300, 227), (227, 300), (227, 227), (500, 375)]:
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        ours = torch.from_numpy(np.array(ResizeCrop(256, 224)(image))).permute(2, 0, 1)
        assert torch.equal(ours, reference(image)), size


# ---------------------------------------------------------------- locating, downloading, the cache


def test_missing_data_names_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBENCH_DATA", str(tmp_path / "env-root"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(RobenchError) as err:
        load_split("cifar100", "test", data_dir=tmp_path / "explicit")
    message = err.value.message
    for root in (tmp_path / "explicit", tmp_path / "env-root", tmp_path / "home" / ".cache" / "robench" / "data"):
        assert str(root / "cifar-100-python") in message and str(root / "cifar100" / "test") in message
    assert "robench data prepare cifar100 --download" in err.value.hint
    assert "--data-dir" in err.value.hint and "ROBENCH_DATA" in err.value.hint


def test_failed_download_is_a_robench_error(tmp_path, monkeypatch, no_other_roots):
    from torchvision import datasets

    monkeypatch.setattr(datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")  # refused at once
    with pytest.raises(RobenchError, match="downloading cifar10 into .* failed"):
        load_split("cifar10", "test", data_dir=tmp_path / "root", download=True)


def test_imagenet_cannot_be_downloaded(tmp_path, no_other_roots):
    with pytest.raises(RobenchError, match="cannot be downloaded"):
        load_split("imagenet", "val", data_dir=tmp_path, download=True)


def _count_reads(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = Source.read

    def counting_read(self, workers=None):
        calls.append(1)
        return original(self, workers)

    monkeypatch.setattr(Source, "read", counting_read)
    return calls


def test_cache_is_read_without_decoding(fake_cifar10, own_cache, no_other_roots, monkeypatch):
    root = fake_cifar10[0] / "png"
    calls = _count_reads(monkeypatch)
    first = prepare_split("cifar10", "test", data_dir=root)
    second = prepare_split("cifar10", "test", data_dir=root)
    assert (first.decoded, second.decoded, len(calls)) == (True, False, 1)
    assert second.split.sha256 == first.split.sha256 and torch.equal(second.split.images, first.split.images)
    assert second.cache_file == first.cache_file and first.cache_file.parent == cache_dir() == own_cache
    assert not list(own_cache.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["flip-payload-byte", "truncate", "garbage"])
def test_damaged_cache_is_detected_and_rebuilt(fake_cifar10, own_cache, no_other_roots, monkeypatch, caplog, damage):
    root = fake_cifar10[0] / "png"
    first = prepare_split("cifar10", "test", data_dir=root)
    data = bytearray(first.cache_file.read_bytes())
    if damage == "flip-payload-byte":
        data[-100] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"not a safetensors file")
    first.cache_file.write_bytes(bytes(data))

    calls = _count_reads(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="robench.data"):
        again = prepare_split("cifar10", "test", data_dir=root)
    assert again.decoded and len(calls) == 1
    assert any("damaged" in record.message for record in caplog.records)
    assert again.split.sha256 == first.split.sha256
    assert not prepare_split("cifar10", "test", data_dir=root).decoded  # the rebuilt file is good


def test_cache_key_follows_the_source_files(fake_cifar10, own_cache, no_other_roots):
    root = fake_cifar10[0] / "png"
    before = prepare_split("cifar10", "test", data_dir=root)
    extra = np.full((32, 32, 3), 7, dtype=np.uint8)
    Image.fromarray(extra).save(root / "cifar10" / "test" / "truck" / "zz_extra.png")
    after = prepare_split("cifar10", "test", data_dir=root)
    assert after.decoded and after.cache_file != before.cache_file
    assert len(after.split) == len(before.split) + 1 and after.split.sha256 != before.split.sha256
    assert after.split.labels[-1] == 9 and torch.all(after.split.images[-1] == 7)


# ---------------------------------------------------------------- subsets and batches


def _toy_split(n: int = 50, size: int = 8) -> TensorSplit:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.arange(n) % 10
    from robench.data.cache import content_hash

    return TensorSplit(images, labels, CIFAR10_CLASSES, "cifar10", "test", "memory", content_hash(images, labels))


def test_select_subset():
    a, b = select_subset(1000, 100, seed=0), select_subset(1000, 100, seed=0)
    assert torch.equal(a, b) and a.dtype == torch.int64 and len(a.unique()) == 100
    assert torch.equal(a, a.sort().values) and 0 <= a.min() and a.max() < 1000
    assert not torch.equal(a, select_subset(1000, 100, seed=1))
    assert set(a.tolist()) <= set(select_subset(1000, 300, seed=0).tolist())  # nested for a fixed seed
    assert torch.equal(select_subset(7, None), torch.arange(7))
    assert torch.equal(select_subset(7, 7, seed=3), torch.arange(7))
    for bad in (0, -1, 1001):
        with pytest.raises(RobenchError):
            select_subset(1000, bad)


def test_subset_hash():
    split = _toy_split()
    twin = TensorSplit(split.images.clone(), split.labels.clone(), split.classes, "cifar10", "test", "elsewhere",
                       split.sha256)  # fmt: skip
    idx = select_subset(len(split), 20, seed=0)
    assert subset_hash(split, idx) == subset_hash(twin, idx.clone())
    assert subset_hash(split, idx) != subset_hash(split, select_subset(len(split), 20, seed=1))
    assert subset_hash(split, idx) != subset_hash(split, idx.flip(0))


def test_iter_batches_cover_the_subset_in_order():
    split = _toy_split()
    idx = select_subset(len(split), 23, seed=5)
    seen = []
    for x, y, batch_idx in iter_batches(split, idx, batch_size=10, device="cpu"):
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        assert torch.equal(x, split.images[batch_idx].float() / 255) and torch.equal(y, split.labels[batch_idx])
        seen.append(batch_idx)
    assert [len(b) for b in seen] == [10, 10, 3] and torch.equal(torch.cat(seen), idx)
    with pytest.raises(RobenchError):
        next(iter_batches(split, torch.tensor([0, len(split)]), 4))


def test_take_equals_index_select():
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    idx = torch.tensor([3, 0, 18, 3])
    for tensor in (images, images[1:], images[:, :, :5, :5].contiguous(), images.float()):
        assert torch.equal(take(tensor, idx), tensor.index_select(0, idx))


# ---------------------------------------------------------------- training loader and augmentation


def _epoch(loader: TrainLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader]


def test_train_loader_epochs_are_reproducible_on_their_own():
    split = _toy_split(n=64)
    run = TrainLoader(split, batch_size=16, augment=Augment(cutout=4), seed=3)
    epochs = [_epoch(run) for _ in range(3)]  # epochs 0, 1, 2 of an uninterrupted run
    resumed = TrainLoader(split, batch_size=16, augment=Augment(cutout=4), seed=3)
    resumed.set_epoch(2)
    replay = _epoch(resumed)
    assert len(replay) == len(epochs[2]) == 4
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(replay, epochs[2]))
    assert not torch.equal(epochs[0][0][0], epochs[1][0][0])  # epochs differ
    assert resumed.epoch == 3
    other_seed = _epoch(TrainLoader(split, batch_size=16, augment=Augment(cutout=4), seed=4))
    assert not torch.equal(other_seed[0][0], epochs[0][0][0])


def test_train_loader_shuffles_a_permutation():
    split = TensorSplit(torch.zeros(50, 3, 8, 8, dtype=torch.uint8), torch.arange(50), tuple(map(str, range(50))),
                        "cifar10", "train", "memory", "0")  # fmt: skip
    dropped = TrainLoader(split, batch_size=16, augment=Augment(0, False, 0), seed=0)
    kept = TrainLoader(split, batch_size=16, augment=Augment(0, False, 0), seed=0, drop_last=False)
    assert len(dropped) == 3 and len(kept) == 4
    labels = torch.cat([y for _, y in kept])
    assert sorted(labels.tolist()) == list(range(50)) and labels.tolist() != list(range(50))
    assert torch.equal(torch.cat([y for _, y in dropped]), labels[:48])
    with pytest.raises(RobenchError):
        TrainLoader(split, batch_size=51)


def test_crop_and_flip_are_crops_and_mirrors_of_the_padded_image():
    x = _toy_split(n=32).images
    out = crop_flip(x, 4, True, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    offsets, mirrored = set(), 0
    for image, source in zip(out, padded):
        windows = {
            (dy, dx, flip): source[:, dy : dy + 8, dx : dx + 8].flip(2) if flip else source[:, dy : dy + 8, dx : dx + 8]
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
        }
        matches = [key for key, window in windows.items() if torch.equal(image, window)]
        assert matches, "an augmented image is not a crop (or mirrored crop) of its zero-padded input"
        offsets.add(matches[0][:2])
        mirrored += matches[0][2]
    assert len(offsets) > 5 and 0 < mirrored < 32  # offsets and flips really vary


def test_train_loader_batches_are_floats_in_unit_range():
    split = _toy_split(n=40, size=32)
    for x, y in TrainLoader(split, batch_size=16, augment=Augment(crop_padding=4, flip=True, cutout=16), seed=0):
        assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (16,)
        assert 0 <= x.min() and x.max() <= 1 and (x * 255 - (x * 255).round()).abs().max() < 1e-4


def test_cutout_zeroes_one_clipped_square():
    x = torch.full((200, 3, 32, 32), 255, dtype=torch.uint8)
    out = cutout(x, 16, torch.Generator().manual_seed(0))
    zeros = (out == 0).all(1)  # [B, H, W]
    assert torch.equal((out == 0).any(1), zeros) and out.shape == x.shape
    areas = zeros.sum((1, 2))
    assert areas.max() == 256 and areas.min() >= 64  # a full 16x16 square, or one clipped down to 8x8
    for mask in zeros:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert mask.sum() == len(rows) * len(cols) and len(rows) <= 16 and len(cols) <= 16
        assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)

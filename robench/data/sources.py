"""Finding a split on disk, in every layout robench reads, and reading it into arrays.

Data roots are searched in order: an explicit ``data_dir``, then ``$ROBENCH_DATA``, then
``~/.cache/robench/data``. Under each root a data set may be stored in torchvision's native layout
(``cifar-10-batches-py``, ``cifar-100-python``, SVHN's ``{train,test}_32x32.mat``) or as image files
(``cifar10/{train,test}/<class>/*.png``, the official ``tiny-imagenet-200`` layout, ``imagenet/val/<wnid>/``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np

from robench.data.datasets import DatasetSpec
from robench.data.decode import ResizeCrop, decode_images, is_image_file
from robench.errors import RobenchError

DEFAULT_DATA_ROOT = Path("~/.cache/robench/data")


def data_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The data roots searched, in order, without duplicates."""
    candidates = [data_dir, os.environ.get("ROBENCH_DATA") or None, DEFAULT_DATA_ROOT]
    roots: list[Path] = []
    for candidate in candidates:
        if candidate is not None:
            root = Path(candidate).expanduser().absolute()
            if root not in roots:
                roots.append(root)
    return roots


@dataclass(frozen=True)
class Scan:
    """What a layout found for one split: the files (relative path, size) and, for image files, their labels.

    The scan is all the cache key depends on, so a changed, added or removed file gives a new key.
    """

    files: tuple[tuple[str, int], ...]
    classes: tuple[str, ...]
    labels: tuple[int, ...] | None = None


class Layout(ABC):
    """One way of storing a data set's splits under a data root."""

    name: ClassVar[str]

    @abstractmethod
    def locate(self, root: Path, split: str) -> Path:
        """Where this layout keeps ``split`` under ``root``."""

    @abstractmethod
    def exists(self, path: Path, split: str) -> bool: ...

    @abstractmethod
    def scan(self, path: Path, split: str, spec: DatasetSpec) -> Scan: ...

    @abstractmethod
    def read(self, path: Path, scan: Scan, spec: DatasetSpec, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Images as uint8 [N, 3, H, W] and labels as int64 [N], in the scan's order."""

    def count(self, path: Path, scan: Scan) -> int | None:
        """The number of images, if known without decoding."""
        return None


def _file_entries(folder: Path, prefix: str) -> list[tuple[str, int]]:
    entries = [e for e in os.scandir(folder) if e.is_file() and is_image_file(e.name)]
    return [(f"{prefix}{e.name}", e.stat().st_size) for e in sorted(entries, key=lambda e: e.name)]


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class ImageFiles(Layout):
    """Layouts that hold one image file per example; the scan lists the files and their labels."""

    transform: ClassVar[ResizeCrop | None] = None

    def read(self, path: Path, scan: Scan, spec: DatasetSpec, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
        assert scan.labels is not None
        paths = [str(path / rel) for rel, _ in scan.files]
        images = decode_images(paths, spec.image_size[1:], self.transform, workers)
        return images, np.asarray(scan.labels, dtype=np.int64)

    def count(self, path: Path, scan: Scan) -> int | None:
        return len(scan.files)


def _labelled(entries: list[tuple[str, int, int]], classes: tuple[str, ...]) -> Scan:
    """A scan of image files from (relative path, size, label) entries."""
    return Scan(tuple((rel, size) for rel, size, _ in entries), classes, tuple(label for _, _, label in entries))


@dataclass(frozen=True)
class CifarPickle(Layout):
    """torchvision's native CIFAR layout: pickled batches of 3072-byte rows.

    Read here rather than through ``torchvision.datasets.CIFAR10``: that class checks the md5 of both splits
    before reading either (a folder holding only the test split, as CIFAR-100 often is for evaluation, fails),
    and importing it loads torch into ``robench data``, which reads the table only."""

    name: ClassVar[str] = "torchvision-pickle"
    folder: str
    files: tuple[tuple[str, tuple[str, ...]], ...]
    label_key: str
    meta: tuple[str, str]

    def locate(self, root: Path, split: str) -> Path:
        return root / self.folder

    def _split_files(self, split: str) -> tuple[str, ...]:
        return dict(self.files)[split]

    def exists(self, path: Path, split: str) -> bool:
        return all((path / name).is_file() for name in (*self._split_files(split), self.meta[0]))

    def scan(self, path: Path, split: str, spec: DatasetSpec) -> Scan:
        meta_file, meta_key = self.meta
        (names,) = _unpickle(path / meta_file, meta_key)
        names = tuple(names)
        if names != spec.classes:
            raise RobenchError(
                f"{path / meta_file} lists classes {names[:3]}..., not {spec.name}'s",
                hint=f"{path} does not hold {spec.name}; re-download it or remove the folder",
            )
        files = tuple((name, (path / name).stat().st_size) for name in self._split_files(split))
        return Scan(files, names)

    def read(self, path: Path, scan: Scan, spec: DatasetSpec, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
        batches = [_unpickle(path / name, "data", self.label_key) for name, _ in scan.files]
        images = np.concatenate([np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32) for data, _ in batches])
        labels = np.concatenate([np.asarray(labels, dtype=np.int64) for _, labels in batches])
        return images, labels


def _unpickle(path: Path, *keys: str) -> list:
    """The entries ``keys`` of a pickled CIFAR batch (written by Python 2, hence latin1)."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        return [entry[key] for key in keys]
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError) as err:
        raise RobenchError(f"cannot read {path}: {err!r}", hint="the file is damaged; re-download the data") from None


@dataclass(frozen=True)
class ClassFolders(ImageFiles):
    """``<folder>/<split>/<class>/<image>``, class folders sorting into the official label order."""

    name: ClassVar[str] = "image-folder"
    folder: str

    def locate(self, root: Path, split: str) -> Path:
        return root / self.folder / split

    def exists(self, path: Path, split: str) -> bool:
        return path.is_dir()

    def scan(self, path: Path, split: str, spec: DatasetSpec) -> Scan:
        assert spec.classes is not None
        found = sorted(e.name for e in os.scandir(path) if e.is_dir())
        if tuple(found) != spec.classes:
            missing = sorted(set(spec.classes) - set(found))
            unknown = sorted(set(found) - set(spec.classes))
            raise RobenchError(
                f"{path} does not hold {spec.name}'s class folders (missing {missing[:5]}, unknown {unknown[:5]})",
                hint=f"expected one folder per class: {', '.join(spec.classes[:4])}, ...",
            )
        entries = [
            (rel, size, label)
            for label, cls in enumerate(spec.classes)
            for rel, size in _file_entries(path / cls, f"{cls}/")
        ]
        return _labelled(entries, spec.classes)


@dataclass(frozen=True)
class SvhnMat(Layout):
    """SVHN's official format (torchvision's too): ``X`` [32, 32, 3, N] uint8, ``y`` [N, 1] with 10 for digit 0."""

    name: ClassVar[str] = "svhn-mat"
    folder: str

    def locate(self, root: Path, split: str) -> Path:
        return root / self.folder / f"{split}_32x32.mat"

    def exists(self, path: Path, split: str) -> bool:
        return path.is_file()

    def scan(self, path: Path, split: str, spec: DatasetSpec) -> Scan:
        assert spec.classes is not None
        return Scan(((path.name, path.stat().st_size),), spec.classes)

    def count(self, path: Path, scan: Scan) -> int | None:
        from scipy.io import whosmat

        shapes = {name: shape for name, shape, _ in whosmat(path)}
        return shapes["X"][3] if "X" in shapes else None

    def read(self, path: Path, scan: Scan, spec: DatasetSpec, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
        from scipy.io import loadmat

        try:
            mat = loadmat(path)
            x, y = mat["X"], mat["y"]
        except (OSError, ValueError, KeyError) as err:
            raise RobenchError(f"cannot read {path}: {err}", hint="re-download the SVHN .mat file") from None
        if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y.reshape(-1).shape[0] != x.shape[3]:
            raise RobenchError(
                f"{path} has X {x.shape} and y {y.shape}; expected X [32, 32, 3, N] and y [N, 1]",
                hint="re-download the SVHN .mat file",
            )
        images = np.ascontiguousarray(x.transpose(3, 2, 0, 1), dtype=np.uint8)
        return images, (y.reshape(-1).astype(np.int64) % 10)


@dataclass(frozen=True)
class TinyImageNet(ImageFiles):
    """The official ``tiny-imagenet-200`` layout; its labelled ``val`` set is robench's ``test`` split."""

    name: ClassVar[str] = "tiny-imagenet"

    def locate(self, root: Path, split: str) -> Path:
        return root / "tiny-imagenet-200"

    def exists(self, path: Path, split: str) -> bool:
        marker = path / "train" if split == "train" else path / "val" / "val_annotations.txt"
        return (path / "wnids.txt").is_file() and marker.exists()

    def scan(self, path: Path, split: str, spec: DatasetSpec) -> Scan:
        wnids = tuple(_read_lines(path / "wnids.txt"))
        if len(wnids) != spec.num_classes or len(set(wnids)) != len(wnids):
            raise RobenchError(
                f"{path / 'wnids.txt'} lists {len(wnids)} classes, expected {spec.num_classes} distinct ones",
                hint="re-extract tiny-imagenet-200.zip",
            )
        index = {wnid: i for i, wnid in enumerate(wnids)}
        if split == "train":
            entries = [
                (rel, size, index[wnid])
                for wnid in wnids
                if (path / "train" / wnid / "images").is_dir()
                for rel, size in _file_entries(path / "train" / wnid / "images", f"train/{wnid}/images/")
            ]
        else:
            entries = []
            for line in _read_lines(path / "val" / "val_annotations.txt"):
                name, wnid = line.split("\t")[:2]
                if wnid not in index:
                    raise RobenchError(
                        f"val_annotations.txt labels {name} with {wnid}, which is not in wnids.txt",
                        hint="re-extract tiny-imagenet-200.zip",
                    )
                entries.append((f"val/images/{name}", _size_or_fail(path / "val" / "images" / name), index[wnid]))
        return _labelled(entries, wnids)


def _size_or_fail(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        raise RobenchError(f"{path} is listed in the annotations but missing", hint="re-extract the data set") from None


@dataclass(frozen=True)
class ImageNetVal(ImageFiles):
    """``imagenet/val/<wnid>/*.JPEG`` with ``imagenet/synset_words.txt`` (1000 lines) fixing the class indices.

    Images are ordered by file name (the official validation order) and resized as RobustBench's Res256Crop224.
    """

    name: ClassVar[str] = "imagenet-folder"
    transform: ClassVar[ResizeCrop | None] = ResizeCrop(256, 224)

    def locate(self, root: Path, split: str) -> Path:
        return root / "imagenet"

    def exists(self, path: Path, split: str) -> bool:
        return (path / "synset_words.txt").is_file() and (path / "val").is_dir()

    def scan(self, path: Path, split: str, spec: DatasetSpec) -> Scan:
        wnids = tuple(line.split()[0] for line in _read_lines(path / "synset_words.txt"))
        if len(wnids) != spec.num_classes or len(set(wnids)) != len(wnids):
            raise RobenchError(
                f"{path / 'synset_words.txt'} lists {len(wnids)} synsets, expected {spec.num_classes} distinct ones",
                hint="use the standard 1000-line synset list (one 'nXXXXXXXX name' per line, in index order)",
            )
        index = {wnid: i for i, wnid in enumerate(wnids)}
        entries = []
        for folder in sorted(e.name for e in os.scandir(path / "val") if e.is_dir()):
            if folder not in index:
                raise RobenchError(
                    f"{path / 'val' / folder} is not a synset in synset_words.txt",
                    hint="class folders under imagenet/val must be named by WordNet id (e.g. n01440764)",
                )
            files = _file_entries(path / "val" / folder, f"val/{folder}/")
            entries += [(rel, size, index[folder]) for rel, size in files]
        entries.sort(key=lambda e: (Path(e[0]).name, e[0]))
        return _labelled(entries, wnids)


LAYOUTS: dict[str, tuple[Layout, ...]] = {
    "cifar10": (
        CifarPickle(
            folder="cifar-10-batches-py",
            files=(("train", tuple(f"data_batch_{i}" for i in range(1, 6))), ("test", ("test_batch",))),
            label_key="labels",
            meta=("batches.meta", "label_names"),
        ),
        ClassFolders("cifar10"),
    ),
    "cifar100": (
        CifarPickle(
            folder="cifar-100-python",
            files=(("train", ("train",)), ("test", ("test",))),
            label_key="fine_labels",
            meta=("meta", "fine_label_names"),
        ),
        ClassFolders("cifar100"),
    ),
    "svhn": (SvhnMat("svhn"), SvhnMat("")),
    "tiny-imagenet": (TinyImageNet(),),
    "imagenet": (ImageNetVal(),),
}


@dataclass(frozen=True)
class Source:
    """One split of a data set found on disk in one layout."""

    spec: DatasetSpec
    split: str
    layout: Layout
    path: Path

    @cached_property
    def scan(self) -> Scan:
        return self.layout.scan(self.path, self.split, self.spec)

    @cached_property
    def fingerprint(self) -> str:
        """A key that changes whenever the files (names, sizes, labels) of the split change."""
        scan = self.scan
        record = [self.spec.name, self.split, self.layout.name, scan.classes, scan.files, scan.labels]
        return hashlib.sha256(json.dumps(record, separators=(",", ":")).encode()).hexdigest()

    def count(self) -> int | None:
        return self.layout.count(self.path, self.scan)

    def read(self, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.layout.read(self.path, self.scan, self.spec, workers)


def find_source(spec: DatasetSpec, split: str, data_dir: str | os.PathLike | None = None) -> Source:
    """The first root and layout holding ``split``; raises :class:`RobenchError` naming every place searched."""
    searched = []
    for root in data_roots(data_dir):
        for layout in LAYOUTS[spec.name]:
            path = layout.locate(root, split)
            if layout.exists(path, split):
                return Source(spec, split, layout, path)
            searched.append(str(path))
    where = " or ".join(dict.fromkeys(str(layout.locate(Path("<root>"), split)) for layout in LAYOUTS[spec.name]))
    how = (
        f"run `robench data prepare {spec.name} --download`, or "
        if spec.name != "imagenet"
        else "ImageNet cannot be downloaded automatically (ILSVRC terms of access): "
    )
    raise RobenchError(
        f"{spec.name} {split} split not found; searched: {', '.join(searched)}",
        hint=f"{how}put the data at {where} and pass --data-dir <root> or set ROBENCH_DATA=<root>",
    )

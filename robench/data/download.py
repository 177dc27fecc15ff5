"""Downloading data sets into a data root with torchvision's downloaders."""

from __future__ import annotations

import logging
from pathlib import Path

from robench.data.datasets import DatasetSpec
from robench.errors import RobenchError

_logger = logging.getLogger(__name__)

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"


def download(spec: DatasetSpec, split: str, root: Path) -> None:
    """Fetch ``spec``'s ``split`` into ``root`` in the layout robench reads; failures raise RobenchError."""
    from torchvision import datasets
    from torchvision.datasets.utils import download_and_extract_archive

    fetchers = {
        "cifar10": lambda: datasets.CIFAR10(str(root), train=split == "train", download=True),
        "cifar100": lambda: datasets.CIFAR100(str(root), train=split == "train", download=True),
        "svhn": lambda: datasets.SVHN(str(root / "svhn"), split=split, download=True),
        "tiny-imagenet": lambda: download_and_extract_archive(TINY_IMAGENET_URL, str(root), md5=TINY_IMAGENET_MD5),
    }
    if spec.name not in fetchers:
        raise RobenchError(
            f"{spec.name} cannot be downloaded automatically (its terms of access require a manual download)",
            hint="put the validation images at <root>/imagenet/val/<wnid>/ with <root>/imagenet/synset_words.txt "
            "and pass --data-dir <root> or set ROBENCH_DATA=<root>",
        )
    _logger.info("downloading %s %s into %s", spec.name, split, root)
    try:
        fetchers[spec.name]()
    except Exception as err:  # urllib, http.client and torchvision's checksum errors share no base class
        raise RobenchError(
            f"downloading {spec.name} into {root} failed: {err}",
            hint="check the internet connection, or fetch the data on another machine and copy it into the data root",
        ) from err

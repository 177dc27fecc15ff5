"""Data set specifications, normalisation constants and threat-model presets.

A :class:`DatasetSpec` holds the facts robench needs about a data set (classes, input size, normalisation
constants, official split sizes) and the threat models its leaderboards use. Normalisation constants are
:class:`Normalization` sets copied digit for digit from the authors' code, each naming the file it comes from: a
model normalising with other digits than its weights were trained with gives other logits. Nothing here touches
the disk.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from robench.errors import RobenchError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# The official fine-label order, which is alphabetical.
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)

SVHN_CLASSES = tuple(str(d) for d in range(10))

_NORMS = {"linf": "Linf", "inf": "Linf", "l2": "L2"}

_FRACTION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*/\s*([0-9]*\.?[0-9]+)\s*$")


def parse_eps(value: str | float | int, what: str = "eps") -> float:
    """An attack radius (or step, named ``what`` in errors) from ``8/255``, ``"0.031"`` or a number; anything else
    raises :class:`RobenchError`."""
    if isinstance(value, bool):
        raise RobenchError(f"invalid {what} {value!r}", hint="give a number or a fraction such as 8/255")
    if isinstance(value, (int, float)):
        eps = float(value)
    else:
        text = str(value).strip()
        match = _FRACTION.match(text)
        try:
            if match:
                num, den = float(match.group(1)), float(match.group(2))
                eps = num / den
            else:
                eps = float(text)
        except (ValueError, ZeroDivisionError):
            raise RobenchError(f"invalid {what} {value!r}", hint="give a number or a fraction such as 8/255") from None
    if not math.isfinite(eps) or eps <= 0:
        raise RobenchError(f"invalid {what} {value!r}: must be a finite positive number", hint="e.g. 8/255 or 0.5")
    return eps


def parse_norm(norm: str) -> str:
    """The canonical norm name (``Linf`` or ``L2``) for ``linf``, ``inf``, ``l2`` in any case."""
    canonical = _NORMS.get(str(norm).strip().lower())
    if canonical is None:
        raise RobenchError(f"unknown threat-model norm {norm!r}", hint="use Linf or L2")
    return canonical


@dataclass(frozen=True)
class ThreatModel:
    """An Lp ball of radius ``eps`` around inputs in [0, 1]; ``eps_text`` keeps the radius as people write it."""

    norm: str
    eps: float
    eps_text: str

    @classmethod
    def parse(cls, norm: str, eps: str | float) -> ThreatModel:
        text = eps.strip() if isinstance(eps, str) else repr(float(eps))
        return cls(parse_norm(norm), parse_eps(eps), text.replace(" ", ""))

    def __str__(self) -> str:
        return f"{self.norm} eps={self.eps_text}"


LINF_8 = ThreatModel("Linf", 8 / 255, "8/255")
LINF_4 = ThreatModel("Linf", 4 / 255, "4/255")
L2_05 = ThreatModel("L2", 0.5, "0.5")


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``mean`` and ``std`` of ``(x - mean) / std`` on inputs in [0, 1], and the file they come from."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str


# The DARTS family's CIFAR-10 statistics, in the same digits in every code base that trains or evaluates it.
# nas-robustness's attack scripts (cifar/*-nas.py) alone normalise with std (0.2023, 0.1994, 0.2010), not what its
# own training utilities and the networks' authors' test.py use; robench follows the latter, the weights' own.
DARTS_CIFAR10 = Normalization(
    (0.49139968, 0.48215827, 0.44653124),
    (0.24703233, 0.24348505, 0.26158768),
    "quark0/darts cnn/utils.py CIFAR_MEAN, CIFAR_STD (identical in chenxin061/pdarts, yuhuixu1993/PC-DARTS, "
    "nutellamok/advrush and fyqsama/ARNAS utils.py, and in tdchaitanya/nas-robustness darts/pdarts/pcdarts utils)",
)
# nas-robustness's attack scripts (cifar/*-nas.py --cifar100) normalise CIFAR-100 with these.
NAS_ROBUSTNESS_CIFAR100 = Normalization(
    (0.5070751592371323, 0.48654887331495095, 0.4409178433670343),
    (0.2673342858792401, 0.2564384629170883, 0.27615047132568404),
    "tdchaitanya/nas-robustness cifar/darts-nas.py, pdarts-nas.py, pcdarts-nas.py (--cifar100 test transform)",
)
# P-DARTS trains and evaluates CIFAR-100 with other digits than nas-robustness's.
PDARTS_CIFAR100 = Normalization(
    (0.5071, 0.4867, 0.4408),
    (0.2675, 0.2565, 0.2761),
    "chenxin061/pdarts utils.py _data_transforms_cifar100 (train_cifar.py --cifar100)",
)
IMAGENET_STATS = Normalization(
    (0.485, 0.456, 0.406),
    (0.229, 0.224, 0.225),
    "quark0/darts cnn/test_imagenet.py (torchvision's ImageNet statistics)",
)
# The only authors' code that normalises Tiny-ImageNet (DARTS trained on it) uses the ImageNet statistics.
TINY_IMAGENET_STATS = Normalization(
    IMAGENET_STATS.mean,
    IMAGENET_STATS.std,
    "tdchaitanya/nas-robustness tiny-imagenet/train_darts.py and darts-nas.py (ImageNet statistics)",
)
# No authors' code normalises SVHN (RobNet, AdvRush and ARNAS feed it in [0, 1]).
SVHN_STATS = Normalization(
    (0.4377, 0.4438, 0.4728),
    (0.1980, 0.2010, 0.1970),
    "robench's choice: the commonly quoted SVHN training-split statistics (no authors' code normalises SVHN)",
)


@dataclass(frozen=True)
class DatasetSpec:
    """What robench knows about a data set before reading it.

    ``classes`` is ``None`` when the class list comes with the data (Tiny-ImageNet's ``wnids.txt``, ImageNet's
    synset list); ``split_sizes`` are the official image counts; ``threat_models[0]`` is the default preset.
    ``normalization`` is what a model built for the data set normalises with unless its zoo entry names the
    constants of its own authors' code.
    """

    name: str
    label: str  # as tables, plots and model cards print it
    hub_dataset: str  # the data set's id on the Hugging Face Hub, for a model card's metadata
    num_classes: int
    image_size: tuple[int, int, int]
    normalization: Normalization
    split_sizes: dict[str, int]
    threat_models: tuple[ThreatModel, ...]
    classes: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    split_aliases: dict[str, str] = field(default_factory=dict)

    @property
    def mean(self) -> tuple[float, ...]:
        return self.normalization.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.normalization.std

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.split_sizes)

    @property
    def default_threat_model(self) -> ThreatModel:
        return self.threat_models[0]

    def resolve_split(self, split: str) -> str:
        """The canonical split name; Tiny-ImageNet's and ImageNet's ``val`` is their ``test``."""
        name = self.split_aliases.get(split, split)
        if name not in self.split_sizes:
            known = ", ".join([*self.split_sizes, *self.split_aliases])
            raise RobenchError(f"{self.name} has no split {split!r}", hint=f"use one of: {known}")
        return name

    def threat_model(self, norm: str | None = None) -> ThreatModel:
        """The preset for ``norm`` (default: the data set's standard threat model)."""
        if norm is None:
            return self.default_threat_model
        wanted = parse_norm(norm)
        for preset in self.threat_models:
            if preset.norm == wanted:
                return preset
        known = ", ".join(str(t) for t in self.threat_models)
        raise RobenchError(
            f"{self.name} has no {wanted} preset (presets: {known})",
            hint="give eps explicitly, e.g. ThreatModel.parse('L2', 0.5)",
        )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="cifar10",
            label="CIFAR-10",
            hub_dataset="uoft-cs/cifar10",
            num_classes=10,
            image_size=(3, 32, 32),
            normalization=DARTS_CIFAR10,
            split_sizes={"train": 50_000, "test": 10_000},
            threat_models=(LINF_8, L2_05),
            classes=CIFAR10_CLASSES,
            aliases=("cifar-10",),
        ),
        DatasetSpec(
            name="cifar100",
            label="CIFAR-100",
            hub_dataset="uoft-cs/cifar100",
            num_classes=100,
            image_size=(3, 32, 32),
            normalization=NAS_ROBUSTNESS_CIFAR100,
            split_sizes={"train": 50_000, "test": 10_000},
            threat_models=(LINF_8,),
            classes=CIFAR100_CLASSES,
            aliases=("cifar-100",),
        ),
        DatasetSpec(
            name="svhn",
            label="SVHN",
            hub_dataset="ufldl-stanford/svhn",
            num_classes=10,
            image_size=(3, 32, 32),
            normalization=SVHN_STATS,
            split_sizes={"train": 73_257, "test": 26_032},
            threat_models=(LINF_8,),
            classes=SVHN_CLASSES,
        ),
        DatasetSpec(
            name="tiny-imagenet",
            label="Tiny-ImageNet",
            hub_dataset="zh-plus/tiny-imagenet",
            num_classes=200,
            image_size=(3, 64, 64),
            normalization=TINY_IMAGENET_STATS,
            split_sizes={"train": 100_000, "test": 10_000},
            threat_models=(LINF_8,),
            aliases=("tiny-imagenet-200", "tinyimagenet"),
            split_aliases={"val": "test"},
        ),
        DatasetSpec(
            name="imagenet",
            label="ImageNet",
            hub_dataset="ILSVRC/imagenet-1k",
            num_classes=1000,
            image_size=(3, 224, 224),
            normalization=IMAGENET_STATS,
            split_sizes={"test": 50_000},
            threat_models=(LINF_4,),
            aliases=("imagenet-1k", "in1k", "ilsvrc2012"),
            split_aliases={"val": "test"},
        ),
    )
}

_LOOKUP = {alias: spec for spec in DATASETS.values() for alias in (spec.name, *spec.aliases)}


def list_datasets() -> list[str]:
    return list(DATASETS)


def get_dataset(name: str) -> DatasetSpec:
    """The spec for a data set name or alias (case-insensitive, ``_`` and ``-`` alike)."""
    key = str(name).strip().lower().replace("_", "-")
    spec = _LOOKUP.get(key)
    if spec is None:
        raise RobenchError(f"unknown data set {name!r}", hint=f"known data sets: {', '.join(DATASETS)}")
    return spec

"""Numbers the seed papers report for zoo architectures, transcribed from their tables (accuracies in percent).

They are what a measured result is compared against; they are never presented as robench measurements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

ADVRUSH_PAPER = "Mok et al., AdvRush, ICCV 2021 (arXiv:2108.01289)"
ROBNET_PAPER = "Guo et al., RobNet, CVPR 2020 (arXiv:1911.10695)"
NASROB_PAPER = "Devaguptapu et al., On Adversarial Robustness: A NAS perspective, ICCVW 2021 (arXiv:2007.08428)"

# Training regimes behind a number.
PGD7_AT = "pgd7-at"  # adversarial training with 7-step PGD, l_inf 8/255
PGD_AT = "pgd-at"  # RobNet's PGD adversarial training (7 steps, l_inf 8/255)
STANDARD = "standard"  # clean training, no adversarial examples


@dataclass(frozen=True)
class Reported:
    """One reported row: the paper and table, the data set, how the model was trained, its metrics."""

    source: str
    dataset: str
    training: str
    metrics: Mapping[str, float] = field(hash=False)
    params: str | None = None  # as printed in the paper
    row: str = ""  # the model's name in the paper's table
    note: str = ""
    # the metrics measured as robench measures them (same attack, step, restarts, eps on [0, 1] inputs), which
    # a robench evaluation of the same weights can be held against
    same_protocol: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))

    def __reduce__(self):
        fields = (self.source, self.dataset, self.training, dict(self.metrics), self.params, self.row, self.note,
                  self.same_protocol)
        return (type(self), fields)


def _advrush_table1(
    row: str,
    params: str,
    clean: float,
    fgsm: float,
    pgd20: float,
    pgd100: float,
    apgd_ce: float,
    aa: float,
    std_clean: float,
    std_fgsm: float,
) -> tuple[Reported, Reported]:
    source = f"{ADVRUSH_PAPER}, Table 1"
    return (
        Reported(
            source,
            "cifar10",
            PGD7_AT,
            dict(clean=clean, fgsm=fgsm, pgd20=pgd20, pgd100=pgd100, apgd_ce=apgd_ce, autoattack=aa),
            params,
            row,
        ),
        Reported(source, "cifar10", STANDARD, dict(clean=std_clean, fgsm=std_fgsm), params, row),
    )


def _advrush_table3(row: str, dataset: str, clean: float, fgsm: float, pgd20: float) -> Reported:
    return Reported(
        f"{ADVRUSH_PAPER}, Table 3",
        dataset,
        PGD7_AT,
        dict(clean=clean, fgsm=fgsm, pgd20=pgd20),
        None,
        row,
        "cell searched on CIFAR-10, transferred",
    )


ROBNET_WHITE_BOX = f"{ROBNET_PAPER}, white-box comparison"
NASROB_CIFAR10 = f"{NASROB_PAPER}, CIFAR-10 table"


def _robnet_table(row: str, params: str, clean: float, pgd100: float) -> Reported:
    return Reported(
        ROBNET_WHITE_BOX,
        "cifar10",
        PGD_AT,
        dict(clean=clean, pgd100=pgd100),
        params,
        row,
        "the reported RobNet sizes match a 100-way classifier",
        same_protocol=("clean", "pgd100"),  # PGD-100 with step 2/255 from a random start in the 8/255 ball
    )


def _robnet_transfer(row: str, svhn: float, cifar100: float, tiny: float) -> tuple[Reported, ...]:
    source = f"{ROBNET_PAPER}, other data sets"
    return tuple(
        Reported(source, ds, PGD_AT, dict(pgd=value), None, row)
        for ds, value in (("svhn", svhn), ("cifar100", cifar100), ("tiny-imagenet", tiny))
    )


def _nasrob(row: str, clean: float, fgsm: float, ffgsm: float, pgd: float, apgd: float, hrs: float) -> Reported:
    return Reported(
        NASROB_CIFAR10,
        "cifar10",
        STANDARD,
        dict(clean=clean, fgsm=fgsm, ffgsm=ffgsm, pgd10=pgd, apgd=apgd, hrs=hrs),
        None,
        row,
        "eps 8/255 applied to normalised inputs; PGD 10 steps; AutoPGD 10 restarts",
        same_protocol=("clean",),  # its attacks' eps is on normalised inputs: not robench's budget
    )


REPORTED: dict[str, tuple[Reported, ...]] = {
    "resnet18": (
        *_advrush_table1("ResNet-18", "11.2M", 84.09, 54.64, 45.86, 45.53, 44.54, 43.22, 95.84, 50.71),
        _advrush_table3("ResNet-18", "cifar100", 55.57, 26.03, 21.44),
        _advrush_table3("ResNet-18", "svhn", 92.06, 88.73, 69.51),
        _advrush_table3("ResNet-18", "tiny-imagenet", 36.26, 16.08, 13.94),
        _robnet_table("ResNet-18", "11.17M", 78.38, 45.10),
        _nasrob("ResNet-18", 93.48, 52.43, 48.33, 24.27, 23.13, 38.53),
    ),
    "resnet50": (
        _nasrob("ResNet-50", 94.38, 50.05, 45.78, 23.45, 22.35, 37.57),
        *_robnet_transfer("ResNet-50", 47.23, 22.38, 19.12),
    ),
    "wrn_28_10": (_robnet_table("WideResNet-28-10", "36.48M", 86.43, 46.90),),
    "densenet121": (
        *_advrush_table1("DenseNet-121", "7.0M", 85.95, 58.46, 50.49, 49.92, 49.11, 47.46, 95.97, 45.51),
        _advrush_table3("DenseNet-121", "cifar100", 62.33, 34.68, 28.67),
        _advrush_table3("DenseNet-121", "svhn", 93.72, 91.78, 76.51),
        _advrush_table3("DenseNet-121", "tiny-imagenet", 47.56, 22.98, 18.06),
        _robnet_table("DenseNet-121", "6.95M", 82.72, 47.46),
        _nasrob("DenseNet-121", 94.76, 50.94, 47.14, 24.06, 22.66, 38.38),
    ),
    "densenet169": (_nasrob("DenseNet-169", 94.74, 53.53, 49.47, 26.21, 24.35, 41.06),),
    "vgg16_bn": (_nasrob("VGG16-BN", 94.07, 52.42, 46.16, 20.03, 18.63, 33.03),),
    "darts_v2": (
        *_advrush_table1("DARTS", "3.3M", 85.17, 58.74, 50.45, 49.28, 48.32, 46.79, 97.46, 50.56),
        _nasrob("DARTS", 97.03, 58.53, 45.03, 7.09, 6.10, 13.21),
    ),
    "pdarts": (
        *_advrush_table1("PDARTS", "3.4M", 85.37, 59.12, 51.32, 50.91, 49.96, 48.52, 97.49, 54.51),
        _advrush_table3("PDARTS", "cifar100", 58.41, 30.35, 25.83),
        _advrush_table3("PDARTS", "svhn", 95.10, 93.01, 89.58),
        _advrush_table3("PDARTS", "tiny-imagenet", 45.94, 24.36, 22.74),
        _nasrob("PDARTS", 97.12, 58.67, 47.62, 9.31, 7.98, 16.99),
    ),
    "pc_darts": (_nasrob("PC-DARTS", 97.05, 60.55, 48.65, 9.84, 8.36, 17.87),),
    "racl": _advrush_table1("RACL", "3.6M", 84.63, 58.57, 50.62, 50.47, 49.42, 47.64, 96.76, 52.38),
    "advrush": (
        *_advrush_table1("AdvRush", "4.2M", 87.30, 60.87, 53.07, 52.80, 51.83, 50.05, 97.58, 55.91),
        _advrush_table3("AdvRush", "cifar100", 58.73, 39.51, 30.15),
        _advrush_table3("AdvRush", "svhn", 96.53, 94.95, 91.14),
        _advrush_table3("AdvRush", "tiny-imagenet", 45.42, 25.20, 23.58),
    ),
    "robnet_free": (
        *_advrush_table1("RobNet-free", "5.6M", 85.00, 59.22, 52.09, 51.14, 50.41, 48.56, 96.40, 36.99),
        _robnet_table("RobNet-free", "5.49M", 82.79, 52.57),
        *_robnet_transfer("RobNet-free", 55.59, 23.87, 20.87),
    ),
    "robnet_large": (
        _robnet_table("RobNet-large", "6.89M", 78.57, 49.24),
        *_robnet_transfer("RobNet-large", 51.26, 23.19, 19.90),
    ),
    "random_ensemble": (
        Reported(
            f"{NASROB_PAPER}, Table 6",
            "cifar10",
            STANDARD,
            dict(clean=93.77, pgd10=21.68, apgd=20.78),
            "2.74M",
            "ENSEMBLE",
            "mean of 4 sample-train-ensemble runs, 20 cells in total (std 0.39 / 0.35 / 0.39)",
        ),
    ),
}

"""Numbers the seed papers report, transcribed from their tables (accuracies in percent, as printed).

This table is the only copy: the zoo's entries (``robench info``), the reproduction check and the releases read
it, and the leaderboard writes its reported records from it (``robench leaderboard build``). Rows of
architectures the zoo lacks (NSGA-Net, ProxylessNAS, networks of random DARTS cells) carry a name in the zoo's
style. The numbers are what a measured result is compared against; they are never presented as robench
measurements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import groupby
from types import MappingProxyType


@dataclass(frozen=True)
class Paper:
    """A seed paper: how to cite it, the budget it states, and how it runs each attack its tables name."""

    citation: str
    arxiv: str
    short: str  # author, method and venue, as sources are named in robench's output
    eps: float  # l_inf, on [0, 1] inputs, as the paper writes it
    eps_text: str
    attacks: Mapping[str, Mapping[str, object]] = field(hash=False)  # attack -> its settings as the paper states them


ADVRUSH = Paper("Mok et al., AdvRush: Searching for Adversarially Robust Neural Architectures (ICCV 2021)",
                "2108.01289", "Mok et al., AdvRush, ICCV 2021", 0.031, "0.031 (= 8/255)",
                {"fgsm": {}, "pgd20": {"steps": 20}, "pgd100": {"steps": 100}, "apgd-ce": {},
                 "autoattack": {"version": "standard"}})
ROBNET = Paper("Guo et al., When NAS Meets Robustness: In Search of Robust Architectures against Adversarial "
               "Attacks (CVPR 2020)", "1911.10695", "Guo et al., RobNet, CVPR 2020", 8 / 255, "8/255",
               {"pgd100": {"steps": 100}, "pgd": {}})
NASROB = Paper("Devaguptapu et al., On Adversarial Robustness: A Neural Architecture Search perspective "
               "(ICCV Workshops 2021)", "2007.08428", "Devaguptapu et al., On Adversarial Robustness: A NAS "
               "perspective, ICCVW 2021", 8 / 255, "8/255",
               {"fgsm": {}, "ffgsm": {}, "pgd10": {"step_size": "2/255", "steps": 10},
                "apgd10x10": {"n_restarts": 10, "steps": 10}})

# Training regimes behind a number, as the leaderboard names them.
PGD7_AT = "PGD-7 adversarial training"  # l_inf 8/255, 7 steps (RobNet's PGD training is also 7 steps)
STANDARD = "standard training"  # clean training, no adversarial examples

CLEAN = "clean"
HRS = "hrs"  # a paper's own HRS column; every other metric but clean accuracy is an attack's accuracy


@dataclass(frozen=True)
class Reported:
    """One reported row: the paper and table, the model, how it was trained, on what data, its metrics."""

    paper: Paper
    table: str
    name: str  # the zoo's name, or one in its style for an architecture the zoo lacks
    row: str  # the model's name in the paper's table
    family: str  # what the leaderboard groups for PP-HRS (the search space, or the hand-crafted family)
    dataset: str
    training: str
    metrics: Mapping[str, float] = field(hash=False)  # clean, then each attack in the table's column order, then HRS
    params: str | None = None  # as printed in the paper
    note: str = ""
    # the metrics measured as robench measures them (same attack, step, restarts, eps on [0, 1] inputs), which
    # a robench evaluation of the same weights can be held against
    same_protocol: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))

    def __reduce__(self):
        fields = (self.paper, self.table, self.name, self.row, self.family, self.dataset, self.training,
                  dict(self.metrics), self.params, self.note, self.same_protocol)
        return (type(self), fields)

    @property
    def source(self) -> str:
        return f"{self.paper.short} (arXiv:{self.paper.arxiv}), {self.table}"

    @property
    def attacks(self) -> tuple[str, ...]:
        return tuple(k for k in self.metrics if k not in (CLEAN, HRS))


@dataclass(frozen=True)
class ReportedTransfer:
    """A paper's transfer matrix: rows are the models the attack's examples were crafted on, columns the
    models they were fed to. The diagonal (white-box) and the models themselves are the rows of ``of``."""

    paper: Paper
    table: str
    attack: str
    of: str  # the table whose rows (same paper, data set and training) the models are
    dataset: str
    training: str
    models: tuple[str, ...]
    off_diagonal: tuple[tuple[float | None, ...], ...]  # percent; None on the diagonal, which ``of`` holds
    note: str = ""


# --- AdvRush (Mok et al.): every model trained with the same PGD-7 recipe (Table 1, 3), or clean (Table 1) -----

_ADVRUSH_AT = ("PGD-20 and PGD-100: 20 and 100 iterations; AA: the standard AutoAttack group (APGD-CE, APGD-T, "
               "FAB-T, Square)")


def _advrush_table1(name: str, row: str, family: str, params: str, clean: float, fgsm: float, pgd20: float,
                    pgd100: float, apgd_ce: float, aa: float, std_clean: float, std_fgsm: float,
                    note: str = "") -> tuple[Reported, Reported]:  # fmt: skip
    return (
        Reported(ADVRUSH, "Table 1", name, row, family, "cifar10", PGD7_AT,
                 {CLEAN: clean, "fgsm": fgsm, "pgd20": pgd20, "pgd100": pgd100, "apgd-ce": apgd_ce, "autoattack": aa},
                 params, _ADVRUSH_AT + note),
        Reported(ADVRUSH, "Table 1 (standard-trained columns)", name, row, family, "cifar10", STANDARD,
                 {CLEAN: std_clean, "fgsm": std_fgsm}, params,
                 "600 epochs of standard training; evaluated with FGSM only"),
    )


def _advrush_table3(name: str, row: str, family: str, dataset: str, clean: float, fgsm: float,
                    pgd20: float) -> Reported:  # fmt: skip
    return Reported(ADVRUSH, "Table 3", name, row, family, dataset, PGD7_AT,
                    {CLEAN: clean, "fgsm": fgsm, "pgd20": pgd20},
                    note="architecture searched on CIFAR-10, adversarially trained on this data set with the "
                    "hyper-parameters of the paper's Table A1")


ADVRUSH_ROWS = (
    *_advrush_table1("resnet18", "ResNet-18", "resnet", "11.2M", 84.09, 54.64, 45.86, 45.53, 44.54, 43.22, 95.84,
                     50.71),
    *_advrush_table1("densenet121", "DenseNet-121", "densenet", "7.0M", 85.95, 58.46, 50.49, 49.92, 49.11, 47.46,
                     95.97, 45.51),
    *_advrush_table1("darts_v2", "DARTS", "darts-space", "3.3M", 85.17, 58.74, 50.45, 49.28, 48.32, 46.79, 97.46,
                     50.56),
    *_advrush_table1("pdarts", "PDARTS", "darts-space", "3.4M", 85.37, 59.12, 51.32, 50.91, 49.96, 48.52, 97.49, 54.51),
    *_advrush_table1("robnet_free", "RobNet-free", "robnet", "5.6M", 85.00, 59.22, 52.09, 51.14, 50.41, 48.56, 96.40,
                     36.99),
    *_advrush_table1("racl", "RACL", "darts-space", "3.6M", 84.63, 58.57, 50.62, 50.47, 49.42, 47.64, 96.76, 52.38),
    *_advrush_table1("advrush", "AdvRush", "darts-space", "4.2M", 87.30, 60.87, 53.07, 52.80, 51.83, 50.05, 97.58,
                     55.91, note="; the paper's abstract and Table A3 give AA 50.04"),
    *(_advrush_table3(name, row, family, dataset, *numbers)
      for dataset, table in (
          ("cifar100", ((55.57, 26.03, 21.44), (62.33, 34.68, 28.67), (58.41, 30.35, 25.83), (58.73, 39.51, 30.15))),
          ("svhn", ((92.06, 88.73, 69.51), (93.72, 91.78, 76.51), (95.10, 93.01, 89.58), (96.53, 94.95, 91.14))),
          ("tiny-imagenet", ((36.26, 16.08, 13.94), (47.56, 22.98, 18.06), (45.94, 24.36, 22.74),
                             (45.42, 25.20, 23.58))),
      )
      for (name, row, family), numbers in zip((("resnet18", "ResNet-18", "resnet"),
                                               ("densenet121", "DenseNet-121", "densenet"),
                                               ("pdarts", "PDARTS", "darts-space"),
                                               ("advrush", "AdvRush", "darts-space")), table)),
)  # fmt: skip

ADVRUSH_TRANSFER = ReportedTransfer(
    ADVRUSH, "Table 2", "pgd20", "Table 1", "cifar10", PGD7_AT,
    ("resnet18", "densenet121", "darts_v2", "pdarts", "robnet_free", "racl", "advrush"),
    ((None, 66.31, 66.46, 67.54, 67.89, 66.20, 68.52),
     (63.14, None, 65.58, 66.60, 66.58, 65.17, 67.18),
     (64.40, 60.84, None, 65.90, 65.54, 64.55, 66.89),
     (64.46, 60.44, 64.73, None, 65.61, 64.23, 66.71),
     (64.13, 61.03, 64.32, 65.30, None, 63.72, 65.40),
     (64.49, 60.46, 64.67, 65.70, 65.73, None, 66.58),
     (64.43, 60.98, 64.78, 65.24, 64.55, 64.23, None)),
    "rows: the source model the PGD-20 examples were crafted on; columns: the target model; the diagonal is "
    "white-box PGD-20 accuracy; clean accuracies from Table 1",
)  # fmt: skip

# --- RobNet (Guo et al.): PGD adversarial training, white-box PGD-100 on CIFAR-10 (Table 1) --------------------

ROBNET_TABLE1 = "Table 1"
_ROBNET_SAME = (CLEAN, "pgd100")  # PGD-100 with step 2/255 from a random start in the 8/255 ball


def _robnet_table1(name: str, row: str, family: str, params: str, clean: float, pgd100: float,
                   note: str = "") -> Reported:  # fmt: skip
    return Reported(ROBNET, ROBNET_TABLE1, name, row, family, "cifar10", PGD7_AT, {CLEAN: clean, "pgd100": pgd100},
                    params, "white-box PGD-100" + note, same_protocol=_ROBNET_SAME)


def _robnet_transfer(name: str, row: str, family: str, svhn: float, cifar100: float,
                     tiny: float) -> tuple[Reported, ...]:  # fmt: skip
    # PGD accuracy only: the table gives no clean accuracy, which every leaderboard row needs, so these rows
    # stay in the zoo (robench info) and out of the leaderboard
    return tuple(Reported(ROBNET, "other data sets", name, row, family, ds, PGD7_AT, {"pgd": value},
                          note="architecture searched on CIFAR-10, adversarially trained on this data set")
                 for ds, value in (("svhn", svhn), ("cifar100", cifar100), ("tiny-imagenet", tiny)))


_HUNDRED_WAY = "; the parameter count matches a 100-way classifier: the 10-class model has "

ROBNET_ROWS = (
    _robnet_table1("resnet18", "ResNet-18", "resnet", "11.17M", 78.38, 45.10),
    _robnet_table1("wrn_28_10", "WideResNet-28-10", "wide-resnet", "36.48M", 86.43, 46.90),
    _robnet_table1("densenet121", "DenseNet-121", "densenet", "6.95M", 82.72, 47.46),
    _robnet_table1("robnet_large", "RobNet-large", "robnet", "6.89M", 78.57, 49.24, _HUNDRED_WAY + "6.84M"),
    _robnet_table1("robnet_free", "RobNet-free", "robnet", "5.49M", 82.79, 52.57, _HUNDRED_WAY + "5.44M"),
    *_robnet_transfer("resnet50", "ResNet-50", "resnet", 47.23, 22.38, 19.12),
    *_robnet_transfer("robnet_large", "RobNet-large", "robnet", 51.26, 23.19, 19.90),
    *_robnet_transfer("robnet_free", "RobNet-free", "robnet", 55.59, 23.87, 20.87),
)

# --- Devaguptapu et al.: standard training only, CIFAR-10 (Table 1; random DARTS cells, Table 6) ---------------

NASROB_TABLE1 = "Table 1"
_NASROB_NOTE = ("PGD: 10 steps of 2/255; AutoPGD: 10 random restarts; eps 8/255 applied to normalised inputs; "
                "HRS: the paper's, with PGD")


def _nasrob(name: str, row: str, family: str, clean: float, fgsm: float, ffgsm: float, pgd: float, apgd: float,
            hrs: float, params: str | None = None) -> Reported:  # fmt: skip
    return Reported(NASROB, NASROB_TABLE1, name, row, family, "cifar10", STANDARD,
                    {CLEAN: clean, "fgsm": fgsm, "ffgsm": ffgsm, "pgd10": pgd, "apgd10x10": apgd, HRS: hrs}, params,
                    ("parameters from Table 6; " if params else "") + _NASROB_NOTE,
                    same_protocol=(CLEAN,))  # its attacks' eps is on normalised inputs: not robench's


def _nasrob_random(name: str, row: str, params: str, clean: float, pgd: float, apgd: float, stds: str,
                   note: str = "") -> Reported:  # fmt: skip
    return Reported(NASROB, "Table 6", name, row, "darts-space", "cifar10", STANDARD,
                    {CLEAN: clean, "pgd10": pgd, "apgd10x10": apgd}, params,
                    f"mean over four runs of 20 cells; standard deviations: {stds}{note}")


NASROB_ROWS = (
    _nasrob("resnet18", "ResNet-18", "resnet", 93.48, 52.43, 48.33, 24.27, 23.13, 38.53),
    _nasrob("resnet50", "ResNet-50", "resnet", 94.38, 50.05, 45.78, 23.45, 22.35, 37.57),
    _nasrob("densenet121", "DenseNet-121", "densenet", 94.76, 50.94, 47.14, 24.06, 22.66, 38.38),
    _nasrob("densenet169", "DenseNet-169", "densenet", 94.74, 53.53, 49.47, 26.21, 24.35, 41.06),
    _nasrob("vgg16_bn", "VGG16-BN", "vgg", 94.07, 52.42, 46.16, 20.03, 18.63, 33.03),
    _nasrob("darts_v2", "DARTS", "darts-space", 97.03, 58.53, 45.03, 7.09, 6.10, 13.21, "3.35M"),
    _nasrob("pdarts", "PDARTS", "darts-space", 97.12, 58.67, 47.62, 9.31, 7.98, 16.99, "3.43M"),
    _nasrob("nsga_net", "NSGA-Net", "nsga-net", 96.94, 66.08, 56.16, 11.1, 9.82, 19.92),
    _nasrob("proxylessnas", "ProxylessNAS", "proxylessnas", 97.92, 51.73, 58.38, 3.22, 4.24, 6.23),
    _nasrob("pc_darts", "PC-DARTS", "darts-space", 97.05, 60.55, 48.65, 9.84, 8.36, 17.87, "3.63M"),
    _nasrob_random("random_cells", "RANDOM", "2.73M", 95.57, 14.47, 12.56,
                   "params 0.49M, clean 0.40, PGD 4.70, AutoPGD 4.16"),
    _nasrob_random("random_ensemble", "ENSEMBLE", "2.74M", 93.77, 21.68, 20.78,
                   "params 0.41M, clean 0.39, PGD 0.35, AutoPGD 0.39",
                   "; members combined by a linear network fine-tuned for two epochs"),
)

ROWS: tuple[Reported, ...] = (*ADVRUSH_ROWS, *ROBNET_ROWS, *NASROB_ROWS)
TRANSFERS: tuple[ReportedTransfer, ...] = (ADVRUSH_TRANSFER,)

# The sources whose rows were measured on released weights (robench.zoo.releases: Release.reproduces).
ROBNET_WHITE_BOX = f"{ROBNET.short} (arXiv:{ROBNET.arxiv}), {ROBNET_TABLE1}"
NASROB_CIFAR10 = f"{NASROB.short} (arXiv:{NASROB.arxiv}), {NASROB_TABLE1}"

# model name -> its rows (in the order above)
REPORTED: dict[str, tuple[Reported, ...]] = {
    name: tuple(rows) for name, rows in groupby(sorted(ROWS, key=lambda r: r.name), key=lambda r: r.name)
}


def table_row(transfer: ReportedTransfer, name: str) -> Reported:
    """The row of ``transfer.of`` that model ``name`` of a transfer matrix is."""
    (row,) = [r for r in REPORTED[name] if r.paper == transfer.paper and r.table == transfer.of
              and r.dataset == transfer.dataset and r.training == transfer.training]
    return row


def transfer_matrix(transfer: ReportedTransfer) -> tuple[tuple[float, ...], ...]:
    """The full matrix in percent, its diagonal taken from the white-box rows of ``transfer.of``."""
    return tuple(
        tuple(table_row(transfer, name).metrics[transfer.attack] if value is None else value for value in cells)
        for name, cells in zip(transfer.models, transfer.off_diagonal)
    )

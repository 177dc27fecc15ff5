"""Where pretrained weights of each zoo entry can be fetched from, as timm's pretrained configs say it.

For every (entry, data set) the sources are tried in order: robench's own Hub repo
(``{ROBENCH_HUB_ORG or robench}/robench-{name}-{dataset}``, a robench checkpoint, see :mod:`robench.zoo.hubfetch`),
then the authors' release, a file in the authors' own format that robench imports and converts. This module holds
the facts only (no downloading, no torch): :mod:`robench.zoo.pretrained` fetches.

The releases, as read in the authors' repositories:

- RobNets (gmh14/RobNets README, since 2020-08-23): one zip on Google Drive to be unzipped into ``checkpoint/``;
  the experiment configs load ``checkpoint/RobNet_{free,large_v1,large_v2}_cifar10.pth.tar``,
  ``RobNet_{free,large_v1}_SVHN.pth.tar`` and ``RobNet_large_v1_imgnet.pth.tar``. Adversarially trained.
- nas-robustness (tdchaitanya/nas-robustness README): one Drive folder with the standard-trained networks of seed
  003, placed as ``darts/pretrained/cifar10.pt`` (``cifar100.pt``), likewise ``pdarts/``, ``pcdarts/``,
  ``nsga_net/``. The folder's own layout is not documented: the member is the file of that name under a folder
  of that family's name. NSGA-Net is not a zoo entry. Its hand-crafted CIFAR networks are those of
  huyvnphan/PyTorch_CIFAR10 (e.g. VGG16-BN with a 25088-4096-4096-10 classifier), not robench's baselines, so
  they are no source here.
- ARNAS (fyqsama/ARNAS README): ``ARNAS_train_eval/eval/EXP/ARNAS.pth.tar`` in the repository. The stored
  snapshot of the repository (commit 9bcc2e3) holds no ``EXP`` folder, so the URL may answer 404.
- AdvRush (nutellamok/advrush, last commit 2021-12-27): no weights released; its README asks users to put their
  own checkpoints into ``eval/checkpoints``.

No sha256 of any release is published: each is recorded in the lock file on first download and checked on every
later use (:mod:`robench.zoo.pretrained`). A digest set here (``Release.sha256``) is checked instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from robench.data.datasets import get_dataset
from robench.zoo.registry import canonical_name
from robench.zoo.reported import NASROB_CIFAR10, REPORTED, ROBNET_WHITE_BOX, Reported

GDRIVE_URL_ENV = "ROBENCH_GDRIVE_URL"
GITHUB_URL_ENV = "ROBENCH_GITHUB_URL"
DEFAULT_GDRIVE_URL = "https://drive.google.com"
DEFAULT_GITHUB_URL = "https://github.com"


@dataclass(frozen=True)
class Release:
    """One authors' file holding one entry's weights for one data set.

    ``kind``: ``drive-file`` (``location`` is a Drive file id), ``drive-folder`` (a Drive folder id) or
    ``github`` (``owner/repo/branch/path`` of a file in a repository). ``member``: the weights file inside the zip
    (``drive-file``, found by its name wherever the zip puts it) or the folder (``drive-folder``, as
    ``family/filename``); None when the download is the
    weights file itself. ``filename``: the name the download is stored (or placed by hand) under.
    """

    project: str  # who released it, as the README names it
    kind: Literal["drive-file", "drive-folder", "github"]
    location: str
    filename: str
    member: str | None
    layout: str  # the importer's name for the authors' format (robench.zoo.importers.ORIGINAL_LAYOUTS or "plain")
    training: str  # how the authors trained these weights
    sha256: str | None = None  # of the download, when published
    reproduces: str | None = None  # the source of the reported rows measured on these very weights

    @property
    def identity(self) -> str:
        """These weights among the release's files, as a converted checkpoint's metadata names them."""
        return f"{self.key}#{self.member}" if self.member else self.key

    @property
    def url(self) -> str:
        """The URL this release is downloaded from; the Drive and GitHub hosts can be redirected to a mirror with
        ``ROBENCH_GDRIVE_URL`` / ``ROBENCH_GITHUB_URL``."""
        if self.kind == "drive-file":
            return drive_file_url(self.location)
        if self.kind == "drive-folder":
            return f"{_base(GDRIVE_URL_ENV, DEFAULT_GDRIVE_URL)}/drive/folders/{self.location}"
        owner, repo, branch, path = self.location.split("/", 3)
        return f"{_base(GITHUB_URL_ENV, DEFAULT_GITHUB_URL)}/{owner}/{repo}/raw/{branch}/{path}"

    @property
    def key(self) -> str:
        """The release's name in the lock file (independent of mirrors)."""
        return f"{self.kind}:{self.location}"

    def describe(self) -> str:
        inside = f" ({self.member} inside)" if self.member else ""
        return f"{self.project}: {self.url}{inside}"


def drive_file_url(file_id: str) -> str:
    """The download URL of a Drive file (on ``ROBENCH_GDRIVE_URL`` when set)."""
    return f"{_base(GDRIVE_URL_ENV, DEFAULT_GDRIVE_URL)}/uc?id={file_id}"


def _base(env: str, default: str) -> str:
    return (os.environ.get(env) or default).rstrip("/")


_ROBNETS_ZIP = "12Dkycpdyo7el-SmwImFzp0-NIhGt3-AT"
_NAS_ROBUSTNESS_FOLDER = "1jrOuEBQ3lFDbI916ps8lEFPvRyOCZqLl"
_ROBNETS_TRAINING = "PGD-7 adversarial training (RobNets)"
_STANDARD_TRAINING = "standard (clean) training, DARTS protocol (nas-robustness, seed 003)"


def _robnets(member: str, layout: str, reproduces: str | None = None) -> Release:
    return Release("RobNets (gmh14/RobNets)", "drive-file", _ROBNETS_ZIP, "RobNets-checkpoint.zip",
                   member, layout, _ROBNETS_TRAINING, reproduces=reproduces)


def _nas_robustness(family: str, dataset: str, layout: str) -> Release:
    return Release("nas-robustness (tdchaitanya/nas-robustness)", "drive-folder", _NAS_ROBUSTNESS_FOLDER,
                   f"nas-robustness-{family}-{dataset}.pt", f"{family}/{dataset}.pt", layout, _STANDARD_TRAINING,
                   reproduces=NASROB_CIFAR10 if dataset == "cifar10" else None)


RELEASES: dict[tuple[str, str], tuple[Release, ...]] = {
    ("robnet_free", "cifar10"): (_robnets("RobNet_free_cifar10.pth.tar", "robnet_free", ROBNET_WHITE_BOX),),
    ("robnet_large", "cifar10"): (_robnets("RobNet_large_v1_cifar10.pth.tar", "robnet_large", ROBNET_WHITE_BOX),),
    ("robnet_large_v2", "cifar10"): (_robnets("RobNet_large_v2_cifar10.pth.tar", "robnet_large_v2"),),
    ("robnet_free", "svhn"): (_robnets("RobNet_free_SVHN.pth.tar", "robnet_free"),),
    ("robnet_large", "svhn"): (_robnets("RobNet_large_v1_SVHN.pth.tar", "robnet_large"),),
    ("robnet_large", "imagenet"): (_robnets("RobNet_large_v1_imgnet.pth.tar", "robnet_large"),),
    ("darts_v2", "cifar10"): (_nas_robustness("darts", "cifar10", "darts_v2"),),
    ("darts_v2", "cifar100"): (_nas_robustness("darts", "cifar100", "darts_v2"),),
    ("pdarts", "cifar10"): (_nas_robustness("pdarts", "cifar10", "pdarts"),),
    ("pdarts", "cifar100"): (_nas_robustness("pdarts", "cifar100", "pdarts"),),
    ("pc_darts", "cifar10"): (_nas_robustness("pcdarts", "cifar10", "pcdarts"),),
    ("pc_darts", "cifar100"): (_nas_robustness("pcdarts", "cifar100", "pcdarts"),),
    ("arnas", "cifar10"): (
        Release("ARNAS (fyqsama/ARNAS)", "github", "fyqsama/ARNAS/main/ARNAS_train_eval/eval/EXP/ARNAS.pth.tar",
                "ARNAS.pth.tar", None, "arnas", "PGD-7 adversarial training, 200 epochs (ARNAS README)"),
    ),
}  # fmt: skip

# Entries whose authors released no weights, and what they say instead (shown by `robench info`).
NOT_RELEASED: dict[str, str] = {
    "advrush": "AdvRush released no weights (nutellamok/advrush, last commit 2021-12-27: its README asks for your "
    "own checkpoints in eval/checkpoints)",
    "racl": "RACL released no code and no weights",
}


def reproduced_rows(name: str, dataset: str, identity: str) -> list[tuple[Reported, str]]:
    """The reported rows measured on the released weights ``identity`` of ``name`` for ``dataset``, each with
    the release's description: what an evaluation of those weights can be held against."""
    rows = []
    for release in releases(name, dataset):
        if release.identity == identity and release.reproduces:
            rows += [(r, f"{release.project}, {release.member or release.filename}")
                     for r in REPORTED.get(canonical_name(name), ())
                     if r.source == release.reproduces and r.dataset == get_dataset(dataset).name]
    return rows


def releases(name: str, dataset: str) -> tuple[Release, ...]:
    """The authors' releases of ``name``'s weights for ``dataset`` (canonical names resolved), possibly none."""
    return RELEASES.get((canonical_name(name), get_dataset(dataset).name), ())

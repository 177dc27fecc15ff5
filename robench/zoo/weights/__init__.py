"""Small robust checkpoints trained by robench itself, packaged with it, and the zoo entries that load them.

Each ``<name>-cifar10/`` folder here is a checkpoint written by ``robench.zoo.checkpoint.save_checkpoint``
(config.json with the training recipe, the data set, the threat model and the weights' sha256) after an
l_inf 8/255 fast-AT (FGSM with random start) run on the full CIFAR-10 training split, on two shared CPU
cores: 1 epoch for advrush_small and robnet_free_small, 3 for resnet18_small. The exact commands are in
``scripts/train_small_checkpoints.sh``. They are reduced-size, briefly trained versions of the papers'
networks that exercise the whole pipeline, not reproductions of the papers' models or numbers:

- ``advrush_small``: the AdvRush genotype in the DARTS skeleton with C=16 and 8 cells (reductions at cells 2
  and 5) instead of C=36 and 20 cells.
- ``robnet_free_small``: RobNet-free cut to 8 cells: the first two normal cells of each of its three stages
  and both of its reduction cells, i.e. cells 0, 1 | 6 (reduce) | 7, 8 | 13 (reduce) | 14, 15 of the 20
  published cell codes, at C=8. Every kept cell keeps its published code and its role (a reduction code
  sits at a reduction position), and the 8-cell network places its reductions at 8//3 = 2 and 16//3 = 5,
  where those two codes land.
- ``resnet18_small``: the zoo's CIFAR ResNet-18 (3x3 stem, [2, 2, 2, 2] basic blocks) at base width 16
  (stages of 16, 32, 64, 128 channels) instead of 64.
- ``resnet18_w10_small``: the same ResNet-18 at base width 10 (0.27M parameters), 1 epoch: the hand-crafted
  network of the size of the cells ``robench reproduce --scale small`` trains (0.3M parameters), trained with
  their recipe, so that the leaderboard compares searched cells with it at equal size and equal training.
"""

from __future__ import annotations

from timm.models.resnet import BasicBlock, make_blocks
from timm.models.resnet import ResNet as TimmResNet
from torch import nn

from robench.data.datasets import ROBENCH_ROUNDED_CIFAR10
from robench.zoo.baselines import ResNet, _small_image_conv
from robench.zoo.darts import NetworkCIFAR, advrush
from robench.zoo.genotypes import ADVRUSH, ROBNET_FREE, DartsGenotype, RobNetGenotype
from robench.zoo.layers import Normalize, Stats
from robench.zoo.registry import register_model
from robench.zoo.robnet import RobNet, robnet_free

# The RobNet-free cells kept by robnet_free_small: two normal cells per stage plus both reduction cells.
ROBNET_FREE_SMALL_CELLS = (0, 1, 6, 7, 8, 13, 14, 15)
ROBNET_FREE_SMALL = RobNetGenotype(tuple(ROBNET_FREE.cells[i] for i in ROBNET_FREE_SMALL_CELLS))

_CIFAR10 = {"cifar10": {}}
_LICENCE = "Apache-2.0 (robench-trained weights)"


class SlimResNet(ResNet):
    """The zoo's CIFAR ResNet with base width ``width``: stages of width, 2, 4 and 8 times ``width`` channels."""

    def __init__(self, width: int = 64, layers: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 10,
                 mean: Stats = None, std: Stats = None):  # fmt: skip
        channels = tuple(width * 2**i for i in range(len(layers)))
        TimmResNet.__init__(self, block=BasicBlock, layers=layers, num_classes=num_classes, channels=channels)
        self.conv1 = _small_image_conv(width)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.Identity()
        # timm's plain stem is always 64 channels wide: rebuild the stages so they start from `width`
        for name, stage in make_blocks((BasicBlock,) * len(layers), channels, layers, inplanes=width)[0]:
            setattr(self, name, stage)
        self.init_weights(zero_init_last=True)
        self.normalize = Normalize(mean, std)


@register_model(family="darts", paper="mok2021advrush", licence=_LICENCE, datasets=_CIFAR10,
                weights={"cifar10": "advrush_small-cifar10"})  # fmt: skip
def advrush_small(genotype: DartsGenotype | str = ADVRUSH, C: int = 16, layers: int = 8, auxiliary: bool = False,
                  num_classes: int = 10, img_size: int = 32, mean: Stats = None, std: Stats = None) -> NetworkCIFAR:
    """AdvRush cell at C=16 with 8 cells, fast-AT l_inf 8/255 on CIFAR-10 (robench weights)."""
    return advrush(genotype, C=C, layers=layers, auxiliary=auxiliary, num_classes=num_classes, img_size=img_size,
                   mean=mean, std=std)  # fmt: skip


@register_model(family="robnet", paper="guo2020robnet", licence=_LICENCE, datasets=_CIFAR10,
                weights={"cifar10": "robnet_free_small-cifar10"})  # fmt: skip
def robnet_free_small(genotype: RobNetGenotype | str = ROBNET_FREE_SMALL, C: int = 8, layers: int = 8,
                      num_classes: int = 10, mean: Stats = None, std: Stats = None) -> RobNet:
    """RobNet-free cut to 8 of its 20 cells at C=8, fast-AT l_inf 8/255 on CIFAR-10 (robench weights)."""
    return robnet_free(genotype, C=C, layers=layers, num_classes=num_classes, mean=mean, std=std)


@register_model(family="resnet", paper="he2016resnet", licence=_LICENCE, datasets=_CIFAR10,
                normalization={"cifar10": ROBENCH_ROUNDED_CIFAR10},
                weights={"cifar10": "resnet18_small-cifar10"})  # fmt: skip
def resnet18_small(width: int = 16, num_classes: int = 10, mean: Stats = None, std: Stats = None) -> SlimResNet:
    """ResNet-18 at base width 16, fast-AT l_inf 8/255 on CIFAR-10 (robench weights)."""
    return SlimResNet(width, (2, 2, 2, 2), num_classes=num_classes, mean=mean, std=std)


@register_model(family="resnet", paper="he2016resnet", licence=_LICENCE, datasets=_CIFAR10,
                normalization={"cifar10": ROBENCH_ROUNDED_CIFAR10},
                weights={"cifar10": "resnet18_w10_small-cifar10"})  # fmt: skip
def resnet18_w10_small(width: int = 10, num_classes: int = 10, mean: Stats = None, std: Stats = None) -> SlimResNet:
    """ResNet-18 at base width 10, fast-AT l_inf 8/255 on CIFAR-10 for 1 epoch (robench weights)."""
    return SlimResNet(width, (2, 2, 2, 2), num_classes=num_classes, mean=mean, std=std)

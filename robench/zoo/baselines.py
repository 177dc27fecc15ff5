"""Hand-crafted baselines: ResNet-18/50, WideResNet-28-10/34-10, DenseNet-121/169, VGG16-BN.

``stem="cifar"`` is the usual small-image form (3x3 stride-1 first conv, no stem pooling) for 32x32 and 64x64
inputs; ``stem="imagenet"`` is the library's ImageNet network unchanged. ResNets come from timm, DenseNets and the
VGG feature stack from torchvision; WideResNet (a CIFAR architecture) is written here with the key layout of the
common PyTorch implementation used by RobustBench checkpoints.
"""

from __future__ import annotations

import torch
from timm.models.resnet import BasicBlock, Bottleneck, make_blocks
from timm.models.resnet import ResNet as TimmResNet
from torch import nn
from torchvision.models.densenet import DenseNet as TorchvisionDenseNet
from torchvision.models.vgg import cfgs as vgg_cfgs
from torchvision.models.vgg import make_layers

from robench.errors import RobenchError
from robench.zoo.layers import Normalize, NormalizedInput, Stats
from robench.zoo.registry import NORMALIZE_DATASET, register_model

STEMS = ("cifar", "imagenet")


def _check_stem(stem: str) -> None:
    if stem not in STEMS:
        raise RobenchError(f"unknown stem {stem!r}", "stem is 'cifar' (32x32 / 64x64 inputs) or 'imagenet'")


def _small_image_conv(out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(3, out_channels, 3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


class ResNet(NormalizedInput, TimmResNet):
    """timm's ResNet; the CIFAR stem replaces the 7x7/2 conv and max-pool by one 3x3/1 conv. ``width`` is the
    stem's and first stage's channels (the stages double it), 64 as published."""

    def __init__(
        self,
        block: type,
        layers: tuple[int, ...],
        num_classes: int = 10,
        stem: str = "cifar",
        mean: Stats = None,
        std: Stats = None,
        width: int = 64,
    ):
        _check_stem(stem)
        channels = tuple(width * 2**i for i in range(len(layers)))
        super().__init__(block=block, layers=layers, num_classes=num_classes, channels=channels)
        if width != 64:
            if stem != "cifar":
                raise RobenchError(f"a ResNet of width {width} has the CIFAR stem only", hint="drop stem= or width=")
            # timm's plain stem is always 64 channels wide: the stem's norm and the stages start from `width`
            self.bn1 = nn.BatchNorm2d(width)
            for name, stage in make_blocks((block,) * len(layers), channels, layers, inplanes=width)[0]:
                setattr(self, name, stage)
            self.init_weights(zero_init_last=True)
        if stem == "cifar":
            self.conv1 = _small_image_conv(width)
            self.maxpool = nn.Identity()
        self.normalize = Normalize(mean, std)


class DenseNet(NormalizedInput, TorchvisionDenseNet):
    """torchvision's DenseNet; the CIFAR stem replaces the 7x7/2 conv and max-pool by one 3x3/1 conv."""

    def __init__(
        self,
        block_config: tuple[int, ...],
        num_classes: int = 10,
        stem: str = "cifar",
        mean: Stats = None,
        std: Stats = None,
    ):
        _check_stem(stem)
        super().__init__(growth_rate=32, block_config=block_config, num_init_features=64, num_classes=num_classes)
        if stem == "cifar":
            self.features.conv0 = _small_image_conv(64)
            self.features.pool0 = nn.Identity()
        self.normalize = Normalize(mean, std)


class VGG(nn.Module):
    """VGG with batch norm on torchvision's feature stack. CIFAR head: global pool -> linear(512, K); ImageNet head:
    torchvision's 7x7 pool and three fully connected layers (same keys, so its weights load)."""

    def __init__(
        self, config: str = "D", num_classes: int = 10, stem: str = "cifar", mean: Stats = None, std: Stats = None
    ):
        super().__init__()
        _check_stem(stem)
        self.normalize = Normalize(mean, std)
        self.features = make_layers(vgg_cfgs[config], batch_norm=True)
        if stem == "cifar":
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(512, num_classes)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(7)
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(True),
                nn.Dropout(),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(),
                nn.Linear(4096, num_classes),
            )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(self.normalize(x)))
        return self.classifier(x.flatten(1))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.forward(x), None


class WideBlock(nn.Module):
    """Pre-activation wide residual block; the 1x1 shortcut (when the width changes) sees the activated input."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        # camelCase: the key name of the widely shared WRN checkpoints
        self.convShortcut = (
            None if in_planes == out_planes else nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(x))
        shortcut = x if self.convShortcut is None else self.convShortcut(out)
        out = self.conv2(self.relu2(self.bn2(self.conv1(out))))
        return out + shortcut


class WideStage(nn.Module):
    def __init__(self, blocks: int, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.layer = nn.Sequential(
            *(
                WideBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1)
                for i in range(blocks)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-depth-k (Zagoruyko and Komodakis, 2016): 3 stages of (depth-4)/6 wide blocks of widths 16k, 32k, 64k."""

    def __init__(
        self, depth: int = 28, widen_factor: int = 10, num_classes: int = 10, mean: Stats = None, std: Stats = None
    ):
        super().__init__()
        if depth < 10 or (depth - 4) % 6 or widen_factor < 1:
            raise RobenchError(
                f"invalid WideResNet depth={depth}, widen_factor={widen_factor}",
                "depth must be 6n+4 (10, 16, 22, 28, 34, 40, ...) and widen_factor >= 1",
            )
        blocks = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(3, widths[0], 3, stride=1, padding=1, bias=False)
        self.block1 = WideStage(blocks, widths[0], widths[1], 1)
        self.block2 = WideStage(blocks, widths[1], widths[2], 2)
        self.block3 = WideStage(blocks, widths[2], widths[3], 2)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        self.num_features = widths[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.conv1(self.normalize(x)))))
        return self.fc(self.pool(self.relu(self.bn1(x))).flatten(1))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.forward(x), None


# ---------------------------------------------------------------------------------------------------------------
# Registry entry points

_ALL = {"cifar10": {}, "cifar100": {}, "svhn": {}, "tiny-imagenet": {}, "imagenet": {"stem": "imagenet"}}
_SMALL_IMAGES = {"cifar10": {}, "cifar100": {}, "svhn": {}, "tiny-imagenet": {}}
_TIMM = "Apache-2.0 (timm implementation; no original robust weights)"
_TORCHVISION = "BSD-3-Clause (torchvision implementation; no original robust weights)"


@register_model(family="resnet", paper="he2016resnet", licence=_TIMM, datasets=_ALL, normalization=NORMALIZE_DATASET)
def resnet18(stem: str = "cifar", num_classes: int = 10, mean: Stats = None, std: Stats = None,
             width: int = 64) -> ResNet:
    """ResNet-18 (He et al., CVPR 2016)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, stem=stem, mean=mean, std=std, width=width)


@register_model(family="resnet", paper="he2016resnet", licence=_TIMM, datasets=_ALL, normalization=NORMALIZE_DATASET)
def resnet50(stem: str = "cifar", num_classes: int = 10, mean: Stats = None, std: Stats = None) -> ResNet:
    """ResNet-50 (He et al., CVPR 2016)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, stem=stem, mean=mean, std=std)


@register_model(
    family="wide_resnet",
    paper="zagoruyko2016wrn",
    licence="Apache-2.0 (robench implementation)",
    datasets=_SMALL_IMAGES,
    normalization=NORMALIZE_DATASET,
    aliases=("wideresnet_28_10", "wrn28_10"),
)
def wrn_28_10(
    depth: int = 28, widen_factor: int = 10, num_classes: int = 10, mean: Stats = None, std: Stats = None
) -> WideResNet:
    """WideResNet-28-10 (Zagoruyko and Komodakis, BMVC 2016)."""
    return WideResNet(depth, widen_factor, num_classes=num_classes, mean=mean, std=std)


@register_model(
    family="wide_resnet",
    paper="zagoruyko2016wrn",
    licence="Apache-2.0 (robench implementation)",
    datasets=_SMALL_IMAGES,
    normalization=NORMALIZE_DATASET,
    aliases=("wideresnet_34_10", "wrn34_10"),
)
def wrn_34_10(
    depth: int = 34, widen_factor: int = 10, num_classes: int = 10, mean: Stats = None, std: Stats = None
) -> WideResNet:
    """WideResNet-34-10 (Zagoruyko and Komodakis, BMVC 2016), the usual adversarial-training baseline."""
    return WideResNet(depth, widen_factor, num_classes=num_classes, mean=mean, std=std)


@register_model(
    family="densenet", paper="huang2017densenet", licence=_TORCHVISION, datasets=_ALL, normalization=NORMALIZE_DATASET
)
def densenet121(stem: str = "cifar", num_classes: int = 10, mean: Stats = None, std: Stats = None) -> DenseNet:
    """DenseNet-121 (Huang et al., CVPR 2017)."""
    return DenseNet((6, 12, 24, 16), num_classes=num_classes, stem=stem, mean=mean, std=std)


@register_model(
    family="densenet", paper="huang2017densenet", licence=_TORCHVISION, datasets=_ALL, normalization=NORMALIZE_DATASET
)
def densenet169(stem: str = "cifar", num_classes: int = 10, mean: Stats = None, std: Stats = None) -> DenseNet:
    """DenseNet-169 (Huang et al., CVPR 2017)."""
    return DenseNet((6, 12, 32, 32), num_classes=num_classes, stem=stem, mean=mean, std=std)


@register_model(
    family="vgg",
    paper="simonyan2015vgg",
    licence=_TORCHVISION,
    datasets=_ALL,
    normalization=NORMALIZE_DATASET,
    aliases=("vgg16bn",),
)
def vgg16_bn(stem: str = "cifar", num_classes: int = 10, mean: Stats = None, std: Stats = None) -> VGG:
    """VGG-16 with batch normalisation (Simonyan and Zisserman, ICLR 2015)."""
    return VGG("D", num_classes=num_classes, stem=stem, mean=mean, std=std)

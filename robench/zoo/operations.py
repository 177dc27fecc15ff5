"""Cell operations of the DARTS space and of RobNet.

Attribute names follow the original implementations so that their checkpoints load with no renaming:
``SepConv.op.{1,2,5,6}`` convs and ``.op.{3,7}`` BNs, ``DilConv.op.{1,2}`` / ``.op.3``, ``ReLUConvBN.op.{1,2}``,
``FactorizedReduce.{conv_1,conv_2,bn}``, RobNet edges ``.op`` with ``ResSepConv.{conv,res}``.

Every BN-carrying op takes ``affine``: the evaluation networks use affine BNs, supernets and RobNet cells do not.
Ops are built by name through one table, ``OPS[name](C, stride, affine)`` (``ROBNET_OPS[code]`` for RobNet), so
search supernets reuse exactly these modules.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from timm.layers import drop_path as _timm_drop_path
from torch import nn

OpFactory = Callable[[int, int, bool], nn.Module]


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest by 1/(1-p) (DARTS drop-path)."""
    return _timm_drop_path(x, drop_prob, training=True, scale_by_keep=True)


class ReLUConvBN(nn.Module):
    """ReLU -> conv -> BN (cell preprocessing)."""

    def __init__(
        self, C_in: int, C_out: int, kernel_size: int = 1, stride: int = 1, padding: int = 0, affine: bool = True
    ):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> dilated depthwise conv -> pointwise conv -> BN."""

    def __init__(
        self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int, affine: bool = True
    ):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=C_in, bias=False
            ),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked [ReLU -> depthwise conv -> pointwise conv -> BN] blocks; only the first one strides."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Conv7x1x1x7(nn.Module):
    """ReLU -> (1,7) conv -> (7,1) conv -> BN, the factorised 7x7 of AmoebaNet genotypes."""

    def __init__(self, C: int, stride: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C, C, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(C, C, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(C, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: zeros of the (strided) input shape."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class FactorizedReduce(nn.Module):
    """Halve the resolution with two stride-2 1x1 convs, the second on the input shifted by one pixel."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True):
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def cell_preprocess(C_prev_prev: int, C_prev: int, C: int, reduction_prev: bool,
                    affine: bool = True) -> tuple[nn.Module, nn.Module]:  # fmt: skip
    """A cell's ``preprocess0`` / ``preprocess1``: both inputs to C channels, the older one also halved in
    resolution (a factorized reduce) when the previous cell was a reduction."""
    if reduction_prev:
        preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C, affine=affine)
    else:
        preprocess0 = ReLUConvBN(C_prev_prev, C, affine=affine)
    return preprocess0, ReLUConvBN(C_prev, C, affine=affine)


def skip_connect(C: int, stride: int, affine: bool = True) -> nn.Module:
    """Identity, or a factorized reduce when the edge strides."""
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine=affine)


OPS: dict[str, OpFactory] = {
    "none": lambda C, stride, affine: Zero(stride),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "skip_connect": skip_connect,
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine=affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine=affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine=affine),
    "sep_conv_7x7": lambda C, stride, affine: SepConv(C, C, 7, stride, 3, affine=affine),
    "conv_7x1_1x7": lambda C, stride, affine: Conv7x1x1x7(C, stride, affine=affine),
}


# ---------------------------------------------------------------------------------------------------------------
# RobNet: each edge carries any subset of {3x3 sep conv, identity}, coded as [identity bit][sep-conv bit]


class ResSepConv(nn.Module):
    """Code '11': a 3x3 sep conv plus the identity (a factorized reduce when strided), summed."""

    def __init__(self, C: int, stride: int, affine: bool = True):
        super().__init__()
        self.conv = SepConv(C, C, 3, stride, 1, affine=affine)
        self.res = skip_connect(C, stride, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.res(x)


ROBNET_OPS: dict[str, OpFactory] = {
    "00": lambda C, stride, affine: Zero(stride),
    "01": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine=affine),
    "10": skip_connect,
    "11": ResSepConv,
}


class CodedEdge(nn.Module):
    """One RobNet edge: the op its two-bit code selects, held as ``.op`` (the original key layout)."""

    def __init__(self, code: str, C: int, stride: int, affine: bool = False):
        super().__init__()
        self.code = code
        self.op = ROBNET_OPS[code](C, stride, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)

    def extra_repr(self) -> str:
        return f"code={self.code!r}"

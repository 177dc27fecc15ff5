"""FSP matrices (Yim et al., CVPR 2017) between the input and the output of a network's cells, and RobNet's FSP
distance between clean and adversarial inputs (Guo et al., CVPR 2020, section 3.3).

A *unit* is a block whose input and output feature maps are compared: a cell of a RobNet or DARTS-space network
(its input is the previous cell's output, as in RobNet), a member network's cell in an ensemble, or a residual
block of a ResNet / WideResNet. The search's FSP filter and ``robench analyze fsp`` both read them from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.models.resnet import BasicBlock, Bottleneck
from torch import nn

from robench.errors import RobenchError
from robench.zoo.baselines import WideBlock
from robench.zoo.darts import Cell
from robench.zoo.robnet import RobNetCell

UNIT_TYPES: tuple[type[nn.Module], ...] = (RobNetCell, Cell, BasicBlock, Bottleneck, WideBlock)


def fsp_matrix(f_in: torch.Tensor, f_out: torch.Tensor) -> torch.Tensor:
    """Yim et al.'s flow matrix ``G = (1 / hw) sum_{s,t} F_in[s,t,:] (x) F_out[s,t,:]`` per sample ([B, m, n]);
    the input of a reduction cell is average-pooled to the output's resolution first."""
    if f_in.shape[-2:] != f_out.shape[-2:]:
        f_in = F.adaptive_avg_pool2d(f_in, f_out.shape[-2:])
    h, w = f_out.shape[-2:]
    return torch.einsum("bmhw,bnhw->bmn", f_in, f_out) / (h * w)


def flow_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The units of ``model`` in the order they run, with their module names."""
    units = [(name, module) for name, module in model.named_modules() if isinstance(module, UNIT_TYPES)]
    if not units:
        raise RobenchError(f"{type(model).__name__} has no cells or residual blocks to take FSP matrices between",
                           hint="FSP needs a RobNet, a DARTS-space network or ensemble, or a ResNet / WideResNet")
    return units


def unit_input(inputs: tuple) -> torch.Tensor:
    """The feature map a unit's FSP matrix starts from: its last tensor argument (a cell's ``s1``, the previous
    cell's output, of ``(s0, s1[, drop_prob])``; a block's ``x``)."""
    return [a for a in inputs if isinstance(a, torch.Tensor)][-1]


@torch.no_grad()
def fsp_distances(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor,
                  units: Sequence[int] | None = None) -> torch.Tensor:
    """``||G_l(x) - G_l(x_adv)||^2`` (squared Frobenius norm) per unit ``l`` of ``units`` (indices into
    :func:`flow_units`; default: all) and per sample: a [len(units), B] tensor."""
    modules = flow_units(model)
    chosen = list(range(len(modules)) if units is None else units)
    matrices: dict[int, torch.Tensor] = {}

    def hook(i: int):
        # the matrix is taken at once, so no feature map outlives its unit's forward pass
        return lambda module, inputs, out: matrices.__setitem__(i, fsp_matrix(unit_input(inputs), out))

    handles = [modules[i][1].register_forward_hook(hook(i)) for i in chosen]
    try:
        model(x)
        clean = dict(matrices)
        model(x_adv)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack([(clean[i] - matrices[i]).pow(2).sum(dim=(1, 2)) for i in chosen])


def fsp_distance(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, units: Sequence[int]) -> float:
    """RobNet's FSP filter statistic: the mean over ``units`` and over the batch of ``||G_l(x) - G_l(x_adv)||^2``."""
    return float(fsp_distances(model, x, x_adv, units).mean())

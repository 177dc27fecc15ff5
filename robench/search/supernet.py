"""The DARTS-space search supernet (AdvRush, ARNAS): every edge a softmax(alpha)-weighted sum of all operations.

The supernet is the evaluation network's skeleton (:func:`robench.zoo.darts.cell_roles`: the same stem,
reductions and widths) with dense cells: node ``i`` sums a mixed op on each of its ``i + 2`` inputs, 14 edges
per cell. As in the reference supernets, every BN inside the cells is non-affine and each pooling op is
followed by a non-affine BN. One alpha matrix (14 edges x ops) per cell kind: ``normal`` / ``reduce`` for the
DARTS space, ``accurate`` / ``reduce`` / ``robust`` (no ``none`` op) for ARNAS, whose second reduction keeps the
width. :meth:`CellSupernet.genotype` derives the discrete genotype the zoo builds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robench.errors import RobenchError
from robench.zoo.darts import cell_roles
from robench.zoo.genotypes import ARNAS_PRIMITIVES, PRIMITIVES, STEPS, ArnasGenotype, DartsGenotype, Edge
from robench.zoo.layers import Normalize, Stats
from robench.zoo.operations import OPS, cell_preprocess

SPACES = {
    # space -> (genotype type, operations on an edge)
    "darts": (DartsGenotype, PRIMITIVES),
    "arnas": (ArnasGenotype, ARNAS_PRIMITIVES),
}
EDGES = sum(node + 2 for node in range(STEPS))  # 14


class MixedOp(nn.Module):
    """All operations of the space on one edge; the output is their sum weighted by one row of softmax(alpha)."""

    def __init__(self, C: int, stride: int, primitives: Sequence[str]):
        super().__init__()
        ops = []
        for name in primitives:
            op = OPS[name](C, stride, False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            ops.append(op)
        self._ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops))


class SearchCell(nn.Module):
    """A dense cell: preprocess the two previous outputs, then node i = sum of mixed ops on its i + 2 inputs."""

    def __init__(self, C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool,
                 primitives: Sequence[str]):  # fmt: skip
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = cell_preprocess(C_prev_prev, C_prev, C, reduction_prev, affine=False)
        self.multiplier = STEPS
        self._ops = nn.ModuleList(
            MixedOp(C, 2 if reduction and src < 2 else 1, primitives) for node in range(STEPS) for src in range(node + 2)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        k = 0
        for _ in range(STEPS):
            states.append(sum(self._ops[k + j](h, weights[k + j]) for j, h in enumerate(states)))
            k += len(states) - 1
        return torch.cat(states[2:], dim=1)


class CellSupernet(nn.Module):
    """The search network of ``space`` ("darts" or "arnas") with C channels and ``layers`` cells.

    ``alphas[kind]`` are the architecture parameters, initialised as 1e-3 * N(0, 1) after the weights (the
    reference order); :meth:`weight_parameters` are all the others.
    """

    def __init__(self, space: str = "darts", C: int = 16, num_classes: int = 10, layers: int = 8,
                 mean: Stats = None, std: Stats = None, stem_multiplier: int = 3):  # fmt: skip
        super().__init__()
        if space not in SPACES:
            raise RobenchError(f"unknown search space {space!r}", f"search spaces: {', '.join(SPACES)}")
        if layers < 3 or C < 2 or C % 2:
            raise RobenchError(f"invalid supernet C={C}, layers={layers}", "C must be even and >= 2, layers >= 3")
        self.space = space
        self.genotype_type, self.primitives = SPACES[space]
        self.normalize = Normalize(mean, std)
        C_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
        self.roles = cell_roles(layers, three_cell=space == "arnas")
        unused = sorted(set(self.cell_kinds) - {role.kind for role in self.roles})
        if unused:
            raise RobenchError(f"a {space} supernet of {layers} cells has no {' or '.join(unused)} cell",
                               hint="use more cells (the ARNAS space needs at least 4)")  # fmt: skip
        self.cells = nn.ModuleList()
        C_prev_prev, C_prev, reduction_prev = C_stem, C_stem, False
        for role in self.roles:
            cell = SearchCell(C_prev_prev, C_prev, role.width * C, role.reduction, reduction_prev, self.primitives)
            self.cells.append(cell)
            reduction_prev = role.reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * role.width * C
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        self.alphas = nn.ParameterDict(
            {kind: nn.Parameter(1e-3 * torch.randn(EDGES, len(self.primitives))) for kind in self.cell_kinds}
        )

    @property
    def cell_kinds(self) -> tuple[str, ...]:
        return self.genotype_type.cell_names

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.values())

    def named_weight_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((n, p) for n, p in self.named_parameters() if not n.startswith("alphas."))

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_weight_parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_normalized(self.normalize(x))

    def forward_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of an already normalised input: the network the reference code sees, whose inputs are
        normalised by the data pipeline (input-space quantities such as AdvRush's penalty are taken there)."""
        weights = {kind: F.softmax(alpha, dim=-1) for kind, alpha in self.alphas.items()}
        s0 = s1 = self.stem(x)
        for role, cell in zip(self.roles, self.cells):
            s0, s1 = s1, cell(s0, s1, weights[role.kind])
        return self.classifier(self.global_pooling(s1).flatten(1))

    def genotype(self) -> DartsGenotype | ArnasGenotype:
        """The discrete architecture the alphas currently select (:func:`derive_cell` for each cell kind)."""
        cells = {}
        for kind, alpha in self.alphas.items():
            weights = F.softmax(alpha.detach().float().cpu(), dim=-1)
            cells[kind] = derive_cell(weights, self.primitives)
            cells[f"{kind}_concat"] = tuple(range(2, STEPS + 2))
        return self.genotype_type(**cells)


def derive_cell(weights: torch.Tensor, primitives: Sequence[str]) -> tuple[Edge, ...]:
    """The DARTS rule: per node, the two incoming edges whose strongest non-``none`` op weighs most, each with
    that op; listed strongest edge first, as the reference parsers list them."""
    allowed = [k for k, name in enumerate(primitives) if name != "none"]
    edges: list[Edge] = []
    start = 0
    for node in range(STEPS):
        rows = weights[start : start + node + 2]
        strength = rows[:, allowed].max(dim=1).values
        # stable order on ties: the lower input index first, as Python's sort in the reference code
        for src in sorted(range(node + 2), key=lambda j: -strength[j].item())[:2]:
            best = max(allowed, key=lambda k: rows[src, k].item())
            edges.append((primitives[best], src))
        start += node + 2
    return tuple(edges)

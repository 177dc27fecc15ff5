"""RobNet's one-shot search space (Guo et al., CVPR 2020): a RobNet whose every edge holds both a 3x3 sep conv
and the identity, running whichever sub-architecture is set.

An architecture is a :class:`RobNetGenotype` (two bits per edge: identity, sep conv): one cell for all layers
(cell-based search) or one per layer (cell-free). The supernet's edges have the key layout of RobNet's ``11``
edges, so :meth:`RobNetSupernet.subnet` hands any sampled architecture to the zoo's :class:`RobNet` with the
supernet's weights for it, and the subnet computes exactly what the supernet computes with that architecture.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

import torch
from torch import nn

from robench.errors import RobenchError
from robench.zoo.genotypes import ROBNET_EDGES, RobNetGenotype
from robench.zoo.layers import Stats
from robench.zoo.operations import ResSepConv
from robench.zoo.robnet import RobNet

FULL = "11"
_EDGE_KEY = re.compile(r"^(cells\.(\d+)\._ops\.(\d+)\.op)\.(conv|res)\.(.+)$")


class SupernetEdge(nn.Module):
    """One supernet edge: sep conv + identity (RobNet's ``11`` op), of which ``code`` says which to run."""

    def __init__(self, op: ResSepConv, stride: int):
        super().__init__()
        self.op = op
        self.stride = stride
        self.code = FULL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.code == "11":
            return self.op(x)
        if self.code == "01":
            return self.op.conv(x)
        if self.code == "10":
            return self.op.res(x)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)

    def extra_repr(self) -> str:
        return f"code={self.code!r}"


class RobNetSupernet(RobNet):
    """All-``11`` RobNet cells with switchable edges; ``cell_free`` gives every layer its own architecture."""

    def __init__(self, C: int = 16, num_classes: int = 10, layers: int = 8, cell_free: bool = False,
                 mean: Stats = None, std: Stats = None):  # fmt: skip
        full = RobNetGenotype(((FULL,) * len(ROBNET_EDGES),) * (layers if cell_free else 1))
        super().__init__(full, C, num_classes, layers, "cifar", mean, std)
        self.C, self.layers, self.cell_free = C, layers, cell_free
        for cell in self.cells:
            for k, edge in enumerate(cell._ops):
                cell._ops[k] = SupernetEdge(edge.op, 2 if cell.reduction and ROBNET_EDGES[k][1] < 2 else 1)
        self.architecture = full

    def set_architecture(self, genotype: RobNetGenotype) -> None:
        if len(genotype.cells) != (self.layers if self.cell_free else 1):
            want = f"{self.layers} cells (cell-free)" if self.cell_free else "one shared cell"
            raise RobenchError(f"an architecture of {len(genotype.cells)} cells does not fit this supernet",
                               hint=f"this supernet takes {want}")  # fmt: skip
        for i, cell in enumerate(self.cells):
            for edge, code in zip(cell._ops, genotype.cell(i)):
                edge.code = code
        self.architecture = genotype

    def sample_architecture(self, rng: random.Random, keep: float = 0.5) -> RobNetGenotype:
        """Each (edge, op) slot kept with probability ``keep`` (path dropout; 0.5: uniform over architectures)."""
        cells = self.layers if self.cell_free else 1

        def code() -> str:
            return f"{int(rng.random() < keep)}{int(rng.random() < keep)}"

        return RobNetGenotype(tuple(tuple(code() for _ in ROBNET_EDGES) for _ in range(cells)))

    def subnet(self, genotype: RobNetGenotype | None = None) -> RobNet:
        """The zoo RobNet of ``genotype`` (default: the current architecture) holding the supernet's weights."""
        genotype = genotype or self.architecture
        if len(genotype.cells) != (self.layers if self.cell_free else 1):
            raise RobenchError("the architecture does not fit this supernet", hint="sample it from this supernet")
        network = RobNet(genotype, self.C, self.num_classes, self.layers, "cifar",
                         *self._normalization())  # fmt: skip
        state = {}
        for key, value in self.state_dict().items():
            match = _EDGE_KEY.match(key)
            if match is None:
                state[key] = value
                continue
            prefix, cell, edge, part, rest = match.groups()
            code = genotype.cell(int(cell))[int(edge)]
            if code == "11":
                state[key] = value
            elif (code, part) in (("01", "conv"), ("10", "res")):
                state[f"{prefix}.{rest}"] = value
        network.load_state_dict(state, strict=True)
        return network.to(next(self.parameters()).device).train(self.training)

    def _normalization(self) -> tuple[list[float] | None, list[float] | None]:
        if not self.normalize.enabled:
            return None, None
        return self.normalize.mean.flatten().tolist(), self.normalize.std.flatten().tolist()


# ---- budgets --------------------------------------------------------------------------------------------------


def count_macs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Multiply-accumulates of one forward of ``x`` (one image) per convolution and linear layer, by module name."""
    macs: dict[str, int] = {}

    def hook(name: str):
        def record(module: nn.Module, inputs, out: torch.Tensor) -> None:
            if isinstance(module, nn.Conv2d):
                per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
                macs[name] = out[0].numel() * per_output
            else:
                macs[name] = module.in_features * module.out_features

        return record

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    hooks = [m.register_forward_hook(hook(n)) for n, m in layers]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for handle in hooks:
            handle.remove()
    return macs


class BudgetCosts:
    """The parameters and FLOPs (multiply-accumulates of convolutions and linear layers, one image) of the RobNet
    that a genotype builds at width ``C`` with ``layers`` cells, as sums of per-op costs: each edge's sep conv and
    identity (a factorized reduce when strided) cost the same in every architecture, so one all-``11`` network
    measured once prices every candidate exactly."""

    def __init__(self, C: int, layers: int, num_classes: int, image_size: int = 32):
        network = RobNetSupernet(C, num_classes, layers, cell_free=True).eval()
        sizes = ((name, p.numel()) for name, p in network.named_parameters())
        self.op_params, self.base_params = self._per_op(sizes, layers)
        macs = count_macs(network, torch.zeros(1, 3, image_size, image_size))
        self.op_flops, self.base_flops = self._per_op(macs.items(), layers)
        self.layers = layers

    @staticmethod
    def _per_op(costs: Iterable[tuple[str, int]], layers: int) -> tuple[torch.Tensor, int]:
        """Costs by parameter or module name -> (per [cell, edge, (identity, conv)], the rest of the network)."""
        per_op, total = torch.zeros(layers, len(ROBNET_EDGES), 2, dtype=torch.int64), 0
        for name, cost in costs:
            total += cost
            match = _EDGE_KEY.match(name)
            if match is not None:
                _, cell, edge, part, _ = match.groups()
                per_op[int(cell), int(edge), int(part == "conv")] += cost
        return per_op, total - int(per_op.sum())

    def _mask(self, genotype: RobNetGenotype) -> torch.Tensor:
        bits = [[[int(code[0]), int(code[1])] for code in genotype.cell(i)] for i in range(self.layers)]
        return torch.tensor(bits, dtype=torch.int64)

    def params(self, genotype: RobNetGenotype) -> int:
        return self.base_params + int((self._mask(genotype) * self.op_params).sum())

    def flops(self, genotype: RobNetGenotype) -> int:
        return self.base_flops + int((self._mask(genotype) * self.op_flops).sum())

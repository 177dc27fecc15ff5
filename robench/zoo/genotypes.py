"""Genotypes: the one representation of an architecture used by the zoo, the searches, checkpoints and the
leaderboard.

Every genotype has a canonical string (``to_str`` / ``from_str``), a JSON form (``to_json`` / ``from_json``)
and a stable ``arch_id`` (the first 12 hex digits of the sha1 of the canonical string). The string starts with
a type prefix, so :func:`genotype_from_str` can rebuild any of them:

- ``darts:normal=sep_conv_3x3~1,...,skip_connect~2/2,3,4,5;reduce=.../2,3,4,5`` (op~input pairs, two per
  node, then the concatenated nodes),
- ``arnas:accurate=.../2,3,4,5;reduce=.../2,3,4,5;robust=.../2,3,4,5``,
- ``robnet:11,11,...`` (14 two-bit edge codes per cell; cells separated by ``;``),
- ``ensemble:12*darts:...&6*darts:...`` (member cell counts and member genotypes).

Named converters read and write the layouts of the original code bases: ``from_legacy`` / ``to_legacy`` for the
``Genotype(normal=[('sep_conv_3x3', 1), ...], normal_concat=range(2, 6), ...)`` namedtuple text, and
``RobNetGenotype.from_code_lists`` for RobNet's lists of code strings.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from robench.errors import RobenchError

PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
ARNAS_PRIMITIVES: tuple[str, ...] = PRIMITIVES[1:]
# Ops of the DARTS operation table beyond the search space (NASNet / AmoebaNet genotypes use them).
DARTS_OPS: tuple[str, ...] = PRIMITIVES + ("sep_conv_7x7", "conv_7x1_1x7")

STEPS = 4  # intermediate nodes per cell in every cell-based space here
# RobNet edge order: (target node, source state); source 0 = c_{k-2}, 1 = c_{k-1}, j >= 2 = node j-2.
ROBNET_EDGES: tuple[tuple[int, int], ...] = tuple((node, src) for node in range(STEPS) for src in range(node + 2))
ROBNET_CODES: tuple[str, ...] = ("00", "01", "10", "11")  # [identity bit][sep-conv bit]

Edge = tuple[str, int]


def _fail(message: str, hint: str | None = None) -> RobenchError:
    return RobenchError(message, hint or "see robench.zoo.genotypes for the string format of each genotype type")


def _short_id(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _split_prefix(text: str, expected: str) -> str:
    prefix, sep, body = text.strip().partition(":")
    if not sep or prefix.strip() != expected:
        raise _fail(
            f"not a {expected} genotype string: {text[:60]!r}", f"a {expected} genotype starts with '{expected}:'"
        )
    return body.strip()


# --------------------------------------------------------------------------------------------------------------
# Cell-based genotypes (DARTS space and ARNAS' three-cell variant)


def _validate_cell(kind: str, cell: str, edges: tuple[Edge, ...], concat: tuple[int, ...], ops: Sequence[str]) -> None:
    if not edges or len(edges) % 2:
        raise _fail(f"{kind} genotype: cell '{cell}' needs two (op, input) pairs per node, got {len(edges)} pairs")
    steps = len(edges) // 2
    for k, (op, index) in enumerate(edges):
        if op not in ops:
            raise _fail(f"{kind} genotype: unknown op {op!r} in cell '{cell}'", f"known ops: {', '.join(ops)}")
        node = k // 2
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < node + 2:
            raise _fail(
                f"{kind} genotype: input {index!r} of node {node + 2} in cell '{cell}' is out of range",
                f"node {node + 2} may take inputs 0..{node + 1} (0, 1 = the two cell inputs, k >= 2 = node k)",
            )
    if (
        not concat
        or len(set(concat)) != len(concat)
        or not all(isinstance(c, int) and 2 <= c < steps + 2 for c in concat)
    ):
        raise _fail(
            f"{kind} genotype: concat {list(concat)} of cell '{cell}' must name distinct nodes in 2..{steps + 1}"
        )


def _edges_str(edges: tuple[Edge, ...]) -> str:
    return ",".join(f"{op}~{index}" for op, index in edges)


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _fail(f"{what}: {text!r} is not an integer") from None


def _parse_cell(kind: str, cell: str, body: str) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
    edges_text, sep, concat_text = body.partition("/")
    if not sep:
        raise _fail(
            f"{kind} genotype: cell '{cell}' lacks its '/concat' part", "write e.g. 'normal=op~0,op~1,.../2,3,4,5'"
        )
    edges = []
    for item in edges_text.split(","):
        op, sep, index = item.strip().partition("~")
        if not sep:
            raise _fail(f"{kind} genotype: edge {item.strip()!r} in cell '{cell}' is not of the form op~input")
        edges.append((op.strip(), _parse_int(index.strip(), f"{kind} genotype, cell '{cell}'")))
    concat = tuple(_parse_int(c.strip(), f"{kind} genotype, concat of '{cell}'") for c in concat_text.split(","))
    return tuple(edges), concat


def _literal(node: ast.AST) -> Any:
    """A literal from the legacy namedtuple text; ``range(a, b)`` is the only call allowed (DARTS writes concat so)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        return list(range(*(ast.literal_eval(arg) for arg in node.args)))
    return ast.literal_eval(node)


def _parse_legacy(text: str, kind: str) -> dict[str, Any]:
    try:
        tree = ast.parse(text.strip(), mode="eval").body
        if not isinstance(tree, ast.Call):
            raise ValueError("not a call")
        return {kw.arg: _literal(kw.value) for kw in tree.keywords}
    except (SyntaxError, ValueError, TypeError) as err:
        raise _fail(
            f"cannot read {kind} genotype from {text[:60]!r}: {err}",
            "expected the original text, e.g. "
            "Genotype(normal=[('sep_conv_3x3', 1), ...], normal_concat=range(2, 6), ...)",
        ) from None


class CellGenotype:
    """Shared behaviour of genotypes made of named cells, each a list of (op, input) pairs plus a concat."""

    prefix: ClassVar[str]
    cell_names: ClassVar[tuple[str, ...]]
    ops: ClassVar[tuple[str, ...]]

    def __post_init__(self) -> None:
        for cell in self.cell_names:
            edges = getattr(self, cell)
            concat = getattr(self, f"{cell}_concat")
            try:
                edges = tuple((op, index) for op, index in edges)
                concat = tuple(concat)
            except (TypeError, ValueError):
                raise _fail(f"{self.prefix} genotype: cell '{cell}' must be a list of (op, input) pairs") from None
            _validate_cell(self.prefix, cell, edges, concat, self.ops)
            object.__setattr__(self, cell, edges)
            object.__setattr__(self, f"{cell}_concat", concat)

    def cell(self, name: str) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
        """(edges, concat) of one named cell."""
        return getattr(self, name), getattr(self, f"{name}_concat")

    def to_str(self) -> str:
        cells = ";".join(
            f"{c}={_edges_str(getattr(self, c))}/{','.join(map(str, getattr(self, c + '_concat')))}"
            for c in self.cell_names
        )
        return f"{self.prefix}:{cells}"

    @classmethod
    def from_str(cls, text: str):
        parts = _split_prefix(text, cls.prefix).split(";")
        names = [p.partition("=")[0].strip() for p in parts]
        if names != list(cls.cell_names) or any("=" not in p for p in parts):
            expected = ", ".join(cls.cell_names)
            raise _fail(f"{cls.prefix} genotype: expected cells {expected} in this order, got {', '.join(names)}")
        fields = {}
        for name, part in zip(names, parts, strict=True):
            edges, concat = _parse_cell(cls.prefix, name, part.partition("=")[2])
            fields[name], fields[f"{name}_concat"] = edges, concat
        return cls(**fields)

    @property
    def arch_id(self) -> str:
        return _short_id(self.to_str())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.prefix}
        for cell in self.cell_names:
            out[cell] = [[op, index] for op, index in getattr(self, cell)]
            out[f"{cell}_concat"] = list(getattr(self, f"{cell}_concat"))
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | str):
        data = _json_dict(data, cls.prefix)
        try:
            return cls(**{k: data[k] for f in cls.cell_names for k in (f, f"{f}_concat")})
        except KeyError as err:
            raise _fail(f"{cls.prefix} genotype JSON lacks {err}") from None

    @classmethod
    def from_legacy(cls, text: str):
        """Read the original code's ``Genotype(...)`` namedtuple text (``range(2, 6)`` concats allowed)."""
        fields = _parse_legacy(text, cls.prefix)
        expected = {k for f in cls.cell_names for k in (f, f"{f}_concat")}
        if set(fields) != expected:
            raise _fail(f"{cls.prefix} legacy genotype has fields {sorted(fields)}, expected {sorted(expected)}")
        return cls(**fields)

    def to_legacy(self) -> str:
        """The original code's namedtuple text, e.g. for pasting into the authors' scripts."""
        parts = []
        for cell in self.cell_names:
            parts.append(f"{cell}={[tuple(e) for e in getattr(self, cell)]!r}")
            parts.append(f"{cell}_concat={list(getattr(self, cell + '_concat'))!r}")
        return f"Genotype({', '.join(parts)})"

    def __str__(self) -> str:
        return self.to_str()


@dataclass(frozen=True, repr=False)
class DartsGenotype(CellGenotype):
    """A DARTS-space genotype: a normal and a reduction cell (DARTS, P-DARTS, PC-DARTS, RACL, AdvRush)."""

    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    prefix: ClassVar[str] = "darts"
    cell_names: ClassVar[tuple[str, ...]] = ("normal", "reduce")
    ops: ClassVar[tuple[str, ...]] = DARTS_OPS

    def __repr__(self) -> str:
        return f"DartsGenotype({self.to_str()!r})"


@dataclass(frozen=True, repr=False)
class ArnasGenotype(CellGenotype):
    """ARNAS' three-cell genotype: accurate cells before the second reduction, robust cells after it."""

    accurate: tuple[Edge, ...]
    accurate_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]
    robust: tuple[Edge, ...]
    robust_concat: tuple[int, ...]

    prefix: ClassVar[str] = "arnas"
    cell_names: ClassVar[tuple[str, ...]] = ("accurate", "reduce", "robust")
    ops: ClassVar[tuple[str, ...]] = ARNAS_PRIMITIVES

    def __repr__(self) -> str:
        return f"ArnasGenotype({self.to_str()!r})"


# --------------------------------------------------------------------------------------------------------------
# RobNet: dense 14-edge cells with two-bit codes


@dataclass(frozen=True, repr=False)
class RobNetGenotype:
    """RobNet cells as 14 two-bit edge codes each (SPEC edge order). One cell = shared by all cells (cell-based
    RobNet); one cell per layer = cell-free (RobNet-free)."""

    cells: tuple[tuple[str, ...], ...]

    prefix: ClassVar[str] = "robnet"

    def __post_init__(self) -> None:
        try:
            cells = tuple(tuple(str(code) for code in cell) for cell in self.cells)
        except TypeError:
            raise _fail("robnet genotype: cells must be lists of 14 code strings") from None
        if not cells:
            raise _fail("robnet genotype: at least one cell is needed")
        for i, cell in enumerate(cells):
            if len(cell) != len(ROBNET_EDGES):
                raise _fail(f"robnet genotype: cell {i} has {len(cell)} edge codes, expected {len(ROBNET_EDGES)}")
            bad = [code for code in cell if code not in ROBNET_CODES]
            if bad:
                raise _fail(
                    f"robnet genotype: cell {i} has invalid codes {bad}", "each edge code is one of 00, 01, 10, 11"
                )
        object.__setattr__(self, "cells", cells)

    @property
    def shared(self) -> bool:
        """True when one cell is reused by every layer (cell-based RobNet)."""
        return len(self.cells) == 1

    def cell(self, index: int) -> tuple[str, ...]:
        return self.cells[0] if self.shared else self.cells[index]

    @property
    def density(self) -> float:
        """Connected (edge, op) slots over all slots: RobNet's architecture density D."""
        bits = "".join("".join(cell) for cell in self.cells)
        return bits.count("1") / len(bits)

    def to_str(self) -> str:
        return f"{self.prefix}:" + ";".join(",".join(cell) for cell in self.cells)

    @classmethod
    def from_str(cls, text: str) -> RobNetGenotype:
        body = _split_prefix(text, cls.prefix)
        return cls(tuple(tuple(code.strip() for code in cell.split(",")) for cell in body.split(";")))

    @property
    def arch_id(self) -> str:
        return _short_id(self.to_str())

    def to_json(self) -> dict[str, Any]:
        return {"type": self.prefix, "cells": [list(cell) for cell in self.cells]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> RobNetGenotype:
        data = _json_dict(data, cls.prefix)
        if "cells" not in data:
            raise _fail("robnet genotype JSON lacks 'cells'")
        return cls(data["cells"])

    @classmethod
    def from_code_lists(cls, codes: Sequence[str] | Sequence[Sequence[str]]) -> RobNetGenotype:
        """From the original architecture-code layout: one list of 14 codes, or a list of such lists."""
        if codes and all(isinstance(c, str) for c in codes):
            return cls((tuple(codes),))
        return cls(tuple(tuple(cell) for cell in codes))

    def to_code_lists(self) -> list[list[str]]:
        return [list(cell) for cell in self.cells]

    def __str__(self) -> str:
        return self.to_str()

    def __repr__(self) -> str:
        return f"RobNetGenotype({self.to_str()!r})"


# --------------------------------------------------------------------------------------------------------------
# Ensembles of small DARTS-space networks


@dataclass(frozen=True, repr=False)
class EnsembleGenotype:
    """Members of a random-cell ensemble: (number of cells, DARTS genotype) per member network."""

    members: tuple[tuple[int, DartsGenotype], ...]

    prefix: ClassVar[str] = "ensemble"

    def __post_init__(self) -> None:
        members = tuple((layers, g) for layers, g in self.members)
        if not members:
            raise _fail("ensemble genotype: at least one member is needed")
        for layers, genotype in members:
            if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
                raise _fail(f"ensemble genotype: member cell count {layers!r} must be a positive integer")
            if not isinstance(genotype, DartsGenotype):
                raise _fail(f"ensemble genotype: members must be darts genotypes, got {type(genotype).__name__}")
        object.__setattr__(self, "members", members)

    @property
    def cells(self) -> tuple[int, ...]:
        return tuple(layers for layers, _ in self.members)

    def to_str(self) -> str:
        return f"{self.prefix}:" + "&".join(f"{layers}*{g.to_str()}" for layers, g in self.members)

    @classmethod
    def from_str(cls, text: str) -> EnsembleGenotype:
        members = []
        for part in _split_prefix(text, cls.prefix).split("&"):
            layers, sep, member = part.partition("*")
            if not sep:
                raise _fail(f"ensemble genotype: member {part[:40]!r} is not of the form <cells>*darts:...")
            members.append(
                (_parse_int(layers.strip(), "ensemble genotype, member cell count"), DartsGenotype.from_str(member))
            )
        return cls(tuple(members))

    @property
    def arch_id(self) -> str:
        return _short_id(self.to_str())

    def to_json(self) -> dict[str, Any]:
        return {"type": self.prefix, "members": [{"cells": n, "genotype": g.to_json()} for n, g in self.members]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> EnsembleGenotype:
        data = _json_dict(data, cls.prefix)
        try:
            return cls(tuple((m["cells"], DartsGenotype.from_json(m["genotype"])) for m in data["members"]))
        except (KeyError, TypeError) as err:
            raise _fail(f"ensemble genotype JSON is malformed: {err}") from None

    def __str__(self) -> str:
        return self.to_str()

    def __repr__(self) -> str:
        return f"EnsembleGenotype({self.to_str()!r})"


Genotype = DartsGenotype | ArnasGenotype | RobNetGenotype | EnsembleGenotype
GENOTYPE_TYPES: dict[str, type] = {
    t.prefix: t for t in (DartsGenotype, ArnasGenotype, RobNetGenotype, EnsembleGenotype)
}


def _json_dict(data: dict[str, Any] | str, prefix: str | None) -> dict[str, Any]:
    """The JSON object of a genotype, checked to be of type ``prefix`` (any type when None)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise _fail(f"genotype JSON does not parse: {err}") from None
    if not isinstance(data, dict):
        raise _fail(f"a genotype JSON object is needed, got {type(data).__name__}")
    if prefix is not None and data.get("type") != prefix:
        raise _fail(f"not a {prefix} genotype JSON object (its 'type' must be {prefix!r})")
    return data


def genotype_from_str(text: str) -> Genotype:
    """Any genotype from its canonical string, dispatching on the prefix before the first ':'."""
    if not isinstance(text, str):
        raise _fail(f"a genotype string is needed, got {type(text).__name__}")
    prefix = text.strip().partition(":")[0].strip()
    if prefix not in GENOTYPE_TYPES:
        raise _fail(
            f"unknown genotype type {prefix[:30]!r} in {text[:60]!r}",
            f"a genotype string starts with one of: {', '.join(p + ':' for p in GENOTYPE_TYPES)}",
        )
    return GENOTYPE_TYPES[prefix].from_str(text)


def genotype_from_json(data: dict[str, Any] | str) -> Genotype:
    """Any genotype from its JSON form, dispatching on its ``type``."""
    kind = _json_dict(data, None).get("type")
    if kind not in GENOTYPE_TYPES:
        raise _fail(f"unknown genotype type {kind!r} in JSON", f"'type' is one of {', '.join(GENOTYPE_TYPES)}")
    return GENOTYPE_TYPES[kind].from_json(data)


def as_genotype(value: Genotype | str, kind: type) -> Genotype:
    """``value`` as a genotype of type ``kind``: a genotype object, or its canonical string."""
    genotype = genotype_from_str(value) if isinstance(value, str) else value
    if not isinstance(genotype, kind):
        raise _fail(
            f"expected a {kind.prefix} genotype, got {getattr(genotype, 'prefix', type(genotype).__name__)}",
            f"pass a {kind.__name__} or a string starting with '{kind.prefix}:'",
        )
    return genotype


# --------------------------------------------------------------------------------------------------------------
# Random sampling from the DARTS space


def random_darts_genotype(rng: random.Random, ops: Iterable[str] = PRIMITIVES[1:], steps: int = STEPS) -> DartsGenotype:
    """A uniformly random DARTS-space genotype: per node two distinct inputs, each with a random op.

    ``none`` is excluded by default, as in every DARTS-derived final genotype.
    """
    ops = tuple(ops)

    def cell() -> tuple[Edge, ...]:
        edges: list[Edge] = []
        for node in range(steps):
            for index in sorted(rng.sample(range(node + 2), 2)):
                edges.append((rng.choice(ops), index))
        return tuple(edges)

    concat = tuple(range(2, steps + 2))
    return DartsGenotype(cell(), concat, cell(), concat)


def random_ensemble_genotype(seed: int, cells: Sequence[int] = (12, 6, 2)) -> EnsembleGenotype:
    """An ensemble of randomly sampled DARTS-space networks, reproducible from ``seed``."""
    rng = random.Random(seed)
    return EnsembleGenotype(tuple((int(n), random_darts_genotype(rng)) for n in cells))


# --------------------------------------------------------------------------------------------------------------
# Published genotypes (SPEC sections 2 and 4)

# fmt: off
# Transcribed tables, kept in their published shape.
_C = (2, 3, 4, 5)

DARTS_V1 = DartsGenotype(
    normal=(("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)),
    normal_concat=_C,
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)),
    reduce_concat=_C,
)

DARTS_V2 = DartsGenotype(
    normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    normal_concat=_C,
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
    reduce_concat=_C,
)

PDARTS = DartsGenotype(
    normal=(("skip_connect", 0), ("dil_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 3), ("sep_conv_3x3", 0), ("dil_conv_5x5", 4)),
    normal_concat=_C,
    reduce=(("avg_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("max_pool_3x3", 0), ("dil_conv_3x3", 1), ("dil_conv_3x3", 1), ("dil_conv_5x5", 3)),
    reduce_concat=_C,
)

ADVRUSH = DartsGenotype(
    normal=(("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1)),
    normal_concat=_C,
    reduce=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_3x3", 2),
            ("skip_connect", 0), ("avg_pool_3x3", 1), ("skip_connect", 0), ("skip_connect", 2)),
    reduce_concat=_C,
)

RACL = DartsGenotype(
    normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_5x5", 0), ("skip_connect", 1),
            ("sep_conv_3x3", 0), ("skip_connect", 3), ("sep_conv_3x3", 3), ("skip_connect", 4)),
    normal_concat=_C,
    reduce=(("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("avg_pool_3x3", 0), ("dil_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 2), ("dil_conv_3x3", 3)),
    reduce_concat=_C,
)

PC_DARTS = DartsGenotype(
    normal=(("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_3x3", 1)),
    normal_concat=_C,
    reduce=(("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 3), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2)),
    reduce_concat=_C,
)

ARNAS = ArnasGenotype(
    accurate=(("skip_connect", 0), ("skip_connect", 1), ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
              ("sep_conv_5x5", 3), ("sep_conv_3x3", 1), ("sep_conv_5x5", 4), ("skip_connect", 0)),
    accurate_concat=_C,
    reduce=(("avg_pool_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_5x5", 2), ("avg_pool_3x3", 0),
            ("dil_conv_5x5", 3), ("dil_conv_5x5", 2), ("dil_conv_5x5", 4), ("dil_conv_5x5", 3)),
    reduce_concat=_C,
    robust=(("dil_conv_5x5", 0), ("dil_conv_5x5", 1), ("dil_conv_5x5", 1), ("dil_conv_5x5", 2),
            ("dil_conv_3x3", 3), ("dil_conv_5x5", 2), ("dil_conv_3x3", 4), ("dil_conv_3x3", 3)),
    robust_concat=_C,
)

# RobNet-large (v1 and v2 share the code): one cell for every layer, reductions included.
ROBNET_LARGE = RobNetGenotype.from_code_lists("11 11 11 11 11 01 11 01 10 11 01 01 01 11".split())
# RobNet-free: one cell per layer; cells 6 and 13 are the reductions.
ROBNET_FREE = RobNetGenotype.from_code_lists([row.split() for row in (
    "11 10 11 11 10 11 01 01 10 11 11 00 11 01",
    "11 00 01 10 01 00 10 10 00 01 11 10 11 00",
    "11 11 11 01 01 11 01 00 10 00 10 10 00 11",
    "10 11 10 01 01 10 10 01 10 11 00 00 01 10",
    "11 11 01 00 10 10 10 01 10 01 00 10 01 11",
    "11 10 11 11 11 01 10 11 00 10 01 11 01 11",
    "11 11 11 10 10 01 11 10 01 10 10 10 01 10",
    "01 11 11 11 01 11 11 11 01 11 01 11 10 00",
    "11 11 11 11 11 01 01 11 10 01 00 10 01 11",
    "10 11 01 00 11 11 10 11 01 11 11 11 11 00",
    "11 10 11 00 00 00 11 00 01 10 00 01 10 11",
    "01 11 01 11 11 10 10 11 10 11 01 11 10 00",
    "11 11 10 10 01 00 10 11 11 01 10 10 00 01",
    "01 11 11 11 01 01 11 01 01 11 11 01 10 10",
    "01 11 11 11 11 01 00 01 10 10 11 10 10 11",
    "11 11 00 11 11 01 00 01 10 00 11 01 11 11",
    "11 11 01 11 11 10 11 10 10 10 10 10 11 11",
    "10 11 01 11 11 01 11 00 11 11 00 10 00 01",
    "11 10 11 11 11 11 11 10 11 00 11 01 11 11",
    "11 11 01 01 11 11 01 00 00 10 00 01 01 11",
)])

# fmt: on

PUBLISHED: dict[str, Genotype] = {
    "darts_v1": DARTS_V1,
    "darts_v2": DARTS_V2,
    "pdarts": PDARTS,
    "pc_darts": PC_DARTS,
    "racl": RACL,
    "advrush": ADVRUSH,
    "arnas": ARNAS,
    "robnet_large": ROBNET_LARGE,
    "robnet_free": ROBNET_FREE,
}

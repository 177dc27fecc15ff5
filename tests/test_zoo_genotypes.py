"""Genotypes: canonical strings, JSON, legacy text, stable ids, and refusal of malformed input."""

from __future__ import annotations

import json

import pytest

from robench.errors import RobenchError
from robench.zoo.genotypes import (
    ADVRUSH,
    ARNAS,
    ARNAS_PRIMITIVES,
    DARTS_V2,
    PDARTS,
    PRIMITIVES,
    PUBLISHED,
    ROBNET_EDGES,
    ROBNET_FREE,
    ROBNET_LARGE,
    ArnasGenotype,
    DartsGenotype,
    EnsembleGenotype,
    RobNetGenotype,
    as_genotype,
    genotype_from_json,
    genotype_from_str,
    random_ensemble_genotype,
)

ALL = {**PUBLISHED, "random_ensemble": random_ensemble_genotype(seed=0)}


@pytest.mark.parametrize("name", sorted(ALL))
def test_string_and_json_round_trip(name):
    genotype = ALL[name]
    text = genotype.to_str()
    assert genotype_from_str(text) == genotype
    assert type(genotype).from_str(text) == genotype
    assert genotype_from_str(text).to_str() == text
    as_json = json.dumps(genotype.to_json())
    assert genotype_from_json(as_json) == genotype
    assert type(genotype).from_json(json.loads(as_json)) == genotype
    assert genotype_from_str(text).arch_id == genotype.arch_id


@pytest.mark.parametrize("name", ["darts_v1", "darts_v2", "pdarts", "pc_darts", "racl", "advrush", "arnas"])
def test_legacy_namedtuple_text_round_trip(name):
    genotype = PUBLISHED[name]
    assert type(genotype).from_legacy(genotype.to_legacy()) == genotype


def test_canonical_string_and_arch_id_are_stable():
    # A change here changes every arch_id stored in checkpoints and leaderboard records.
    assert DARTS_V2.to_str() == (
        "darts:normal=sep_conv_3x3~0,sep_conv_3x3~1,sep_conv_3x3~0,sep_conv_3x3~1,sep_conv_3x3~1,skip_connect~0,"
        "skip_connect~0,dil_conv_3x3~2/2,3,4,5;reduce=max_pool_3x3~0,max_pool_3x3~1,skip_connect~2,max_pool_3x3~1,"
        "max_pool_3x3~0,skip_connect~2,skip_connect~2,max_pool_3x3~1/2,3,4,5"
    )
    assert DARTS_V2.arch_id == "f80c582bbda4"
    assert ADVRUSH.arch_id == "df4b866f6c74"
    assert ROBNET_LARGE.to_str() == "robnet:11,11,11,11,11,01,11,01,10,11,01,01,01,11"
    assert ROBNET_FREE.arch_id == "a4f185d43917"
    assert ARNAS.arch_id == "50eb8743c314"
    assert len({g.arch_id for g in ALL.values()}) == len(ALL)


def test_reads_the_original_darts_text_with_range_concat():
    text = (
        "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 0), ('dil_conv_5x5', 4)], "
        "normal_concat=range(2, 6), "
        "reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), "
        "('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)], "
        "reduce_concat=range(2, 6))"
    )
    assert DartsGenotype.from_legacy(text) == PDARTS


def test_published_facts():
    assert len(PRIMITIVES) == 8 and PRIMITIVES[0] == "none"
    assert ARNAS_PRIMITIVES == PRIMITIVES[1:]
    assert ROBNET_EDGES[:5] == ((0, 0), (0, 1), (1, 0), (1, 1), (1, 2))
    assert len(ROBNET_EDGES) == 14 and ROBNET_EDGES[-1] == (3, 4)
    assert ROBNET_LARGE.shared and len(ROBNET_FREE.cells) == 20
    assert ROBNET_LARGE.density == pytest.approx(22 / 28)
    # SPEC 4.2: cell 6 (a reduction) has 7 convolutions and 11 identities
    cell6 = "".join(ROBNET_FREE.cells[6])
    assert cell6[1::2].count("1") == 7 and cell6[0::2].count("1") == 11
    assert RobNetGenotype.from_code_lists(ROBNET_FREE.to_code_lists()) == ROBNET_FREE


def test_random_ensemble_is_reproducible_from_its_seed():
    a, b, c = (
        random_ensemble_genotype(3, (10, 6, 4)),
        random_ensemble_genotype(3, (10, 6, 4)),
        random_ensemble_genotype(4, (10, 6, 4)),
    )
    assert a == b and a != c
    assert a.cells == (10, 6, 4)
    for _, member in a.members:
        assert all(op != "none" for op, _ in member.normal + member.reduce)
        for node in range(4):  # two distinct inputs per node
            assert member.normal[2 * node][1] != member.normal[2 * node + 1][1]


def test_as_genotype_checks_the_type():
    assert as_genotype(DARTS_V2.to_str(), DartsGenotype) == DARTS_V2
    with pytest.raises(RobenchError, match="expected a darts genotype"):
        as_genotype(ROBNET_LARGE.to_str(), DartsGenotype)


def _darts(normal: str) -> str:
    return f"darts:normal={normal}/2,3,4,5;reduce=" + DARTS_V2.to_str().split(";reduce=")[1]


GOOD_NORMAL = DARTS_V2.to_str().split(";")[0].removeprefix("darts:normal=").split("/")[0]
BAD_STRINGS = {
    "empty": ("", "unknown genotype type"),
    "unknown prefix": ("nasnet:normal=...", "unknown genotype type"),
    "unknown op": (_darts(GOOD_NORMAL.replace("dil_conv_3x3", "conv_9x9")), "unknown op 'conv_9x9'"),
    "input out of range": (
        _darts(GOOD_NORMAL.replace("sep_conv_3x3~1,sep_conv_3x3~0", "sep_conv_3x3~2,sep_conv_3x3~0", 1)),
        "out of range",
    ),
    "odd edge count": (_darts(GOOD_NORMAL + ",skip_connect~0"), "two \\(op, input\\) pairs"),
    "not an integer": (_darts(GOOD_NORMAL.replace("~2", "~x")), "not an integer"),
    "no op~input": (_darts(GOOD_NORMAL.replace("skip_connect~0", "skip_connect", 1)), "op~input"),
    "missing concat": (DARTS_V2.to_str().replace("/2,3,4,5;", ";"), "concat"),
    "concat out of range": (DARTS_V2.to_str().replace("/2,3,4,5;", "/2,3,4,6;"), "concat"),
    "duplicate concat": (DARTS_V2.to_str().replace("/2,3,4,5;", "/2,2,4,5;"), "concat"),
    "cells swapped": (
        "darts:reduce=" + DARTS_V2.to_str().split(";reduce=")[1] + ";normal=" + GOOD_NORMAL + "/2,3,4,5",
        "expected cells",
    ),
    "arnas with none": (ARNAS.to_str().replace("skip_connect~0", "none~0", 1), "unknown op 'none'"),
    "robnet bad code": ("robnet:11,11,11,11,11,01,11,01,10,11,01,01,01,12", "invalid codes"),
    "robnet 13 edges": ("robnet:11,11,11,11,11,01,11,01,10,11,01,01,01", "13 edge codes"),
    "ensemble zero cells": ("ensemble:0*" + DARTS_V2.to_str(), "positive integer"),
    "ensemble no count": ("ensemble:" + DARTS_V2.to_str(), "<cells>\\*darts"),
}


@pytest.mark.parametrize("case", sorted(BAD_STRINGS))
def test_bad_strings_are_refused_with_a_reason(case):
    text, reason = BAD_STRINGS[case]
    with pytest.raises(RobenchError, match=reason) as info:
        genotype_from_str(text)
    assert info.value.hint


def test_bad_json_and_legacy_are_refused():
    with pytest.raises(RobenchError, match="does not parse"):
        genotype_from_json("{not json")
    with pytest.raises(RobenchError, match="unknown genotype type"):
        genotype_from_json({"type": "nasnet"})
    with pytest.raises(RobenchError, match="lacks"):
        DartsGenotype.from_json({"type": "darts", "normal": []})
    with pytest.raises(RobenchError, match="cannot read"):
        DartsGenotype.from_legacy("Genotype(normal=__import__('os'))")
    with pytest.raises(RobenchError, match="fields"):
        ArnasGenotype.from_legacy(DARTS_V2.to_legacy())
    with pytest.raises(RobenchError, match="darts genotypes"):
        EnsembleGenotype(((2, ROBNET_LARGE),))

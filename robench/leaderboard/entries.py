"""From records to ranked leaderboard rows: the robust number, ranking, HRS and PP-HRS.

The robust accuracy of a row is the record's ``metrics.robust_accuracy`` (for a measured record, the pointwise
worst case over its suite) or, when absent, the most trustworthy attack listed: AutoAttack if present, else
the lowest accuracy. Rows are ranked first by how strong that evaluation is (AutoAttack, then iterative
attacks, then single-step ones) and then by robust accuracy, so an FGSM-only number never outranks an
AutoAttack one.

HRS = 2CR / (C + R) and PP-HRS = HRS * p_baseline / p_model (Devaguptapu et al. 2021, eq. 1 and 3), where the
baseline is the smallest member of the row's family evaluated the same way: same table, same training, same
paper (reported) or attack suite (measured).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from robench.evaluate.metrics import hrs, pp_hrs
from robench.evaluate.presets import attack_order, is_autoattack, is_single_step
from robench.leaderboard.naming import dataset_order, suite_name, threat_key, threat_order
from robench.leaderboard.store import StoredRecord

TIER_NAMES = ("AutoAttack", "iterative attacks", "single-step attacks", "no attack")


@dataclass
class Entry:
    """One leaderboard row."""

    path: str
    record: dict
    robust: float | None
    robust_by: str
    tier: int
    hrs: float | None = None
    pp_hrs: float | None = None
    rank: int | None = None

    @property
    def kind(self) -> str:
        return self.record["kind"]

    @property
    def model(self) -> dict:
        return self.record["model"]

    @property
    def clean(self) -> float:
        return self.record["metrics"]["clean_accuracy"]

    @property
    def per_attack(self) -> dict[str, float]:
        return self.record["metrics"].get("per_attack", {})

    @property
    def params(self) -> int | None:
        return self.model.get("params")

    @property
    def dataset(self) -> str:
        return self.record["dataset"]["name"]

    @property
    def threat(self) -> str:
        return threat_key(self.record["threat_model"])

    @property
    def protocol(self) -> str:
        """What makes two rows' numbers comparable beyond the table: the paper, or the measured suite."""
        if self.kind == "reported":
            return "paper:" + (self.record["source"].get("arxiv") or self.record["source"]["paper"])
        return "suite:" + suite_name(self.record)


@dataclass
class Table:
    """The ranked rows of one (data set, threat model)."""

    dataset: str
    threat_model: dict
    entries: list[Entry]
    attacks: list[str] = field(default_factory=list)
    matched: list[tuple[Entry, Entry | None]] = field(default_factory=list)

    @property
    def threat(self) -> str:
        return threat_key(self.threat_model)


def reported_robust(per_attack: dict[str, float]) -> tuple[float | None, str]:
    """AutoAttack if present, else the strongest listed attack (lowest accuracy); ties go to the name order."""
    if not per_attack:
        return None, ""
    autoattacks = {k: v for k, v in per_attack.items() if is_autoattack(k)}
    pool = autoattacks or per_attack
    name = min(sorted(pool, key=attack_order), key=lambda k: pool[k])
    return pool[name], name


def _robust(record: dict) -> tuple[float | None, str]:
    metrics = record["metrics"]
    per_attack = metrics.get("per_attack", {})
    robust = metrics.get("robust_accuracy")
    if robust is None:
        return reported_robust(per_attack)
    named = [k for k in sorted(per_attack, key=lambda k: (not is_autoattack(k), attack_order(k)))
             if per_attack[k] == robust]
    return robust, named[0] if named else "worst case"


def _tier(record: dict, robust: float | None) -> int:
    attacks = set(record["metrics"].get("per_attack", {})) | {a["name"] for a in record.get("attacks", [])}
    if robust is None:
        return 3
    if any(is_autoattack(a) for a in attacks):
        return 0
    if attacks and all(is_single_step(a) for a in attacks):
        return 2
    return 1


def make_entry(stored: StoredRecord) -> Entry:
    robust, robust_by = _robust(stored.record)
    entry = Entry(stored.path, stored.record, robust, robust_by, _tier(stored.record, robust))
    if robust is not None:
        entry.hrs = hrs(entry.clean, robust)
    return entry


def _rank_key(entry: Entry) -> tuple:
    robust = -1.0 if entry.robust is None else entry.robust
    return (entry.tier, -robust, -entry.clean, entry.model["name"], entry.path)


def family_key(entry: Entry) -> tuple:
    """What makes rows members of one family for PP-HRS: the family, the training and the protocol."""
    return (entry.model.get("family") or entry.model["name"], entry.model.get("training", ""), entry.protocol)


def _set_pp_hrs(entries: list[Entry]) -> None:
    sized = sorted((e for e in entries if e.hrs is not None and e.params), key=lambda e: (family_key(e), e.path))
    for _, family in groupby(sized, key=family_key):
        family = list(family)
        baseline = min(e.params for e in family)
        for entry in family:
            entry.pp_hrs = pp_hrs(entry.hrs, baseline, entry.params)


# A hand-crafted model is a size match for a searched one when their parameter counts differ by at most this
# fraction of the searched model's (robench's choice: close enough that size does not explain a difference).
SIZE_MATCH = 0.25


def size_matched(entries: list[Entry]) -> list[tuple[Entry, Entry | None]]:
    """Each measured model a search found, with the measured hand-crafted model (no genotype) closest to it in
    size among those trained and evaluated the same way, or None: the seed papers' question, at equal size."""
    measured = [e for e in entries if e.kind == "measured" and e.params and e.robust is not None]
    hand_crafted = [e for e in measured if not e.model.get("genotype")]
    pairs = []
    for searched in (e for e in measured if e.model.get("search")):
        peers = [b for b in hand_crafted if b.model.get("training") == searched.model.get("training")
                 and b.protocol == searched.protocol and abs(b.params - searched.params) <= SIZE_MATCH * searched.params]
        pairs.append((searched, min(peers, key=lambda b: (abs(b.params - searched.params), b.path), default=None)))
    return pairs


def make_tables(stored: list[StoredRecord]) -> list[Table]:
    """Group result records into one ranked table per (data set, threat model), in a fixed order."""
    entries = [make_entry(s) for s in stored if not s.is_transfer]
    entries.sort(key=lambda e: (dataset_order(e.dataset), threat_order(e.record["threat_model"]), e.threat))
    tables = []
    for (dataset, _), rows in groupby(entries, key=lambda e: (e.dataset, e.threat)):
        rows = sorted(rows, key=_rank_key)
        _set_pp_hrs(rows)
        for position, entry in enumerate((e for e in rows if e.robust is not None), start=1):
            entry.rank = position
        attacks = sorted({a for e in rows for a in e.per_attack}, key=attack_order)
        tables.append(Table(dataset, rows[0].record["threat_model"], rows, attacks, size_matched(rows)))
    return tables

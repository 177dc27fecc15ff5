"""The seed papers' numbers as reported records, made from the zoo's table (:mod:`robench.zoo.reported`).

``robench leaderboard build`` writes them under ``records/reported/`` (so every row links to a record, as a
measured row does) and ``robench leaderboard check`` fails when a file there is not what the table gives:
a reported number is changed in the table, never in a record.
"""

from __future__ import annotations

import json
from pathlib import Path

from robench.evaluate.records import SCHEMA_ID, TRANSFER_SCHEMA_ID, write_record
from robench.leaderboard.entries import reported_robust
from robench.leaderboard.store import filing_path
from robench.zoo.reported import (
    CLEAN,
    HRS,
    ROWS,
    TRANSFERS,
    Paper,
    Reported,
    ReportedTransfer,
    table_row,
    transfer_matrix,
)

FOLDER = "reported"
TABLE = "robench/zoo/reported.py"


def _fraction(percent: float) -> float:
    return round(percent / 100, 6)  # the table's digits, as a fraction


def _params(printed: str) -> int:
    return round(float(printed.removesuffix("M")) * 1_000_000)


def _attack(paper: Paper, name: str) -> dict:
    params = paper.attacks[name]
    return {"name": name, "params": dict(params)} if params else {"name": name}


def _common(paper: Paper, table: str, dataset: str, note: str) -> dict:
    source = {"paper": paper.citation, "arxiv": paper.arxiv, "table": table}
    if note:
        source["note"] = note
    return {"kind": "reported", "dataset": {"name": dataset}, "source": source,
            "threat_model": {"norm": "Linf", "eps": paper.eps, "eps_text": paper.eps_text}}


def _model(row: Reported) -> dict:
    return {"name": row.name, "architecture": row.row, "family": row.family, "training": row.training}


def result_record(row: Reported) -> dict:
    """The result record of a row with a clean accuracy; its robust number follows the leaderboard's rule."""
    per_attack = {a: _fraction(row.metrics[a]) for a in row.attacks}
    metrics = {"clean_accuracy": _fraction(row.metrics[CLEAN]), "per_attack": per_attack,
               "robust_accuracy": reported_robust(per_attack)[0]}
    if HRS in row.metrics:
        metrics["hrs"] = _fraction(row.metrics[HRS])
    model = _model(row)
    if row.params:
        model["params"] = _params(row.params)
    return {"schema": SCHEMA_ID, **_common(row.paper, row.table, row.dataset, row.note), "model": model,
            "attacks": [_attack(row.paper, a) for a in row.attacks], "metrics": metrics}


def transfer_record(transfer: ReportedTransfer) -> dict:
    rows = [table_row(transfer, name) for name in transfer.models]
    models = [_model(r) for r in rows]
    return {"schema": TRANSFER_SCHEMA_ID, **_common(transfer.paper, transfer.table, transfer.dataset, transfer.note),
            "attack": _attack(transfer.paper, transfer.attack), "sources": models, "targets": models,
            "matrix": [[_fraction(v) for v in cells] for cells in transfer_matrix(transfer)],
            "clean_accuracy": {r.name: _fraction(r.metrics[CLEAN]) for r in rows}}


def reported_records() -> dict[str, dict]:
    """Every reported record the table gives, by its place in the store. A row without a clean accuracy (RobNet's
    other data sets) has none: every leaderboard row needs one."""
    records = [result_record(r) for r in ROWS if CLEAN in r.metrics] + [transfer_record(t) for t in TRANSFERS]
    return {filing_path(r).as_posix(): r for r in records}


def _written(root: Path) -> set[str]:
    folder = root / FOLDER
    return {p.relative_to(root).as_posix() for p in folder.rglob("*.json")} if folder.is_dir() else set()


def write_reported(records_dir: str | Path) -> list[str]:
    """Write the table's records under ``records_dir/reported/`` and remove the files it no longer gives."""
    root = Path(records_dir)
    expected = reported_records()
    for path, record in expected.items():
        write_record(record, root / path)
    for stale in sorted(_written(root) - set(expected)):
        (root / stale).unlink()
    for folder in sorted((p for p in (root / FOLDER).rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return sorted(expected)


def _content(file: Path) -> object:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # load_records names what is wrong with it


def reported_problems(records_dir: str | Path) -> list[str]:
    """One line per file under ``records_dir/reported/`` that is missing, edited, or no row of the table."""
    root = Path(records_dir)
    expected = reported_records()
    written = _written(root)
    problems = []
    for path, record in expected.items():
        if path not in written:
            problems.append(f"records/{path} is missing: `robench leaderboard build` writes it from {TABLE}")
        elif _content(root / path) != record:
            problems.append(f"records/{path} differs from its row in {TABLE}: change the table, not the record")
    problems += [f"records/{path} is no row of {TABLE}" for path in sorted(written - set(expected))]
    return problems

"""The record store: a folder of result and transfer records, each filed under a name derived from its content.

Layout (relative to the records folder)::

    measured/<dataset>/<threat>/<model>__<suite>.json
    measured/<dataset>/<threat>/transfer__<attack>__<models-hash>.json
    reported/<arxiv id>/<dataset>/<threat>/<model>__<suite>.json      (same names, one folder per paper,
                                                                       written from robench.zoo.reported)

so a record's place says what it is, two evaluations of one setting collide visibly, and git diffs stay
reviewable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from robench.errors import RobenchError
from robench.evaluate.records import (
    TRANSFER_SCHEMA_ID,
    canonical_json,
    read_record,
    sha256_of,
    validate_record,
    write_record,
)
from robench.leaderboard.naming import slug, suite_name, threat_key

FOLDER = "leaderboard"


def find_leaderboard(start: Path | None = None) -> Path:
    """The ``leaderboard/`` folder (one holding ``records/``) in the current directory or its nearest parent."""
    start = (start or Path.cwd()).resolve()
    for directory in (start, *start.parents):
        if (directory / FOLDER / "records").is_dir():
            return directory / FOLDER
    raise RobenchError(
        f"no {FOLDER}/records folder in {start} or any parent",
        hint="run from the robench repository, or pass --records DIR and --out DIR",
    )


@dataclass(frozen=True)
class StoredRecord:
    """A record and where it lives, as a POSIX path relative to the records folder."""

    path: str
    record: dict

    @property
    def is_transfer(self) -> bool:
        return self.record["schema"] == TRANSFER_SCHEMA_ID


def filing_path(record: dict) -> PurePosixPath:
    """The deterministic place of ``record`` in the store."""
    setting = PurePosixPath(slug(record["dataset"]["name"]), threat_key(record["threat_model"]))
    if record["schema"] == TRANSFER_SCHEMA_ID:
        models = [[m["name"] for m in record["sources"]], [m["name"] for m in record["targets"]]]
        name = f"transfer__{slug(record['attack']['name'])}__{sha256_of(models)[:8]}.json"
    else:
        name = f"{slug(record['model']['name'])}__{suite_name(record)}.json"
    if record["kind"] == "measured":
        return PurePosixPath("measured") / setting / name
    source = record["source"]
    return PurePosixPath("reported", slug(source.get("arxiv") or source["paper"])) / setting / name


def load_records(records_dir: str | Path) -> tuple[list[StoredRecord], list[str]]:
    """Every ``*.json`` under ``records_dir`` in path order, and one problem line per file that cannot be used
    (unreadable, off-schema, filed in the wrong place)."""
    root = Path(records_dir)
    if not root.is_dir():
        raise RobenchError(f"no records folder at {root}", hint="pass --records DIR, or run from the repository root")
    stored, problems = [], []
    for file in sorted(root.rglob("*.json"), key=lambda p: p.relative_to(root).as_posix()):
        rel = file.relative_to(root).as_posix()
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
            validate_record(record, where=f"records/{rel}")
        except json.JSONDecodeError as err:
            problems.append(f"records/{rel} is not valid JSON ({err.msg} at line {err.lineno})")
            continue
        except RobenchError as err:
            problems.append(err.message)
            continue
        expected = filing_path(record).as_posix()
        if rel != expected:
            problems.append(f"records/{rel} is filed in the wrong place: its content says records/{expected}")
            continue
        stored.append(StoredRecord(rel, record))
    return stored, problems


def add_record(result_json: str | Path, records_dir: str | Path, replace: bool = False) -> Path:
    """Validate a measured record written by ``robench eval --out`` (or ``robench transfer``) and file it.

    An existing record with the same name is kept unless ``replace``: a re-evaluation must be a decision.
    """
    source = Path(result_json)
    record = read_record(source)
    if record["kind"] != "measured":
        raise RobenchError(f"{source} is a reported record; `add` files measured results only",
                           hint="reported numbers live in robench/zoo/reported.py; `robench leaderboard build` "
                                "writes their records")
    target = Path(records_dir) / filing_path(record)
    if target.exists() and not replace:
        if canonical_json(json.loads(target.read_text(encoding="utf-8"))) == canonical_json(record):
            return target
        raise RobenchError(f"a different record is already filed at {target}",
                           hint="pass --replace to overwrite it with the new evaluation")
    return write_record(record, target)

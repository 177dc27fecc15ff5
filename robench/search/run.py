"""A search's run directory: what it was asked for, its resumable state, its log, and its result.

    search.json   the request (method, data set, configuration, training subset); a resume must ask the same
    state.pt      the latest resumable state (robench.runstate: weights, alphas, optimisers, RNG, position)
    log.jsonl     one JSON record per epoch (losses, accuracies, the genotype the alphas select at that point)
    result.json   the outcome (schema ``robench.search/1``): the genotype, its canonical string, its arch_id

Running the same request on the same directory resumes it; a finished search returns its result at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from robench import __version__
from robench.errors import RobenchError, read_json
from robench.rundir import atomic_write, claim
from robench.runstate import load_state, save_state
from robench.zoo.genotypes import Genotype, genotype_from_str

SCHEMA_ID = "robench.search/1"
REQUEST_KEYS = ("method", "dataset", "n_train", "config", "zoo_entry")
REQUEST_FILE, STATE_FILE, LOG_FILE, RESULT_FILE = "search.json", "state.pt", "log.jsonl", "result.json"


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


class SearchRun:
    """The files of one search under ``directory``; ``request`` is what this invocation asks for."""

    def __init__(self, directory: str | Path, request: dict[str, Any]):
        self.directory = Path(directory)
        self.request = json.loads(json.dumps(request))  # plain JSON values, as they will be read back

    def claim(self) -> None:
        """Create the directory for this request, or check that it already holds this request."""
        claim(self.directory, REQUEST_FILE, self.request, "a search")

    def load_state(self) -> dict[str, Any] | None:
        path = self.directory / STATE_FILE
        return load_state(path) if path.is_file() else None

    def save_state(self, state: dict[str, Any]) -> None:
        save_state(self.directory / STATE_FILE, state)

    def log(self, record: dict[str, Any]) -> None:
        with open(self.directory / LOG_FILE, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate_log(self, epochs_done: int) -> None:
        """Drop epoch records past the resumed state (written after the state a crash left behind)."""
        path = self.directory / LOG_FILE
        if path.is_file():
            keep = [line for line in path.read_text().splitlines() if json.loads(line).get("epoch", 0) < epochs_done]
            atomic_write(path, "".join(line + "\n" for line in keep))

    def read_log(self) -> list[dict[str, Any]]:
        path = self.directory / LOG_FILE
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

    def finished(self) -> SearchResult | None:
        path = self.directory / RESULT_FILE
        return SearchResult.read(path) if path.is_file() else None

    def finish(self, genotype: Genotype, details: dict[str, Any], seconds: float) -> SearchResult:
        record = {
            "schema": SCHEMA_ID,
            **self.request,
            "genotype": genotype.to_str(),
            "genotype_json": genotype.to_json(),
            "arch_id": genotype.arch_id,
            "details": details,
            "seconds": seconds,
            "robench": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _write_json(self.directory / RESULT_FILE, record)
        return SearchResult(record, self.directory)


class SearchResult:
    """A finished search: ``genotype`` (rebuilt from its canonical string) and the whole ``record``."""

    def __init__(self, record: dict[str, Any], directory: Path | None = None):
        self.record = record
        self.directory = directory

    @property
    def genotype(self) -> Genotype:
        return genotype_from_str(self.record["genotype"])

    def lineage(self, budget_fields: tuple[str, ...]) -> dict[str, Any]:
        """Where this genotype came from, as a checkpoint and its records carry it: the search method, its seed,
        its budget (``budget_fields`` of its configuration, and the training images it searched on), the hash
        of the whole request, and the genotype's ``arch_id``."""
        config = self.record["config"]
        return {
            "method": self.record["method"],
            "arch_id": self.record["arch_id"],
            "seed": config.get("seed"),
            "budget": {**{k: config[k] for k in budget_fields}, "n_train": self.record["n_train"]},
            "request_sha256": request_sha256(self.record),
            "search_seconds": self.record["seconds"],
        }

    @classmethod
    def read(cls, path: str | Path) -> SearchResult:
        path = Path(path)
        record = read_json(path, "search result", hint="pass the result.json a search wrote")
        if record.get("schema") != SCHEMA_ID:
            raise RobenchError(f"{path} is not a search result (schema {record.get('schema')!r})",
                               hint=f"a search result has schema {SCHEMA_ID}")  # fmt: skip
        return cls(record, path.parent)


def request_sha256(record: dict[str, Any]) -> str:
    """The hash of what a search was asked for (its search.json), which identifies the run."""
    request = {k: record[k] for k in REQUEST_KEYS}
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_genotype(text: str) -> Genotype:
    """A genotype from its canonical string, or from the ``result.json`` of a search (a path to it)."""
    if text.strip().endswith(".json") or Path(text).is_file():
        return SearchResult.read(text).genotype
    return genotype_from_str(text)


def config_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config)))

"""Result records: the JSON that every robench number lives in, and its versioned schema.

Two kinds share one schema: *measured* records written by the evaluator (full provenance: weights sha256,
data subset hash, attack configuration hash, seed, library versions, device, timings) and *reported*
records transcribed from a paper's table (with the table they cite). Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from robench.errors import RobenchError, read_json
from robench.rundir import atomic_write

SCHEMA_ID = "robench.result/1"

_ACCURACY = {"type": "number", "minimum": 0, "maximum": 1}
_INTERVAL = {"type": "array", "items": _ACCURACY, "minItems": 2, "maxItems": 2}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
# The speed options a measurement ran with (robench.evaluate.speed): those that can change a number, and the
# exact speed-ups that cannot. Records from before the block existed have none.
_SPEED = {
    "type": "object",
    "required": ["compile", "channels_last", "amp", "exact"],
    "properties": {"compile": {"type": "boolean"}, "channels_last": {"type": "boolean"},
                   "amp": {"type": ["string", "null"]}, "exact": {"type": "array", "items": {"type": "string"}}},
}

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "type": "object",
    "required": ["schema", "kind", "model", "dataset", "threat_model", "metrics"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "kind": {"enum": ["measured", "reported"]},
        "model": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "source": {"type": "string"},
                "family": {"type": "string"},
                "architecture": {"type": "string"},
                "arch_id": {"type": ["string", "null"]},
                "genotype": {"type": ["string", "null"]},
                "params": {"type": "integer", "minimum": 0},
                "weights_sha256": _SHA256,
                "training": {"type": "string"},
                "search": {
                    "type": "object",
                    "required": ["method", "arch_id", "budget", "request_sha256"],
                    "properties": {
                        "method": {"type": "string"},
                        "arch_id": {"type": "string"},
                        "seed": {"type": ["integer", "null"]},
                        "budget": {"type": "object"},
                        "request_sha256": _SHA256,
                        "search_seconds": {"type": "number", "minimum": 0},
                        "scale": {"type": "string"},
                    },
                },
            },
        },
        "dataset": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "split": {"type": "string"},
                "n_examples": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer"},
                "data_sha256": _SHA256,
                "subset_sha256": _SHA256,
            },
        },
        "threat_model": {
            "type": "object",
            "required": ["norm", "eps"],
            "properties": {
                "norm": {"enum": ["Linf", "L2", "L1", "none"]},
                "eps": {"type": "number", "minimum": 0},
                "eps_text": {"type": "string"},
            },
        },
        "attacks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "library": {"type": "string"},
                    "params": {"type": "object"},
                },
            },
        },
        "config_sha256": _SHA256,
        "settings": {
            "type": "object",
            "properties": {"batch_size": {"type": "integer", "minimum": 1}, "chain": {"type": "boolean"},
                           "checks": {"type": "boolean"}, "world_size": {"type": "integer", "minimum": 1},
                           "speed": _SPEED},
        },
        "reproduction": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source", "metric", "paper", "measured", "ci95", "within"],
                "properties": {"paper": _ACCURACY, "measured": _ACCURACY, "ci95": _INTERVAL,
                               "within": {"type": "boolean"}},
            },
        },
        "metrics": {
            "type": "object",
            "required": ["clean_accuracy"],
            "properties": {
                "clean_accuracy": _ACCURACY,
                "robust_accuracy": {"anyOf": [_ACCURACY, {"type": "null"}]},
                "per_attack": {"type": "object", "additionalProperties": _ACCURACY},
                "clean_ci95": _INTERVAL,
                "robust_ci95": {"anyOf": [_INTERVAL, {"type": "null"}]},
                "hrs": {"anyOf": [_ACCURACY, {"type": "null"}]},
            },
        },
        "flags": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "environment": {"type": "object"},
        "timings": {"type": "object"},
        "source": {
            "type": "object",
            "required": ["paper", "table"],
            "properties": {
                "paper": {"type": "string"},
                "arxiv": {"type": "string"},
                "table": {"type": "string"},
                "note": {"type": "string"},
            },
        },
        "created": {"type": "string"},
    },
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": "measured"}}},
            "then": {
                "required": ["attacks", "config_sha256", "environment", "timings"],
                "properties": {
                    "model": {"required": ["name", "weights_sha256"]},
                    "dataset": {"required": ["name", "split", "n_examples", "seed", "subset_sha256"]},
                },
            },
        },
        {"if": {"properties": {"kind": {"const": "reported"}}}, "then": {"required": ["source"]}},
    ],
}


TRANSFER_SCHEMA_ID = "robench.transfer/1"

TRANSFER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": TRANSFER_SCHEMA_ID,
    "type": "object",
    "required": ["schema", "kind", "sources", "targets", "matrix", "dataset", "threat_model", "attack"],
    "properties": {
        "schema": {"const": TRANSFER_SCHEMA_ID},
        "kind": {"enum": ["measured", "reported"]},
        "sources": {"type": "array", "items": {"type": "object", "required": ["name"]}, "minItems": 1},
        "targets": {"type": "array", "items": {"type": "object", "required": ["name"]}, "minItems": 1},
        "matrix": {"type": "array", "items": {"type": "array", "items": _ACCURACY}},
        "clean_accuracy": {"type": "object", "additionalProperties": _ACCURACY},
        "dataset": RESULT_SCHEMA["properties"]["dataset"],
        "threat_model": RESULT_SCHEMA["properties"]["threat_model"],
        "attack": RESULT_SCHEMA["properties"]["attacks"]["items"],
        "settings": {"type": "object", "properties": {"batch_size": {"type": "integer", "minimum": 1},
                                                      "speed": _SPEED}},
        "environment": {"type": "object"},
        "timings": {"type": "object"},
        "source": RESULT_SCHEMA["properties"]["source"],
        "created": {"type": "string"},
    },
    "allOf": [{"if": {"properties": {"kind": {"const": "reported"}}}, "then": {"required": ["source"]}}],
}

_SCHEMAS = {SCHEMA_ID: RESULT_SCHEMA, TRANSFER_SCHEMA_ID: TRANSFER_SCHEMA}


def lineage_text(search: dict[str, Any]) -> str:
    """A record's ``model.search`` block in words: "advrush search (seed 0; epochs=4, C=8, layers=5, n_train=2000)";
    a budget left unset (n_train of a search that reads no data) is left out."""
    budget = ", ".join(f"{k}={v if not isinstance(v, list) else '+'.join(map(str, v))}"
                       for k, v in search["budget"].items() if v is not None)
    scale = f", {search['scale']} scale" if search.get("scale") else ""
    return f"{search['method']} search (seed {search.get('seed')}{scale}; {budget})"


def validate_record(record: dict, where: str = "record") -> dict:
    """Check ``record`` against its schema (result or transfer, by its ``schema`` field); raise one readable
    error naming the first offending field."""
    import jsonschema

    schema = _SCHEMAS.get(record.get("schema") if isinstance(record, dict) else None)
    if schema is None:
        raise RobenchError(
            f"{where} names no known schema (expected one of {', '.join(sorted(_SCHEMAS))})",
            hint="set its \"schema\" field, or regenerate the record with robench",
        )
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        field = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        raise RobenchError(
            f"{where} does not follow schema {schema['$id']}: {field}: {first.message}",
            hint="fix the field, or regenerate the record with `robench eval … --out`",
        )
    problem = _inconsistency(record) if schema is RESULT_SCHEMA else None
    if problem:
        raise RobenchError(f"{where} is inconsistent: {problem}",
                           hint="a record's numbers must agree with each other; regenerate it with `robench eval`")
    return record


def _inconsistency(record: dict) -> str | None:
    """The first way the numbers of a valid result record contradict each other, or None.

    A point that an attack breaks was clean-correct first, so no robust accuracy exceeds clean accuracy; counts
    and accuracies are two views of one measurement; a measured record of attacks has a robust accuracy.
    """
    metrics, tolerance = record["metrics"], 1e-9
    clean, robust = metrics["clean_accuracy"], metrics.get("robust_accuracy")
    named = {"robust_accuracy": robust, **{f"per_attack.{k}": v for k, v in metrics.get("per_attack", {}).items()}}
    for name, value in named.items():
        if value is not None and value > clean + tolerance:
            return f"{name} {value:.4f} exceeds clean_accuracy {clean:.4f}"
    n = record["dataset"].get("n_examples")
    for count, accuracy in (("n_correct", clean), ("n_robust", robust)):
        if n and metrics.get(count) is not None and (accuracy is None or abs(metrics[count] / n - accuracy) > tolerance):
            return f"{count} {metrics[count]} of {n} examples does not give its accuracy {accuracy}"
    if record["kind"] == "measured" and record.get("attacks") and robust is None:
        return "it lists attacks but has no robust_accuracy"
    return None


def canonical_json(obj: Any) -> str:
    """The byte-stable text of ``obj``: sorted keys, fixed separators (hashes and diffs depend on it)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def write_record(record: dict, path: str | Path) -> Path:
    """Validate and write ``record`` atomically as indented JSON."""
    validate_record(record, where=str(path))
    return atomic_write(path, json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_record(path: str | Path) -> dict:
    """Read and validate a result record; a missing or malformed file is a one-line error."""
    path = Path(path)
    record = read_json(path, "result record", hint="pass the JSON written by `robench eval --out`")
    return validate_record(record, where=str(path))

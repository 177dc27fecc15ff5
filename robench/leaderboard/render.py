"""Text renderings of the leaderboard: Markdown (README.md), a static HTML page and a CSV.

Every number goes through the formatters below, so the three views agree digit for digit and stay
byte-stable: accuracies and scores in percent with two decimals, parameters in millions with two.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from robench.evaluate.presets import attack_label, attack_order
from robench.evaluate.records import lineage_text
from robench.leaderboard.analyses import LinkedAnalysis
from robench.leaderboard.entries import TIER_NAMES, Entry, Table
from robench.leaderboard.naming import dataset_label, label_rounds, threat_label
from robench.leaderboard.store import StoredRecord

DASH = "–"
KIND_MARK = {"measured": "●", "reported": "○"}


@dataclass(frozen=True)
class Transfer:
    """A transfer record ready to render, with the file name of its heat-map."""

    stored: StoredRecord
    plot: str

    @property
    def record(self) -> dict:
        return self.stored.record

    @property
    def title(self) -> str:
        r = self.record
        return f"{dataset_label(r['dataset']['name'])} · {threat_label(r['threat_model'])} · " \
               f"{attack_label(r['attack']['name'])} transfer"


def pct(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.2f}"


def millions(params: int | None) -> str:
    return DASH if not params else f"{params / 1e6:.2f}M"


def source_text(record: dict) -> str:
    """One line of provenance: the paper and table, or the measured setting and weights."""
    if record["kind"] == "reported":
        source = record["source"]
        cite = f"arXiv {source['arxiv']}" if source.get("arxiv") else source["paper"]
        return f"{cite}, {source['table']}"
    data = record["dataset"]
    models = [record["model"]] if "model" in record else record["sources"]  # a result, or a transfer matrix
    weights = ", ".join(m["weights_sha256"][:12] for m in models)
    found = [f" · found by {lineage_text(m['search'])}, arch_id {m['search']['arch_id']}" for m in models
             if m.get("search")]
    return f"{data['split']} n={data['n_examples']} seed {data['seed']} · weights {weights}{''.join(found)}"


def source_url(record: dict) -> str | None:
    arxiv = record.get("source", {}).get("arxiv")
    return f"https://arxiv.org/abs/{arxiv}" if arxiv else None


def stated_eps(record: dict) -> str | None:
    """The eps a record states when its table's label rounds it (0.031 in an 8/255 table), else None."""
    eps = record["threat_model"]["eps"]
    return (record["threat_model"].get("eps_text") or f"{eps:g}") if label_rounds(eps) else None


def flags_text(record: dict) -> str:
    return ", ".join(sorted({f["code"] for f in record.get("flags", [])}))


Analyses = dict[str, list[LinkedAnalysis]]  # weights sha256 -> the analyses of those weights


def _row(entry: Entry, analyses: Analyses) -> dict:
    record = entry.record
    linked = analyses.get(entry.model.get("weights_sha256", ""), []) if entry.kind == "measured" else []
    return {
        "rank": DASH if entry.rank is None else str(entry.rank),
        "model": entry.model["name"],
        "architecture": entry.model.get("architecture", ""),
        "kind": entry.kind,
        "kind_text": f"{KIND_MARK[entry.kind]} {entry.kind}",
        "training": entry.model.get("training", DASH),
        "family": entry.model.get("family", ""),
        "params": millions(entry.params),
        "params_value": entry.params or "",
        "clean": pct(entry.clean),
        "per_attack": {name: pct(value) for name, value in entry.per_attack.items()},
        "robust": pct(entry.robust),
        "robust_by": attack_label(entry.robust_by) if entry.robust is not None else "",
        "tier": TIER_NAMES[entry.tier],
        "hrs": pct(entry.hrs),
        "pp_hrs": pct(entry.pp_hrs),
        "source": source_text(record),
        "url": source_url(record),
        "eps": stated_eps(record),
        "flags": flags_text(record),
        "record": f"records/{entry.path}",
        "analyses": [(a.name, a.plot) for a in linked],
    }


def _context(tables: list[Table], transfers: list[Transfer], plots: dict[tuple[str, str], str],
             analyses: Analyses) -> dict:  # fmt: skip
    return {
        "datasets": list(dict.fromkeys((t.dataset, dataset_label(t.dataset)) for t in tables)),
        "threats": sorted(dict.fromkeys((t.threat, threat_label(t.threat_model)) for t in tables)),
        "tables": [
            {
                "title": f"{dataset_label(t.dataset)} · {threat_label(t.threat_model)}",
                "dataset": t.dataset,
                "dataset_label": dataset_label(t.dataset),
                "threat": t.threat,
                "threat_label": threat_label(t.threat_model),
                "attacks": [(a, attack_label(a)) for a in t.attacks],
                "rows": [_row(e, analyses) for e in t.entries],
                "plot": plots.get((t.dataset, t.threat)),
                "matched": [_match(searched, baseline) for searched, baseline in t.matched],
            }
            for t in tables
        ],
        "transfers": [_transfer_context(t) for t in transfers],
        "all_attacks": _all_attacks(tables),
        "marks": KIND_MARK,
        "tiers": TIER_NAMES,
        "dash": DASH,
    }


def _match(searched: Entry, baseline: Entry | None) -> dict:
    def interval(entry: Entry) -> str:
        low, high = entry.record["metrics"]["robust_ci95"]
        return f"{pct(entry.robust)} [{pct(low)}, {pct(high)}]"

    row = {"searched": searched.model["name"], "search": lineage_text(searched.model["search"]),
           "params": millions(searched.params), "robust": interval(searched), "training": searched.model.get(
               "training", DASH), "baseline": DASH, "baseline_params": DASH, "baseline_robust": DASH, "delta": DASH}
    if baseline is not None:
        row.update(baseline=baseline.model["name"], baseline_params=millions(baseline.params),
                   baseline_robust=interval(baseline), delta=f"{100 * (searched.robust - baseline.robust):+.2f}")
    return row


def _all_attacks(tables: list[Table]) -> list[tuple[str, str]]:
    names = sorted({a for t in tables for a in t.attacks}, key=attack_order)
    return [(a, attack_label(a)) for a in names]


def _transfer_context(transfer: Transfer) -> dict:
    r = transfer.record
    return {
        "title": transfer.title,
        "kind": r["kind"],
        "kind_text": f"{KIND_MARK[r['kind']]} {r['kind']}",
        "targets": [m["name"] for m in r["targets"]],
        "rows": [
            {"source": source["name"],
             "cells": [(pct(value), source["name"] == target["name"]) for value, target in zip(row, r["targets"])]}
            for source, row in zip(r["sources"], r["matrix"])
        ],
        "clean": [pct(r.get("clean_accuracy", {}).get(m["name"])) for m in r["targets"]],
        "source": source_text(r),
        "url": source_url(r),
        "eps": stated_eps(r),
        "note": r.get("source", {}).get("note", ""),
        "record": f"records/{transfer.stored.path}",
        "plot": transfer.plot,
    }


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("robench.leaderboard", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = _md_cell
    return env


def markdown(tables: list[Table], transfers: list[Transfer], plots: dict[tuple[str, str], str],
             analyses: Analyses | None = None) -> str:  # fmt: skip
    return _environment().get_template("README.md.j2").render(_context(tables, transfers, plots, analyses or {}))


def html(tables: list[Table], transfers: list[Transfer], plots: dict[tuple[str, str], str],
         analyses: Analyses | None = None) -> str:  # fmt: skip
    return _environment().get_template("index.html.j2").render(_context(tables, transfers, plots, analyses or {}))


def csv_text(tables: list[Table]) -> str:
    names = [a for a, _ in _all_attacks(tables)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["dataset", "threat_model", "rank", "model", "kind", "training", "family", "params",
                     "clean_pct", *[f"{a}_pct" for a in names], "robust_pct", "robust_by", "hrs", "pp_hrs",
                     "eps", "source", "record"])
    for table in tables:
        for entry in table.entries:
            record = entry.record
            writer.writerow([
                table.dataset, table.threat, entry.rank or "", entry.model["name"], entry.kind,
                entry.model.get("training", ""), entry.model.get("family", ""), entry.params or "",
                pct(entry.clean), *[_csv_pct(entry.per_attack.get(a)) for a in names], _csv_pct(entry.robust),
                entry.robust_by, _csv_pct(entry.hrs), _csv_pct(entry.pp_hrs),
                f"{record['threat_model']['eps']:.6g}", source_text(record), f"records/{entry.path}",
            ])
    return out.getvalue()


def _csv_pct(value: float | None) -> str:
    return "" if value is None else pct(value)

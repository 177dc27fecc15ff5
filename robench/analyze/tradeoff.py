"""The accuracy / robustness trade-off against model size (Devaguptapu et al., ICCVW 2021, arXiv 2007.08428,
Figures 1 and 4): clean accuracy, robust accuracy and HRS = 2CR / (C + R) of a leaderboard table's rows against
their parameter counts, measured and reported rows marked apart, the members of one family trained and
evaluated the same way joined by a line (the family that PP-HRS compares within).
"""

from __future__ import annotations

import math
import time
from itertools import groupby
from pathlib import Path

from robench.analyze.results import AnalysisResult, correlation, leaderboard_table, stamp, table_block, write_result
from robench.leaderboard.entries import family_key
from robench.leaderboard.plots import new_figure, plot_style

NAME = "tradeoff"
PANELS = (("clean", "clean accuracy (%)"), ("robust", "robust accuracy (%)"), ("hrs", "HRS (%)"))


def tradeoff(records: str | Path, dataset: str = "cifar10", threat: str | None = None,
             out: str | Path | None = None) -> AnalysisResult:  # fmt: skip
    """Clean accuracy, robust accuracy and HRS against parameters over one leaderboard table, with the rank
    correlation of each with the (log) parameter count per kind of row."""
    started = time.perf_counter()
    table = leaderboard_table(records, dataset, threat)
    points, skipped = [], []
    for entry in table.entries:
        if entry.robust is None or not entry.params:
            reason = "no robust accuracy" if entry.robust is None else "no parameter count"
            skipped.append({"name": entry.model["name"], "record": entry.path, "reason": reason})
            continue
        points.append({"name": entry.model["name"], "kind": entry.kind, "family": entry.model.get("family", ""),
                       "training": entry.model.get("training", ""), "group": "|".join(map(str, family_key(entry))),
                       "params": entry.params, "clean": entry.clean, "robust": entry.robust,
                       "robust_by": entry.robust_by, "hrs": entry.hrs, "pp_hrs": entry.pp_hrs,
                       "record": entry.path})  # fmt: skip
    kinds = sorted({p["kind"] for p in points})
    correlations = {kind: {metric: correlation([math.log(p["params"]) for p in points if p["kind"] == kind],
                                               [p[metric] for p in points if p["kind"] == kind])
                           for metric, _ in PANELS} for kind in kinds}  # fmt: skip
    best = max(points, key=lambda p: (p["hrs"], p["name"]), default=None)
    record = {"analysis": NAME, "name": f"{NAME}__{table.dataset}__{table.threat}",
              "inputs": {"records": str(records), "table": table_block(table)},
              "results": {"points": points, "skipped": skipped, "correlation_with_log_params": correlations},
              "summary": {"n_points": len(points), "best_hrs": best and {k: best[k] for k in ("name", "kind", "hrs")},
                          "correlation_with_log_params": correlations}, **stamp(started)}  # fmt: skip
    return write_result(out, record, draw_tradeoff)


def draw_tradeoff(record: dict):
    """Three panels against parameters (log scale): filled markers measured, hollow reported; colour by family."""
    points = record["results"]["points"]
    families = sorted({p["family"] or p["name"] for p in points})
    colours = {f: f"C{i % 10}" for i, f in enumerate(families)}
    table = record["inputs"]["table"]
    with plot_style():
        from matplotlib.lines import Line2D

        figure = new_figure(12.0, 4.2)
        for column, (metric, label) in enumerate(PANELS, start=1):
            ax = figure.add_subplot(1, len(PANELS), column)
            ordered = sorted(points, key=lambda p: (p["group"], p["params"], p["name"]))
            for _, group in groupby(ordered, key=lambda p: p["group"]):
                group = list(group)
                colour = colours[group[0]["family"] or group[0]["name"]]
                if len(group) > 1:
                    ax.plot([p["params"] / 1e6 for p in group], [100 * p[metric] for p in group], color=colour,
                            lw=0.6, alpha=0.6)
                for p in group:
                    measured = p["kind"] == "measured"
                    ax.scatter(p["params"] / 1e6, 100 * p[metric], s=22, color=colour, marker="o",
                               facecolors=colour if measured else "none", linewidths=1.0)
                    if measured:
                        ax.annotate(p["name"], (p["params"] / 1e6, 100 * p[metric]), xytext=(3, 2),
                                    textcoords="offset points", fontsize=5)
            ax.set_xscale("log")
            ax.set_xlabel("parameters (millions)")
            ax.set_ylabel(label)
            ax.grid(True, lw=0.3, alpha=0.5)
        handles = [Line2D([], [], ls="", marker="o", color=colours[f], label=f) for f in families]
        handles += [Line2D([], [], ls="", marker="o", color="grey", label="measured (filled)"),
                    Line2D([], [], ls="", marker="o", mfc="none", color="grey", label="reported (hollow)")]
        figure.legend(handles=handles, loc="outside right center", fontsize=6, frameon=False)
        figure.suptitle(f"{table['title']}: accuracy, robustness and HRS against model size "
                        "(lines join a family trained and evaluated the same way)")
    return figure

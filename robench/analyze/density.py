"""Architecture density against robustness (RobNet, Guo et al., CVPR 2020, section 4.2): the fraction of a
RobNet genotype's (edge, op) slots that are connected, D = |E_connected| / |E| (``RobNetGenotype.density``),
beside the robust accuracy measured for it, over the leaderboard's rows or a RobNet search's candidates.

A leaderboard row's genotype is its record's, else the published genotype of the zoo entry it names
(``robnet-free``); rows of other architectures have no RobNet density and are listed as skipped. Rows and the
candidates of each search are separate sources with their own correlation: their robust accuracies come from
different attacks, images and training.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from robench.analyze.results import AnalysisResult, correlation, leaderboard_table, stamp, table_block, write_result
from robench.errors import RobenchError
from robench.leaderboard.entries import Table
from robench.leaderboard.plots import new_figure, plot_style
from robench.search.robnet import CANDIDATES_FILE
from robench.search.run import RESULT_FILE, SearchResult
from robench.zoo.genotypes import PUBLISHED, Genotype, RobNetGenotype, genotype_from_str
from robench.zoo.registry import canonical_name, is_model

NAME = "density"


def record_genotype(model: dict) -> Genotype | None:
    """The genotype a leaderboard row's model block names: its own, else its zoo entry's published one."""
    if model.get("genotype"):
        return genotype_from_str(model["genotype"])
    return PUBLISHED.get(canonical_name(model["name"])) if is_model(model["name"]) else None


def table_points(table: Table) -> tuple[list[dict], list[dict]]:
    """(points, skipped rows) of one leaderboard table."""
    points, skipped = [], []
    for entry in table.entries:
        genotype = record_genotype(entry.model)
        if entry.robust is None:
            skipped.append({"name": entry.model["name"], "record": entry.path, "reason": "no robust accuracy"})
        elif not isinstance(genotype, RobNetGenotype):
            skipped.append({"name": entry.model["name"], "record": entry.path, "reason": "not a RobNet genotype"})
        else:
            points.append({"source": "leaderboard", "name": entry.model["name"], "kind": entry.kind,
                           "arch_id": genotype.arch_id, "density": genotype.density, "clean": entry.clean,
                           "robust": entry.robust, "record": entry.path})  # fmt: skip
    return points, skipped


def search_points(path: str | Path) -> list[dict]:
    """The scored candidates of a RobNet search (its directory or result.json); a search still running gives
    the candidates finished so far."""
    path = Path(path)
    directory = path.parent if path.is_file() else path
    if path.is_file() and path.name != RESULT_FILE or not directory.is_dir():
        raise RobenchError(f"{path} is not a search run (its directory, or the {RESULT_FILE} in it)",
                           hint="pass the --out directory of a `robench search robnet` run")
    if (directory / RESULT_FILE).is_file():
        result = SearchResult.read(directory / RESULT_FILE)
        if result.record.get("method") != "robnet":
            raise RobenchError(f"{directory} is a {result.record.get('method')} search, not a RobNet search",
                               hint="density is defined on RobNet genotypes: pass a `robench search robnet` run")
        candidates = result.record["details"]["candidates"]
    elif (directory / CANDIDATES_FILE).is_file():
        candidates = [json.loads(line) for line in (directory / CANDIDATES_FILE).read_text().splitlines() if line]
    else:
        raise RobenchError(f"no search result at {directory / RESULT_FILE}, and no candidate scored yet",
                           hint="pass the --out directory of a `robench search robnet` run")
    return [{"source": directory.name, "name": c["arch_id"], "kind": "candidate", "arch_id": c["arch_id"],
             "density": c["density"], "clean": c["clean_accuracy"], "robust": c["robust_accuracy"],
             "fsp": c.get("fsp")} for c in candidates]  # fmt: skip


def density(records: str | Path | None = None, searches: Sequence[str | Path] = (), dataset: str = "cifar10",
            threat: str | None = None, out: str | Path | None = None) -> AnalysisResult:  # fmt: skip
    """Density against robust accuracy over the leaderboard table of ``dataset`` / ``threat`` in ``records``
    and over the candidates of each search run in ``searches``, with each source's correlation."""
    if records is None and not searches:
        raise RobenchError("nothing to analyse", hint="give the leaderboard's records, a RobNet search run, or both")
    started = time.perf_counter()
    points, skipped, name = [], [], NAME
    if records is not None:
        table = leaderboard_table(records, dataset, threat)
        points, skipped = table_points(table)
        name = f"{NAME}__{table.dataset}__{table.threat}"
    for search in searches:
        points += search_points(search)
    if not points:
        raise RobenchError("no RobNet genotype with a robust accuracy among the rows and candidates given",
                           hint="the density of RobNet's definition needs RobNet genotypes")
    sources = list(dict.fromkeys(p["source"] for p in points))
    by_source = {s: correlation([p["density"] for p in points if p["source"] == s],
                                [p["robust"] for p in points if p["source"] == s]) for s in sources}
    record = {"analysis": NAME, "name": name,
              "inputs": {"records": str(records) if records is not None else None,
                         "table": None if records is None else table_block(table),
                         "searches": [str(s) for s in searches]},
              "results": {"points": points, "skipped": skipped, "correlation": by_source},
              "summary": {"n_points": len(points), "correlation": by_source}, **stamp(started)}  # fmt: skip
    return write_result(out, record, draw_density)


def draw_density(record: dict):
    """Robust accuracy against density, one colour per source; with the candidates' FSP distances, a second
    panel of FSP distance against the clean-adversarial gap (RobNet's filter criterion)."""
    points = record["results"]["points"]
    with_fsp = [p for p in points if p.get("fsp") is not None]
    markers = {"measured": "o", "reported": "s", "candidate": "."}
    with plot_style():
        figure = new_figure(10.0 if with_fsp else 6.5, 4.2)
        ax = figure.add_subplot(1, 2 if with_fsp else 1, 1)
        lines = []
        for k, (source, stats) in enumerate(record["results"]["correlation"].items()):
            mine = [p for p in points if p["source"] == source]
            lines.append(f"{source}: n = {stats['n']}, " + ("correlation undefined" if stats["pearson_r"] is None
                         else f"Pearson r = {stats['pearson_r']:.2f}, Spearman ρ = {stats['spearman_rho']:.2f}"))
            for kind in markers:
                chosen = [p for p in mine if p["kind"] == kind]
                if chosen:
                    ax.scatter([p["density"] for p in chosen], [100 * p["robust"] for p in chosen],
                               marker=markers[kind], color=f"C{k}", facecolors="none" if kind == "reported" else None,
                               label=f"{source}: {kind}")
            for p in mine:
                if p["kind"] != "candidate":
                    ax.annotate(p["name"], (p["density"], 100 * p["robust"]), xytext=(4, 3),
                                textcoords="offset points", fontsize=6)
        ax.set_xlabel("architecture density D = connected (edge, op) slots / all slots")
        ax.set_ylabel("robust accuracy (%)")
        ax.legend(fontsize=6, frameon=False, loc="best")
        ax.text(0.99, 0.01, "\n".join(lines), transform=ax.transAxes, ha="right", va="bottom", fontsize=6)
        ax.grid(True, lw=0.3, alpha=0.5)
        table = record["inputs"]["table"]
        ax.set_title("RobNet genotypes: density against robustness" + (f" ({table['title']})" if table else ""))
        if with_fsp:
            gap = figure.add_subplot(1, 2, 2)
            gap.scatter([p["fsp"] for p in with_fsp], [100 * (p["clean"] - p["robust"]) for p in with_fsp],
                        marker=".", color="C1")
            gap.set_xscale("log")
            gap.set_xlabel("FSP distance of the deep cells")
            gap.set_ylabel("clean - robust accuracy (points)")
            gap.grid(True, lw=0.3, alpha=0.5)
            gap.set_title("search candidates: FSP distance against the accuracy gap")
    return figure

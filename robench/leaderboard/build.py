"""Build the leaderboard from its records, and check that the committed rendering is fresh.

Output (relative to the output folder): ``README.md``, ``index.html``, ``leaderboard.csv`` and ``plots/*.png``.
Same records, same bytes: no timestamps, fixed number formats, a total order on rows and plots rendered
with fixed settings.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from robench.errors import RobenchError
from robench.evaluate.records import sha256_of
from robench.leaderboard.analyses import find_analyses
from robench.leaderboard.entries import make_tables, reported_robust
from robench.leaderboard.naming import slug, threat_key
from robench.leaderboard.plots import MIN_POINTS, read_digest, tradeoff_plot, tradeoff_points, transfer_heatmap
from robench.leaderboard.render import Analyses, Transfer, csv_text, html, markdown
from robench.leaderboard.store import StoredRecord, load_records

TEXT_FILES = ("README.md", "index.html", "leaderboard.csv")
PLOTS = "plots"


def consistency_problems(stored: list[StoredRecord]) -> list[str]:
    """Slips a schema cannot see: a reported record's robust number must follow the rule (AutoAttack if present,
    else the strongest attack); a transfer matrix must be sources x targets."""
    problems = []
    for s in stored:
        r = s.record
        if s.is_transfer:
            shape_ok = len(r["matrix"]) == len(r["sources"]) and all(len(row) == len(r["targets"]) for row in r["matrix"])
            if not shape_ok:
                problems.append(f"records/{s.path}: the matrix is not {len(r['sources'])} sources x "
                                f"{len(r['targets'])} targets")
        elif r["kind"] == "reported":
            expected, _ = reported_robust(r["metrics"].get("per_attack", {}))
            if r["metrics"].get("robust_accuracy") != expected:
                problems.append(f"records/{s.path}: robust_accuracy is {r['metrics'].get('robust_accuracy')} but "
                                f"its attacks give {expected} (AutoAttack if present, else the lowest accuracy)")
    return problems


def _load(records_dir: str | Path, out_dir: str | Path) -> tuple[list[StoredRecord], Analyses, list[str]]:
    # the zoo's table comes with the zoo, which imports torch: only building and checking need it, not `add`
    from robench.leaderboard.reported import reported_problems

    stored, problems = load_records(records_dir)
    analyses, unusable = find_analyses(out_dir)
    return stored, analyses, problems + reported_problems(records_dir) + consistency_problems(stored) + unusable


def render(stored: list[StoredRecord], out_dir: str | Path, analyses: Analyses | None = None) -> list[str]:
    """Write every output for ``stored`` into ``out_dir``, linking ``analyses`` (found in the leaderboard folder);
    return the written paths (relative, POSIX)."""
    out = Path(out_dir)
    tables = make_tables(stored)
    plots: dict[tuple[str, str], str] = {}
    for table in tables:
        if len(tradeoff_points(table)) >= MIN_POINTS:
            name = f"{PLOTS}/{slug(table.dataset)}__{table.threat}.png"
            tradeoff_plot(table, out / name)
            plots[(table.dataset, table.threat)] = name
    transfers = []
    for s in (s for s in stored if s.is_transfer):
        r = s.record
        name = (f"{PLOTS}/transfer__{slug(r['dataset']['name'])}__{threat_key(r['threat_model'])}__"
                f"{slug(r['attack']['name'])}__{sha256_of(s.path)[:8]}.png")
        transfer_heatmap(r, out / name)
        transfers.append(Transfer(s, name))
    texts = {
        "README.md": markdown(tables, transfers, plots, analyses),
        "index.html": html(tables, transfers, plots, analyses),
        "leaderboard.csv": csv_text(tables),
    }
    for name, text in texts.items():
        (out / name).write_bytes(text.encode("utf-8"))
    return [*TEXT_FILES, *sorted(plots.values()), *sorted(t.plot for t in transfers)]


def build(records_dir: str | Path, out_dir: str | Path) -> list[str]:
    """Write the seed papers' records into ``records_dir`` from the zoo's table, then render the leaderboard of
    ``records_dir`` into ``out_dir``, removing plots no record produces any more."""
    from robench.leaderboard.reported import write_reported

    write_reported(records_dir)
    stored, analyses, problems = _load(records_dir, out_dir)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RobenchError(f"{problems[0]}{more}", hint="fix the records; `robench leaderboard check` lists every problem")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = render(stored, out, analyses)
    for stale in _plot_files(out) - set(written):
        (out / stale).unlink()
    return written


def _plot_files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in (out / PLOTS).glob("*.png")} if (out / PLOTS).is_dir() else set()


def check(records_dir: str | Path, out_dir: str | Path) -> list[str]:
    """Every problem that makes the committed leaderboard in ``out_dir`` untrustworthy: records that do not
    validate or are misfiled, reported records that are not the zoo's table, and rendered files that differ from
    a fresh render of the records. Text files are compared byte for byte; plots by the digest of what they show."""
    stored, analyses, problems = _load(records_dir, out_dir)
    if problems:
        return problems
    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="robench-leaderboard-") as tmp:
        fresh = Path(tmp)
        expected = render(stored, fresh, analyses)
        for name in expected:
            committed = out / name
            if not committed.is_file():
                problems.append(f"{committed} is missing")
            elif name.endswith(".png"):
                if read_digest(committed) != read_digest(fresh / name):
                    problems.append(f"{committed} is stale: it does not plot the current records")
            elif committed.read_bytes() != (fresh / name).read_bytes():
                problems.append(f"{committed} is stale: it differs from a fresh render of the records")
    for name in sorted(_plot_files(out) - set(expected)):
        problems.append(f"{out / name} is stale: no record produces it any more")
    return problems

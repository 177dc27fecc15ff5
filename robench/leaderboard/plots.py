"""Plots: clean vs robust accuracy with bubble area proportional to parameters (as AdvRush Figure 1), and a
heat-map per transfer matrix.

Rendering is byte-stable: Agg canvas without pyplot, matplotlib's default style (a user's matplotlibrc is
ignored), the bundled DejaVu Sans, fixed size and dpi, and no "Software" PNG chunk. Each PNG carries the
sha256 of what it plots in a ``robench:digest`` text chunk, so ``check`` can tell a stale plot from one that
only differs because another matplotlib or zlib encoded it.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path

from robench.evaluate.records import sha256_of
from robench.leaderboard.entries import TIER_NAMES, Table
from robench.evaluate.presets import attack_label
from robench.leaderboard.naming import dataset_label, threat_label

DIGEST_KEY = "robench:digest"
PLOT_VERSION = 1  # bump when the drawing code changes, so committed plots count as stale
MIN_POINTS = 3  # fewer points than this make no trade-off plot
_DPI = 120
_TIER_MARKERS = ("o", "s", "^")
_STYLE = {"font.family": "DejaVu Sans", "font.size": 8}


@contextmanager
def plot_style():
    """matplotlib's defaults and the bundled font, whatever the user's matplotlibrc says."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_STYLE)
        yield


def new_figure(width: float, height: float):
    """A figure on an Agg canvas (no pyplot: nothing global, no display needed), at the fixed dpi."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure, digest: str) -> bytes:
    """The figure as a byte-stable PNG carrying ``digest`` (the sha256 of what it plots)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None, DIGEST_KEY: digest})
    return buffer.getvalue()


def _save(figure, path: Path, digest: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(figure, digest))


def read_digest(path: str | Path) -> str | None:
    """The digest a robench plot was rendered from, or None for a PNG without one."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.text.get(DIGEST_KEY)
    except OSError:
        return None


def tradeoff_points(table: Table) -> list[dict]:
    return [
        {"model": e.model["name"], "clean": e.clean, "robust": e.robust, "params": e.params, "kind": e.kind,
         "training": e.model.get("training", "unknown training"), "tier": e.tier}
        for e in table.entries
        if e.robust is not None
    ]


def tradeoff_plot(table: Table, path: str | Path) -> str:
    """Clean vs robust accuracy of a table's rows; colour = training, marker = evaluation strength, edge = kind.
    Returns the plot's digest."""
    points = tradeoff_points(table)
    title = f"{dataset_label(table.dataset)} · {threat_label(table.threat_model)}"
    digest = sha256_of({"version": PLOT_VERSION, "kind": "tradeoff", "title": title, "points": points})
    trainings = sorted({p["training"] for p in points})
    with plot_style():
        from matplotlib.lines import Line2D

        colours = {t: f"C{i % 10}" for i, t in enumerate(trainings)}
        figure = new_figure(7.5, 5.0)
        ax = figure.add_subplot()
        for p in points:
            alpha = 0.9 if p["kind"] == "measured" else 0.45
            xy = (100 * p["clean"], 100 * p["robust"])
            if p["params"] is None:
                ax.scatter(*xy, s=30, marker="x", color=colours[p["training"]], alpha=alpha)
            else:
                ax.scatter(*xy, s=25 * p["params"] / 1e6, marker=_TIER_MARKERS[p["tier"]], color=colours[p["training"]],
                           alpha=alpha, edgecolors="black" if p["kind"] == "measured" else "none", linewidths=1.2)
            ax.annotate(p["model"], xy, xytext=(4, 3),
                        textcoords="offset points", fontsize=6)
        handles = [Line2D([], [], ls="", marker="o", color=colours[t], label=t) for t in trainings]
        tiers = sorted({p["tier"] for p in points})
        handles += [Line2D([], [], ls="", marker=_TIER_MARKERS[t], color="grey", label=f"robust from {TIER_NAMES[t]}")
                    for t in tiers]
        handles += [Line2D([], [], ls="", marker="o", mfc="grey", mec="black", label="measured (black edge)"),
                    Line2D([], [], ls="", marker="o", mfc="grey", alpha=0.45, mec="none", label="reported")]
        if any(p["params"] is None for p in points):
            handles.append(Line2D([], [], ls="", marker="x", color="grey", label="parameters unknown"))
        ax.legend(handles=handles, fontsize=6, loc="best", frameon=False)
        ax.set_xlabel("clean accuracy (%)")
        ax.set_ylabel("robust accuracy (%)")
        ax.set_title(f"{title}: clean vs robust accuracy (bubble area ∝ parameters)")
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.margins(0.08)
        _save(figure, Path(path), digest)
    return digest


def transfer_heatmap(record: dict, path: str | Path) -> str:
    """Heat-map of a transfer matrix (rows: source, columns: target), values annotated. Returns the digest."""
    sources = [m["name"] for m in record["sources"]]
    targets = [m["name"] for m in record["targets"]]
    matrix = [[100 * v for v in row] for row in record["matrix"]]
    title = (f"{dataset_label(record['dataset']['name'])} · {threat_label(record['threat_model'])} · "
             f"{attack_label(record['attack']['name'])} transfer ({record['kind']})")
    digest = sha256_of({"version": PLOT_VERSION, "kind": "transfer", "title": title, "sources": sources,
                        "targets": targets, "matrix": matrix})
    with plot_style():
        figure = new_figure(1.6 + 0.75 * len(targets), 1.4 + 0.5 * len(sources))
        ax = figure.add_subplot()
        image = ax.imshow(matrix, cmap="viridis", aspect="auto")
        high = (min(map(min, matrix)) + max(map(max, matrix))) / 2
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if value > high else "white", fontweight="bold" if i == j else "normal")
        ax.set_xticks(range(len(targets)), targets, rotation=45, ha="right")
        ax.set_yticks(range(len(sources)), sources)
        ax.set_xlabel("target model")
        ax.set_ylabel("source model")
        ax.set_title(title, fontsize=8)
        figure.colorbar(image, ax=ax, label="robust accuracy (%)")
        _save(figure, Path(path), digest)
    return digest

"""The reproduction check: an evaluation of an authors' released weights, held against the numbers their paper
reports for those weights.

Only a reported metric measured as robench measures it is compared (``Reported.same_protocol``: clean accuracy,
and an attack whose steps, step size, start and eps on [0, 1] inputs are robench's preset of the same name),
on the same data set and threat model. The paper's number is then expected inside the 95% Wilson interval of
robench's number on the evaluated images; outside it, the record is flagged.
"""

from __future__ import annotations

import math

from torch import nn

from robench.evaluate.metrics import wilson_interval
from robench.evaluate.sanity import Flag
from robench.zoo.releases import reproduced_rows

# The threat model every compared row was measured under: l_inf 8/255 on [0, 1] inputs.
PAPER_EPS = 8 / 255


def compare_with_papers(model: nn.Module, record: dict, chain: bool) -> tuple[list[dict], list[Flag]]:
    """The comparisons of ``record`` (just measured on ``model``) with the paper rows its weights reproduce,
    and a ``differs-from-paper`` flag for those whose paper number lies outside robench's interval."""
    checkpoint = getattr(model, "robench_checkpoint", None)
    identity = checkpoint.config.get("robench", {}).get("metadata", {}).get("release") if checkpoint else None
    threat = record["threat_model"]
    if identity is None or threat["norm"] != "Linf" or not math.isclose(threat["eps"], PAPER_EPS, rel_tol=1e-3):
        return [], []
    measured = _measured(record, chain)
    n = record["dataset"]["n_examples"]
    rows = []
    for reported, release in reproduced_rows(record["model"]["architecture"], record["dataset"]["name"], identity):
        for metric in reported.same_protocol:
            if metric not in measured:
                continue
            count = round(measured[metric] * n)
            low, high = wilson_interval(count, n)
            paper = round(reported.metrics[metric] / 100, 6)  # the table's digits, as a fraction
            rows.append({"source": reported.source, "row": reported.row, "weights": release, "metric": metric,
                         "paper": paper, "measured": count / n, "ci95": [low, high],
                         "within": low <= paper <= high})  # fmt: skip
    outside = [r for r in rows if not r["within"]]
    flags = [Flag("differs-from-paper", "; ".join(
        f"{r['metric']} {100 * r['measured']:.2f}% (95% CI {100 * r['ci95'][0]:.2f}-{100 * r['ci95'][1]:.2f}) "
        f"against {100 * r['paper']:.2f}% in {r['source']} ({r['row']})" for r in outside)
        + ": check the data, the attack settings and the weights' conversion")] if outside else []
    return rows, flags


def _measured(record: dict, chain: bool) -> dict[str, float]:
    """Each comparable accuracy of the record: clean, and each attack's own accuracy (in a chained suite only
    the first attack's is its own; the later ones are cumulative)."""
    metrics = record["metrics"]
    attacks = [a["name"] for a in record.get("attacks", [])]
    own = attacks[:1] if chain else attacks
    return {"clean": metrics["clean_accuracy"], **{a: metrics["per_attack"][a] for a in own}}

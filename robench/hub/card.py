"""Model cards: README.md with Hub metadata whose numbers come only from measured result records.

The YAML front matter (library_name, license, datasets, tags and a ``model-index``) is built with
huggingface_hub's ``ModelCardData``/``EvalResult``; every metric value is copied from a ``robench.result/1``
record whose ``model.weights_sha256`` is this checkpoint's, so a card can never show numbers measured on
other weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from robench.data import DATASETS
from robench.errors import RobenchError
from robench.evaluate.records import SCHEMA_ID as RESULT_SCHEMA
from robench.evaluate.records import lineage_text, validate_record
from robench.hub.citations import paper_for
from robench.rundir import atomic_write
from robench.zoo.checkpoint import CARD_NAME, DEFAULT_LICENSE, WEIGHTS_NAME, read_config, verify_files

TASK_TYPE = "image-classification"
BASE_TAGS = ("image-classification", "adversarial-robustness", "robench")


@dataclass(frozen=True)
class ResultRow:
    """The numbers of one result record that a card shows."""

    dataset: str
    split: str
    n_examples: int | None
    threat: str
    attacks: tuple[str, ...]
    clean: float
    robust: float | None
    per_attack: dict[str, float]
    threat_model: dict[str, Any]
    flags: tuple[str, ...]


def render_card(checkpoint_dir: str | Path, results: list[dict], *, repo_id: str | None = None) -> str:
    """The README.md text for a checkpoint and the result records measured on its weights."""
    directory = Path(checkpoint_dir).expanduser()
    config = read_config(directory)
    files = verify_files(directory, config)
    sha = config["robench"]["weights_sha256"]
    rows = [_row(record, f"result record {i + 1}", sha) for i, record in enumerate(results)]
    block = config["robench"]
    name = repo_id.split("/")[-1] if repo_id else f"robench-{config['architecture']}-{block['dataset']}"
    datasets = sorted({_hf_dataset(block["dataset"])[0], *(_hf_dataset(row.dataset)[0] for row in rows)})
    evals = [result for row in rows for result in _eval_results(row)]
    card_data = ModelCardData(
        library_name="robench",
        license=config["pretrained_cfg"].get("license") or DEFAULT_LICENSE,
        datasets=datasets,
        tags=[*BASE_TAGS, *([block["family"]] if block.get("family") else [])],
        pipeline_tag=TASK_TYPE,
        # the model-index needs a name; without results ModelCardData would leave a stray model_name key
        model_name=name if evals else None,
        eval_results=evals or None,
    )
    body = "\n\n".join(
        (
            f"# {name}",
            _summary(config),
            _usage(repo_id, directory),
            _architecture(config, files),
            _recipe(block),
            _results(rows),
            _citation(block),
        )
    )
    text = f"---\n{card_data.to_yaml()}\n---\n\n{body}\n"
    validate_card(text)
    return text


def write_card(checkpoint_dir: str | Path, results: list[dict], *, repo_id: str | None = None) -> Path:
    """Render the card and write it atomically as the checkpoint's README.md."""
    directory = Path(checkpoint_dir).expanduser()
    text = render_card(directory, results, repo_id=repo_id)
    return atomic_write(directory / CARD_NAME, text)


def validate_card(text: str) -> dict[str, Any]:
    """Structural check of a card's metadata (what the Hub requires of a model-index); returns the metadata."""
    try:
        card = ModelCard(text, ignore_metadata_errors=False)
    except ValueError as err:
        raise RobenchError(
            f"model card metadata cannot be parsed: {err}", hint="regenerate it with robench.hub.card"
        ) from None
    data = card.data.to_dict()
    problems = []
    for field in ("library_name", "license"):
        if not isinstance(data.get(field), str):
            problems.append(f"{field} must be a string")
    for field in ("datasets", "tags"):
        if not (isinstance(data.get(field), list) and all(isinstance(v, str) for v in data[field])):
            problems.append(f"{field} must be a list of strings")
    problems += model_index_problems(data.get("model-index"))
    if problems:
        raise RobenchError(
            f"invalid model card metadata: {'; '.join(problems)}", hint="regenerate it with robench.hub.card"
        )
    return data


def model_index_problems(model_index: Any) -> list[str]:
    """What is wrong with a ``model-index`` (empty list when it is valid or absent)."""
    if model_index is None:
        return []
    if not isinstance(model_index, list) or not model_index:
        return ["model-index must be a non-empty list"]
    problems = []
    for i, entry in enumerate(model_index):
        where = f"model-index[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append(f"{where}.name must be a string")
            continue
        results = entry.get("results")
        if not isinstance(results, list) or not results:
            problems.append(f"{where}.results must be a non-empty list")
            continue
        for j, result in enumerate(results):
            here = f"{where}.results[{j}]"
            task, dataset, metrics = (
                result.get(k) if isinstance(result, dict) else None for k in ("task", "dataset", "metrics")
            )
            if not (isinstance(task, dict) and isinstance(task.get("type"), str)):
                problems.append(f"{here}.task.type must be a string")
            if not (isinstance(dataset, dict) and all(isinstance(dataset.get(k), str) for k in ("type", "name"))):
                problems.append(f"{here}.dataset needs string type and name")
            if not isinstance(metrics, list) or not metrics:
                problems.append(f"{here}.metrics must be a non-empty list")
                continue
            for k, metric in enumerate(metrics):
                ok = (
                    isinstance(metric, dict)
                    and isinstance(metric.get("type"), str)
                    and isinstance(metric.get("name", ""), str)
                    and isinstance(metric.get("value"), (int, float, str))
                    and not isinstance(metric.get("value"), bool)
                )
                if not ok:
                    problems.append(f"{here}.metrics[{k}] needs a string type and name and a number or string value")
    return problems


def _row(record: dict, where: str, weights_sha256: str) -> ResultRow:
    if not isinstance(record, dict) or record.get("schema") != RESULT_SCHEMA:
        raise RobenchError(
            f"{where} is not a {RESULT_SCHEMA} record", hint="pass the JSON written by `robench eval --out`"
        )
    if record.get("kind") != "measured":
        raise RobenchError(
            f"{where} is a {record.get('kind')!r} record; a card shows only numbers measured on its own weights",
            hint="evaluate this checkpoint with `robench eval` and pass that record",
        )
    validate_record(record, where)
    measured_sha = record["model"]["weights_sha256"]
    if measured_sha != weights_sha256:
        raise RobenchError(
            f"{where} was measured on weights sha256 {measured_sha}, but this checkpoint's are {weights_sha256}",
            hint="evaluate this checkpoint (robench eval local-dir:DIR) and pass the new record",
        )
    metrics, dataset, threat_model = record["metrics"], record["dataset"], record["threat_model"]
    clean, robust = metrics["clean_accuracy"], metrics.get("robust_accuracy")
    per_attack = metrics.get("per_attack") or {}
    eps_text = threat_model.get("eps_text") or f"{threat_model.get('eps')}"
    threat = "clean" if threat_model["norm"] == "none" else f"{threat_model['norm']}, eps={eps_text}"
    return ResultRow(
        dataset=dataset["name"],
        split=dataset.get("split") or "test",
        n_examples=dataset.get("n_examples"),
        threat=threat,
        attacks=tuple(attack["name"] for attack in record.get("attacks") or []),
        clean=clean,
        robust=robust,
        per_attack=dict(per_attack),
        threat_model=threat_model,
        flags=tuple(f"{flag['code']}: {flag['message']}" for flag in record.get("flags") or []),
    )


def _hf_dataset(name: str) -> tuple[str, str]:
    """The data set's Hub id and label (a name robench does not know is both)."""
    spec = DATASETS.get(name)
    return (spec.hub_dataset, spec.label) if spec else (name, name)


def _eval_results(row: ResultRow) -> list[EvalResult]:
    hf_id, pretty = _hf_dataset(row.dataset)
    n = f", n={row.n_examples}" if row.n_examples else ""
    args = {k: row.threat_model[k] for k in ("norm", "eps", "eps_text") if k in row.threat_model}
    common = dict(
        task_type=TASK_TYPE,
        task_name="Adversarially robust image classification",
        dataset_type=hf_id,
        dataset_name=pretty,
        dataset_split=row.split,
    )
    results = [EvalResult(metric_type="accuracy", metric_name=f"Clean accuracy{n}", metric_value=row.clean, **common)]
    if row.robust is not None:
        suite = "+".join(row.attacks) or "attack suite"
        results.append(
            EvalResult(
                metric_type="robust_accuracy",
                metric_name=f"Robust accuracy ({suite}; {row.threat}{n})",
                metric_value=row.robust,
                metric_args=args,
                **common,
            )
        )
    for attack, value in row.per_attack.items():
        results.append(
            EvalResult(
                metric_type="robust_accuracy",
                metric_name=f"{attack} accuracy ({row.threat}{n})",
                metric_value=value,
                metric_args=args,
                **common,
            )
        )
    return results


def _summary(config: dict) -> str:
    block = config["robench"]
    _, pretty = _hf_dataset(block["dataset"])
    family = f" ({block['family']} family)" if block.get("family") else ""
    threat = block.get("threat_model")
    trained = f", trained for the {_threat_text(threat)} threat model" if threat else ""
    return (
        f"Weights of the `{config['architecture']}` architecture{family} for {pretty}{trained}, in the robench "
        "checkpoint format: safetensors weights verified by sha256, golden logits, and normalisation inside the "
        "model (inputs are images in [0, 1])."
    )


def _threat_text(threat: Any) -> str:
    if isinstance(threat, dict):
        return f"{threat.get('norm')} eps={threat.get('eps_text') or threat.get('eps')}"
    return str(threat)


def _usage(repo_id: str | None, directory: Path) -> str:
    source = f"hf-hub:{repo_id}" if repo_id else f"local-dir:{directory}"
    return (
        "## Usage\n\n"
        "```python\n"
        "from robench import zoo\n\n"
        f'model = zoo.load("{source}")  # eval mode, weights verified, inputs in [0, 1]\n'
        "```\n\n"
        f"```bash\nrobench eval {source} --attack autoattack\n```"
    )


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def _table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| | |", "|---|---|", *(f"| {key} | {_cell(value)} |" for key, value in rows)])


def _architecture(config: dict, files: dict[str, str]) -> str:
    block, pretrained = config["robench"], config["pretrained_cfg"]
    rows = [
        ("architecture", f"`{config['architecture']}`"),
        ("family", block.get("family") or "-"),
        ("arch_id", f"`{block['arch_id']}`" if block.get("arch_id") else "-"),
        ("genotype", f"`{block['genotype']}`" if block.get("genotype") else "-"),
        ("found by", lineage_text(block["metadata"]["search"]) if block.get("metadata", {}).get("search") else "-"),
        ("model_args", f"`{json.dumps(config.get('model_args') or {}, sort_keys=True)}`"),
        ("classes", config["num_classes"]),
        ("input size", " x ".join(str(v) for v in pretrained["input_size"])),
        ("normalisation (in the model)", _normalisation(pretrained.get("mean"), pretrained.get("std"))),
        ("weights sha256 (state dict)", f"`{block['weights_sha256']}`"),
        (f"{WEIGHTS_NAME} sha256", f"`{files[WEIGHTS_NAME]}`"),
        ("written by", f"robench {block.get('version')}"),
    ]
    return "## Architecture\n\n" + _table(rows)


def _normalisation(mean: list[float] | None, std: list[float] | None) -> str:
    if mean is None and std is None:
        return "none: inputs in [0, 1] are used as they are"
    return f"mean {mean}, std {std}"


def _recipe(block: dict) -> str:
    recipe = block.get("recipe")
    if not recipe:
        return "## Training recipe\n\nNot recorded in config.json."
    rows = [
        (key, f"`{json.dumps(value)}`" if isinstance(value, (dict, list)) else value) for key, value in recipe.items()
    ]
    return "## Training recipe\n\n" + _table(rows)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _results(rows: list[ResultRow]) -> str:
    if not rows:
        return (
            "## Results\n\nNo evaluation recorded yet. Measure it with `robench eval`, then refresh this card with "
            "`robench hub push DIR --repo ORG/NAME --results RESULT.json`."
        )
    attacks = sorted({attack for row in rows for attack in row.per_attack})
    header = [
        "dataset",
        "split",
        "n",
        "threat model",
        "attacks",
        "clean (%)",
        "robust (%)",
        *(f"{a} (%)" for a in attacks),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            _hf_dataset(row.dataset)[1],
            row.split,
            row.n_examples or "-",
            row.threat,
            "+".join(row.attacks) or "-",
            _pct(row.clean),
            _pct(row.robust),
            *(_pct(row.per_attack.get(a)) for a in attacks),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    text = (
        "## Results\n\nMeasured by `robench eval` on these weights "
        "(accuracies in %; the model-index holds the exact fractions).\n\n"
    )
    text += "\n".join(lines)
    flags = [flag for row in rows for flag in row.flags]
    if flags:
        text += "\n\nEvaluation flags:\n\n" + "\n".join(f"- {flag}" for flag in flags)
    return text


def _citation(block: dict) -> str:
    paper = paper_for(block.get("family"), block.get("paper"))
    if paper is None:
        named = f" ({block['paper']})" if block.get("paper") else ""
        return f"## Citation\n\nCite the paper that introduced this architecture{named}."
    return f"## Citation\n\n```bibtex\n{paper.bibtex()}\n```"

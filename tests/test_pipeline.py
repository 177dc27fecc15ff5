"""``robench reproduce``: search -> train -> evaluate -> Hub -> leaderboard on real CIFAR-10 at the tiny scale,
linked end to end, resumable after kill -9, and refusing a changed setting."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hub_server import hub  # noqa: F401  (fixture)

from robench.cli import cli
from robench.errors import RobenchError
from robench.hub import pull, validate_card
from robench.leaderboard import build, filing_path, load_records, make_tables
from robench.pipeline import SCALES, Plan, paper_plan, reproduce
from robench.pipeline.scales import PAPER_RECIPES
from robench.rundir import LOCK_NAME
from robench.zoo.checkpoint import CHECKPOINT_FILES, read_config

REPO_ID = "robench-test/robench-advrush-searched-tiny-cifar10"


def _comparable(directory: Path) -> dict:
    """What a pipeline produced, without the clocks: the genotype, the weights, the per-example outcomes."""
    record = json.loads((directory / "evaluate" / "result.json").read_text())
    return {
        "genotype": json.loads((directory / "search" / "result.json").read_text())["genotype"],
        "weights": read_config(directory / "train" / "checkpoint")["robench"]["weights_sha256"],
        "metrics": record["metrics"],
        "model": {k: v for k, v in record["model"].items() if k not in ("source", "search")},
        "search": {k: v for k, v in record["model"]["search"].items() if k != "search_seconds"},
        "examples": (directory / "evaluate" / "examples.jsonl").read_text(),
    }


@pytest.fixture(scope="module")
def finished(data_root, tmp_path_factory):
    """An uninterrupted tiny AdvRush pipeline (not published, filed in a fresh records folder)."""
    root = tmp_path_factory.mktemp("pipeline")
    records = root / "records"
    records.mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocesses below run: float sums depend on the thread count
    try:
        result = reproduce(paper_plan("advrush", "tiny"), root / "run", records=records, data_dir=data_root,
                           device="cpu", quiet=True)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return result, records


def test_every_artefact_links_to_the_one_before(finished):
    result, records = finished
    record = result.evaluation.record
    search = result.search.record
    config = read_config(result.training.checkpoint)
    # record -> checkpoint: the weights evaluated are the weights trained
    assert record["model"]["weights_sha256"] == config["robench"]["weights_sha256"]
    # checkpoint -> genotype: the architecture trained is the one the search found
    assert config["model_args"]["genotype"] == search["genotype"] == record["model"]["genotype"]
    assert config["robench"]["arch_id"] == search["arch_id"] == record["model"]["arch_id"]
    # genotype -> search run: the request's hash, its seed and budget
    lineage = record["model"]["search"]
    request = json.loads((result.directory / "search" / "search.json").read_text())
    assert lineage["request_sha256"] == hashlib.sha256(
        json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert lineage == config["robench"]["metadata"]["search"]
    assert (lineage["method"], lineage["seed"], lineage["scale"]) == ("advrush", request["config"]["seed"], "tiny")
    assert lineage["budget"] == {"epochs": 2, "C": 4, "layers": 3, "n_train": 64}
    # the record is filed in the leaderboard
    stored, problems = load_records(records)
    assert not problems
    assert [s.record["model"]["name"] for s in stored] == ["advrush_searched_tiny"]
    assert stored[0].record["metrics"] == record["metrics"]


def test_a_finished_pipeline_is_read_back_not_redone(finished, data_root):
    result, records = finished
    before = _mtimes(result.directory)
    again = reproduce(paper_plan("advrush", "tiny"), result.directory, records=records, data_dir=data_root,
                      device="cpu", quiet=True)  # fmt: skip
    assert again.evaluation.record == result.evaluation.record
    assert _mtimes(result.directory) == before


def _mtimes(directory: Path) -> dict:
    """Every file a run wrote and when (the run locks, rewritten by each holder, aside)."""
    return {p: p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file() and p.name != LOCK_NAME}


def test_a_changed_setting_is_refused_and_a_repo_may_be_added(finished, data_root, hub):  # noqa: F811
    result, records = finished
    changed = dataclasses.replace(paper_plan("advrush", "tiny"), train=dataclasses.replace(
        paper_plan("advrush", "tiny").train, epochs=2))
    with pytest.raises(RobenchError, match=r"train\.epochs: 1 -> 2"):
        reproduce(changed, result.directory, records=records, data_dir=data_root, device="cpu", quiet=True)
    # publishing is a destination, not a setting: adding it to a finished run publishes what was measured
    published = reproduce(dataclasses.replace(paper_plan("advrush", "tiny"), repo=REPO_ID), result.directory,
                          records=records, data_dir=data_root, device="cpu", quiet=True).published  # fmt: skip
    assert published["repo"] == REPO_ID
    pulled = pull(REPO_ID)
    for name in CHECKPOINT_FILES:
        if (result.training.checkpoint / name).is_file():
            assert (pulled / name).read_bytes() == (result.training.checkpoint / name).read_bytes(), name
    card = (pulled / "README.md").read_text()
    metrics = validate_card(card)["model-index"][0]["results"][0]["metrics"]
    assert metrics[0]["value"] == result.evaluation.clean_accuracy  # the card carries the measured record
    assert "advrush search (seed 0, tiny scale; epochs=2, C=4, layers=3, n_train=64)" in card


def _command(out: Path, records: Path, data_root: Path) -> list[str]:
    return [sys.executable, "-m", "robench", "-q", "reproduce", "advrush", "--scale", "tiny", "--repo", REPO_ID,
            "--records", str(records), "--out", str(out), "--data-dir", str(data_root), "--device", "cpu"]


def test_kill_9_in_the_search_then_resume_gives_the_uninterrupted_records(finished, data_root, tmp_path,
                                                                         hub):  # noqa: F811
    result, _ = finished
    out, records = tmp_path / "killed", tmp_path / "records"
    records.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_command(out, records, data_root), env=env)
    state = out / "search" / "state.pt"
    deadline = time.monotonic() + 300
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state.exists() and not (out / "search" / "result.json").exists(), "the search ended before the kill"
    done = subprocess.run(_command(out, records, data_root), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _comparable(out) == _comparable(result.directory)
    assert json.loads((out / "published.json").read_text())["repo"] == REPO_ID
    assert load_records(records)[0][0].record["metrics"] == result.evaluation.record["metrics"]


@pytest.mark.slow  # about a minute each; advrush runs end to end above in every test run
@pytest.mark.parametrize("method", ["arnas", "robnet", "random-ensemble"])
def test_every_search_runs_end_to_end_at_the_tiny_scale(method, data_root, tmp_path):
    result = reproduce(paper_plan(method, "tiny"), tmp_path / "run", data_dir=data_root, device="cpu", quiet=True)
    record = result.evaluation.record
    assert record["model"]["search"]["method"] == method
    assert record["model"]["arch_id"] == result.search.record["arch_id"]
    assert set(record["metrics"]["per_attack"]) == {"pgd20", "autoattack"}


@pytest.mark.parametrize("method", sorted(PAPER_RECIPES))
def test_a_scale_changes_budgets_never_the_algorithm(method):
    plans = {scale: paper_plan(method, scale) for scale in SCALES}
    for plan in plans.values():
        assert (plan.search.method, plan.search.preset, plan.train.recipe) == (method, *PAPER_RECIPES[method])
        assert plan.evaluate.attacks == ("pgd20", "autoattack")
        assert plan.evaluate.seed == 0
        # the searches' algorithm switches keep their paper values
        config = plan.search_config()
        paper = plans["paper"].search_config()
        budget = set(plan.search_class().budget_fields) | {"batch_size", "warmup_epochs", "n_val", "steps"}
        assert {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in budget} == \
               {f.name: getattr(paper, f.name) for f in dataclasses.fields(paper) if f.name not in budget}
        recipe, paper_recipe = plan.recipe(), plans["paper"].recipe()
        assert (recipe.adversary, recipe.eps, recipe.steps, recipe.schedule) == \
               (paper_recipe.adversary, paper_recipe.eps, paper_recipe.steps, paper_recipe.schedule)
    assert plans["paper"].evaluate.n_examples is None  # the whole test split
    assert plans["small"].evaluate.n_examples == 500 and plans["small"].train.n_train is None


def test_a_pipeline_file_is_read_and_checked_before_anything_runs(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("name: mine\nsearch: {method: random-ensemble, settings: {cells: [2, 1]}}\n"
                    "train: {recipe: fast-at, epochs: 1, model_args: {C: 4}, n_train: 64}\n"
                    "evaluate: {attacks: [fgsm], n_examples: 8}\n")
    plan = Plan.read(path).resolve()
    assert plan.search_config().cells == (2, 1) and plan.recipe().epochs == 1
    path.write_text("name: mine\nsearch: {method: advrush, settings: {epoch: 3}}\ntrain: {recipe: fast-at}\n")
    with pytest.raises(RobenchError, match="unknown advrush search field 'epoch'"):
        Plan.read(path).resolve()
    path.write_text("name: mine\nsearch: {method: advrush}\ntrain: {recipe: fast-at}\nevaluate: {attack: [pgd20]}\n")
    with pytest.raises(RobenchError, match="unknown field"):
        Plan.read(path)


def test_the_command_line_runs_a_pipeline_file(data_root, tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("name: ensemble_tiny\nsearch: {method: random-ensemble, settings: {cells: [1, 1], seed: 2}}\n"
                    "train: {recipe: fast-at, epochs: 1, settings: {batch_size: 32}, model_args: {C: 4}, "
                    "n_train: 64}\nevaluate: {attacks: [fgsm], n_examples: 8}\n")
    runner = CliRunner()
    args = ["-q", "reproduce", str(path), "--no-push", "--no-leaderboard", "--out", str(tmp_path / "run"),
            "--data-dir", str(data_root), "--device", "cpu"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "ensemble_tiny: arch_id" in first.output
    assert runner.invoke(cli, args).output == first.output


def test_the_leaderboard_sets_a_searched_cell_beside_a_hand_crafted_network_of_its_size(finished, tmp_path):
    result, _ = finished
    searched = result.evaluation.record
    records = tmp_path / "records"

    def hand_crafted(name: str, params: int) -> dict:
        model = {k: v for k, v in searched["model"].items() if k not in ("genotype", "arch_id", "search")}
        return {**searched, "model": {**model, "name": name, "family": "resnet", "params": params}}

    for record in (searched, hand_crafted("resnet_near", int(searched["model"]["params"] * 1.1)),
                   hand_crafted("resnet_far", searched["model"]["params"] * 2)):
        path = records / filing_path(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))
    stored, problems = load_records(records)
    assert not problems
    (table,) = make_tables(stored)
    assert [(a.model["name"], b.model["name"]) for a, b in table.matched] == [("advrush_searched_tiny",
                                                                               "resnet_near")]
    build(records, tmp_path / "site")
    page = (tmp_path / "site" / "README.md").read_text()
    assert "Searched cells against a hand-crafted network of the same size" in page
    assert "found by advrush search (seed 0, tiny scale" in page

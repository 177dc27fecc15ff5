"""The small checkpoints packaged in robench/zoo/weights/: each loads by zoo name with its hashes and golden
logits checked, is the architecture its entry describes, and records how it was trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from robench import zoo
from robench.evaluate import evaluate
from robench.evaluate.records import read_record
from robench.leaderboard import load_records, make_tables
from robench.search import get_search
from robench.train import Recipe
from robench.zoo.checkpoint import read_config, verify_golden_logits
from robench.zoo.registry import get_entry
from robench.zoo.weights import TAGS

FAST_AT = Recipe.from_preset("fast-at")
SMALL = {
    # name: (builder arguments the entry fixes, its fast-AT recipe on the full training split)
    "advrush_small": ({"C": 16, "layers": 8}, FAST_AT.replace(epochs=1)),
    "robnet_free_small": ({"C": 8, "layers": 8}, FAST_AT.replace(epochs=1)),
    "resnet18_small": ({"width": 16}, FAST_AT.replace(epochs=3)),
    "resnet18_w10_small": ({"width": 10}, FAST_AT.replace(epochs=1)),
    "resnet18_w6_small": ({"width": 6}, FAST_AT.replace(epochs=1)),
    "resnet18_w3_small": ({"width": 3}, FAST_AT.replace(epochs=1)),
    # found and trained by `robench reproduce METHOD --scale small --recipe fast-at` (scripts/reproduce_small.sh),
    # whose one epoch is the recipe's schedule compressed
    "advrush_searched_small": ({"C": 8, "layers": 8}, FAST_AT.shortened(1)),
    "arnas_searched_small": ({"C": 8, "layers": 8}, FAST_AT.shortened(1)),
    "robnet_searched_small": ({"C": 8, "layers": 8}, FAST_AT.shortened(1)),
    "random_ensemble_searched_small": ({"C": 8}, FAST_AT.shortened(1)),
}
# every packaged checkpoint has its PGD-20 + AutoAttack evaluation filed in the leaderboard
RECORDED = tuple(name for name, _, _ in TAGS)
# the packaged checkpoints whose architecture a search found: their config.json names the search run
SEARCHED = tuple(name for name in RECORDED if "search" in read_config(get_entry(name).weights_dir("cifar10"))
                 ["robench"]["metadata"])


@pytest.mark.parametrize("name", list(SMALL))
def test_packaged_checkpoint_loads_and_records_its_training(name):
    args, recipe = SMALL[name]
    directory = get_entry(name).weights_dir("cifar10")
    assert directory is not None, f"{name} has no packaged cifar10 weights"
    model = zoo.load(name, device="cpu")
    verify_golden_logits(model, directory)
    assert not model.training
    assert model.robench_cfg.architecture == name
    assert {k: model.robench_cfg.model_args[k] for k in args} == args
    config = read_config(directory)
    block = config["robench"]
    assert Recipe.from_dict(block["recipe"]) == recipe
    assert block["threat_model"]["eps_text"] == "8/255" and block["threat_model"]["norm"] == "Linf"
    training = block["metadata"]["training"]
    assert (training["dataset"], training["split"], training["n_train"]) == ("cifar10", "train", 50_000)
    assert training["metrics"]["steps"] == recipe.epochs * (50_000 // recipe.batch_size)


def test_robnet_free_small_keeps_published_cell_codes():
    from robench.zoo.genotypes import ROBNET_FREE
    from robench.zoo.weights import ROBNET_FREE_SMALL, ROBNET_FREE_SMALL_CELLS

    model = zoo.create_model("robnet_free_small")
    assert model.genotype == ROBNET_FREE_SMALL
    assert [ROBNET_FREE.cells.index(cell) for cell in ROBNET_FREE_SMALL.cells] == list(ROBNET_FREE_SMALL_CELLS)
    reductions = [i for i, cell in enumerate(model.cells) if cell.reduction]
    # the two published reduction codes (cells 6 and 13) sit at the 8-cell network's reduction positions
    assert [ROBNET_FREE_SMALL_CELLS[i] for i in reductions] == [6, 13]


def test_resnet18_small_is_resnet18_at_a_quarter_of_the_width():
    full = zoo.count_parameters(zoo.create_model("resnet18"))
    small = zoo.count_parameters(zoo.create_model("resnet18_small"))
    # conv weights scale with width^2 (BN with width, 1% of the total); the 10-way classifier is left out
    fc_full, fc_small = 512 * 10 + 10, 128 * 10 + 10
    assert (full - fc_full) / (small - fc_small) == pytest.approx(16, rel=0.01)


RECORDS = Path(__file__).resolve().parents[1] / "leaderboard" / "records"
MEASURED = RECORDS / "measured" / "cifar10" / "linf-8-255"


@pytest.mark.parametrize("name", RECORDED)
def test_evaluating_the_packaged_weights_reproduces_their_leaderboard_record(name, data_root):
    """The measured record of each packaged checkpoint is what `robench eval` gives on these weights: the same
    weights hash and image subset, and exactly the same clean and PGD-20 accuracies (AutoAttack, the costly rest
    of the suite, is compared by `pytest -m slow`)."""
    record = read_record(MEASURED / f"{name}__pgd20+autoattack.json")
    result = evaluate(name, attacks=["pgd20"], n_examples=record["dataset"]["n_examples"],
                      seed=record["dataset"]["seed"], batch_size=record["settings"]["batch_size"],
                      data_dir=data_root, device="cpu")
    assert result.record["model"]["weights_sha256"] == record["model"]["weights_sha256"]
    assert result.record["dataset"]["subset_sha256"] == record["dataset"]["subset_sha256"]
    assert result.clean_accuracy == record["metrics"]["clean_accuracy"]
    assert result.per_attack["pgd20"] == record["metrics"]["per_attack"]["pgd20"]


@pytest.mark.parametrize("name", SEARCHED)
def test_a_searched_checkpoint_is_linked_to_its_search_and_ranked_beside_a_baseline_of_its_size(name):
    """record -> weights -> genotype arch_id -> search run and budget; and on the leaderboard, a packaged
    hand-crafted network of about its size, trained and evaluated the same way, is set beside it."""
    search = read_config(get_entry(name).weights_dir("cifar10"))["robench"]["metadata"]["search"]
    model = zoo.load(name, device="cpu")
    record = read_record(MEASURED / f"{name}__pgd20+autoattack.json")
    # the small scale changes budgets only, so each search ran with its method's default seed
    assert search["scale"] == "small" and search["seed"] == get_search(search["method"]).config_type().seed
    assert search["arch_id"] == model.robench_cfg.arch_id == record["model"]["arch_id"]
    assert record["model"]["search"] == search
    stored, problems = load_records(RECORDS)
    assert not problems
    (table,) = [t for t in make_tables(stored) if t.dataset == "cifar10" and t.threat == "linf-8-255"]
    (baseline,) = [b for s, b in table.matched if s.model["name"] == name]
    assert baseline is not None, f"no hand-crafted network of {name}'s size is on the leaderboard"
    assert baseline.model["name"] in RECORDED and not baseline.model.get("search")


@pytest.mark.slow
@pytest.mark.parametrize("name", RECORDED)
def test_the_whole_recorded_suite_reproduces(name, data_root, tmp_path):
    record = read_record(MEASURED / f"{name}__pgd20+autoattack.json")
    result = evaluate(name, attacks=["pgd20", "autoattack"], n_examples=record["dataset"]["n_examples"],
                      seed=record["dataset"]["seed"], batch_size=record["settings"]["batch_size"],
                      data_dir=data_root, device="cpu")
    assert result.record["metrics"]["per_stage"] == record["metrics"]["per_stage"]
    assert result.robust_accuracy == record["metrics"]["robust_accuracy"]


def test_a_checkpoints_result_record_says_how_it_was_trained(data_root):
    result = evaluate("resnet18_small", attacks=[], n_examples=16, data_dir=data_root, device="cpu", checks=False)
    assert result.record["model"]["training"] == "FGSM-RS (fast) adversarial training, 3 epochs"

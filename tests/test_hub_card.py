"""Model cards: metrics copied from result records, a model-index that validates locally and on the Hub."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard
from hub_server import hub, result_record, small_model  # noqa: F401  (fixtures)

from robench.errors import RobenchError
from robench.hub.card import render_card, validate_card, write_card
from robench.hub.citations import PAPERS, paper_for
from robench.zoo.checkpoint import CARD_NAME, save_checkpoint, weights_sha256

THREAT = {"norm": "Linf", "eps": 8 / 255, "eps_text": "8/255"}


@pytest.fixture
def checkpoint(small_model, tmp_path):
    return save_checkpoint(
        small_model, tmp_path / "ckpt", threat_model=THREAT, recipe={"method": "pgd-at", "epochs": 2}
    )


def test_metrics_are_taken_from_the_record(checkpoint, small_model):
    record = result_record(
        weights_sha256(checkpoint), clean=0.8125, robust=0.4375, per_attack={"apgd-ce": 0.5, "apgd-t": 0.4375}
    )
    text = render_card(checkpoint, [record], repo_id="robench/robench-test-cifar10")
    card = ModelCard(text)
    data = card.data
    assert data.library_name == "robench" and data.license == "apache-2.0"
    assert data.datasets == ["uoft-cs/cifar10"]
    assert data.tags == ["image-classification", "adversarial-robustness", "robench", small_model.robench_cfg.family]
    assert data.model_name == "robench-test-cifar10"
    values = {(r.metric_type, r.metric_name): r.metric_value for r in data.eval_results}
    assert values == {
        ("accuracy", "Clean accuracy, n=16"): 0.8125,
        ("robust_accuracy", "Robust accuracy (apgd-ce+apgd-t; Linf, eps=8/255, n=16)"): 0.4375,
        ("robust_accuracy", "apgd-ce accuracy (Linf, eps=8/255, n=16)"): 0.5,
        ("robust_accuracy", "apgd-t accuracy (Linf, eps=8/255, n=16)"): 0.4375,
    }
    assert {(r.task_type, r.dataset_type, r.dataset_name, r.dataset_split) for r in data.eval_results} == {
        ("image-classification", "uoft-cs/cifar10", "CIFAR-10", "test")
    }
    assert "| CIFAR-10 | test | 16 | Linf, eps=8/255 | apgd-ce+apgd-t | 81.25 | 43.75 | 50.00 | 43.75 |" in text
    assert weights_sha256(checkpoint) in text
    assert 'zoo.load("hf-hub:robench/robench-test-cifar10")' in text
    assert "## Training recipe" in text and "pgd-at" in text
    validate_card(text)


def test_several_records_and_clean_only_records(checkpoint):
    sha = weights_sha256(checkpoint)
    records = [
        result_record(sha, robust=None, per_attack={}),
        result_record(sha, clean=0.75, robust=0.25, per_attack={}),
    ]
    data = ModelCard(render_card(checkpoint, records)).data
    assert [r.metric_value for r in data.eval_results] == [0.8125, 0.75, 0.25]


def test_card_without_results_has_no_model_index(checkpoint):
    text = render_card(checkpoint, [])
    meta = validate_card(text)
    assert "model-index" not in meta and "model_name" not in meta
    assert "No evaluation recorded yet" in text


def test_card_validates_on_the_hub(checkpoint, hub):
    card = ModelCard(render_card(checkpoint, [result_record(weights_sha256(checkpoint))]))
    card.validate()  # POST /api/validate-yaml through huggingface_hub
    assert ("POST", "/api/validate-yaml") in hub.log


def test_both_validators_reject_a_broken_model_index(checkpoint, hub):
    text = render_card(checkpoint, [result_record(weights_sha256(checkpoint))])
    broken = text.replace("value: 0.8125", "value: [0.8125]", 1)
    assert broken != text
    with pytest.raises(ValueError, match=r"metrics\[0\].value"):
        ModelCard(broken).validate()
    with pytest.raises(RobenchError, match="invalid model card metadata"):
        validate_card(broken)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["model"].update(weights_sha256="f" * 64), "measured on weights sha256 f"),
        (lambda r: r.update(kind="reported"), "'reported' record"),
        (lambda r: r.update(schema="robench.transfer/1"), "is not a robench.result/1 record"),
        (lambda r: r["metrics"].update(clean_accuracy=81.25), "metrics.clean_accuracy: 81.25 is greater than the maximum"),
        (lambda r: r["metrics"]["per_attack"].update({"square": -0.1}), "per_attack.square: -0.1 is less than the minimum"),
        (lambda r: r["metrics"].update(robust_accuracy=0.9), "robust_accuracy 0.9000 exceeds clean_accuracy"),
    ],
)
def test_records_that_do_not_describe_these_weights_are_refused(checkpoint, change, message):
    record = result_record(weights_sha256(checkpoint))
    change(record)
    with pytest.raises(RobenchError, match="result record 1") as err:
        render_card(checkpoint, [record])
    assert message in err.value.message


def test_write_card(checkpoint):
    path = write_card(checkpoint, [result_record(weights_sha256(checkpoint))], repo_id="org/name")
    assert path == checkpoint / CARD_NAME
    assert path.read_text() == render_card(checkpoint, [result_record(weights_sha256(checkpoint))], repo_id="org/name")
    assert sorted(p.name for p in checkpoint.iterdir() if p.name.startswith(".")) == []


def test_citations():
    assert paper_for("advrush").key == "mok2021advrush"
    assert paper_for("RobNet").key == "guo2020robnet"
    assert paper_for(None, "2405.05502").key == "ou2024arnas"
    assert paper_for("unknown-family", "chen2019pdarts").key == "chen2019pdarts"
    assert paper_for("unknown-family") is None
    bib = PAPERS["mok2021advrush"].bibtex()
    assert (
        bib.startswith("@inproceedings{mok2021advrush,") and "Jisoo Mok and Byunggook Na" in bib and bib.endswith("}")
    )
    assert PAPERS["dong2020racl"].bibtex().startswith("@misc{dong2020racl,")

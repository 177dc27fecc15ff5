"""The evaluator's numbers equal the reference libraries', survive kill -9, and do not depend on world size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from robench.errors import RobenchError
from robench.evaluate import evaluate, transfer_matrix
from robench.evaluate.attacks import PRESETS, autoattack_settings, resolve_attack
from robench.evaluate.records import read_record

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
from tiny_model import load_tiny_cnn, train_tiny_cnn  # noqa: E402


@pytest.fixture(params=["tiny", "resnet18_small"])
def reference_model(request, data_root):
    """The equality tests run on the tiny CNN and on a packaged, adversarially trained zoo checkpoint."""
    if request.param == "tiny":
        return request.getfixturevalue("tiny")[0]
    from robench import zoo

    return zoo.load(request.param, pretrained=True)


def _test_points(data_root, n, seed=0):
    from robench.data import load_split, select_subset

    split = load_split("cifar10", "test", data_root)
    idx = select_subset(len(split.labels), n, seed)
    return split.images[idx].float() / 255, split.labels[idx], idx


def test_pgd_equals_torchattacks_example_for_example(reference_model, data_root):
    import torchattacks

    model = reference_model
    result = evaluate(model, attacks=["pgd20"], n_examples=96, batch_size=32, data_dir=data_root, checks=False)
    x, y, _ = _test_points(data_root, 96)
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    robust = correct.clone()
    survivors = correct.nonzero().flatten()
    for chunk in torch.split(survivors, 32):  # the bare library loop, seeded per batch
        torch.manual_seed(0)
        x_adv = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=20, random_start=True)(x[chunk], y[chunk])
        with torch.no_grad():
            robust[chunk] = model(x_adv).argmax(1) == y[chunk]
    ours = torch.tensor([e["broken_by"] is None and e["clean_correct"] for e in result.examples])
    assert 0 < robust.sum() < correct.sum()  # a model with something left to break and something to keep
    assert torch.equal(ours, robust)
    assert result.robust_accuracy == pytest.approx(robust.float().mean().item())
    assert result.clean_accuracy == pytest.approx(correct.float().mean().item())


# Full AutoAttack on the zoo checkpoint takes about 6 minutes on 2 CPU cores: outside the default run.
@pytest.mark.parametrize("reference_model", ["tiny", pytest.param("resnet18_small", marks=pytest.mark.slow)],
                         indirect=True)  # fmt: skip
def test_autoattack_equals_pyautoattack_example_for_example(reference_model, data_root):
    """robench's default path (its exact speed-ups on) against the plain reference call: the same robust flags
    and the same returned label (adversarial prediction, else clean prediction) on every point."""
    from pyautoattack import AutoAttack

    model = reference_model
    n, bs = 24, 12
    result = evaluate(model, attacks=["autoattack"], n_examples=n, batch_size=bs, data_dir=data_root)
    x, y, _ = _test_points(data_root, n)
    adversary = AutoAttack(model, norm="Linf", eps=8 / 255, version="standard", seed=0, device="cpu")
    x_adv, y_adv = adversary.run_standard_evaluation(x, y, batch_size=bs)
    reference_robust = (y_adv == y)
    ours = torch.tensor([e["broken_by"] is None and e["clean_correct"] for e in result.examples])
    assert torch.equal(ours, reference_robust)
    assert torch.equal(_returned_labels(result), y_adv)
    assert result.robust_accuracy == pytest.approx(reference_robust.float().mean().item())
    assert result.record["settings"]["speed"] == {"compile": False, "channels_last": False, "amp": None,
                                                  "exact": ["input-gradients-only", "inference-mode-classification"]}
    assert all(p.requires_grad for p in model.parameters())  # frozen only while attacked


def _returned_labels(result) -> torch.Tensor:
    """The label of every point as run_standard_evaluation returns it: adversarial where broken, else clean."""
    return torch.tensor([e["adv_pred"] if e["broken_by"] else e["clean_pred"] for e in result.examples])


def test_single_part_presets_are_standard_autoattacks_parts(tiny, data_root):
    """The apgd-ce preset is standard AutoAttack's APGD-CE (one restart), as pyautoattack runs a part of the
    standard version alone (run_standard_evaluation_individual), point for point."""
    from pyautoattack import AutoAttack

    from robench.data import get_dataset

    model, _ = tiny
    config = resolve_attack("apgd-ce", get_dataset("cifar10").threat_model())
    settings = autoattack_settings(config, model, torch.device("cpu"))
    assert settings["attacks"] == ["apgd-ce"] and settings["apgd"]["n_restarts"] == 1
    n, bs = 48, 16
    result = evaluate(model, attacks=["apgd-ce"], n_examples=n, batch_size=bs, data_dir=data_root, checks=False)
    x, y, _ = _test_points(data_root, n)
    adversary = AutoAttack(model, norm="Linf", eps=8 / 255, version="standard", seed=0, device="cpu")
    adversary.attacks_to_run = ["apgd-ce"]
    _, y_adv = adversary.run_standard_evaluation(x, y, batch_size=bs)
    assert torch.equal(_returned_labels(result), y_adv)
    assert 0 < result.robust_accuracy < result.clean_accuracy
    custom = resolve_attack("autoattack:attacks=apgd-ce", get_dataset("cifar10").threat_model())
    assert custom.params["version"] == "custom"  # a list of one's own is pyautoattack's custom version


def test_settings_object_and_keywords_are_the_same_evaluation(tiny, data_root):
    from robench.evaluate import EvalSettings

    model, _ = tiny
    settings = EvalSettings(attacks=["fgsm"], n_examples=16, batch_size=8, checks=False)
    by_object = evaluate(model, settings, data_dir=data_root)
    by_keywords = evaluate(model, attacks=["fgsm"], n_examples=16, batch_size=8, checks=False, data_dir=data_root)
    assert by_object.record["config_sha256"] == by_keywords.record["config_sha256"]
    assert by_object.examples == by_keywords.examples
    # a keyword replaces the object's field
    assert evaluate(model, settings, n_examples=8, data_dir=data_root).record["dataset"]["n_examples"] == 8
    with pytest.raises(RobenchError, match=r"unknown evaluation setting\(s\): attack \(hint") as err:
        evaluate(model, settings, attack="pgd20", data_dir=data_root)
    assert "attacks" in err.value.hint
    with pytest.raises(RobenchError, match="must be an EvalSettings, not 'cifar10'"):
        evaluate(model, "cifar10", data_dir=data_root)


def test_speed_options_are_recorded_and_refused_on_resume_when_changed(tiny, data_root, tmp_path):
    from robench.evaluate.speed import SpeedOptions

    model, _ = tiny
    out = tmp_path / "run"
    exact = evaluate(model, attacks=["fgsm"], n_examples=32, batch_size=16, data_dir=data_root, out=out, checks=False)
    assert read_record(out / "result.json")["settings"]["speed"]["compile"] is False
    header = json.loads((out / "progress.jsonl").read_text().splitlines()[0])
    assert "speed" not in header["config"]  # the exact computation: configurations as before the options
    with pytest.raises(RobenchError, match=r'other settings \(speed: null -> \{"compile":true\}\)'):
        evaluate(model, attacks=["fgsm"], n_examples=32, batch_size=16, data_dir=data_root, out=out, checks=False,
                 speed=SpeedOptions(compile=True))
    assert exact.record["config_sha256"] == read_record(out / "result.json")["config_sha256"]
    for options, message in ((SpeedOptions(channels_last=True), "channels_last is a CUDA option"),
                             (SpeedOptions(amp="bf16"), "amp is a CUDA option"),
                             (SpeedOptions(amp="fp8"), "unknown mixed precision 'fp8'")):
        with pytest.raises(RobenchError, match=message):
            evaluate(model, attacks=["fgsm"], n_examples=8, data_dir=data_root, device="cpu", speed=options)


@pytest.mark.slow  # compiling the model's graphs takes about a minute on 2 CPU cores
def test_compiled_evaluation_is_recorded_as_such(tiny, data_root, tmp_path):
    from robench.evaluate.speed import SpeedOptions

    model, _ = tiny
    exact = evaluate(model, attacks=["pgd10"], n_examples=64, batch_size=32, data_dir=data_root, checks=False)
    compiled = evaluate(model, attacks=["pgd10"], n_examples=64, batch_size=32, data_dir=data_root, checks=False,
                        out=tmp_path / "run", speed=SpeedOptions(compile=True))
    assert compiled.record["settings"]["speed"]["compile"] is True
    assert compiled.record["config_sha256"] != exact.record["config_sha256"]
    header = json.loads((tmp_path / "run" / "progress.jsonl").read_text().splitlines()[0])
    assert header["config"]["speed"] == {"compile": True}
    assert all(p.requires_grad for p in model.parameters())
    # fused kernels round differently, so a point or two may fall on the other side; hardly more
    assert abs(compiled.robust_accuracy - exact.robust_accuracy) <= 2 / 64


def test_autoattack_preset_is_the_standard_configuration(tiny):
    model, _ = tiny
    from robench.data import get_dataset

    config = resolve_attack("autoattack", get_dataset("cifar10").threat_model())
    settings = autoattack_settings(config, model, torch.device("cpu"))
    assert settings["attacks"] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert settings["apgd"]["n_iter"] == 100 and settings["apgd"]["n_restarts"] == 1
    assert settings["apgd-t"]["n_iter"] == 100 and settings["apgd-t"]["n_target_classes"] == 9
    assert settings["fab"]["n_iter"] == 100 and settings["fab"]["n_target_classes"] == 9
    assert settings["square"]["n_queries"] == 5000
    assert config.eps == pytest.approx(8 / 255)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_and_records_its_settings(name):
    from robench.data import get_dataset

    config = resolve_attack(name, get_dataset("cifar10").threat_model())
    record = config.to_record()
    assert record["name"] == name and record["params"]["eps"] == pytest.approx(8 / 255)
    assert record["library"] in ("torchattacks", "pyautoattack")


def test_pgd20_preset_has_the_papers_settings():
    from robench.data import get_dataset

    config = resolve_attack("pgd20", get_dataset("cifar10").threat_model())
    assert config.params == {"alpha": 2 / 255, "steps": 20, "random_start": True}
    custom = resolve_attack("pgd:steps=50,alpha=1/255", get_dataset("cifar10").threat_model())
    assert custom.params["steps"] == 50 and custom.params["alpha"] == pytest.approx(1 / 255)


@pytest.mark.parametrize("spec", ["pgd21", "pgd:steps=ten", "pgd:colour=red", "autoattack:attacks=apgd-xx"])
def test_bad_attack_specs_are_refused_with_a_hint(spec):
    from robench.data import get_dataset

    with pytest.raises(RobenchError) as err:
        resolve_attack(spec, get_dataset("cifar10").threat_model())
    assert err.value.hint


def test_record_is_complete_and_valid(tiny, data_root, tmp_path):
    model, _ = tiny
    result = evaluate(model, attacks=["fgsm", "pgd10"], n_examples=64, batch_size=32, data_dir=data_root,
                      out=tmp_path / "run")
    record = read_record(tmp_path / "run" / "result.json")  # validates against the schema
    assert record == json.loads(json.dumps(result.record))
    m = record["metrics"]
    assert m["robust_accuracy"] <= m["per_attack"]["fgsm"] <= m["clean_accuracy"]
    suite = ["fgsm", "pgd10"]
    for k, stage in enumerate(suite):  # exact counts over n, not float32 means
        broken_so_far = set(suite[: k + 1])
        robust = sum(e["clean_correct"] and e["broken_by"] not in broken_so_far for e in result.examples)
        assert m["per_stage"][stage] == robust / 64
    assert record["timings"]["total_seconds"] == sum(record["timings"]["stage_seconds"].values())
    assert record["model"]["weights_sha256"] and record["dataset"]["subset_sha256"]
    assert record["environment"]["versions"]["torchattacks"]
    lines = (tmp_path / "run" / "examples.jsonl").read_text().splitlines()
    assert len(lines) == 64 and {"index", "clean_correct", "broken_by"} <= set(json.loads(lines[0]))


def test_independent_mode_gives_each_attacks_own_accuracy(tiny, data_root):
    model, _ = tiny
    chained = evaluate(model, attacks=["fgsm", "pgd10"], n_examples=64, batch_size=32, data_dir=data_root,
                       checks=False)
    independent = evaluate(model, attacks=["fgsm", "pgd10"], n_examples=64, batch_size=32, data_dir=data_root,
                           checks=False, chain=False)
    alone = evaluate(model, attacks=["pgd10"], n_examples=64, batch_size=32, data_dir=data_root, checks=False)
    assert independent.per_attack["pgd10"] == alone.per_attack["pgd10"]
    assert independent.per_attack["fgsm"] == chained.per_attack["fgsm"]
    # the worst case over independent attacks is the same set of points as the chain leaves
    assert independent.robust_accuracy == chained.robust_accuracy
    assert independent.robust_accuracy <= min(independent.per_attack.values())


def test_training_mode_model_is_evaluated_in_eval_mode_and_flagged(tiny, data_root):
    model, _ = tiny
    model.train()
    result = evaluate(model, attacks=["fgsm"], n_examples=32, data_dir=data_root, checks=False)
    assert not model.training
    assert any(f["code"] == "model-in-training-mode" for f in result.flags)


def test_softmax_output_model_is_flagged(tiny, data_root):
    model, _ = tiny
    softmax_model = torch.nn.Sequential(model, torch.nn.Softmax(dim=1))
    result = evaluate(softmax_model, attacks=["fgsm"], n_examples=32, data_dir=data_root)
    assert any("softmax" in f["message"].lower() or "probab" in f["message"].lower() for f in result.flags)


def _script(weights, out, data_root, n, batch, *attacks):
    return [sys.executable, str(TESTS / "tiny_model.py"), str(weights), str(out), str(data_root), str(n),
            str(batch), *attacks]


def _examples(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]


def test_kill_9_and_resume_gives_identical_records(tiny, data_root, tmp_path):
    _, weights = tiny
    args = (data_root, 128, 8, "pgd20", "mifgsm")
    subprocess.run(_script(weights, tmp_path / "whole", *args), check=True, timeout=600)

    out = tmp_path / "killed"
    proc = subprocess.Popen(_script(weights, out, *args))
    log = out / "progress.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 20):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "result.json").exists(), "the run finished before it could be killed"
    subprocess.run(_script(weights, out, *args), check=True, timeout=600)
    assert _examples(out) == _examples(tmp_path / "whole")
    whole = read_record(tmp_path / "whole" / "result.json")
    resumed = read_record(out / "result.json")
    assert resumed["metrics"] == whole["metrics"] and resumed["config_sha256"] == whole["config_sha256"]


def test_resume_refuses_a_changed_configuration(tiny, data_root, tmp_path):
    model, _ = tiny
    evaluate(model, attacks=["fgsm"], n_examples=32, data_dir=data_root, out=tmp_path / "run", checks=False)
    with pytest.raises(RobenchError, match=r"other settings \(attacks: fgsm -> pgd10\)"):
        evaluate(model, attacks=["pgd10"], n_examples=32, data_dir=data_root, out=tmp_path / "run", checks=False)
    (tmp_path / "run" / "result.json").unlink()  # an unfinished run: the progress log alone says what it was
    with pytest.raises(RobenchError, match=r"other settings \(attacks: fgsm -> pgd10\)"):
        evaluate(model, attacks=["pgd10"], n_examples=32, data_dir=data_root, out=tmp_path / "run", checks=False)


def test_torchrun_result_does_not_depend_on_world_size(tiny, data_root, tmp_path):
    _, weights = tiny
    args = (data_root, 96, 16, "pgd10")
    subprocess.run(_script(weights, tmp_path / "one", *args), check=True, timeout=600)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(torchrun + _script(weights, tmp_path / "two", *args)[1:], check=True, timeout=600, env=env)
    assert _examples(tmp_path / "two") == _examples(tmp_path / "one")
    two = read_record(tmp_path / "two" / "result.json")
    assert two["settings"]["world_size"] == 2
    assert two["metrics"] == read_record(tmp_path / "one" / "result.json")["metrics"]


def test_transfer_matrix_diagonal_is_white_box_and_sources_are_crafted_once(tiny, data_root, tmp_path, monkeypatch):
    import robench.evaluate.transfer as transfer

    model, _ = tiny
    other = train_tiny_cnn(data_root, seed=1)
    calls = []
    craft = transfer._craft
    monkeypatch.setattr(transfer, "_craft", lambda *a, **k: calls.append(1) or craft(*a, **k))
    result = transfer_matrix([model, other], names=["a", "b"], attacks="pgd10", n_examples=64, batch_size=32,
                             data_dir=data_root, out=tmp_path)
    assert len(calls) == 2  # N crafts for an N x N matrix
    x, y, _ = _test_points(data_root, 64)
    import torchattacks

    for i, source in enumerate([model, other]):
        adv = []
        for xb, yb in zip(torch.split(x, 32), torch.split(y, 32)):
            torch.manual_seed(0)
            adv.append(torchattacks.PGD(source, eps=8 / 255, alpha=2 / 255, steps=10)(xb, yb))
        adv = torch.cat(adv)
        for j, target in enumerate([model, other]):
            with torch.no_grad():
                expected = (target(adv).argmax(1) == y).float().mean().item()
            assert result.matrix[i][j] == pytest.approx(expected)
    assert read_record(tmp_path / "transfer.json")["settings"]["speed"]["compile"] is False
    transfer_matrix([model, other], names=["a", "b"], attacks="pgd10", n_examples=64, batch_size=32,
                    data_dir=data_root, out=tmp_path)
    assert len(calls) == 2  # the second matrix reuses the cached examples

"""The trainer on real CIFAR-10 images: an interrupted and resumed run ends with bit-identical weights and the
same log as an uninterrupted one; the checkpoint it writes loads through the zoo and records the recipe."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from robench.errors import RobenchError
from robench.train import Recipe, Trainer, train
from robench.zoo.checkpoint import WEIGHTS_NAME, file_sha256, read_config

TINY = {"C": 4, "layers": 3}  # DARTS skeleton with both reductions and an auxiliary head, ~20k parameters
N_TRAIN = 256  # 4 steps of 64 per epoch

CASES = {
    # standard training with everything DARTS adds (auxiliary head, drop-path ramp, cutout, grad clipping), in
    # channels_last memory format, interrupted at the epoch boundary
    "darts": (Recipe.from_preset("darts", epochs=2, batch_size=64, channels_last=True), 4),
    # PGD-AT with the normal random start, interrupted in the middle of an epoch
    "advrush-pgd": (Recipe.from_preset("advrush-pgd", epochs=2, batch_size=64, steps=2), 5),
    # FGSM with a uniform start in train mode and the per-step cyclic lr, interrupted mid-epoch
    "fast-at": (Recipe.from_preset("fast-at", epochs=2, batch_size=64), 2),
}


def _run(tmp_path, name, data_root, **kwargs):
    recipe, _ = CASES[name]
    return Trainer("darts_v2", tmp_path, recipe=recipe, model_args=TINY, n_train=N_TRAIN, data_dir=data_root,
                   quiet=True, log_every=1, clean_acc_every=3, **kwargs)  # fmt: skip


def _log_without_timing(directory):
    records = [json.loads(line) for line in (directory / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("images_per_s", "seconds")} for r in records]


@pytest.mark.parametrize("name", list(CASES))
def test_resumed_run_is_bit_identical(name, tmp_path, data_root):
    torch.set_num_threads(1)  # same kernels, same reduction order in both runs
    _, stop_after = CASES[name]
    full = _run(tmp_path / "full", name, data_root, save_every_steps=2).run()
    assert _run(tmp_path / "resumed", name, data_root, save_every_steps=2).run(max_steps=stop_after) is None
    state = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    assert (state["global_step"], state["finished"]) == (stop_after, False)
    resumed = _run(tmp_path / "resumed", name, data_root, save_every_steps=2).run()
    assert resumed is not None
    assert file_sha256(full.checkpoint / WEIGHTS_NAME) == file_sha256(resumed.checkpoint / WEIGHTS_NAME)
    full_state = torch.load(tmp_path / "full" / "state.pt", weights_only=True)
    resumed_state = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    for key, value in full_state["model"].items():  # the auxiliary head too, which the checkpoint drops
        assert torch.equal(value, resumed_state["model"][key]), key
    assert _log_without_timing(tmp_path / "full") == _log_without_timing(tmp_path / "resumed")
    assert full.metrics["steps"] == resumed.metrics["steps"] == 8


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("run") / "darts"
    recipe = Recipe.from_preset("arnas-pgd", epochs=1, batch_size=64, steps=1)
    result = train("darts_v2", out, recipe=recipe, model_args=TINY, n_train=128, data_dir=data_root, quiet=True)
    return out, result


def test_checkpoint_loads_through_the_zoo_and_records_the_run(trained):
    from robench import zoo

    out, result = trained
    model = zoo.load(f"local-dir:{result.checkpoint}", device="cpu")
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x), result.model.cpu()(x))
    config = read_config(result.checkpoint)
    block = config["robench"]
    assert Recipe.from_dict(block["recipe"]) == Recipe.from_preset("arnas-pgd", epochs=1, batch_size=64, steps=1)
    assert block["threat_model"] == {"norm": "Linf", "eps": pytest.approx(8 / 255), "eps_text": "8/255"}
    assert block["dataset"] == "cifar10"
    training = block["metadata"]["training"]
    assert training["n_train"] == 128 and training["metrics"]["steps"] == 2
    assert training["metrics"]["train_acc_adv"] is not None
    # the auxiliary head trained with the arnas-pgd recipe is not part of the published model
    assert config["model_args"]["auxiliary"] is False
    assert not any(k.startswith("auxiliary_head") for k in model.state_dict())


def test_finished_run_is_not_trained_again(trained, data_root):
    out, result = trained
    recipe = Recipe.from_preset("arnas-pgd", epochs=1, batch_size=64, steps=1)
    before = (out / "state.pt").stat().st_mtime_ns
    again = train("darts_v2", out, recipe=recipe, model_args=TINY, n_train=128, data_dir=data_root, quiet=True)
    assert (out / "state.pt").stat().st_mtime_ns == before
    assert again.metrics == result.metrics


def test_a_different_request_on_a_run_directory_is_refused(trained, data_root):
    out, _ = trained
    recipe = Recipe.from_preset("arnas-pgd", epochs=2, batch_size=64, steps=1)
    with pytest.raises(RobenchError, match=r"holds a training run with other settings \(recipe\.epochs: "):
        train("darts_v2", out, recipe=recipe, model_args=TINY, n_train=128, data_dir=data_root, quiet=True)


def test_unusable_requests_fail_before_training(tmp_path, data_root):
    with pytest.raises(RobenchError, match="no auxiliary head"):
        Trainer("resnet18", tmp_path / "a", recipe="darts")
    with pytest.raises(RobenchError, match="uses drop-path"):
        Trainer("resnet18", tmp_path / "b", recipe=Recipe.from_preset("darts", aux_weight=0.0)).run()
    with pytest.raises(RobenchError, match="uses drop-path"):  # RobNet has no drop-path either
        Trainer("robnet_large", tmp_path / "b2", recipe=Recipe.from_preset("darts", aux_weight=0.0),
                model_args={"C": 4, "layers": 3}).run()  # fmt: skip
    with pytest.raises(RobenchError, match="takes no argument"):
        Trainer("resnet18", tmp_path / "c", recipe="fast-at", model_args={"layers": 3})


def test_cli_trains_and_reports_errors(tmp_path, data_root):
    from robench.cli import cli

    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["train", "darts_v2", "--recipe", "darts", "--width", "4", "--layers", "3", "--n-train", "64",
            "--set", "batch_size=32", "--set", "cutout=0", "--epochs", "1", "--out", str(out),
            "--data-dir", str(data_root), "--device", "cpu"]  # fmt: skip
    result = runner.invoke(cli, ["-q", *args])
    assert result.exit_code == 0, result.output
    assert f"local-dir:{out / 'checkpoint'}" in result.output
    recipe = read_config(out / "checkpoint")["robench"]["recipe"]
    assert (recipe["batch_size"], recipe["cutout"], recipe["epochs"]) == (32, 0, 1)

    bad = runner.invoke(cli, ["train", "darts_v2", "--set", "learning_rate=1", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "unknown recipe field" in bad.output
    bad = runner.invoke(cli, ["train", "resnet18", "--layers", "3", "--out", str(tmp_path / "y")])
    assert bad.exit_code == 1 and "no adjustable layers" in bad.output


def test_cli_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, robench.cli.train; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

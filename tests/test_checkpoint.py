"""The checkpoint format: round trip, integrity, strict loading, golden logits, atomic writes, no pickle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from hub_server import small_model  # noqa: F401  (fixture)
from safetensors.torch import load_file, save_file
from torch import nn

import robench.zoo
from robench.errors import RobenchError
from robench.evaluate import provenance
from robench.zoo.checkpoint import (
    CONFIG_NAME,
    GOLDEN_NAME,
    WEIGHTS_NAME,
    copy_checkpoint,
    file_sha256,
    load_checkpoint,
    read_config,
    save_checkpoint,
    state_dict_sha256,
    weights_sha256,
)

THREAT = {"norm": "Linf", "eps": 8 / 255, "eps_text": "8/255"}
RECIPE = {"method": "pgd-at", "epochs": 2, "steps": 7}


@pytest.fixture
def saved(small_model, tmp_path):
    return save_checkpoint(
        small_model, tmp_path / "ckpt", recipe=RECIPE, threat_model=THREAT, metadata={"license": "mit"}
    )


def _rewrite_config(directory: Path, **changes) -> None:
    config = json.loads((directory / CONFIG_NAME).read_text())
    config.update(changes)
    (directory / CONFIG_NAME).write_text(json.dumps(config))


def _replace_weights(directory: Path, state: dict[str, torch.Tensor]) -> None:
    """Write new weights and record their hashes, as a consistent but different checkpoint would."""
    save_file(state, directory / WEIGHTS_NAME)
    config = json.loads((directory / CONFIG_NAME).read_text())
    config["files"][WEIGHTS_NAME] = file_sha256(directory / WEIGHTS_NAME)
    config["robench"]["weights_sha256"] = state_dict_sha256(state)
    (directory / CONFIG_NAME).write_text(json.dumps(config))


def test_round_trip_gives_identical_logits_and_records_everything(small_model, saved):
    small_model.eval()
    x = torch.rand(3, *small_model.robench_cfg.input_size, generator=torch.Generator().manual_seed(1))
    loaded = load_checkpoint(saved, verify_golden=True)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(x), small_model(x))

    cfg = small_model.robench_cfg
    config = read_config(saved)
    assert config["architecture"] == cfg.architecture
    assert config["num_classes"] == cfg.num_classes
    assert config["model_args"] == dict(cfg.model_args)
    assert config["pretrained_cfg"]["input_size"] == list(cfg.input_size)
    assert config["pretrained_cfg"]["license"] == "mit"
    block = config["robench"]
    assert (block["dataset"], block["threat_model"], block["recipe"]) == (cfg.dataset, THREAT, RECIPE)
    assert (block["arch_id"], block["genotype"], block["family"]) == (cfg.arch_id, cfg.genotype, cfg.family)
    assert set(config["files"]) == {WEIGHTS_NAME, GOLDEN_NAME}
    assert config["files"][WEIGHTS_NAME] == hashlib.sha256((saved / WEIGHTS_NAME).read_bytes()).hexdigest()
    assert loaded.robench_checkpoint.files == config["files"]
    # one identity for the weights, whether from memory, a checkpoint or the evaluator's records
    identity = state_dict_sha256(small_model.state_dict())
    assert weights_sha256(saved) == block["weights_sha256"] == identity == loaded.robench_checkpoint.weights_sha256
    assert provenance.weights_sha256(loaded) == identity

    golden = load_file(saved / GOLDEN_NAME)
    assert (
        golden["inputs"].shape == (4, *cfg.input_size) and 0 <= golden["inputs"].min() and golden["inputs"].max() <= 1
    )
    with torch.no_grad():
        assert torch.equal(golden["logits"], small_model(golden["inputs"]))
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ckpt"]  # no staging directory left


def test_save_keeps_the_training_mode(small_model, tmp_path):
    small_model.train()
    save_checkpoint(small_model, tmp_path / "ckpt")
    assert small_model.training


@pytest.mark.parametrize("name", [WEIGHTS_NAME, GOLDEN_NAME])
def test_tampered_file_fails_before_anything_is_loaded(saved, name, monkeypatch):
    expected = read_config(saved)["files"][name]
    data = bytearray((saved / name).read_bytes())
    data[-1] ^= 0x01
    (saved / name).write_bytes(bytes(data))

    def must_not_build(*args, **kwargs):
        raise AssertionError("the model was built before the integrity check")

    monkeypatch.setattr(robench.zoo, "create_model", must_not_build)
    with pytest.raises(RobenchError) as err:
        load_checkpoint(saved)
    assert name in err.value.message and expected in err.value.message
    assert hashlib.sha256(bytes(data)).hexdigest() in err.value.message
    assert "download or copy it again" in err.value.hint


def test_missing_listed_file_is_named(saved):
    (saved / GOLDEN_NAME).unlink()
    with pytest.raises(RobenchError, match=f"{GOLDEN_NAME} is listed in {CONFIG_NAME} but missing"):
        load_checkpoint(saved)


def test_strict_load_names_missing_and_unexpected_keys(saved):
    state = load_file(saved / WEIGHTS_NAME)
    renamed = sorted(state)[0]
    state["not_a_layer.weight"] = state.pop(renamed)
    _replace_weights(saved, state)
    with pytest.raises(RobenchError) as err:
        load_checkpoint(saved)
    assert f"missing keys [{renamed}]" in err.value.message
    assert "unexpected keys [not_a_layer.weight]" in err.value.message


def test_weights_of_another_shape_are_refused(saved):
    state = load_file(saved / WEIGHTS_NAME)
    name = next(k for k, v in state.items() if v.dim() == 4)
    state[name] = torch.zeros(*state[name].shape[:-1], state[name].shape[-1] + 2)
    _replace_weights(saved, state)
    with pytest.raises(RobenchError, match="does not fit"):
        load_checkpoint(saved)


def test_golden_logits_catch_changed_weights(saved):
    state = load_file(saved / WEIGHTS_NAME)
    name = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 4)
    state[name] = state[name] + 0.05
    _replace_weights(saved, state)
    load_checkpoint(saved)  # integrity holds: the files match their recorded hashes
    with pytest.raises(RobenchError, match="golden check failed"):
        load_checkpoint(saved, verify_golden=True)


def test_weights_must_hash_to_the_recorded_identity(saved):
    config = json.loads((saved / CONFIG_NAME).read_text())
    recorded = config["robench"]["weights_sha256"]
    config["robench"]["weights_sha256"] = "0" * 64
    (saved / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(RobenchError, match=f"hash to {recorded}, but config.json records 0000"):
        load_checkpoint(saved)


def test_architecture_drift_is_refused(saved):
    _rewrite_config(saved, num_classes=7)
    with pytest.raises(RobenchError, match="records num_classes=7"):
        load_checkpoint(saved)


def test_failed_save_keeps_the_old_checkpoint(small_model, saved):
    before = {name: (saved / name).read_bytes() for name in (CONFIG_NAME, WEIGHTS_NAME, GOLDEN_NAME)}

    def broken_forward(x):
        raise RuntimeError("boom")

    small_model.forward = broken_forward
    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(small_model, saved)
    del small_model.forward
    with pytest.raises(RobenchError, match="not plain JSON"):
        save_checkpoint(small_model, saved, recipe={"optimizer": object()})
    assert {name: (saved / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ckpt"]


def test_resave_replaces_the_checkpoint(small_model, saved):
    with torch.no_grad():
        next(small_model.parameters()).add_(1.0)
    save_checkpoint(small_model, saved)
    loaded = load_checkpoint(saved, verify_golden=True)
    assert torch.equal(next(loaded.parameters()), next(small_model.parameters()))
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ckpt"]


class _Tied(nn.Module):
    """A head tied to an embedding-like layer, with a non-contiguous parameter."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 10, bias=False)
        self.head = nn.Linear(3, 10, bias=False)
        self.head.weight = self.proj.weight
        self.scale = nn.Parameter(torch.arange(6.0).reshape(2, 3).t())  # transposed: not contiguous

    def forward(self, x):
        h = x.mean((2, 3))
        return self.proj(h) + self.head(h) + self.scale.sum()


def test_tied_and_non_contiguous_tensors(small_model, tmp_path, monkeypatch):
    def create_model(name, dataset="cifar10", **kwargs):
        model = _Tied()
        model.robench_cfg = small_model.robench_cfg
        return model

    monkeypatch.setattr(robench.zoo.checkpoint, "create_model", create_model)
    torch.manual_seed(0)
    tied = create_model("tied")
    assert not tied.scale.is_contiguous()
    path = save_checkpoint(tied, tmp_path / "tied")
    assert len(load_file(path / WEIGHTS_NAME)) == 2  # the shared weight is stored once
    loaded = load_checkpoint(path, verify_golden=True)
    assert loaded.head.weight is loaded.proj.weight
    assert torch.equal(loaded.proj.weight, tied.proj.weight) and torch.equal(loaded.scale, tied.scale)


def test_pickle_weights_are_never_loaded(tmp_path, monkeypatch):
    directory = tmp_path / "foreign"
    directory.mkdir()
    torch.save({"w": torch.zeros(1)}, directory / "pytorch_model.bin")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    with pytest.raises(RobenchError, match=r"only pickle weights \(pytorch_model.bin\)") as err:
        load_checkpoint(directory)
    assert "checkpoint=PATH" in err.value.hint


def test_not_a_checkpoint(tmp_path, small_model):
    with pytest.raises(RobenchError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(RobenchError, match="no config.json"):
        load_checkpoint(tmp_path / "notes")
    with pytest.raises(RobenchError, match="refusing to overwrite"):
        save_checkpoint(small_model, tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_model_without_config_is_refused(tmp_path):
    with pytest.raises(RobenchError, match="carries no robench_cfg"):
        save_checkpoint(nn.Linear(2, 2), tmp_path / "ckpt")


def test_newer_format_is_refused(saved):
    config = json.loads((saved / CONFIG_NAME).read_text())
    config["robench"]["format"] = 99
    (saved / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(RobenchError, match="format 99") as err:
        load_checkpoint(saved)
    assert "upgrade robench" in err.value.hint


def test_copy_checkpoint(saved, tmp_path):
    copy = copy_checkpoint(saved, tmp_path / "copy")
    for name in (CONFIG_NAME, WEIGHTS_NAME, GOLDEN_NAME):
        assert (copy / name).read_bytes() == (saved / name).read_bytes()
    load_checkpoint(copy, verify_golden=True)


def test_copy_checkpoint_under_a_tag_changes_only_the_architecture_it_names(tmp_path):
    torch.manual_seed(0)
    saved = save_checkpoint(robench.zoo.create_model("resnet18", width=2).eval(), tmp_path / "ckpt", recipe=RECIPE)
    copy = copy_checkpoint(saved, tmp_path / "copy", tag="resnet18_small")
    original, tagged = read_config(saved), read_config(copy)
    assert tagged == {**original, "architecture": "resnet18_small"}
    assert (copy / WEIGHTS_NAME).read_bytes() == (saved / WEIGHTS_NAME).read_bytes()
    assert load_checkpoint(copy, verify_golden=True).robench_cfg.architecture == "resnet18_small"

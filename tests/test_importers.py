"""Importing the original authors' checkpoints, strictly, and exporting back to their exact layouts.

Synthetic checkpoints are built from the key layouts recorded from the original code (SPEC section 14:
``original-keys/<model>.txt``: key, shape, param|buffer), with random values.
"""

from __future__ import annotations

import ast
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from robench import zoo
from robench.errors import RobenchError
from robench.zoo.importers import ORIGINAL_LAYOUTS, export_original, load_original, model_for_layout, read_checkpoint

KEYS_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec" / "original-keys"
pytestmark = pytest.mark.skipif(not KEYS_DIR.is_dir(), reason=f"original key layouts not found in {KEYS_DIR}")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a small shared CPU, OpenMP threads contending with other processes are slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def read_layout(name: str) -> list[tuple[str, list[int], str]]:
    rows = []
    for line in (KEYS_DIR / f"{name}.txt").read_text().splitlines():
        key, shape, kind = line.split("\t")
        rows.append((key, list(ast.literal_eval(shape)), kind))
    return rows


def synthetic_state(name: str, seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """Random tensors with exactly the original keys, shapes and dtypes, in the original order."""
    g = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape, _ in read_layout(name):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.randint(0, 10_000, shape, generator=g, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g)
    return state


def as_original_file(name: str, state: OrderedDict, path: Path) -> Path:
    """Save ``state`` the way the original code does: wrapping, DataParallel prefix."""
    layout = ORIGINAL_LAYOUTS[name]
    state = OrderedDict((layout.prefix + k, v) for k, v in state.items())
    obj = (
        {"epoch": 199, "state_dict": state, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}
        if layout.wrapped
        else state
    )
    torch.save(obj, path)
    return path


_MODELS: dict[str, torch.nn.Module] = {}


def layout_model(name: str) -> torch.nn.Module:
    """One model per layout for the whole module (strict checks fail before anything is loaded)."""
    if name not in _MODELS:
        _MODELS[name] = model_for_layout(name)
    return _MODELS[name]


def test_every_recorded_layout_has_an_importer():
    assert sorted(ORIGINAL_LAYOUTS) == sorted(p.stem for p in KEYS_DIR.glob("*.txt"))


@pytest.mark.parametrize("name", sorted(ORIGINAL_LAYOUTS))
def test_zoo_model_has_the_original_key_layout(name):
    model = layout_model(name)
    params = dict(model.named_parameters())
    ours = [(k, list(v.shape), "param" if k in params else "buffer") for k, v in model.state_dict().items()]
    assert ours == read_layout(name)


@pytest.mark.parametrize("name", sorted(ORIGINAL_LAYOUTS))
def test_import_then_export_is_bit_for_bit(name, tmp_path):
    state = synthetic_state(name)
    path = as_original_file(name, state, tmp_path / f"{name}.pth.tar")
    model = layout_model(name)
    notes = load_original(model, path)
    layout = ORIGINAL_LAYOUTS[name]
    assert any("module." in n for n in notes) == bool(layout.prefix)

    exported = export_original(model, name, tmp_path / "exported.pth")
    exported_state = exported["state_dict"] if layout.wrapped else exported
    assert list(exported_state) == [layout.prefix + k for k in state]
    for key, value in state.items():
        out = exported_state[layout.prefix + key]
        assert out.dtype == value.dtype and torch.equal(out, value), key
    reread = torch.load(tmp_path / "exported.pth", weights_only=True)
    assert set(reread) == ({"state_dict"} if layout.wrapped else set(exported_state))


CORRUPTIONS = ["drop", "reshape", "extra"]


@pytest.mark.parametrize("corruption", CORRUPTIONS)
@pytest.mark.parametrize("name", sorted(ORIGINAL_LAYOUTS))
def test_corrupted_checkpoint_is_refused_naming_the_keys(name, corruption):
    state = synthetic_state(name, seed=1)
    keys = [k for k in state if not k.startswith("auxiliary_head.")]
    victim = (
        keys[len(keys) // 2] if corruption != "reshape" else next(k for k in reversed(keys) if k.endswith(".weight"))
    )
    if corruption == "drop":
        del state[victim]
        expected = f"1 missing: {victim}"
    elif corruption == "reshape":
        state[victim] = torch.zeros(*state[victim].shape[:-1], state[victim].shape[-1] + 1)
        expected = f"1 with another shape: {victim}"
    else:
        victim = "cells.0.extra_conv.weight"
        state[victim] = torch.zeros(3)
        expected = f"1 unexpected: {victim}"
    model = layout_model(name)
    before = {k: v.clone() for k, v in list(model.state_dict().items())[:3]}
    with pytest.raises(RobenchError) as info:
        load_original(model, {"state_dict": state})
    assert expected in info.value.message
    assert "does not match" in info.value.message and info.value.hint
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items()), "nothing may be loaded partially"


def test_auxiliary_head_dropped_for_an_eval_model(tmp_path):
    state = synthetic_state("darts_v2")
    model = zoo.create_model("darts_v2")  # built without the head
    notes = load_original(model, as_original_file("darts_v2", state, tmp_path / "cifar10.pt"))
    assert notes == ["dropped 14 auxiliary-head tensors (the model is built without the head)"]
    assert torch.equal(model.classifier.weight, state["classifier.weight"])


def test_module_prefix_and_training_wrapper_are_accepted(tmp_path):
    state = synthetic_state("advrush")
    wrapped = {
        "epoch": 10,
        "state_dict": OrderedDict(("module." + k, v) for k, v in state.items() if not k.startswith("auxiliary_head.")),
        "optimizer": {"state": {}, "param_groups": []},
    }
    torch.save(wrapped, tmp_path / "checkpoint.pth.tar")
    model = zoo.create_model("advrush")
    assert load_original(model, tmp_path / "checkpoint.pth.tar") == ["stripped the 'module.' prefix"]
    assert torch.equal(model.cells[19]._ops[0].op[1].weight, state["cells.19._ops.0.op.1.weight"])


def test_robnet_svhn_100_way_head_is_sliced_to_10_classes(tmp_path):
    state = synthetic_state("robnet_free")
    state["classifier.weight"] = torch.randn(100, 576)
    state["classifier.bias"] = torch.randn(100)
    path = as_original_file("robnet_free", state, tmp_path / "RobNet_free_SVHN.pth.tar")
    model = zoo.create_model("robnet_free", "svhn")
    notes = load_original(model, path)
    assert "sliced classifier.weight from 100 to 10 classes" in notes
    assert torch.equal(model.classifier.weight, state["classifier.weight"][:10])
    assert torch.equal(model.classifier.bias, state["classifier.bias"][:10])
    # on CIFAR-10 a 100-way head is a real mismatch, not something to slice silently
    with pytest.raises(RobenchError, match="classifier.weight \\(checkpoint \\[100, 576\\], model \\[10, 576\\]\\)"):
        load_original(zoo.create_model("robnet_free"), path)


def test_zoo_load_imports_an_original_checkpoint(tmp_path):
    state = synthetic_state("arnas_tiny")
    path = as_original_file("arnas_tiny", state, tmp_path / "arnas_tiny.pt")
    model = zoo.load("arnas", dataset="tiny-imagenet", checkpoint=path, device="cpu")
    assert not model.training and model.auxiliary_head is None
    assert torch.equal(model.classifier.weight, state["classifier.weight"])
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 200)


class NotATensor:
    pass


def test_unsafe_or_unreadable_files_are_refused(tmp_path):
    pickled = tmp_path / "with_scheduler.pth.tar"
    torch.save({"state_dict": synthetic_state("robnet_large"), "scheduler": NotATensor()}, pickled)
    with pytest.raises(RobenchError, match="pickled Python objects") as info:
        read_checkpoint(pickled)
    assert "weights_only=False" in info.value.hint
    html = tmp_path / "drive.pt"
    html.write_text("<!DOCTYPE html><html>Google Drive virus scan warning</html>")
    with pytest.raises(RobenchError, match="cannot read"):
        read_checkpoint(html)
    with pytest.raises(RobenchError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")
    torch.save({"epoch": 3}, tmp_path / "no_weights.pt")
    with pytest.raises(RobenchError, match="neither a state_dict"):
        read_checkpoint(tmp_path / "no_weights.pt")


def test_export_checks_the_model_fits_the_layout():
    with pytest.raises(RobenchError, match="auxiliary=True"):
        export_original(zoo.create_model("advrush"), "advrush")
    with pytest.raises(RobenchError, match="for robnet_free models"):
        export_original(zoo.create_model("darts_v2", C=8, layers=3), "robnet_free")
    with pytest.raises(RobenchError, match="unknown original layout"):
        export_original(zoo.create_model("darts_v2", C=8, layers=3), "nasnet")

"""Importing the original authors' checkpoints, strictly, and exporting back to their exact layouts.

Synthetic checkpoints are built from the key layouts recorded from the original code (SPEC section 14:
``original-keys/<model>.txt``: key, shape, param|buffer), with random values.
"""

from __future__ import annotations

import ast
import logging
import os
import sys
import types
import warnings
import zipfile
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

    exported = export_original(model, name, tmp_path / "exported.pth", auxiliary=layout.auxiliary)
    exported_state = exported["state_dict"] if layout.wrapped else exported
    assert list(exported_state) == [layout.prefix + k for k in state]
    for key, value in state.items():
        out = exported_state[layout.prefix + key]
        assert out.dtype == value.dtype and torch.equal(out, value), key
    reread = torch.load(tmp_path / "exported.pth", weights_only=True)
    assert set(reread) == ({"state_dict"} if layout.wrapped else set(exported_state))
    # by default, what the authors' evaluation script builds: no auxiliary head
    default = export_original(model, name)
    default_state = default["state_dict"] if layout.wrapped else default
    assert list(default_state) == [layout.prefix + k for k in state if not k.startswith("auxiliary_head.")]


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


def test_unreadable_files_are_refused(tmp_path):
    html = tmp_path / "drive.pt"
    html.write_text("<!DOCTYPE html><html>Google Drive virus scan warning</html>")
    with pytest.raises(RobenchError, match="cannot read"):
        read_checkpoint(html)
    with pytest.raises(RobenchError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")
    torch.save({"epoch": 3}, tmp_path / "no_weights.pt")
    with pytest.raises(RobenchError, match="neither a state_dict"):
        read_checkpoint(tmp_path / "no_weights.pt")


def _pickle_with_a_class_that_will_not_exist(obj_state: dict, path: Path) -> None:
    """Save RobNets' main.py checkpoint, whose 'scheduler' is an object of its own lr_scheduler module, then make
    that module vanish, as it is absent wherever robench reads the file."""
    module = types.ModuleType("lr_scheduler")

    class CosineLRScheduler:
        def __init__(self):
            self.base_lrs, self.last_epoch = [0.1], 199

    CosineLRScheduler.__module__ = "lr_scheduler"
    CosineLRScheduler.__qualname__ = "CosineLRScheduler"
    module.CosineLRScheduler = CosineLRScheduler
    sys.modules["lr_scheduler"] = module
    try:
        torch.save({**obj_state, "scheduler": CosineLRScheduler()}, path)
    finally:
        del sys.modules["lr_scheduler"]


@pytest.mark.parametrize("zipfile_format", [True, False], ids=["zip", "legacy"])
def test_robnet_training_file_with_a_pickled_scheduler_loads(tmp_path, zipfile_format, caplog):
    state = synthetic_state("robnet_large")
    path = tmp_path / "RobNet_large_cifar10.pth.tar"
    optimizer = {"state": {0: {"momentum_buffer": torch.randn(3)}}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    checkpoint = {"epoch": 199, "best_acc": 52.5, "optimizer": optimizer, "state_dict": state}
    if zipfile_format:
        _pickle_with_a_class_that_will_not_exist(checkpoint, path)
    else:
        module = types.ModuleType("lr_scheduler")
        sys.modules["lr_scheduler"] = module
        exec("class CosineLRScheduler:\n    pass", module.__dict__)  # noqa: S102 - a class to pickle, in the test
        module.CosineLRScheduler.__module__ = "lr_scheduler"
        try:
            torch.save({**checkpoint, "scheduler": module.CosineLRScheduler()}, path,
                       _use_new_zipfile_serialization=False)  # fmt: skip
        finally:
            del sys.modules["lr_scheduler"]
    with pytest.raises(ModuleNotFoundError):  # what an ordinary unpickler does with it
        torch.load(path, weights_only=False)
    with caplog.at_level(logging.INFO, logger="robench.zoo.importers"):
        loaded = read_checkpoint(path)
    assert "lr_scheduler" not in sys.modules, "nothing named in the file may be imported"
    assert list(loaded) == list(state) and all(torch.equal(loaded[k], v) for k, v in state.items())
    assert "lr_scheduler.CosineLRScheduler" in caplog.text and "not imported, not run" in caplog.text
    model = zoo.load("robnet_large", checkpoint=path, device="cpu")
    assert torch.equal(model.classifier.weight, state["classifier.weight"])


class RunsACommand:
    """What a malicious checkpoint pickles: unpickling it the ordinary way runs a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_pickle_runs_nothing(tmp_path, capfd):
    marker = tmp_path / "ran"
    state = synthetic_state("darts_v2")
    torch.save({"state_dict": state, "payload": RunsACommand(marker)}, tmp_path / "weights.pt")
    torch.save(RunsACommand(marker), tmp_path / "payload_only.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning of torch's may reach the screen
        loaded = read_checkpoint(tmp_path / "weights.pt")
        assert all(torch.equal(loaded[k], v) for k, v in state.items())
        with pytest.raises(RobenchError) as info:
            read_checkpoint(tmp_path / "payload_only.pt")
    assert not marker.exists(), "the pickled command ran"
    message = info.value.message
    assert "posix.system" in message and "neither imported nor ran" in message and "truncated" not in message
    assert "weights_only=False" in info.value.hint
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_state_dict_from_before_pytorch_041_loads_with_a_note(tmp_path, caplog):
    """PyTorch 0.3.1 (DARTS' pin) wrote no num_batches_tracked; its strict load took exactly the other keys."""
    state = synthetic_state("darts_v2")
    old = OrderedDict((k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert len(old) < len(state)
    path = as_original_file("darts_v2", old, tmp_path / "cifar10_model.pt")
    model = layout_model("darts_v2")
    with caplog.at_level(logging.INFO, logger="robench.zoo.importers"):
        notes = load_original(model, path)
    tracked = len(state) - len(old)
    assert notes == [f"set num_batches_tracked to 0 in all {tracked} BatchNorm layers (a state_dict from before "
                     "PyTorch 0.4.1)"]  # fmt: skip
    assert "before PyTorch 0.4.1" in caplog.text
    assert all(torch.equal(model.state_dict()[k], v) for k, v in old.items())
    # a file missing the counter in some layers only was not written by any PyTorch: the strict check refuses it
    some = OrderedDict(state)
    del some["stem.1.num_batches_tracked"]
    with pytest.raises(RobenchError, match="1 missing: stem.1.num_batches_tracked"):
        load_original(model, some)


@pytest.mark.parametrize("name", ["advrush", "racl", "arnas"])
def test_export_of_what_zoo_load_returns_loads_in_the_authors_eval_script(name, tmp_path):
    """AdvRush trains without --auxiliary (its README), ARNAS with the head on; their eval/pgd_attack.py builds
    the network without the head at its defaults, then loads torch.load(path)['state_dict'] strictly."""
    state = synthetic_state(name)
    if name == "advrush":
        state = OrderedDict((k, v) for k, v in state.items() if not k.startswith("auxiliary_head."))
    path = as_original_file(name, state, tmp_path / "model_best.pth.tar")
    model = zoo.load(ORIGINAL_LAYOUTS[name].architecture, checkpoint=path, device="cpu")
    exported = tmp_path / "exported.pth.tar"
    export_original(model, name, exported)
    assert not zipfile.is_zipfile(exported), "PyTorch 1.2 (the authors' pin) reads only the pre-1.6 format"
    # their loader: Network(C, 10, layers, args.auxiliary=False, genotype); model.load_state_dict(ckpt['state_dict'])
    theirs = zoo.create_model(ORIGINAL_LAYOUTS[name].architecture, auxiliary=False)
    theirs.load_state_dict(torch.load(exported)["state_dict"])
    ours = model.state_dict()
    assert all(torch.equal(v, ours[k]) for k, v in theirs.state_dict().items())
    assert all(torch.equal(ours[k], v) for k, v in state.items() if not k.startswith("auxiliary_head."))


def test_non_finite_float64_and_half_prefixed_checkpoints(tmp_path, caplog):
    state = synthetic_state("robnet_free")
    model = layout_model("robnet_free")
    nan = OrderedDict(state)
    nan["classifier.bias"] = nan["classifier.bias"].clone()
    nan["classifier.bias"][3] = float("nan")
    with pytest.raises(RobenchError, match="NaN or infinite values in 1 tensors: classifier.bias"):
        load_original(model, nan)
    huge = OrderedDict((k, v.double() if v.is_floating_point() else v) for k, v in state.items())
    huge["classifier.bias"] = huge["classifier.bias"].clone()
    huge["classifier.bias"][0] = 1e300  # beyond float32
    with pytest.raises(RobenchError, match="NaN or infinite values"):
        load_original(model, huge)
    double = OrderedDict((k, v.double() if v.is_floating_point() else v) for k, v in state.items())
    floats = sum(v.is_floating_point() for v in state.values())
    with caplog.at_level(logging.INFO, logger="robench.zoo.importers"):
        notes = load_original(model, double)
    assert notes == [f"converted {floats} float64 tensors to float32 (rounded to the model precision)"]
    assert "float64" in caplog.text
    assert torch.equal(model.classifier.weight, state["classifier.weight"])
    half = OrderedDict(("module." + k if i % 2 else k, v) for i, (k, v) in enumerate(state.items()))
    with pytest.raises(RobenchError, match="mixes keys with and without the 'module.' prefix") as info:
        load_original(model, half)
    assert info.value.hint
    ints = OrderedDict(state)
    ints["classifier.weight"] = ints["classifier.weight"].long()
    with pytest.raises(RobenchError, match="another kind than the model's: classifier.weight"):
        load_original(model, ints)


def test_export_checks_the_model_fits_the_layout():
    with pytest.raises(RobenchError, match="the model has none") as info:
        export_original(zoo.create_model("advrush"), "advrush", auxiliary=True)
    assert "auxiliary=True" in info.value.hint
    with pytest.raises(RobenchError, match="the authors' network has none"):
        export_original(zoo.create_model("robnet_large", C=8, layers=3), "robnet_large", auxiliary=True)
    with pytest.raises(RobenchError, match="for robnet_free models"):
        export_original(zoo.create_model("darts_v2", C=8, layers=3), "robnet_free")
    with pytest.raises(RobenchError, match="unknown original layout"):
        export_original(zoo.create_model("darts_v2", C=8, layers=3), "nasnet")

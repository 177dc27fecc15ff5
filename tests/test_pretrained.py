"""Pretrained weights from each entry's sources: robench's Hub repo, then the authors' releases, each served in the
authors' own format from 127.0.0.1 (a RobNets zip of pickled-scheduler checkpoints on "Drive", a DARTS-era plain
state dict in the nas-robustness "Drive" folder, an ARNAS training checkpoint on "GitHub"); fetched, verified,
converted, cached, and read offline afterwards."""

from __future__ import annotations

import io
import json
import sys
import time
import types
import zipfile

import pytest
import torch
from click.testing import CliRunner
from gdown.download_folder import GoogleDriveFileToDownload
from hub_server import hub, small_model  # noqa: F401  (fixtures)
from release_server import ReleaseServer

from robench import zoo
from robench.cli import cli
from robench.errors import RobenchError
from robench.evaluate.reproduction import compare_with_papers
from robench.hub import push, validate_card
from robench.zoo import pretrained
from robench.zoo.checkpoint import CARD_NAME, load_checkpoint, save_checkpoint
from robench.zoo.releases import RELEASES

ROBNETS_ZIP = "/uc?id=12Dkycpdyo7el-SmwImFzp0-NIhGt3-AT"
ARNAS_FILE = "/fyqsama/ARNAS/raw/main/ARNAS_train_eval/eval/EXP/ARNAS.pth.tar"
DARTS_FILE_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123"


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a small shared CPU, full-size networks run several times faster this way."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def releases(hub, tmp_path, monkeypatch):  # noqa: F811 - the hub fixture
    """The authors' hosts on 127.0.0.1 (robench's documented mirror settings), an empty loopback Hub, and a fresh
    pretrained-weights cache."""
    server = ReleaseServer().start()
    monkeypatch.setenv("ROBENCH_GDRIVE_URL", server.url)
    monkeypatch.setenv("ROBENCH_GITHUB_URL", server.url)
    monkeypatch.setenv("ROBENCH_PRETRAINED", str(tmp_path / "pretrained"))
    yield server
    server.stop()


def _model(name: str, seed: int, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = zoo.create_model(name, **kwargs)
    model.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so buffers matter to the logits
        model(torch.rand(4, 3, 32, 32))
    return model.eval()


def _legacy_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)  # what PyTorch 1.2-era scripts wrote
    return buffer.getvalue()


def _robnets_checkpoint(model: torch.nn.Module, layout: str) -> bytes:
    """RobNets main.py's file: the state dict next to an object of RobNets' own lr_scheduler module."""
    module = types.ModuleType("lr_scheduler")
    exec("class CosineLRScheduler:\n    pass", module.__dict__)  # noqa: S102 - a class to pickle, in the test
    module.CosineLRScheduler.__module__ = "lr_scheduler"
    sys.modules["lr_scheduler"] = module
    try:
        obj = {**zoo.export_original(model, layout), "epoch": 120, "best_acc": 52.6, "optimizer": {},
               "scheduler": module.CosineLRScheduler()}  # fmt: skip
        return _legacy_bytes(obj)
    finally:
        del sys.modules["lr_scheduler"]


def _same_logits(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def test_robnets_zip_is_fetched_converted_verified_and_then_read_offline(releases, hub, caplog):  # noqa: F811
    free, large = _model("robnet_free", 0), _model("robnet_large", 1)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("checkpoint/RobNet_free_cifar10.pth.tar", _robnets_checkpoint(free, "robnet_free"))
        z.writestr("checkpoint/RobNet_large_v1_cifar10.pth.tar", _robnets_checkpoint(large, "robnet_large"))
    releases.files[ROBNETS_ZIP] = archive.getvalue()

    caplog.set_level("INFO")
    loaded = zoo.load("robnet-free", device="cpu")
    assert _same_logits(loaded, free) and not loaded.training
    assert "lr_scheduler" not in sys.modules, "nothing the file names may be imported"
    assert "publishes no sha256" in caplog.text
    metadata = loaded.robench_checkpoint.config["robench"]["metadata"]
    assert ROBNETS_ZIP in metadata["source"] and "RobNet_free_cifar10.pth.tar" in metadata["source"]
    lock = json.loads((pretrained.pretrained_dir() / pretrained.LOCK_NAME).read_text())
    entry = lock["releases"]["drive-file:12Dkycpdyo7el-SmwImFzp0-NIhGt3-AT"]
    assert entry["sha256"] == metadata["download_sha256"]
    assert entry["weights"]["robnet_free-cifar10"] == loaded.robench_checkpoint.weights_sha256
    # the Hub was asked first (and has no such repo), the archive was downloaded once
    assert any("robench/robench-robnet_free-cifar10" in path for _, path in hub.log)
    assert [r for r in releases.log if r[0] == "GET"] == [("GET", ROBNETS_ZIP, None)]

    # the same archive serves the other RobNet, and a second load needs no network at all
    releases.stop()
    hub.stop()
    assert _same_logits(zoo.load("robnet_large", device="cpu"), large)
    again = zoo.load("robnet_free", device="cpu")
    assert _same_logits(again, free)
    assert again.robench_checkpoint.weights_sha256 == loaded.robench_checkpoint.weights_sha256


def test_darts_era_state_dict_from_the_nas_robustness_folder(releases, monkeypatch, data_root, tmp_path):
    darts = _model("darts_v2", 2, auxiliary=True)
    state = {k: v for k, v in darts.state_dict().items() if not k.endswith("num_batches_tracked")}  # PyTorch 0.3
    releases.files[f"/uc?id={DARTS_FILE_ID}"] = _legacy_bytes(state)
    listed = []

    def listing(id, skip_download, **kwargs):  # noqa: A002 - gdown's name; Drive's folder page cannot be served
        listed.append(id)
        return [GoogleDriveFileToDownload("1OtherFileId00000000000000000", "pdarts/cifar10.pt", "x"),
                GoogleDriveFileToDownload(DARTS_FILE_ID, "darts/cifar10.pt", "y")]  # fmt: skip

    monkeypatch.setattr(pretrained.gdown, "download_folder", listing)
    loaded = zoo.load("darts", device="cpu")
    assert listed == ["1jrOuEBQ3lFDbI916ps8lEFPvRyOCZqLl"]
    assert _same_logits(loaded, darts) and loaded.auxiliary_head is None

    # evaluated, these (random) weights are held against the paper's number for the released ones: its clean
    # accuracy only, the paper's attacks having their eps on normalised inputs
    result = CliRunner().invoke(cli, ["eval", "darts", "--attack", "fgsm", "--n-examples", "16", "--device", "cpu",
                                      "--data-dir", str(data_root), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "eval" / "result.json").read_text())
    (row,) = record["reproduction"]
    assert (row["metric"], row["paper"], row["row"]) == ("clean", 0.9703, "DARTS")
    assert row["measured"] == record["metrics"]["clean_accuracy"] and row["ci95"] == record["metrics"]["clean_ci95"]
    assert not row["within"] and "differs-from-paper" in {f["code"] for f in record["flags"]}
    assert "paper: clean 97.03%" in result.output and "outside" in result.output


def test_the_reproduction_check_compares_only_what_the_paper_measured_as_robench_does():
    model = _model("robnet_free", 0)
    model.robench_checkpoint = types.SimpleNamespace(config={"robench": {"metadata": {
        "release": RELEASES[("robnet_free", "cifar10")][0].identity}}})
    record = {"model": {"architecture": "robnet_free"}, "dataset": {"name": "cifar10", "n_examples": 500},
              "threat_model": {"norm": "Linf", "eps": 8 / 255}, "attacks": [{"name": "pgd100"}, {"name": "fgsm"}],
              "metrics": {"clean_accuracy": 0.83, "per_attack": {"pgd100": 0.45, "fgsm": 0.44}}}
    rows, flags = compare_with_papers(model, record, chain=True)
    # RobNet's white-box table: clean 82.79 (inside [79.5, 86.1]) and PGD-100 52.57 (outside [40.7, 49.4])
    assert [(r["metric"], r["paper"], r["within"]) for r in rows] == [("clean", 0.8279, True), ("pgd100", 0.5257, False)]
    assert [f.code for f in flags] == ["differs-from-paper"] and "pgd100 45.00%" in flags[0].message
    # in a chained suite a later attack's number is cumulative: not the paper's; another eps is not the paper's
    assert [r["metric"] for r in compare_with_papers(model, {**record, "attacks": [{"name": "fgsm"}, {"name": "pgd100"}]},
                                                     chain=True)[0]] == ["clean"]
    assert compare_with_papers(model, {**record, "threat_model": {"norm": "Linf", "eps": 4 / 255}}, True) == ([], [])
    # weights not from the release: nothing to compare with
    del model.robench_checkpoint
    assert compare_with_papers(model, record, chain=True) == ([], [])


def test_arnas_checkpoint_from_github_evaluates_and_a_tampered_download_is_refused(releases, data_root, tmp_path):
    arnas = _model("arnas", 3, auxiliary=True)
    releases.files[ARNAS_FILE] = _legacy_bytes(
        {"epoch": 199, "state_dict": arnas.state_dict(), "optimizer": {"param_groups": []}}
    )
    result = CliRunner().invoke(cli, ["eval", "arnas", "--attack", "fgsm", "--n-examples", "4", "--device", "cpu",
                                      "--data-dir", str(data_root), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "arnas" in result.output and "after fgsm" in result.output

    # a converted checkpoint altered on disk is refused by its own checksums
    converted = pretrained.pretrained_dir() / "checkpoints" / "arnas-cifar10"
    weights = converted / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-4] + b"\0\0\0\0")
    with pytest.raises(RobenchError, match="fails its integrity check"):
        zoo.load("arnas", device="cpu")
    weights.write_bytes(original)

    # a download that differs from the one recorded in the lock file is refused, and not kept
    for path in (converted / "config.json", pretrained.pretrained_dir() / "downloads" / "ARNAS.pth.tar"):
        path.unlink()
    releases.files[ARNAS_FILE] = _legacy_bytes({"epoch": 199, "state_dict": _model("arnas", 4).state_dict()})
    with pytest.raises(RobenchError, match="but sha256.lock.json expects") as err:
        zoo.load("arnas", device="cpu")
    assert "tried: hf-hub:robench/robench-arnas-cifar10" in err.value.message
    assert not (pretrained.pretrained_dir() / "downloads" / "ARNAS.pth.tar").exists()


def test_the_hub_repo_comes_first_and_its_organisation_is_configurable(releases, hub, small_model, tmp_path,  # noqa: F811
                                                                        monkeypatch):
    monkeypatch.setenv("ROBENCH_HUB_ORG", "robust-lab")
    push(save_checkpoint(small_model, tmp_path / "ckpt"), "robust-lab/robench-darts_v2-cifar10")
    loaded = zoo.load("darts_v2", device="cpu")
    assert _same_logits(loaded, small_model)
    assert releases.log == [], "the authors' release is not fetched when the Hub serves"
    assert str(pretrained.sources("darts_v2", "cifar10")[0]).startswith("hf-hub:robust-lab/robench-darts_v2-cifar10")


def test_unreachable_or_offline_sources_fail_at_once_naming_each(releases, hub, monkeypatch):  # noqa: F811
    import huggingface_hub.constants as hf_constants

    started = time.monotonic()
    with pytest.raises(RobenchError) as err:
        zoo.load("robnet_free", device="cpu")  # the Hub has no repo, Drive answers 404
    message, hint = err.value.message, err.value.hint
    assert "hf-hub:robench/robench-robnet_free-cifar10" in message and f"{releases.url}{ROBNETS_ZIP}" in message
    assert "404" in message
    assert str(pretrained.pretrained_dir() / "downloads" / "RobNets-checkpoint.zip") in hint
    assert "robench zoo convert FILE --arch robnet_free" in hint

    releases.stop()
    hub.stop()  # nothing listens any more: connections are refused
    with pytest.raises(RobenchError, match="no pretrained weights for arnas on cifar10 could be fetched") as err:
        zoo.load("arnas", device="cpu")
    assert "ConnectionError" in err.value.message and "ARNAS.pth.tar" in err.value.hint

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RobenchError, match="offline mode is on") as err:
        zoo.load("arnas", device="cpu")
    assert "not on this machine" in err.value.message
    assert time.monotonic() - started < 15


def test_zoo_convert_and_fetch_commands(releases, tmp_path):
    arnas = _model("arnas", 5, auxiliary=True)
    original = tmp_path / "ARNAS.pth.tar"
    original.write_bytes(_legacy_bytes({"epoch": 199, "state_dict": arnas.state_dict(), "optimizer": {}}))
    out = tmp_path / "robench-arnas-cifar10"
    result = CliRunner().invoke(cli, ["zoo", "convert", str(original), "--arch", "arnas", "--out", str(out)])
    assert result.exit_code == 0, result.output
    validate_card((out / CARD_NAME).read_text())
    converted = load_checkpoint(out, verify_golden=True)
    assert _same_logits(converted, arnas)
    assert converted.robench_checkpoint.config["robench"]["metadata"]["source"] == "ARNAS.pth.tar"

    releases.files[ARNAS_FILE] = original.read_bytes()
    result = CliRunner().invoke(cli, ["zoo", "fetch", "arnas"])
    assert result.exit_code == 0, result.output
    assert "arnas-cifar10" in result.output


def test_info_lists_each_entrys_sources(releases):
    wide = {"COLUMNS": "200"}
    result = CliRunner().invoke(cli, ["info", "robnet_free", "--dataset", "svhn"], env=wide)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "hf-hub:robench/robench-robnet_free-svhn" in text and "RobNets (gmh14/RobNets)" in text
    assert "RobNet_free_SVHN.pth.tar" in text
    advrush = " ".join(CliRunner().invoke(cli, ["info", "advrush"], env=wide).output.split())
    assert "AdvRush released no weights" in advrush


def test_every_release_names_an_importable_layout_of_its_entry():
    from robench.zoo.importers import ORIGINAL_LAYOUTS

    for (name, dataset), found in RELEASES.items():
        entry = zoo.get_entry(name)
        assert dataset in entry.datasets
        for release in found:
            assert ORIGINAL_LAYOUTS[release.layout].architecture == name

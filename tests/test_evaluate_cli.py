"""``robench eval`` from the command line: zoo names, original checkpoint files, JSON output, resumption, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from robench import zoo
from robench.cli import cli
from robench.evaluate.provenance import weights_sha256
from robench.evaluate.records import read_record


def _eval(*args: str):
    return CliRunner().invoke(cli, ["eval", *args])


def test_eval_a_zoo_model_prints_a_table_writes_a_record_and_resumes(data_root, tmp_path):
    out = tmp_path / "run"
    args = ["resnet18_small", "--attack", "fgsm", "--attack", "pgd10", "--n-examples", "32", "--batch-size", "16",
            "--data-dir", str(data_root), "--device", "cpu", "--out", str(out)]
    first = _eval(*args)
    assert first.exit_code == 0, first.output
    assert "after fgsm" in first.output and "after pgd10" in first.output and "robust (worst case)" in first.output
    record = read_record(out / "result.json")
    assert record["model"]["name"] == "resnet18_small" and record["dataset"]["n_examples"] == 32
    again = _eval(*args, "--json")  # every batch is logged: the second run only reads them back
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["metrics"] == record["metrics"]


def test_eval_an_original_checkpoint_file_with_its_architecture(data_root, tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model("robnet_free")
    path = tmp_path / "RobNet_free_cifar10.pth.tar"
    zoo.export_original(model, "robnet_free", path)  # the authors' {'state_dict': ...} layout
    result = _eval(str(path), "--arch", "robnet-free", "--attack", "fgsm", "--n-examples", "8", "--no-checks",
                   "--data-dir", str(data_root), "--device", "cpu", "--out", str(tmp_path / "run"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"]["weights_sha256"] == weights_sha256(model)


@pytest.mark.parametrize("args, message", [
    (["nosuch.pth", "--arch", "robnet_free"], "no such file or directory: nosuch.pth"),
    (["robnet-free"], "no pretrained weights for robnet_free on cifar10"),
    (["resnet18_small", "--attack", "pgd21"], "unknown attack 'pgd21'"),
    (["resnet18_small", "--eps", "8/0"], "eps"),
    (["hf-hub:not a repo"], "malformed Hub repo id"),
])
def test_eval_mistakes_are_one_line_errors(args, message):
    result = _eval(*args)
    assert result.exit_code == 1
    assert message in result.output and "hint:" in result.output and "Traceback" not in result.output


def test_eval_checkpoint_file_without_arch(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(b"not used")
    result = _eval(str(path))
    assert result.exit_code == 1 and "needs its architecture" in result.output and "--arch" in result.output


@pytest.mark.parametrize("module", ["robench.cli.evaluate", "robench.cli.search"])
def test_cli_modules_do_not_import_torch(module):
    code = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_transfer_writes_the_record_and_the_leaderboards_heat_map(data_root, tmp_path):
    from robench.leaderboard.plots import read_digest, transfer_heatmap

    out = tmp_path / "transfer"
    result = CliRunner().invoke(cli, ["transfer", "resnet18_small", "advrush_small", "--attack", "fgsm",
                                      "--n-examples", "16", "--data-dir", str(data_root), "--device", "cpu",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = read_record(out / "transfer.json")
    assert read_digest(out / "transfer.png") == transfer_heatmap(record, tmp_path / "again.png")

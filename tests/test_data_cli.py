"""``robench data``: its output on real data, and errors as two lines with exit code 1."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from robench.cli import cli


@pytest.fixture
def empty_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBENCH_DATA", str(tmp_path / "env-root"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_cli_module_does_not_import_torch():
    code = "import sys, robench.cli.data; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_prepare_and_info(data_root):
    result = CliRunner().invoke(cli, ["data", "prepare", "cifar10", "--split", "test", "--data-dir", str(data_root)])
    assert result.exit_code == 0, result.output
    assert "cifar10 test: 10,000 images 3x32x32, 10 classes (1,000 per class)" in result.output
    assert "sha256 " in result.output

    result = CliRunner().invoke(cli, ["data", "info", "--data-dir", str(data_root)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "cifar10 " in line and " test " in line)
    assert "yes" in row and "10,000" in row and str(data_root / "cifar10" / "test") in row
    assert "500 of 50,000" in result.output  # the ImageNet sample is shown as partial


def test_missing_data_is_an_error_with_a_hint(empty_roots):
    result = CliRunner().invoke(cli, ["data", "prepare", "svhn", "--split", "test", "--data-dir", str(empty_roots)])
    assert result.exit_code == 1
    assert "error: svhn test split not found; searched:" in result.output
    assert str(empty_roots / "svhn" / "test_32x32.mat") in result.output
    assert "hint:" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["prepare", "mnist"], ["prepare", "cifar10", "--split", "val"]])
def test_user_mistakes_are_errors(args, empty_roots):
    result = CliRunner().invoke(cli, ["data", *args])
    assert result.exit_code == 1 and "error:" in result.output and "hint:" in result.output

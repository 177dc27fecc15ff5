"""``robench list`` / ``robench info``: tables from the registry; the CLI module does not import torch."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from robench.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), terminal_width=200)


def test_list_filters_by_pattern():
    result = run("list", "*robnet*")
    assert result.exit_code == 0, result.output
    for name in ("robnet_free", "robnet_large", "robnet_large_v2"):
        assert name in result.output
    assert "advrush" not in result.output


def test_list_says_when_nothing_matches():
    result = run("list", "nothing*", "--pretrained")
    assert result.exit_code == 0 and "no model matches 'nothing*' with packaged pretrained weights" in result.output


def test_info_shows_sizes_genotype_and_reported_numbers():
    result = run("info", "robnet-free")
    assert result.exit_code == 0, result.output
    assert "5,439,790" in result.output and "5,491,720" in result.output  # 10- and 100-class heads
    assert "a4f185d43917" in result.output and "MIT" in result.output
    assert "48.56" in result.output  # AdvRush Table 1, AutoAttack


def test_info_on_a_data_set_variant():
    result = run("info", "arnas", "--dataset", "tiny-imagenet")
    assert result.exit_code == 0, result.output
    assert "5,405,684" in result.output and "1,814,472" in result.output


def test_info_unknown_model_is_a_clean_error():
    result = run("info", "robnet-fre")
    assert result.exit_code == 1
    assert "unknown model 'robnet-fre'" in result.output and "robnet_free" in result.output
    assert "Traceback" not in result.output


def test_cli_module_does_not_import_torch():
    code = "import sys, robench.cli.zoo; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0

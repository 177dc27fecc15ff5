"""Model sources: strict, table-driven parsing (as timm's parse_model_name) and loading from a local directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hub_server import small_model  # noqa: F401  (fixture)

from robench import zoo
from robench.errors import RobenchError
from robench.zoo.checkpoint import save_checkpoint
from robench.zoo.loading import load_from_source
from robench.zoo.sources import ModelSource, parse_source

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("advrush", ModelSource("zoo", "advrush")),
        ("robnet_free", ModelSource("zoo", "robnet_free")),
        ("robnet-free.pgd_cifar10", ModelSource("zoo", "robnet-free.pgd_cifar10")),
        ("hf-hub:robench/robench-advrush-cifar10", ModelSource("hf-hub", "robench/robench-advrush-cifar10")),
        ("hf-hub:my_org/Model.v2", ModelSource("hf-hub", "my_org/Model.v2")),
        ("hf-hub:org/name@v1.0", ModelSource("hf-hub", "org/name", "v1.0")),
        ("hf-hub:org/name@refs/pr/3", ModelSource("hf-hub", "org/name", "refs/pr/3")),
        (f"hf-hub:org/name@{COMMIT}", ModelSource("hf-hub", "org/name", COMMIT)),
        ("local-dir:/data/ckpt", ModelSource("local-dir", "/data/ckpt")),
        ("local-dir:runs/advrush", ModelSource("local-dir", "runs/advrush")),
        ("local-dir:~/ckpt", ModelSource("local-dir", str(Path("~/ckpt").expanduser()))),
    ],
)
def test_valid_sources(source, expected):
    assert parse_source(source) == expected


@pytest.mark.parametrize(
    "source, message, hint",
    [
        ("", "empty", "hf-hub:org/name"),
        (" advrush", "padded", "zoo name"),
        ("org/name", "looks like a path or a Hub repo id", "hf-hub:org/name for a Hugging Face Hub repo"),
        ("org/name", "looks like a path", "local-dir:org/name"),
        ("./ckpt", "looks like a path", "local-dir:./ckpt"),
        ("~/ckpt", "looks like a path", "local-dir:~/ckpt"),
        ("/abs/ckpt", "looks like a path", "local-dir:/abs/ckpt"),
        ("robnet_free.pth.tar", "looks like a path", "local-dir:robnet_free.pth.tar"),
        ("model.safetensors", "looks like a path", "local-dir:"),
        ("weights.pt", "looks like a path", "local-dir:"),
        ("C:\\ckpt", "unknown model source prefix 'C:'", "hf-hub:, local-dir:"),
        ("hf:org/name", "unknown model source prefix 'hf:'", "hf-hub:"),
        ("hf_hub:org/name", "unknown model source prefix", "hf-hub:"),
        ("hf-hub:name", "malformed Hub repo id 'name'", "org/name"),
        ("hf-hub:a/b/c", "malformed Hub repo id 'a/b/c'", "org/name"),
        ("hf-hub:org/na me", "malformed Hub repo id", "org/name"),
        ("hf-hub:org/-name", "malformed Hub repo id", "org/name"),
        ("hf-hub:org/name.", "malformed Hub repo id", "org/name"),
        ("hf-hub:org/bad--name", "Cannot have -- or .. in repo_id", "org/name"),
        ("hf-hub:org/name.git", "cannot end by '.git'", "org/name"),
        ("hf-hub:org/" + "x" * 100, "maximum length is 96", "org/name"),
        ("hf-hub:org/name@", "malformed revision", "org/name@main"),
        ("hf-hub:org/name@../main", "malformed revision", "commit hash"),
        ("hf-hub:org/name@a b", "malformed revision", "branch"),
        ("local-dir:", "needs a directory", "local-dir:/path"),
    ],
)
def test_ambiguous_or_malformed_sources_are_refused(source, message, hint):
    with pytest.raises(RobenchError) as err:
        parse_source(source)
    assert message in err.value.message
    assert hint in err.value.hint


def test_a_path_like_name_gets_no_hub_hint_unless_it_is_a_repo_id():
    with pytest.raises(RobenchError) as err:
        parse_source("./ckpt")
    assert "hf-hub:" not in err.value.hint


def test_load_from_local_dir(small_model, tmp_path):
    directory = save_checkpoint(small_model, tmp_path / "ckpt")
    model = load_from_source(f"local-dir:{directory}", verify_golden=True)
    x = torch.rand(2, *small_model.robench_cfg.input_size)
    with torch.no_grad():
        assert torch.equal(model(x), small_model(x))
    assert model.robench_checkpoint.source == f"local-dir:{directory}"
    with pytest.raises(RobenchError, match="does not exist"):
        load_from_source(f"local-dir:{tmp_path / 'missing'}")


def test_zoo_load_delegates_prefixed_names(small_model, tmp_path):
    directory = save_checkpoint(small_model, tmp_path / "ckpt")
    model = zoo.load(f"local-dir:{directory}", device="cpu")
    assert not model.training and model.robench_checkpoint.source == f"local-dir:{directory}"
    x = torch.rand(2, *small_model.robench_cfg.input_size)
    with torch.no_grad():
        assert torch.equal(model(x), small_model(x))
    with pytest.raises(RobenchError, match="unknown model source prefix 'file:'"):
        zoo.load(f"file:{directory}")

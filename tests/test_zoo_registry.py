"""The registry and the loading API: names, aliases, per-data-set configurations, configs, load()."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest
import torch
from hub_server import small_model  # noqa: F401  (fixture)

from robench import zoo
from robench.errors import RobenchError
from robench.zoo import ModelConfig, count_parameters, create_model, info, is_model, list_models, load, registry
from robench.zoo.checkpoint import save_checkpoint
from robench.zoo.reported import PGD7_AT, REPORTED

EXPECTED = {
    "darts_v1",
    "darts_v2",
    "pdarts",
    "pc_darts",
    "racl",
    "advrush",
    "arnas",
    "robnet_large",
    "robnet_large_v2",
    "robnet_free",
    "random_ensemble",
    "resnet18",
    "resnet50",
    "wrn_28_10",
    "wrn_34_10",
    "densenet121",
    "densenet169",
    "vgg16_bn",
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a small shared CPU, OpenMP threads contending with other processes are slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_registry_holds_every_seed_paper_architecture():
    assert EXPECTED <= set(list_models())
    assert list_models() == sorted(list_models())


def test_list_models_filters_with_wildcards():
    assert list_models("*darts*") == ["darts_v1", "darts_v2", "pc_darts", "pdarts"]
    assert list_models("robnet-large*") == ["robnet_large", "robnet_large_v2"]
    assert list_models("wrn*") == ["wrn_28_10", "wrn_34_10"]
    assert list_models("nothing*") == []
    with_weights = list_models(pretrained=True)
    assert all(zoo.get_entry(n).weights_dir(d) is not None for n in with_weights for d in zoo.get_entry(n).weights)
    assert set(with_weights) == {e.name for e in registry.entries() if e.pretrained_datasets}


@pytest.mark.parametrize(
    "alias, name",
    [
        ("darts", "darts_v2"),
        ("robnet-free", "robnet_free"),
        ("RobNet-Free", "robnet_free"),
        ("pc-darts", "pc_darts"),
        ("pcdarts", "pc_darts"),
        ("wrn-28-10", "wrn_28_10"),
        ("wideresnet-34-10", "wrn_34_10"),
        ("robnet_large_v1", "robnet_large"),
        ("p-darts", "pdarts"),
    ],
)
def test_aliases_resolve_to_canonical_names(alias, name):
    assert is_model(alias)
    assert registry.canonical_name(alias) == name
    assert (
        create_model(alias, **({"C": 8} if "C" in zoo.get_entry(name).parameters else {})).robench_cfg.architecture
        == name
    )


def test_unknown_name_suggests_close_matches():
    assert not is_model("advrus")
    with pytest.raises(RobenchError, match="unknown model 'advrus'") as info_:
        create_model("advrus")
    assert "advrush" in info_.value.hint


def test_data_set_configurations():
    arnas_tiny = create_model("arnas", "tiny-imagenet").robench_cfg
    assert (arnas_tiny.num_classes, arnas_tiny.input_size) == (200, (3, 64, 64))
    assert arnas_tiny.model_args["C"] == 84 and arnas_tiny.model_args["layers"] == 14
    assert create_model("resnet18", "cifar100").robench_cfg.num_classes == 100
    assert create_model("resnet18", "tiny-imagenet-200").robench_cfg.dataset == "tiny-imagenet"
    imagenet = create_model("darts_v2", "imagenet", C=8)
    assert imagenet.robench_cfg.input_size == (3, 224, 224) and imagenet.robench_cfg.model_args["layers"] == 14
    with pytest.raises(RobenchError, match="advrush has no imagenet configuration") as info_:
        create_model("advrush", "imagenet")
    assert "cifar10" in info_.value.hint
    with pytest.raises(RobenchError, match="unknown data set 'mnist'"):
        create_model("advrush", "mnist")


def test_width_and_depth_are_overridable():
    small = create_model("advrush", C=16, layers=8)
    assert len(small.cells) == 8 and small.cells[0].preprocess1.op[1].out_channels == 16
    assert count_parameters(small) < count_parameters(create_model("advrush")) / 10
    assert small.robench_cfg.model_args["C"] == 16
    with pytest.raises(RobenchError, match="advrush does not take width") as info_:
        create_model("advrush", width=2)
    assert "C" in info_.value.hint


@pytest.mark.parametrize("name", list_models())
def test_model_args_rebuild_the_same_architecture(name):
    small = {"C": 8} if "C" in zoo.get_entry(name).parameters else {}
    small |= {"widen_factor": 1} if "widen_factor" in zoo.get_entry(name).parameters else {}
    cfg: ModelConfig = create_model(name, **small).robench_cfg
    restored = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert restored == cfg
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    rebuilt = create_model(restored.architecture, dataset=restored.dataset, **restored.model_args)
    assert rebuilt.robench_cfg == cfg
    original = create_model(name, **small)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in original.state_dict().items()
    }
    assert cfg.family == zoo.get_entry(name).family and cfg.paper


def test_genotype_and_arch_id_are_recorded():
    cfg = create_model("advrush", C=8).robench_cfg
    assert cfg.genotype.startswith("darts:") and cfg.arch_id == "df4b866f6c74"
    assert cfg.model_args["genotype"] == cfg.genotype
    assert create_model("resnet18").robench_cfg.genotype is None
    custom = zoo.genotypes.random_ensemble_genotype(7, (4, 2))
    ensemble = create_model("random_ensemble", genotype=custom, C=8)
    assert [len(m.cells) for m in ensemble.members] == [4, 2]
    assert ensemble.robench_cfg.arch_id == custom.arch_id


def test_info_counts_parameters_and_reports_the_papers():
    facts = info("robnet-free")
    assert facts.name == "robnet_free" and facts.num_params == 5_439_790
    assert facts.num_params_100_classes == 5_491_720 and facts.num_params_auxiliary_head is None
    assert facts.licence.startswith("MIT") and facts.mean is None
    advrush = info("advrush")
    assert advrush.num_params == 4_158_046 and advrush.num_params_auxiliary_head == 476_426
    table1 = [r for r in advrush.reported if r.table == "Table 1" and r.training == PGD7_AT]
    assert table1[0].metrics["autoattack"] == 50.05 and table1[0].params == "4.2M"
    assert info("arnas", "tiny-imagenet").num_params == 5_405_684


def test_reported_numbers_belong_to_registered_models():
    # rows of architectures the zoo lacks are named in its style
    assert set(REPORTED) - set(list_models()) == {"nsga_net", "proxylessnas", "random_cells"}
    for rows in REPORTED.values():
        for row in rows:
            assert row.dataset in registry.DATASETS and row.source and row.metrics


def test_load_without_weights_names_the_sources_tried_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBENCH_PRETRAINED", str(tmp_path))
    with pytest.raises(RobenchError, match="no pretrained weights for advrush on cifar10") as info_:
        load("advrush")
    assert "hf-hub:robench/robench-advrush-cifar10" in info_.value.message
    assert "AdvRush released no weights" in info_.value.hint
    assert "pretrained=False" in info_.value.hint and "checkpoint=FILE" in info_.value.hint


def test_load_random_init_is_in_eval_mode_on_the_device():
    model = load("advrush", pretrained=False, device="cpu")
    assert not model.training
    assert next(model.parameters()).device == torch.device("cpu")
    assert model.robench_cfg.architecture == "advrush"
    with pytest.raises(RobenchError, match="unknown device 'gpu0'"):
        load("advrush", pretrained=False, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(RobenchError, match="no GPU is visible to torch"):
            load("advrush", pretrained=False, device="cuda")


def test_packaged_weights_are_loaded_and_verified(small_model, monkeypatch, tmp_path):
    save_checkpoint(small_model, tmp_path / "darts_v2-cifar10")
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    entry = zoo.get_entry("darts_v2")
    monkeypatch.setitem(
        registry._ENTRIES, "darts_v2", dataclasses.replace(entry, weights={"cifar10": "darts_v2-cifar10"})
    )
    assert "darts_v2" in list_models("darts*", pretrained=True)
    model = load("darts", device="cpu")
    assert model.robench_checkpoint.directory == (tmp_path / "darts_v2-cifar10").resolve() and not model.training
    x = torch.rand(2, *small_model.robench_cfg.input_size)
    with torch.no_grad():
        assert torch.equal(model(x), small_model(x))
    # a checkpoint directory of another architecture is refused, and so is a source with a checkpoint
    with pytest.raises(RobenchError, match="holds a darts_v2 model, not advrush"):
        load("advrush", checkpoint=tmp_path / "darts_v2-cifar10", device="cpu")
    with pytest.raises(RobenchError, match="both a source"):
        load("hf-hub:org/name", checkpoint="x.pt")


@pytest.mark.parametrize("name", [None, 3, ["advrush"]])
def test_load_refuses_a_name_that_is_not_a_string(name):
    with pytest.raises(RobenchError, match="a model name is a string") as info:
        load(name)
    assert "robench list" in info.value.hint

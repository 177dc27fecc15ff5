"""Zoo architectures: exact parameter counts, every registry entry's forward/backward, layouts and ops."""

from __future__ import annotations

import copy
import json

import pytest
import timm
import torch
import torchvision
from torch import nn

from robench import zoo
from robench.zoo import count_parameters, create_model
from robench.zoo.darts import Cell, NetworkCIFAR, cell_layout
from robench.zoo.genotypes import ARNAS, DARTS_OPS, DARTS_V2, ROBNET_CODES
from robench.zoo.operations import OPS, ROBNET_OPS, FactorizedReduce, drop_path


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a small shared CPU, OpenMP threads contending with other processes are slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# (name, dataset, overrides) -> parameters with the auxiliary head excluded. SPEC sections 3.1-3.3 and 14, counted
# there from the authors' own code.
PARAMS = {
    ("darts_v1", "cifar10", ()): 3_169_414,
    ("darts_v2", "cifar10", ()): 3_349_342,
    ("pdarts", "cifar10", ()): 3_433_798,
    ("advrush", "cifar10", ()): 4_158_046,
    ("racl", "cifar10", ()): 3_571_174,
    ("pc_darts", "cifar10", ()): 3_634_678,
    ("arnas", "cifar10", ()): 4_520_394,
    ("arnas", "tiny-imagenet", ()): 5_405_684,
    ("robnet_large", "cifar10", ()): 6_842_710,
    ("robnet_large_v2", "cifar10", ()): 33_326_666,
    ("robnet_free", "cifar10", ()): 5_439_790,
    # RobNet's reported sizes (6.89M, 33.42M, 5.49M) are those of a 100-way classifier
    ("robnet_large", "cifar100", ()): 6_894_640,
    ("robnet_large_v2", "cifar100", ()): 33_418_916,
    ("robnet_free", "cifar100", ()): 5_491_720,
    ("robnet_large", "imagenet", ()): 12_756_448,
}
# The auxiliary heads alone.
AUX_PARAMS = {
    ("darts_v1", "cifar10"): 476_426,
    ("darts_v2", "cifar10"): 476_426,
    ("pdarts", "cifar10"): 476_426,
    ("advrush", "cifar10"): 476_426,
    ("racl", "cifar10"): 476_426,
    ("pc_darts", "cifar10"): 476_426,
    ("arnas", "cifar10"): 468_234,
    ("arnas", "tiny-imagenet"): 1_814_472,  # 4x4 conv: the pooled map of a 64x64 input
}


@pytest.mark.parametrize("key", list(PARAMS), ids=lambda k: "-".join([k[0], k[1], *(f"{a}{v}" for a, v in k[2])]))
def test_parameter_count_equals_the_original(key):
    name, dataset, overrides = key
    assert count_parameters(create_model(name, dataset, **dict(overrides))) == PARAMS[key]


def test_arnas_at_darts_width():
    assert round(count_parameters(create_model("arnas", C=36)) / 1e6, 2) == 1.53  # SPEC 3.2 (given rounded)


@pytest.mark.parametrize("key", list(AUX_PARAMS), ids="-".join)
def test_auxiliary_head_parameters(key):
    model = create_model(*key, auxiliary=True)
    assert count_parameters(model, include_auxiliary=True) - count_parameters(model) == AUX_PARAMS[key]
    assert count_parameters(model.auxiliary_head) == AUX_PARAMS[key]


def test_arnas_tiny_imagenet_total_with_auxiliary_head():
    model = create_model("arnas", "tiny-imagenet", auxiliary=True)
    assert count_parameters(model, include_auxiliary=True) == 7_220_156
    assert model.classifier.in_features == 672 and model.classifier.out_features == 200


@pytest.mark.parametrize(
    "name, params_m",
    [("resnet18", 11.17), ("wrn_28_10", 36.48), ("densenet121", 6.96), ("vgg16_bn", 14.73), ("resnet50", 23.52)],
)
def test_baseline_sizes_match_the_papers_tables(name, params_m):
    # RobNet's table: ResNet-18 11.17M, WRN-28-10 36.48M; DenseNet-121 6.96M (RobNet prints 6.95M, AdvRush 7.0M)
    assert round(count_parameters(create_model(name)) / 1e6, 2) == params_m


# --------------------------------------------------------------------------------------------------------------
# Every registry entry on every data set it supports


def _light(name: str, dataset: str) -> dict:
    """Smaller settings for the costliest forward passes; parameter counts above use the real sizes."""
    entry = zoo.get_entry(name)
    if name == "robnet_large_v2" or (dataset in ("tiny-imagenet", "imagenet") and "C" in entry.parameters):
        return {"C": 16}
    if entry.family == "wide_resnet":
        return {"widen_factor": 2}
    return {}


CASES = [(e.name, d) for e in zoo.registry.entries() for d in e.datasets]


@pytest.mark.parametrize("name, dataset", CASES, ids=[f"{n}-{d}" for n, d in CASES])
def test_entry_builds_runs_forward_and_backward(name, dataset):
    overrides = _light(name, dataset)
    torch.manual_seed(0)
    model = create_model(name, dataset, **overrides)
    torch.manual_seed(0)
    twin = copy.deepcopy(create_model(name, dataset, **overrides))  # copies keep their robench_cfg
    assert twin.robench_cfg == model.robench_cfg
    cfg = model.robench_cfg
    x = torch.rand(2, *cfg.input_size)

    model.eval()
    twin.eval()
    with torch.no_grad():
        logits = model(x)
        assert torch.equal(logits, twin(x)), "same seed must give the same model"
        assert torch.equal(logits, model(x)), "eval forward must be deterministic"
    assert logits.shape == (2, cfg.num_classes)
    assert torch.isfinite(logits).all()

    model.train()
    out, aux = model.forward_train(x)
    assert out.shape == (2, cfg.num_classes) and aux is None
    out.logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing[:5]}"


# --------------------------------------------------------------------------------------------------------------
# Behaviour of the DARTS-space networks


def test_forward_train_gives_aux_logits_only_in_training_mode():
    model = create_model("advrush", C=8, layers=5, auxiliary=True)
    x = torch.rand(2, 3, 32, 32)
    model.train()
    logits, aux = model.forward_train(x)
    assert logits.shape == aux.shape == (2, 10)
    model.eval()
    assert model.forward_train(x)[1] is None
    assert model(x).shape == (2, 10)


def test_drop_path_drops_whole_samples_in_training_only():
    torch.manual_seed(1)
    dropped = drop_path(torch.ones(64, 3, 4, 4), 0.5)
    per_sample = dropped.flatten(1)
    assert torch.equal(per_sample.amin(1), per_sample.amax(1))  # a sample is kept or dropped whole
    assert set(per_sample[:, 0].unique().tolist()) == {0.0, 2.0}  # survivors rescaled by 1/(1-p)
    model = create_model("darts_v2", C=8, layers=5).eval()
    assert model.drop_path_prob == 0.0
    assert not hasattr(create_model("robnet_large", C=8, layers=4), "drop_path_prob")  # RobNet has no drop-path
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        model.drop_path_prob = 0.9
        assert torch.equal(reference, model(x))  # no effect in eval mode


@pytest.mark.parametrize("op, spared", [("skip_connect", True), ("sep_conv_3x3", False)])
def test_drop_path_spares_identity_ops(op, spared):
    edges = tuple((op, i) for _ in range(4) for i in (0, 1))
    cell = Cell(edges, (2, 3, 4, 5), 8, 8, 8, reduction=False, reduction_prev=False).train()
    x = torch.rand(4, 8, 8, 8)
    torch.manual_seed(0)
    with torch.no_grad():
        same = torch.equal(cell(x, x, 0.0), cell(x, x, 0.9))
    assert same == spared


def test_darts_layout_reductions_and_widths():
    specs = cell_layout(DARTS_V2, 20)
    assert [i for i, s in enumerate(specs) if s.reduction] == [6, 13]
    assert [s.width for s in specs] == [1] * 6 + [2] * 7 + [4] * 7


def test_arnas_layout_keeps_width_at_second_reduction():
    specs = cell_layout(ARNAS, 20)
    assert [s.kind for s in specs] == ["accurate"] * 6 + ["reduce"] + ["accurate"] * 6 + ["reduce"] + ["robust"] * 6
    assert [s.width for s in specs] == [1] * 6 + [2] * 14
    model = create_model("arnas")
    assert model.classifier.in_features == 512
    assert model.cells[13].reduction and model.cells[14].preprocess0.conv_1.out_channels == 64


def test_normalisation_is_a_layer_without_state_dict_entries():
    torch.manual_seed(0)
    plain = create_model("darts_v2", C=8, layers=4, mean=None, std=None)
    normalised = create_model("darts_v2", C=8, layers=4)
    normalised.load_state_dict(plain.state_dict())
    assert plain.state_dict().keys() == normalised.state_dict().keys()
    cfg = normalised.robench_cfg
    assert cfg.mean == (0.49139968, 0.48215827, 0.44653124) and plain.robench_cfg.mean is None
    x = torch.rand(2, 3, 32, 32)
    mean, std = torch.tensor(cfg.mean).view(1, 3, 1, 1), torch.tensor(cfg.std).view(1, 3, 1, 1)
    plain.eval()
    normalised.eval()
    with torch.no_grad():
        torch.testing.assert_close(normalised(x), plain((x - mean) / std))


# The constants each authors' code normalises with, transcribed from the file named (read at the commits of SPEC
# section 0): the CIFAR-10 digits are DARTS' utils.py CIFAR_MEAN / CIFAR_STD, which P-DARTS, PC-DARTS and the
# nas-robustness training utilities repeat; CIFAR-100 is P-DARTS' utils.py for P-DARTS and nas-robustness's attack
# scripts for the weights only they released; Tiny-ImageNet is nas-robustness tiny-imagenet/train_darts.py.
DARTS_C10 = ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768))
PDARTS_C100 = ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
NASROB_C100 = (
    (0.5070751592371323, 0.48654887331495095, 0.4409178433670343),
    (0.2673342858792401, 0.2564384629170883, 0.27615047132568404),
)
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
AUTHORS_CONSTANTS = [
    *((name, "cifar10", DARTS_C10) for name in ("darts_v1", "darts_v2", "pdarts", "pc_darts", "random_ensemble")),
    ("pdarts", "cifar100", PDARTS_C100),
    ("darts_v2", "cifar100", NASROB_C100),
    ("pc_darts", "cifar100", NASROB_C100),
    ("darts_v2", "tiny-imagenet", IMAGENET),
    ("darts_v2", "imagenet", IMAGENET),
    ("pdarts", "imagenet", IMAGENET),
]


@pytest.mark.parametrize(("name", "dataset", "constants"), AUTHORS_CONSTANTS)
def test_normalisation_uses_the_authors_constants_bit_for_bit(name, dataset, constants):
    """The in-model normalisation gives the very logits of the authors' pipeline: torchvision's Normalize with their
    constants on the [0, 1] image, then the network."""
    small = {"C": 8, "layers": 3} if name != "random_ensemble" else {"C": 8}
    kwargs = {**small, "stem": "imagenet"} if dataset == "imagenet" else small
    torch.manual_seed(0)
    ours = create_model(name, dataset, **kwargs).eval()
    assert (ours.robench_cfg.mean, ours.robench_cfg.std) == constants
    assert zoo.info(name, dataset).normalization_source
    plain = create_model(name, dataset, **kwargs, mean=None, std=None).eval()
    plain.load_state_dict(ours.state_dict())
    size = ours.robench_cfg.input_size
    x = torch.rand(3, *size, generator=torch.Generator().manual_seed(1))
    authors = torchvision.transforms.Normalize(*constants)
    with torch.no_grad():
        expected = plain(torch.stack([authors(image) for image in x]))
        assert torch.equal(ours(x), expected)


def test_one_data_set_table():
    """The zoo reads data-set facts from robench.data; robench's own checkpoint keeps the constants it was trained
    with, in its config.json only (the CIFAR-10 statistics rounded to four digits)."""
    from robench import data

    assert zoo.DATASETS is data.DATASETS and not hasattr(zoo.registry, "DatasetDefaults")
    assert data.get_dataset("tiny-imagenet").normalization.mean == IMAGENET[0]
    cfg = create_model("resnet18_small").robench_cfg
    assert cfg.mean == (0.4914, 0.4822, 0.4465) != data.get_dataset("cifar10").mean
    config = json.loads((zoo.get_entry("resnet18_small").weights_dir("cifar10") / "config.json").read_text())
    assert (config["model_args"]["mean"], config["model_args"]["std"]) == (list(cfg.mean), list(cfg.std))


@pytest.mark.parametrize("name", ["robnet_large", "advrush", "arnas"])
def test_robust_nas_models_use_no_normalisation(name):
    assert create_model(name, C=8, layers=4).robench_cfg.mean is None


def test_robnet_cells_have_non_affine_batch_norms():
    model = create_model("robnet_free", C=8)
    bns = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert [n for n, m in bns if m.affine] == ["stem.1"]
    assert all(m.track_running_stats for _, m in bns)
    assert model.cells[6]._ops[0].op.res.__class__ is FactorizedReduce  # '11' on a strided edge


# --------------------------------------------------------------------------------------------------------------
# Operations


def test_op_tables_cover_the_search_spaces():
    assert tuple(OPS) == DARTS_OPS
    assert tuple(ROBNET_OPS) == ROBNET_CODES


@pytest.mark.parametrize("stride", [1, 2])
def test_op_parameter_counts_follow_the_spec_table(stride):
    C = 16
    expected = {
        "none": 0,
        "max_pool_3x3": 0,
        "avg_pool_3x3": 0,
        "skip_connect": 0 if stride == 1 else C * C + 2 * C,
        "sep_conv_3x3": 2 * (9 * C + C * C + 2 * C),
        "sep_conv_5x5": 2 * (25 * C + C * C + 2 * C),
        "sep_conv_7x7": 2 * (49 * C + C * C + 2 * C),
        "dil_conv_3x3": 9 * C + C * C + 2 * C,
        "dil_conv_5x5": 25 * C + C * C + 2 * C,
        "conv_7x1_1x7": 14 * C * C + 2 * C,
    }
    x = torch.rand(2, C, 8, 8)
    for name, factory in OPS.items():
        op = factory(C, stride, True)
        assert count_parameters(op) == expected[name], name
        assert op(x).shape == (2, C, 8 // stride, 8 // stride), name
        assert count_parameters(factory(C, stride, False)) == expected[name] - (
            0 if expected[name] == 0 else (4 if name.startswith("sep") else 2) * C
        ), name


def test_robnet_res_sep_conv_is_the_sum_of_its_parts():
    torch.manual_seed(0)
    edge = ROBNET_OPS["11"](8, 1, False).eval()
    x = torch.rand(2, 8, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(edge(x), edge.conv(x) + x)


def test_network_rejects_a_genotype_of_the_wrong_kind():
    from robench.errors import RobenchError

    with pytest.raises(RobenchError, match="expected a robnet genotype"):
        create_model("robnet_free", genotype=DARTS_V2.to_str())
    with pytest.raises(RobenchError, match="20 cells but the network has 8 layers"):
        create_model("robnet_free", layers=8)
    assert isinstance(create_model("darts_v2", C=8, layers=3), NetworkCIFAR)


# --------------------------------------------------------------------------------------------------------------
# Baselines equal their reference libraries; memory formats


@pytest.mark.parametrize(
    "name, reference",
    [
        ("resnet18", lambda: timm.create_model("resnet18")),
        ("resnet50", lambda: timm.create_model("resnet50")),
        ("densenet121", torchvision.models.densenet121),
        ("densenet169", torchvision.models.densenet169),
        ("vgg16_bn", torchvision.models.vgg16_bn),
    ],
    ids=["resnet18", "resnet50", "densenet121", "densenet169", "vgg16_bn"],
)
def test_imagenet_baselines_equal_the_reference_library(name, reference):
    torch.manual_seed(0)
    ours = create_model(name, "imagenet").eval()
    ref = reference().eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in ref.state_dict().items()]
    ref.load_state_dict(ours.state_dict())
    cfg = ours.robench_cfg
    mean, std = torch.tensor(cfg.mean).view(1, 3, 1, 1), torch.tensor(cfg.std).view(1, 3, 1, 1)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref((x - mean) / std))


@pytest.mark.parametrize("name", ["darts_v2", "arnas", "robnet_free", "resnet18", "wrn_28_10"])
def test_channels_last_gives_the_same_logits(name):
    small = {"C": 8} if "C" in zoo.get_entry(name).parameters else {}
    small |= {"widen_factor": 1} if name == "wrn_28_10" else {}
    torch.manual_seed(0)
    model = create_model(name, **small).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        model = model.to(memory_format=torch.channels_last)
        torch.testing.assert_close(model(x.contiguous(memory_format=torch.channels_last)), reference)

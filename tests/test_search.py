"""The searches: supernets and their genotypes, the AdvRush penalty, ARNAS' unrolled gradient and min-norm rule,
RobNet's supernet and FSP filter, exact resumption, and search -> train through the command line."""

from __future__ import annotations

import copy
import json
import math
import random
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from robench import zoo
from robench.cli import cli
from robench.data import Augment
from robench.errors import RobenchError
from robench.search import (
    AdvRushConfig,
    ArnasConfig,
    CellSupernet,
    RandomEnsembleConfig,
    RobNetSearchConfig,
    SearchResult,
    get_search,
    search,
)
from robench.search.differentiable import (
    ADVRUSH_SEARCH_STATS,
    AdvRushSearch,
    curvature_penalty,
    min_norm_weight,
    unrolled_gradient,
)
from robench.search.robnet import FSP_KEEP_CELL_FREE, RobNetSearch
from robench.search.robnet_space import BudgetCosts, RobNetSupernet, count_macs
from robench.search.supernet import derive_cell
from robench.zoo.fsp import fsp_distance, fsp_matrix
from robench.zoo.genotypes import ADVRUSH, ARNAS, PRIMITIVES, ROBNET_LARGE, RobNetGenotype
from robench.zoo.robnet import RobNet
from robench.zoo.weights import ROBNET_FREE_SMALL

TINY = dict(C=4, batch_size=8)


def _alphas_selecting(cell, primitives) -> torch.Tensor:
    """Alphas whose DARTS parse is ``cell``: the first edge of each node strongest, the second next."""
    alpha = torch.zeros(14, len(primitives))
    start = 0
    for node in range(4):
        for rank, (op, src) in enumerate(cell[2 * node: 2 * node + 2]):
            alpha[start + src, primitives.index(op)] = 3.0 - rank
        start += node + 2
    return alpha


@pytest.mark.parametrize("space, genotype", [("darts", ADVRUSH), ("arnas", ARNAS)])
def test_supernet_parses_the_genotype_its_alphas_select(space, genotype):
    torch.manual_seed(0)
    supernet = CellSupernet(space, C=4, layers=8)
    with torch.no_grad():
        for kind in supernet.cell_kinds:
            supernet.alphas[kind].copy_(_alphas_selecting(genotype.cell(kind)[0], supernet.primitives))
    assert supernet.genotype() == genotype
    entry = {"darts": "advrush", "arnas": "arnas"}[space]
    assert zoo.create_model(entry, genotype=supernet.genotype(), C=4, layers=8).genotype == genotype


def test_derive_cell_never_picks_none():
    weights = torch.full((14, len(PRIMITIVES)), 0.01)
    weights[:, PRIMITIVES.index("none")] = 1.0  # 'none' dominates every edge
    weights[:, PRIMITIVES.index("sep_conv_3x3")] = 0.5
    assert all(op == "sep_conv_3x3" for op, _ in derive_cell(weights, PRIMITIVES))


def test_supernet_layout_follows_the_evaluation_networks():
    darts = CellSupernet("darts", C=4, layers=8)
    arnas = CellSupernet("arnas", C=4, layers=8)
    assert [r.kind for r in arnas.roles] == ["accurate", "accurate", "reduce", "accurate", "accurate", "reduce",
                                            "robust", "robust"]
    assert [r.width for r in darts.roles][-1] == 4 and [r.width for r in arnas.roles][-1] == 2  # C:2C:4C vs C:2C:2C
    assert {n for n, _ in darts.named_weight_parameters()}.isdisjoint({"alphas.normal", "alphas.reduce"})
    assert all(not m.affine for m in darts.cells.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with pytest.raises(RobenchError, match="no robust cell"):
        CellSupernet("arnas", C=4, layers=3)


def _released_penalty_per_sample(model, x, y, h, weight, mean, std):
    """AdvRush's regulariser as the authors' run computed it, one image at a time: per-sample input gradients of
    the eval-mode cross-entropy in normalised input space, ``z = h (sign g + 1e-7) / (||sign g|| + 1e-7)``,
    the mean of ``weight * ||g(u + z) - g(u)||`` (differentiable); and the alphas' gradients that the
    direction's backward leaves."""
    m, s = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    model.eval()
    norms, leaked = [], [torch.zeros_like(a) for a in model.arch_parameters()]
    for i in range(len(x)):
        u = ((x[i : i + 1] - m) / s).requires_grad_(True)
        loss = F.cross_entropy(model(u * s + m), y[i : i + 1])
        g, *alpha_grads = torch.autograd.grad(loss, [u, *model.arch_parameters()], create_graph=True)
        leaked = [a + b.detach() for a, b in zip(leaked, alpha_grads)]
        z = h * (g.detach().sign() + 1e-7) / (g.detach().sign().norm() + 1e-7)
        (g_z,) = torch.autograd.grad(F.cross_entropy(model((u + z) * s + m), y[i : i + 1]), u, create_graph=True)
        norms.append(weight * (g_z - g).norm())
    return torch.stack(norms).mean(), leaked


def test_curvature_penalty_is_the_authors_per_sample_penalty():
    torch.manual_seed(0)
    mean, std = ADVRUSH_SEARCH_STATS["cifar10"]
    model = CellSupernet("darts", C=4, layers=3, mean=mean, std=std).train()
    model(torch.rand(8, 3, 16, 16))  # non-trivial running statistics
    x, y = torch.rand(3, 3, 16, 16), torch.randint(0, 10, (3,))  # small images: double backward is costly
    expected, expected_leak = _released_penalty_per_sample(model, x, y, 1.5, 4.0, mean, std)
    model.train()
    penalty, leaked = curvature_penalty(model, x, y, h=1.5, weight=4.0, alpha_grads=True)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-4)
    for got, want in zip(leaked, expected_leak):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-9)
    mean_reduced, _ = curvature_penalty(model, x, y, h=1.5, weight=4.0, reduction="mean")
    assert mean_reduced.item() == pytest.approx(expected.item() / len(x), rel=1e-4)  # B times weaker
    assert curvature_penalty(model, x, y, h=0.0, weight=4.0)[0].item() == pytest.approx(0.0, abs=1e-6)
    (grad,) = torch.autograd.grad(penalty, model.alphas["normal"])  # differentiable in the alphas
    assert grad.abs().sum() > 0
    assert model.training
    curvature_penalty(model, x, y, h=1.5, weight=4.0, restore_mode=False)
    assert not model.training  # the released code's side effect, on request


def test_advrush_alpha_gradient_is_the_released_runs(tmp_path):
    """After warm-up the released run's alphas descend the train-mode CE, gamma x the per-sample penalty, and
    the summed eval-mode CE its direction-finding backward left in them."""
    torch.manual_seed(0)
    search_ = AdvRushSearch(replace(AdvRushSearch.preset("released"), C=4, layers=3), out=tmp_path, device="cpu")
    mean, std = ADVRUSH_SEARCH_STATS["cifar10"]
    model = search_._build_model()
    x, y = torch.rand(2, 3, 16, 16), torch.randint(0, 10, (2,))
    before = copy.deepcopy(model.state_dict())
    model.train()
    search_.architecture_gradient(model, x, y, x, y, 0.025, None, epoch=55)
    got = [a.grad.clone() for a in model.arch_parameters()]
    assert not model.training  # left in eval mode for the weight step, as the released code does
    model.load_state_dict(before)  # the train-mode forward below moves the batch-norm statistics the same way
    model.train()
    clean = torch.autograd.grad(F.cross_entropy(model(x), y), model.arch_parameters())
    penalty, leaked = _released_penalty_per_sample(model, x, y, 1.5, 4.0, mean, std)
    penalty_grad = torch.autograd.grad(penalty, model.arch_parameters())
    for g, c, p, leak in zip(got, clean, penalty_grad, leaked):
        assert torch.allclose(g, c + 0.01 * p + leak, rtol=1e-4, atol=1e-8)


def test_advrush_presets_are_the_released_run_and_the_paper():
    released, paper = AdvRushSearch.preset("released"), AdvRushSearch.preset("paper")
    assert AdvRushConfig() == released
    # train_search.py steps its cosine scheduler before each epoch: epoch e runs at the value of e + 1
    assert released.lr_at(0) == pytest.approx(1e-3 + 0.024 * (1 + math.cos(math.pi / 60)) / 2)
    assert released.lr_at(59) == pytest.approx(1e-3)
    assert paper.lr_at(0) == pytest.approx(0.025)  # "initial learning rate of 0.025"
    assert (released.curvature_reduction, released.curvature_weight, released.h_at(0), released.h_at(50)) == \
        ("sum", 4.0, 0.0, 1.5)
    assert (paper.curvature_reduction, paper.curvature_weight, paper.h_at(0)) == ("sum", 1.0, 1.5)  # Eq. (10)
    assert (released.gamma, released.warmup_epochs, released.batch_size) == (paper.gamma, paper.warmup_epochs,
                                                                             paper.batch_size) == (0.01, 50, 32)
    with pytest.raises(RobenchError, match="no preset 'fast'"):
        AdvRushSearch.preset("fast")


def _images(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().to(torch.uint8)


def test_advrush_released_batches_and_paper_split(data_root, tmp_path):
    no_augment = Augment(0, False, 0)
    common = dict(dataset="cifar10", data_dir=data_root, device="cpu", n_train=20)
    released = AdvRushSearch(replace(AdvRushSearch.preset("released"), batch_size=8), out=tmp_path / "r", **common)
    weights, arch = released._splits()
    batches = list(released._weight_loader(weights, no_augment))
    assert [len(y) for _, y in batches] == [8, 8, 4]  # in order, the last smaller batch kept
    assert torch.equal(torch.cat([_images(x) for x, _ in batches]), weights.images)
    arch_batches = released._arch_batches(arch, no_augment, epoch=0)
    for _ in range(4):  # every step: the first 8 training images
        x_arch, y_arch = next(arch_batches)
        assert torch.equal(_images(x_arch), weights.images[:8]) and torch.equal(y_arch, weights.labels[:8])

    paper = AdvRushSearch(replace(AdvRushSearch.preset("paper"), batch_size=4), out=tmp_path / "p", **common)
    weights_half, arch_half = paper._splits()
    split = paper.training_split()
    assert torch.equal(weights_half.images, split.images[:10]) and torch.equal(arch_half.images, split.images[10:])
    shuffled = torch.cat([_images(x) for x, _ in paper._weight_loader(weights_half, no_augment)])
    assert not torch.equal(shuffled, weights_half.images[: len(shuffled)])


def test_advrush_step_order_and_batch_norm_mode(tmp_path, monkeypatch):
    """Released code: alphas first, then the weight step with batch norm left in eval mode after warm-up; the
    paper's Algorithm 1: weights first, both in train mode."""
    x, y = torch.rand(2, 3, 16, 16), torch.randint(0, 10, (2,))
    for preset, epoch, expected in (("released", 55, [("alpha", True), ("weight", False)]),
                                    ("paper", 0, [("weight", True), ("alpha", True)])):  # fmt: skip
        search_ = AdvRushSearch(replace(AdvRushSearch.preset(preset), C=4, layers=3), out=tmp_path, device="cpu")
        model = search_._build_model()
        calls = []
        arch_step = search_.architecture_gradient

        def architecture_gradient(model, *args, **kwargs):
            calls.append(("alpha", model.training))
            return arch_step(model, *args, **kwargs)

        monkeypatch.setattr(search_, "architecture_gradient", architecture_gradient)
        monkeypatch.setattr(search_, "_weight_step", lambda model, *args: calls.append(("weight", model.training)))
        a_opt = torch.optim.Adam(model.arch_parameters())
        search_._step(model, None, a_opt, x, y, x, y, 0.025, epoch, {})
        assert calls == expected, preset


def test_min_norm_weight_is_the_minimiser():
    torch.manual_seed(0)
    for _ in range(5):
        u1, u2 = [torch.randn(7)], [torch.randn(7) * 3]
        gamma = min_norm_weight(u1, u2)
        grid = torch.linspace(0, 1, 2001)
        norms = torch.stack([(g * u1[0] + (1 - g) * u2[0]).norm() for g in grid])
        assert gamma == pytest.approx(grid[norms.argmin()].item(), abs=1e-3)


class SmoothSupernet(torch.nn.Module):
    """A supernet-shaped model (weights plus alphas mixing three heads) that is smooth in its weights, so the
    finite-difference Hessian term converges; a ReLU network's does not (its gradients jump at kinks)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(8, 16)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(16, 10) for _ in range(3))
        self.alphas = torch.nn.ParameterDict({"normal": torch.nn.Parameter(torch.randn(2, 3))})

    def arch_parameters(self):
        return list(self.alphas.values())

    def named_weight_parameters(self):
        return ((n, p) for n, p in self.named_parameters() if not n.startswith("alphas."))

    def forward(self, x):
        h = torch.tanh(self.body(x))
        w = F.softmax(self.alphas["normal"], dim=-1)
        return sum((w[0, k] + w[1, k]) * head(h) for k, head in enumerate(self.heads))


def test_unrolled_gradient_matches_the_exact_second_order_gradient():
    torch.manual_seed(0)
    model = SmoothSupernet().double()
    x, y = torch.randn(6, 8, dtype=torch.float64), torch.randint(0, 10, (6,))
    xv, yv = torch.randn(6, 8, dtype=torch.float64), torch.randint(0, 10, (6,))
    opt = torch.optim.SGD([p for _, p in model.named_weight_parameters()], lr=0.1, momentum=0.9, weight_decay=3e-4)
    F.cross_entropy(model(x), y).backward()
    opt.step()  # a momentum buffer now exists and enters the virtual step
    buffers = {n: opt.state[p]["momentum_buffer"] for n, p in model.named_weight_parameters()}
    lr = 0.05
    approx = unrolled_gradient(model, x, y, xv, yv, 0.5, lr, opt)

    names, weights = zip(*model.named_weight_parameters())
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), weights, create_graph=True)
    unrolled = {n: w - lr * (0.9 * buffers[n] + g + 3e-4 * w) for n, w, g in zip(names, weights, grads)}
    loss = 0.5 * F.cross_entropy(torch.func.functional_call(model, unrolled, (xv,)), yv)
    exact = torch.autograd.grad(loss, model.arch_parameters())
    first_order = torch.autograd.grad(0.5 * F.cross_entropy(torch.func.functional_call(
        model, {n: w.detach() for n, w in unrolled.items()}, (xv,)), yv), model.arch_parameters())
    for a, e, f in zip(approx, exact, first_order):
        assert not torch.allclose(e, f, rtol=1e-3)  # the second-order term matters here
        assert torch.allclose(a, e, rtol=1e-5, atol=1e-9)


def test_robnet_subnet_computes_what_the_supernet_computes():
    torch.manual_seed(0)
    supernet = RobNetSupernet(C=4, layers=8, cell_free=True)
    supernet.train()
    supernet(torch.rand(4, 3, 32, 32))  # non-trivial running statistics
    supernet.eval()
    x = torch.rand(2, 3, 32, 32)
    for genotype in (ROBNET_FREE_SMALL, supernet.sample_architecture(random.Random(1))):
        supernet.set_architecture(genotype)
        subnet = supernet.subnet()
        assert type(subnet).__name__ == "RobNet" and subnet.genotype == genotype and not subnet.training
        with torch.no_grad():
            assert torch.equal(subnet(x), supernet(x))
    with pytest.raises(RobenchError, match="does not fit"):
        supernet.set_architecture(RobNetGenotype((ROBNET_FREE_SMALL.cells[0],)))


def test_robnet_path_sampling_keeps_each_op_with_its_probability():
    supernet = RobNetSupernet(C=4, layers=3, cell_free=False)
    rng = random.Random(0)
    densities = [supernet.sample_architecture(rng, keep=0.75).density for _ in range(400)]
    assert sum(densities) / len(densities) == pytest.approx(0.75, abs=0.02)
    assert all(len(supernet.sample_architecture(rng).cells) == 1 for _ in range(3))


def test_fsp_matrix_and_distance():
    f_in, f_out = torch.rand(2, 3, 4, 4), torch.rand(2, 5, 4, 4)
    expected = torch.zeros(2, 3, 5)
    for s in range(4):
        for t in range(4):
            expected += f_in[:, :, s, t, None] * f_out[:, None, :, s, t]
    assert torch.allclose(fsp_matrix(f_in, f_out), expected / 16)
    model = RobNetSupernet(C=4, layers=3).eval()
    x = torch.rand(2, 3, 32, 32)
    assert fsp_distance(model, x, x.clone(), [2]) == 0.0
    assert fsp_distance(model, x, (x + 0.03).clamp(0, 1), [2]) > 0.0


def test_count_macs_of_a_convolution_and_a_linear_layer():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(256, 10))
    assert count_macs(model, torch.rand(2, 3, 8, 8)) == {"0": 4 * 8 * 8 * 3 * 9, "2": 256 * 10}


def test_budget_costs_price_each_network_exactly():
    costs = BudgetCosts(C=4, layers=6, num_classes=10)
    supernet = RobNetSupernet(C=4, layers=6, cell_free=True)
    rng = random.Random(0)
    for genotype in [supernet.sample_architecture(rng, keep) for keep in (0.2, 0.5, 0.9)] + [ROBNET_LARGE]:
        network = RobNet(genotype, C=4, num_classes=10, layers=6)
        assert costs.params(genotype) == sum(p.numel() for p in network.parameters())
        assert costs.flops(genotype) == sum(count_macs(network.eval(), torch.rand(1, 3, 32, 32)).values())
    # at the paper's size: RobNet-large with a 100-way head is the 6.89M the paper reports (SPEC 3.3)
    assert BudgetCosts(C=36, layers=20, num_classes=100).params(ROBNET_LARGE) == 6_894_640


def test_robnet_presets_filter_the_cell_free_search_and_budget_the_others():
    assert RobNetSearchConfig().fsp_fraction == 1.0  # cell-based: no FSP filter in the paper
    assert RobNetSearchConfig(cell_free=True).fsp_fraction == FSP_KEEP_CELL_FREE < 1  # cell-free: on
    assert RobNetSearchConfig(cell_free=True, fsp_keep=1.0).fsp_fraction == 1.0
    free = RobNetSearch.preset("cell-free")
    assert free.cell_free and free.layers == 20 and free.fsp_fraction < 1
    sizes = {name: RobNetSearch.preset(name).max_params for name in ("small", "medium", "large")}
    assert sizes == {"small": 4.41e6, "medium": 5.66e6, "large": 6.89e6}
    assert RobNetSearch.preset("cell-based") == RobNetSearchConfig()


@pytest.mark.parametrize("budget", ["max_params", "max_flops"])
def test_budgeted_search_samples_only_architectures_within_the_budget(budget, tmp_path):
    costs = BudgetCosts(C=4, layers=20, num_classes=10)
    supernet = RobNetSupernet(C=4, layers=3)
    price = costs.params if budget == "max_params" else costs.flops
    rng = random.Random(1)
    limit = sorted(price(supernet.sample_architecture(rng)) for _ in range(40))[10]  # about a quarter fit
    config = RobNetSearchConfig(C=4, layers=3, candidates=8, budget_C=4, **{budget: limit})
    found = RobNetSearch(config, out=tmp_path, device="cpu")._sample_candidates(supernet)
    assert len(found) == 8 and all(price(g) <= limit for g in found)
    unbudgeted = RobNetSearch(replace(config, **{budget: None}), out=tmp_path, device="cpu")
    assert any(price(g) > limit for g in unbudgeted._sample_candidates(supernet))
    with pytest.raises(RobenchError, match="fits the budget"):
        RobNetSearch(replace(config, **{budget: 1.0}), out=tmp_path, device="cpu")._sample_candidates(supernet)


@pytest.mark.parametrize("method, config, stop_at", [
    # AdvRush across an epoch boundary into its penalty phase; ARNAS (first order: the unrolled gradient has its
    # own test) in the middle of an epoch
    ("advrush", AdvRushConfig(epochs=2, warmup_epochs=1, layers=3, **TINY), ("epoch 2/2", 1)),
    ("arnas", ArnasConfig(epochs=1, steps=1, layers=4, unrolled=False, **TINY), ("epoch 1/1", 1)),
])
def test_interrupted_search_resumes_to_the_same_result(method, config, stop_at, data_root, tmp_path):
    common = dict(dataset="cifar10", data_dir=data_root, device="cpu", n_train=16)  # 2 steps an epoch
    whole = search(method, config, out=tmp_path / "whole", **common)

    class Interrupt(Exception):
        pass

    def stop(phase: str, done: int, total: int) -> None:
        if (phase, done) == stop_at:
            raise Interrupt

    with pytest.raises(Interrupt):
        get_search(method)(config, out=tmp_path / "cut", save_every=1, progress=stop, **common).run()
    resumed = search(method, config, out=tmp_path / "cut", **common)
    assert resumed.record["genotype"] == whole.record["genotype"]
    assert resumed.record["details"]["alphas"] == whole.record["details"]["alphas"]
    assert [e["train_loss"] for e in resumed.record["details"]["history"]] == \
        [e["train_loss"] for e in whole.record["details"]["history"]]
    assert search(method, config, out=tmp_path / "cut", **common).record == resumed.record  # finished: read back
    with pytest.raises(RobenchError, match="holds a search with other settings"):
        search(method, type(config)(epochs=3, layers=4, **TINY), out=tmp_path / "cut", **common)


def test_robnet_search_resumes_and_ranks_candidates(data_root, tmp_path):
    config = RobNetSearchConfig(C=4, layers=3, batch_size=16, supernet_epochs=2, candidates=3, fsp_keep=0.67,
                                finetune_epochs=1, n_val=16, steps=1, cell_free=True)
    common = dict(dataset="cifar10", data_dir=data_root, device="cpu", n_train=48)
    whole = search("robnet", config, out=tmp_path / "whole", **common)

    class Interrupt(Exception):
        pass

    def stop(phase: str, done: int, total: int) -> None:
        if phase == "candidates" and done == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        get_search("robnet")(config, out=tmp_path / "cut", progress=stop, **common).run()
    resumed = search("robnet", config, out=tmp_path / "cut", **common)
    assert resumed.record["details"]["candidates"] == whole.record["details"]["candidates"]
    candidates = whole.record["details"]["candidates"]
    assert len(candidates) == 2  # two of three kept by the FSP filter
    best = max(candidates, key=lambda c: (c["robust_accuracy"], c["clean_accuracy"]))
    assert whole.record["genotype"] == best["genotype"] and whole.record["zoo_entry"] == "robnet_free"
    assert len(whole.genotype.cells) == 3


@pytest.mark.parametrize("top, at_chance", [(0.12, True), (0.2, False)])
def test_robnet_search_says_when_no_candidate_is_above_chance(tmp_path, caplog, top, at_chance):
    # on 200 held-out images, 12% clean accuracy is within the 95% interval of chance (10%), 20% is not
    robnet = RobNetSearch(RobNetSearchConfig(n_val=200), out=tmp_path, device="cpu")
    with caplog.at_level("WARNING", logger="robench.search.robnet"):
        assert robnet._warn_if_at_chance([{"clean_accuracy": 0.1}, {"clean_accuracy": top}]) is at_chance
    assert ("in effect a random draw" in caplog.text) is at_chance


def test_random_ensemble_search_is_a_seeded_draw(tmp_path):
    a = search("random-ensemble", RandomEnsembleConfig(cells=(2, 1), seed=3), out=tmp_path / "a")
    b = search("random-ensemble", RandomEnsembleConfig(cells=(2, 1), seed=3), out=tmp_path / "b")
    assert a.genotype == b.genotype and a.genotype.cells == (2, 1)
    model = zoo.create_model("random_ensemble", genotype=a.genotype, C=4)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert SearchResult.read(tmp_path / "a" / "result.json").genotype == a.genotype


def test_cli_search_then_train_the_found_genotype(data_root, tmp_path):
    runner = CliRunner()
    out = tmp_path / "search"
    args = ["search", "advrush", "--width", "4", "--layers", "3", "--n-train", "16", "--set", "epochs=1",
            "--set", "batch_size=8", "--out", str(out), "--data-dir", str(data_root), "--device", "cpu"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    found = json.loads((out / "result.json").read_text())
    assert f"genotype ({found['arch_id']})" in result.output and "robench train advrush" in result.output
    result = runner.invoke(cli, ["train", "advrush", "--genotype", str(out / "result.json"), "--width", "4",
                                 "--layers", "3", "--n-train", "16", "--epochs", "1", "--set", "batch_size=8",
                                 "--out", str(tmp_path / "train"), "--data-dir", str(data_root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "train" / "checkpoint" / "config.json").read_text())
    assert config["robench"]["arch_id"] == found["arch_id"]
    model = zoo.load(f"local-dir:{tmp_path / 'train' / 'checkpoint'}", device="cpu")
    assert model.genotype.to_str() == found["genotype"]


@pytest.mark.parametrize("args, message", [
    (["search", "nope", "--out", "x"], "unknown search method"),
    (["search", "random-ensemble", "--width", "4", "--out", "x"], "unknown random-ensemble search field 'C'"),
    (["search", "advrush", "--set", "curvature_reduction=max", "--out", "x"], "curvature_reduction"),
    (["search", "robnet", "--save-every", "5", "--out", "x"], "--save-every applies to advrush and arnas"),
    (["search", "advrush", "--preset", "fast", "--out", "x"], "advrush has no preset 'fast'"),
])
def test_cli_search_errors_are_one_line(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output

"""Training adversaries: examples stay in the eps ball and in [0, 1], attacks raise the loss, and TRADES' KL
term is taken on adversarial logits (unlike AdvRush's trades.py, where it is identically zero)."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robench.errors import RobenchError
from robench.perturb import Adversary, perturb, random_start
from robench.train.adversary import adversary_from_recipe, training_step
from robench.train.recipes import Recipe
from robench.train.trainer import _TrainForward, warn_if_single_step_overfitting


class TinyNet(nn.Module):
    """No batch norm: the same logits in train and eval mode, so recomputations can be compared exactly."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 4).flatten(1))

    def forward_train(self, x):
        return self.forward(x), None


def no_autocast():
    return contextlib.nullcontext()


@pytest.fixture()
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(16, 3, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g)


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return TinyNet()


@pytest.mark.parametrize("start", ["uniform", "normal", "zero"])
@pytest.mark.parametrize("eps, step, steps", [(8 / 255, 2 / 255, 7), (0.031, 0.01, 7), (8 / 255, 10 / 255, 1)])
def test_pgd_examples_stay_in_ball_and_image_range(model, batch, start, eps, step, steps):
    x, y = batch
    x[:4] = 0.0  # pixels at the bounds must stay inside [0, 1]
    x[4:8] = 1.0
    adversary = Adversary(eps, step, steps, start, "eval")
    x_adv = perturb(model, x, adversary, lambda z: F.cross_entropy(z, y, reduction="sum"), no_autocast)
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert (x_adv - x).abs().max() > eps / 2  # it moved
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)


def test_random_starts():
    x = torch.full((64, 3, 8, 8), 0.5)
    torch.manual_seed(0)
    uniform = random_start(x, 0.1, "uniform") - x
    assert uniform.abs().max() <= 0.1 + 1e-7 and uniform.abs().max() > 0.09
    normal = random_start(x, 0.1, "normal") - x
    assert normal.std().item() == pytest.approx(0.001, rel=0.05)
    assert torch.equal(random_start(x, 0.1, "zero"), x)


def test_attack_restores_training_mode(model, batch):
    x, y = batch
    model.train()
    perturb(model, x, Adversary(0.03, 0.01, 2, "uniform", "eval"), lambda z: F.cross_entropy(z, y), no_autocast)
    assert model.training
    assert all(p.grad is None for p in model.parameters())  # the attack touches no parameter gradient


def test_trades_kl_term_uses_adversarial_logits(model, batch):
    x, y = batch
    recipe = Recipe.from_preset("trades")
    torch.manual_seed(1)
    out = training_step(model, _TrainForward(model), x, y, recipe, adversary_from_recipe(recipe), no_autocast)
    assert out.parts["kl"].item() > 1e-4
    with torch.no_grad():
        assert torch.allclose(out.logits_clean, model(x))
        assert not torch.allclose(out.logits_adv, out.logits_clean)
    kl = F.kl_div(F.log_softmax(out.logits_adv, 1), F.softmax(out.logits_clean, 1), reduction="sum") / x.shape[0]
    assert out.parts["kl"].item() == pytest.approx(6.0 * kl.item(), rel=1e-5)
    ce = F.cross_entropy(out.logits_clean, y)
    assert out.loss.item() == pytest.approx(ce.item() + 6.0 * kl.item(), rel=1e-5)
    # the KL gradient reaches the parameters through the adversarial branch
    out.loss.backward()
    assert model.conv.weight.grad.abs().sum() > 0


def test_pgd_at_trains_on_adversarial_examples_only(model, batch):
    x, y = batch
    recipe = Recipe.from_preset("advrush-pgd")
    out = training_step(model, _TrainForward(model), x, y, recipe, adversary_from_recipe(recipe), no_autocast)
    assert list(out.parts) == ["ce_adv"] and out.logits_clean is None
    assert out.loss.item() == pytest.approx(F.cross_entropy(out.logits_adv, y).item())
    with torch.no_grad():
        assert F.cross_entropy(out.logits_adv, y) > F.cross_entropy(model(x), y)


def test_fgsm_rs_is_one_step_with_uniform_start():
    adversary = adversary_from_recipe(Recipe.from_preset("fast-at", steps=7))
    assert (adversary.steps, adversary.start, adversary.mode) == (1, "uniform", "train")
    assert adversary.step == pytest.approx(10 / 255) and adversary.eps == pytest.approx(8 / 255)
    assert adversary_from_recipe(Recipe.from_preset("darts")) is None


def test_auxiliary_loss_without_auxiliary_head_is_an_error(model, batch):
    x, y = batch
    recipe = Recipe.from_preset("darts")
    with pytest.raises(RobenchError, match="no auxiliary head"):
        training_step(model, _TrainForward(model), x, y, recipe, None, no_autocast)


@pytest.mark.parametrize("recipe, clean, adv, warned", [
    ("fast-at", 0.271, 0.289, True),    # robnet_searched_small's epoch: PGD-20 0% afterwards, FGSM 25%
    ("fast-at", 0.302, 0.235, False),   # advrush_searched_small's epoch
    ("robnet-pgd", 0.271, 0.289, False),  # a multi-step adversary is not single-step overfitting
    ("fast-at", None, 0.289, False),    # no clean accuracy sampled
])  # fmt: skip
def test_single_step_training_warns_when_its_adversarial_inputs_beat_its_clean_ones(caplog, recipe, clean, adv,
                                                                                    warned):  # fmt: skip
    record = {"epoch": 1, "acc_clean": clean, "acc_adv": adv}
    with caplog.at_level("WARNING", logger="robench.train.trainer"):
        assert warn_if_single_step_overfitting(Recipe.from_preset(recipe), record) is warned
    assert ("catastrophic overfitting" in caplog.text) is warned

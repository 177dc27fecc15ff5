"""Recipes: the presets carry the papers' numbers through config.json, overrides are typed and checked, and the
learning-rate schedules follow the reference implementations."""

from __future__ import annotations

import json
import math

import pytest
import torch

from robench.errors import RobenchError
from robench.train import Trainer
from robench.train.recipes import PRESETS, Recipe, member_epochs, parse_field, parse_settings
from robench.zoo import create_model
from robench.zoo.genotypes import random_ensemble_genotype

# (preset, field, paper value). Sources: SPEC section 8 (RobNet 8.2, AdvRush 8.3, ARNAS 8.4, DARTS/P-DARTS 8.5),
# TRADES' train_trades_cifar10.py + README (beta 6), fast_adversarial's CIFAR10/train_fgsm.py; the random-cell
# ensemble: seed 003 sections 3 and 4.4 (the DARTS protocol per member, the combiner for 2 epochs).
PAPER_VALUES = [
    ("darts", {"epochs": 600, "batch_size": 96, "lr": 0.025, "momentum": 0.9, "weight_decay": 3e-4,
               "schedule": "cosine", "lr_min": 0.0, "aux_weight": 0.4, "cutout": 16, "drop_path": 0.2,
               "grad_clip": 5.0, "adversary": "none"}),
    ("pdarts", {"epochs": 600, "batch_size": 128, "lr": 0.025, "weight_decay": 3e-4, "schedule": "cosine",
                "aux_weight": 0.4, "cutout": 16, "drop_path": 0.3, "grad_clip": 5.0, "adversary": "none"}),
    ("robnet-pgd", {"epochs": 170, "batch_size": 1536, "lr": 1.2, "lr_reference_batch": 1536, "momentum": 0.9,
                    "weight_decay": 1e-4, "no_wd_on_bn_bias": True, "schedule": "cosine", "warmup_epochs": 20,
                    "warmup_lr": 0.02, "lr_min": 1e-3, "adversary": "pgd", "eps": "8/255", "step_size": "2/255",
                    "steps": 7, "start": "uniform", "attack_mode": "train", "cutout": 0, "aux_weight": 0.0,
                    "seed": 10}),
    ("advrush-pgd", {"epochs": 200, "batch_size": 64, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                     "schedule": "step", "decay_epochs": (99, 149), "decay_factor": 0.1, "grad_clip": 5.0,
                     "adversary": "pgd", "eps": "0.031", "step_size": "0.01", "steps": 7, "start": "normal",
                     "attack_mode": "eval", "cutout": 0, "aux_weight": 0.0, "drop_path": 0.0}),
    ("arnas-pgd", {"epochs": 200, "batch_size": 32, "lr": 0.1, "weight_decay": 1e-4, "schedule": "step",
                   "decay_epochs": (99, 149), "grad_clip": 5.0, "adversary": "pgd", "eps": "8/255",
                   "step_size": "0.01", "steps": 7, "start": "normal", "attack_mode": "eval", "cutout": 16,
                   "aux_weight": 0.4, "aux_on_clean": True, "drop_path": 0.0}),
    ("trades", {"epochs": 76, "batch_size": 128, "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4,
                "schedule": "step", "decay_epochs": (74, 89, 99), "adversary": "trades", "eps": "0.031",
                "step_size": "0.007", "steps": 10, "start": "normal", "attack_mode": "eval", "trades_beta": 6.0}),
    ("random-ensemble", {"epochs": 600, "batch_size": 96, "lr": 0.025, "schedule": "cosine", "aux_weight": 0.4,
                         "cutout": 16, "drop_path": 0.2, "grad_clip": 5.0, "adversary": "none",
                         "members_separately": True, "combiner_epochs": 2}),
    ("fast-at", {"epochs": 15, "batch_size": 128, "lr": 0.2, "momentum": 0.9, "weight_decay": 5e-4,
                 "schedule": "cyclic", "lr_min": 0.0, "per_step": True, "adversary": "fgsm-rs", "eps": "8/255",
                 "step_size": "10/255", "start": "uniform", "attack_mode": "train", "amp": True}),
]  # fmt: skip


def test_every_preset_is_tabulated():
    assert sorted(PRESETS) == sorted(name for name, _ in PAPER_VALUES)


@pytest.mark.parametrize("preset, expected", PAPER_VALUES, ids=[name for name, _ in PAPER_VALUES])
def test_preset_read_back_from_checkpoint_config(preset, expected, tmp_path):
    """The recipe recorded in a checkpoint's config.json is the paper's, field by field."""
    from robench.zoo import create_model
    from robench.zoo.checkpoint import read_config, save_checkpoint

    model = create_model("darts_v2", C=4, layers=3)
    save_checkpoint(model, tmp_path / "ckpt", recipe=Recipe.from_preset(preset).to_dict())
    recorded = read_config(tmp_path / "ckpt")["robench"]["recipe"]
    restored = Recipe.from_dict(recorded)
    assert restored == PRESETS[preset]
    for field, value in expected.items():
        got = getattr(restored, field)
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, field


def test_overrides_and_unknown_fields():
    recipe = Recipe.from_preset("advrush-pgd", epochs=3, batch_size=32)
    assert (recipe.epochs, recipe.batch_size, recipe.lr) == (3, 32, 0.1)
    with pytest.raises(RobenchError, match="unknown recipe field"):
        Recipe.from_preset("advrush-pgd", learning_rate=0.1)
    with pytest.raises(RobenchError, match="unknown training recipe"):
        Recipe.from_preset("madry")
    with pytest.raises(RobenchError, match="adversary"):
        Recipe.from_preset("trades", adversary="cw")
    with pytest.raises(RobenchError, match="invalid recipe eps"):
        Recipe.from_preset("trades", eps="eight")


def test_command_line_settings_are_typed():
    settings = parse_settings(["lr=0.05", "decay_epochs=30,60", "grad_clip=none", "amp=false", "eps=4/255"])
    recipe = Recipe.from_preset("advrush-pgd").with_settings(settings)
    assert recipe.lr == 0.05 and recipe.decay_epochs == (30, 60) and recipe.grad_clip is None
    assert recipe.amp is False and recipe.eps == "4/255" and recipe.eps_value == pytest.approx(4 / 255)
    assert parse_field("steps", "10") == 10
    with pytest.raises(RobenchError, match="invalid value"):
        parse_field("steps", "ten")
    with pytest.raises(RobenchError, match="malformed --set"):
        parse_settings(["lr"])


def test_robnet_warmup_cosine_matches_reference_formula():
    r = PRESETS["robnet-pgd"]
    # RobNets lr_scheduler: linear from 0.02 to the peak over 20 epochs, then cosine over the remaining 150
    assert r.lr_at(0) == pytest.approx(0.02)
    assert r.lr_at(10) == pytest.approx(0.02 + (1.2 - 0.02) * 10 / 20)
    assert r.lr_at(20) == pytest.approx(1.2)
    e = 100
    assert r.lr_at(e) == pytest.approx(1e-3 + (1.2 - 1e-3) * (1 + math.cos(math.pi * (e - 20) / 150)) / 2)
    # linear scaling for other batch sizes
    assert Recipe.from_preset("robnet-pgd", batch_size=128).lr_at(20) == pytest.approx(0.1)


def test_step_schedules_decay_at_the_papers_epochs():
    a = PRESETS["advrush-pgd"]
    assert [a.lr_at(e) for e in (0, 98, 99, 148, 149, 199)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    t = PRESETS["trades"]  # TRADES: epochs counted from 1, lr x0.1 from epoch 75
    assert [t.lr_at(e) for e in (0, 73, 74, 75)] == pytest.approx([0.1, 0.1, 0.01, 0.01])


def test_darts_cosine_and_drop_path_ramp():
    d = PRESETS["darts"]
    assert d.lr_at(0) == pytest.approx(0.025)
    assert d.lr_at(300) == pytest.approx(0.0125)
    assert d.drop_path_at(0) == 0.0 and d.drop_path_at(300) == pytest.approx(0.1)


def test_cyclic_schedule_is_one_triangle_per_run():
    f = PRESETS["fast-at"]
    steps = 100
    assert f.lr_at(0, 0, steps) == 0.0
    assert f.lr_at(7, 50, steps) == pytest.approx(0.2)  # half-way through 15 epochs
    assert f.lr_at(3, 75, steps) == pytest.approx(0.2 * 3.75 / 7.5)
    assert f.lr_at(14, 99, steps) == pytest.approx(0.2 * (1 / steps) / 7.5)


# -- the random-cell ensemble's protocol ------------------------------------------------------------------------

ENSEMBLE = random_ensemble_genotype(seed=1, cells=(2, 1))
ENSEMBLE_ARGS = {"genotype": ENSEMBLE.to_str(), "C": 4}


def test_the_epoch_budget_is_split_by_cell_count():
    assert member_epochs(600, (12, 6, 2)) == [360, 180, 60]
    assert member_epochs(3, (2, 1)) == [2, 1] and member_epochs(2, (5, 1)) == [2, 1]  # at least one epoch each


def _ensemble_trainer(out, data_root):
    recipe = Recipe.from_preset("random-ensemble", epochs=3, batch_size=8, combiner_epochs=1, cutout=0)
    return Trainer("random_ensemble", out, recipe=recipe, model_args=ENSEMBLE_ARGS, n_train=16, data_dir=data_root,
                   quiet=True, log_every=0)  # fmt: skip


def _model_state(out):
    return torch.load(out / "state.pt", weights_only=True)["model"]


def _changed(before, after, prefix):
    """Whether any tensor (parameters and batch-norm statistics) under ``prefix`` differs."""
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def test_ensemble_members_train_separately_then_the_combiner(tmp_path, data_root):
    """Members of 2 and 1 cells get 2 and 1 of the 3 epochs (2 steps each), each alone; then the combiner, on the
    fixed members. Stopping at each stage boundary and resuming ends bit-identical to an uninterrupted run."""
    torch.set_num_threads(1)
    out = tmp_path / "staged"
    states = []
    for steps in (1, 3, 2):  # stop inside member 1, at the end of member 1, at the end of member 2
        assert _ensemble_trainer(out, data_root).run(max_steps=steps) is None
        states.append(_model_state(out))
    result = _ensemble_trainer(out, data_root).run()
    final = _model_state(out)
    first, member1_done, member2_done = states
    assert _changed(first, member1_done, "members.0.") and not _changed(first, member1_done, "members.1.")
    assert not _changed(first, member1_done, "combiner.")
    assert not _changed(member1_done, member2_done, "members.0.") and _changed(member1_done, member2_done, "members.1.")
    assert not _changed(member1_done, member2_done, "combiner.")
    assert not _changed(member2_done, final, "members.") and _changed(member2_done, final, "combiner.")
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["epoch"]) for r in records if r["event"] == "epoch"] == \
        [("member 1/2", 1), ("member 1/2", 2), ("member 2/2", 1), ("combiner", 1)]
    assert result.metrics["steps"] == 8
    assert all(p.requires_grad for p in result.model.parameters())
    # the members' auxiliary heads trained with DARTS' protocol are not part of the published ensemble
    assert not any("auxiliary_head" in k for k in result.model.state_dict())

    whole = _ensemble_trainer(tmp_path / "whole", data_root).run()
    assert whole is not None
    for key, value in _model_state(tmp_path / "whole").items():
        assert torch.equal(value, final[key]), key


def test_an_ensemble_with_auxiliary_heads_has_an_auxiliary_output(tmp_path, data_root):
    model = create_model("random_ensemble", genotype=ENSEMBLE, C=4, auxiliary=True).train()
    x = torch.rand(4, 3, 32, 32)
    logits, aux = model.forward_train(x)
    members = [member.forward_train(model.normalize(x))[1] for member in model.members]
    assert logits.shape == aux.shape == (4, 10) and torch.allclose(aux, torch.stack(members).mean(0))
    # trained as one network with DARTS' auxiliary loss: no failure for want of an auxiliary output
    recipe = Recipe.from_preset("darts", epochs=1, batch_size=8, cutout=0)
    result = Trainer("random_ensemble", tmp_path / "joint", recipe=recipe, model_args=ENSEMBLE_ARGS, n_train=8,
                     data_dir=data_root, quiet=True).run()  # fmt: skip
    assert result.metrics["steps"] == 1


def test_separate_members_need_an_ensemble(tmp_path):
    with pytest.raises(RobenchError, match="is not an ensemble"):
        Trainer("darts_v2", tmp_path, recipe="random-ensemble")

"""Each search's recipe at three scales. A scale changes budgets only — search epochs, supernet and network
widths, candidates, images, training epochs — never the algorithm: the search, its training recipe and the
attack suite are the paper's at every scale.

    paper   the papers' budgets (for GPUs; the README gives the papers' GPU-hours)
    small   under an hour per search on one CPU thread (1,000 to 2,000 training images), training on the
            whole training split for one epoch, evaluation on the seed-0 subset of 500 test images
    tiny    minutes in all: the pipeline's end-to-end test

The small and tiny budgets are robench's choices; the paper budgets are the presets of robench.search and
robench.train, whose docstrings give their sources.
"""

from __future__ import annotations

from robench.errors import RobenchError
from robench.pipeline.plan import EvalStage, Plan, SearchStage, TrainStage
from robench.search import get_search
from robench.train import Recipe

SCALES = ("tiny", "small", "paper")

# method -> (search preset, the paper's training recipe for what it finds)
PAPER_RECIPES = {
    "advrush": ("paper", "advrush-pgd"),
    "arnas": (None, "arnas-pgd"),
    "robnet": ("cell-free", "robnet-pgd"),
    "random-ensemble": (None, "random-ensemble"),
}

_TINY_DARTS = {"C": 4, "layers": 3, "batch_size": 16}
_SMALL_DARTS = {"C": 8, "layers": 5}
# The trained network at small scale: 8 cells at C=8 (about 0.1M parameters for a DARTS-space cell; the
# random ensemble spends its 6 + 3 + 2 cells at the same C), so that one fast-AT epoch on the whole training
# split and AutoAttack on 500 images take under an hour each on one CPU thread.
_SMALL_NETWORK = {"C": 8, "layers": 8}

# method -> scale -> (search settings, search images, network width/depth for training)
BUDGETS: dict[str, dict[str, tuple[dict, int | None, dict]]] = {
    "advrush": {
        "tiny": ({**_TINY_DARTS, "epochs": 2, "warmup_epochs": 1}, 64, {"C": 4, "layers": 3}),
        "small": ({**_SMALL_DARTS, "epochs": 4, "warmup_epochs": 3}, 2000, _SMALL_NETWORK),
        "paper": ({}, None, {}),
    },
    "arnas": {
        "tiny": ({**_TINY_DARTS, "layers": 4, "epochs": 1, "steps": 2}, 64, {"C": 4, "layers": 3}),
        "small": ({**_SMALL_DARTS, "epochs": 2}, 1000, _SMALL_NETWORK),
        "paper": ({}, None, {}),
    },
    "robnet": {
        "tiny": ({"C": 4, "layers": 3, "batch_size": 16, "supernet_epochs": 1, "candidates": 2,
                  "finetune_epochs": 1, "n_val": 16, "steps": 2}, 64, {"C": 4, "layers": 3}),
        "small": ({"C": 8, "layers": 8, "supernet_epochs": 2, "candidates": 8, "finetune_epochs": 1, "n_val": 200},
                  2000, _SMALL_NETWORK),
        "paper": ({}, None, {}),
    },
    "random-ensemble": {
        "tiny": ({"cells": (2, 1)}, None, {"C": 4}),
        "small": ({"cells": (6, 3, 2)}, None, {"C": 8}),
        "paper": ({}, None, {}),
    },
}  # fmt: skip

# scale -> (training epochs, training images, largest training batch, test images); None: the paper's. A
# smaller batch is a budget: recipes with a reference batch scale their learning rate to it.
TRAINING = {"tiny": (1, 256, 64, 32), "small": (1, None, 128, 500), "paper": (None, None, None, None)}


def paper_plan(method: str, scale: str = "small", *, dataset: str = "cifar10", recipe: str | None = None,
               name: str | None = None, repo: str | None = None) -> Plan:  # fmt: skip
    """The plan that reproduces ``method``'s paper at ``scale``: its search, then its training recipe
    (``recipe`` replaces it, e.g. to train every searched cell the same way) and the standard attack suite."""
    method = get_search(method).method
    if scale not in SCALES:
        raise RobenchError(f"unknown scale {scale!r}", hint=f"scales: {', '.join(SCALES)}")
    preset, paper_recipe = PAPER_RECIPES[method]
    settings, n_search, model_args = BUDGETS[method][scale]
    epochs, n_train, max_batch, n_examples = TRAINING[scale]
    recipe = recipe or paper_recipe
    batch = Recipe.from_preset(recipe).batch_size
    train_settings = {"batch_size": max_batch} if max_batch is not None and batch > max_batch else {}
    return Plan(
        name=name or f"{method.replace('-', '_')}_searched_{scale}",
        dataset=dataset,
        scale=scale,
        search=SearchStage(method, preset, dict(settings), n_search),
        train=TrainStage(recipe, epochs, train_settings, dict(model_args), n_train),
        evaluate=EvalStage(("pgd20", "autoattack"), n_examples, 0),
        repo=repo,
    ).resolve()

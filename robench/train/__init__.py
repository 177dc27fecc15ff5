"""Training recipes and the resumable trainer that turn a zoo architecture into a checkpoint.

>>> from robench.train import train
>>> result = train("advrush", "runs/advrush", recipe="advrush-pgd")
>>> result.checkpoint  # load with zoo.load("local-dir:runs/advrush/checkpoint")
"""

from robench.train.recipes import PRESETS, Recipe, get_recipe, list_recipes, parse_field, parse_settings
from robench.train.trainer import TrainResult, Trainer, architecture_args, train

__all__ = [
    "PRESETS",
    "Recipe",
    "TrainResult",
    "Trainer",
    "architecture_args",
    "get_recipe",
    "list_recipes",
    "parse_field",
    "parse_settings",
    "train",
]

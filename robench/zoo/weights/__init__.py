"""Small robust checkpoints trained by robench itself, packaged with it: each a tag of a registered architecture.

A tag is one line of :data:`TAGS`: its name, the architecture, its folder. Each ``<name>-cifar10/`` folder
here is a checkpoint written by ``robench.zoo.checkpoint.save_checkpoint``
(config.json with the training recipe, the data set, the threat model and the weights' sha256) after an
l_inf 8/255 fast-AT (FGSM with random start) run on the full CIFAR-10 training split, on two shared CPU
cores: 3 epochs for resnet18_small, 1 for the others. The exact commands are in
``scripts/train_small_checkpoints.sh``. They are reduced-size, briefly trained versions of the papers'
networks that exercise the whole pipeline, not reproductions of the papers' models or numbers:

- ``advrush_small``: the AdvRush genotype in the DARTS skeleton with C=16 and 8 cells (reductions at cells 2
  and 5) instead of C=36 and 20 cells.
- ``robnet_free_small``: RobNet-free cut to 8 cells: the first two normal cells of each of its three stages
  and both of its reduction cells, i.e. cells 0, 1 | 6 (reduce) | 7, 8 | 13 (reduce) | 14, 15 of the 20
  published cell codes, at C=8. Every kept cell keeps its published code and its role (a reduction code
  sits at a reduction position), and the 8-cell network places its reductions at 8//3 = 2 and 16//3 = 5,
  where those two codes land.
- ``resnet18_small``: the zoo's CIFAR ResNet-18 (3x3 stem, [2, 2, 2, 2] basic blocks) at base width 16
  (stages of 16, 32, 64, 128 channels) instead of 64, normalising with the CIFAR-10 statistics rounded to four
  digits (its config.json holds them).
- ``resnet18_w10_small``: the same ResNet-18 at base width 10 (0.27M parameters), 1 epoch: the hand-crafted
  match of ``advrush_small``'s size.
- ``resnet18_w6_small`` and ``resnet18_w3_small``: the same ResNet-18 at base widths 6 and 3 (0.10M and 0.025M
  parameters), 1 epoch: the hand-crafted networks of the sizes of the cells ``robench reproduce --scale small``
  trains (about 0.1M parameters at C=8 with 8 cells; 0.03M for the ARNAS cells it found, pooling-heavy), trained
  with their recipe, so that the leaderboard compares searched cells with them at equal size and equal training.
- ``<method>_searched_small``: the architecture ``robench reproduce METHOD --scale small --recipe fast-at`` found
  on CIFAR-10 and the checkpoint it trained, 1 epoch at C=8 with 8 cells (the random ensemble's 6 + 3 + 2)
  (``scripts/reproduce_small.sh``); its config.json
  names the search run under ``metadata.search`` (method, seed, budget, request hash, the genotype's arch_id).
"""

from __future__ import annotations

from pathlib import Path

from robench.zoo.checkpoint import copy_checkpoint, load_checkpoint
from robench.zoo.genotypes import ROBNET_FREE, RobNetGenotype
from robench.zoo.registry import WEIGHTS_DIR, get_entry, register_weights

# The RobNet-free cells kept by robnet_free_small: two normal cells per stage plus both reduction cells.
ROBNET_FREE_SMALL_CELLS = (0, 1, 6, 7, 8, 13, 14, 15)
ROBNET_FREE_SMALL = RobNetGenotype(tuple(ROBNET_FREE.cells[i] for i in ROBNET_FREE_SMALL_CELLS))

TAGS = (
    ("advrush_small", "advrush", "advrush_small-cifar10"),
    ("robnet_free_small", "robnet_free", "robnet_free_small-cifar10"),
    ("resnet18_small", "resnet18", "resnet18_small-cifar10"),
    ("resnet18_w10_small", "resnet18", "resnet18_w10_small-cifar10"),
    ("resnet18_w6_small", "resnet18", "resnet18_w6_small-cifar10"),
    ("resnet18_w3_small", "resnet18", "resnet18_w3_small-cifar10"),
    ("advrush_searched_small", "advrush", "advrush_searched_small-cifar10"),
    ("arnas_searched_small", "arnas", "arnas_searched_small-cifar10"),
    ("robnet_searched_small", "robnet_free", "robnet_searched_small-cifar10"),
    ("random_ensemble_searched_small", "random_ensemble", "random_ensemble_searched_small-cifar10"),
)

for _tag in TAGS:
    register_weights(*_tag)


def package(checkpoint: str | Path, name: str) -> str:
    """Copy a trained checkpoint (its files' sha256 and golden logits checked) into this package as the
    weights of tag ``name``, and return the tag's line for :data:`TAGS`."""
    config = load_checkpoint(checkpoint, verify_golden=True).robench_checkpoint.config
    folder = f"{name}-{config['robench']['dataset']}"
    copy_checkpoint(checkpoint, WEIGHTS_DIR / folder, tag=name)
    trained = get_entry(config["architecture"])  # a checkpoint retrained from a tag names the tag
    return f'    ("{name}", "{trained.tag_of or trained.name}", "{folder}"),'

"""The robench model zoo: every architecture of the robust-NAS papers and their baselines, exact to the parameter.

    from robench import zoo
    zoo.list_models("*darts*")
    model = zoo.create_model("advrush", dataset="cifar10")       # random initialisation
    model = zoo.load("robnet_free", checkpoint="RobNet_free_cifar10.pth.tar")   # the authors' weights
    model = zoo.load("hf-hub:org/robench-advrush-cifar10")        # a robench checkpoint on the Hub
    model = zoo.load("robnet_free")        # the authors' weights, fetched, verified and converted on first use

Every model takes inputs in [0,1] (normalisation is a layer inside), returns logits from ``forward`` and
``(logits, aux_logits | None)`` from ``forward_train``, and carries ``model.robench_cfg``.
"""

from robench.data.datasets import DATASETS

# Importing the model modules registers their entry points; weights/ registers the entries of packaged checkpoints.
from robench.zoo import baselines, darts, ensemble, robnet, weights  # noqa: F401
from robench.zoo.config import ModelConfig
from robench.zoo.factory import ModelInfo, count_parameters, create_model, info
from robench.zoo.genotypes import (
    ArnasGenotype,
    DartsGenotype,
    EnsembleGenotype,
    RobNetGenotype,
    genotype_from_json,
    genotype_from_str,
)
from robench.zoo.importers import export_original, load_original
from robench.zoo.loading import load
from robench.zoo.registry import ModelEntry, get_entry, is_model, list_models, register_model

__all__ = [
    "ArnasGenotype",
    "DATASETS",
    "DartsGenotype",
    "EnsembleGenotype",
    "ModelConfig",
    "ModelEntry",
    "ModelInfo",
    "RobNetGenotype",
    "count_parameters",
    "create_model",
    "export_original",
    "genotype_from_json",
    "genotype_from_str",
    "get_entry",
    "info",
    "is_model",
    "list_models",
    "load",
    "load_original",
    "register_model",
]

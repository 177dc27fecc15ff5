"""``zoo.load``: a zoo model from a name and its pretrained weights, a checkpoint, or a model source.

The weights of ``load(name)`` come from the checkpoint packaged with robench, else from the entry's sources
(robench's Hub repo, then the authors' release: :mod:`robench.zoo.pretrained`), fetched, verified and converted
once and read from the cache afterwards.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from robench.distributed import resolve_device
from robench.errors import RobenchError
from robench.zoo import pretrained as pretrained_weights
from robench.zoo.checkpoint import load_checkpoint
from robench.zoo.factory import create_model
from robench.zoo.hubfetch import pull
from robench.zoo.importers import load_original
from robench.zoo.registry import ModelEntry, canonical_name, get_entry
from robench.zoo.sources import parse_source


def load(
    name: str,
    dataset: str = "cifar10",
    pretrained: bool = True,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
) -> nn.Module:
    """A zoo model in eval mode on ``device`` (default: cuda when available), inputs in [0,1].

    - ``name`` with a source prefix (``hf-hub:org/repo[@rev]``, ``local-dir:/path``) loads that checkpoint.
    - ``checkpoint``: a robench checkpoint directory (``model.safetensors`` + ``config.json``), or an original
      authors' file (``.pth.tar`` / ``.pt`` / ``.pth``) imported into the named architecture.
    - ``pretrained=True``: the weights packaged for (name, dataset), else those of the entry's sources
      (downloaded on first use; see ``robench info NAME``); an error naming every source tried if none serves.
    - ``pretrained=False``: random initialisation.
    """
    if not isinstance(name, str):
        raise RobenchError(
            f"a model name is a string, got {name!r}",
            "give a zoo name (`robench list` shows them), hf-hub:<org>/<name> or local-dir:<path>",
        )
    device = resolve_device(device)
    if ":" in name:
        if checkpoint is not None:
            raise RobenchError(f"both a source ({name}) and checkpoint={checkpoint} were given", "give one of them")
        return load_from_source(name, device=device)
    entry = get_entry(name)
    dataset = entry.check_dataset(dataset)
    if checkpoint is not None:
        model = _load_checkpoint_file(entry, dataset, Path(checkpoint), device)
    elif pretrained:
        directory = entry.weights_dir(dataset) or pretrained_weights.fetch(entry.name, dataset)
        model = load_checkpoint(directory, device=device, verify_golden=True)
    else:
        model = create_model(entry.name, dataset)
    return model.to(device).eval()


def load_from_source(source: str, device=None, verify_golden: bool = False) -> nn.Module:
    """Load a model from any source as an eval-mode ``nn.Module`` whose weights passed their sha256 check.

    ``hf-hub:`` downloads through the Hub cache (:func:`robench.zoo.hubfetch.pull`), ``local-dir:`` reads a
    checkpoint directory; both end in ``load_checkpoint``. A bare zoo name goes to :func:`load`.
    """
    parsed = parse_source(source)
    if parsed.kind == "zoo":
        return load(parsed.location, device=device)
    if parsed.kind == "hf-hub":
        directory = pull(parsed.location, revision=parsed.revision)
    else:
        directory = Path(parsed.location)
    model = load_checkpoint(directory, device=device, verify_golden=verify_golden)
    model.robench_checkpoint.source = str(parsed)
    return model


def _load_checkpoint_file(entry: ModelEntry, dataset: str, path: Path, device: torch.device) -> nn.Module:
    if not path.exists():
        raise RobenchError(f"checkpoint not found: {path}", "check the path")
    if path.is_dir() or path.suffix == ".safetensors":
        model = load_checkpoint(path if path.is_dir() else path.parent, device=device)
        found = model.robench_cfg.architecture
        if canonical_name(found) != entry.name:
            raise RobenchError(
                f"checkpoint {path} holds a {found} model, not {entry.name}",
                f"load it as load({found!r}, checkpoint=...) or load('local-dir:{path}')",
            )
        return model
    model = create_model(entry.name, dataset)
    load_original(model, path)
    return model

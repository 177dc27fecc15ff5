"""The robench checkpoint: a directory that says what it holds and proves it.

    config.json         timm-compatible fields (architecture, num_classes, pretrained_cfg, model_args) plus a
                        ``robench`` block (dataset, threat model, recipe, genotype, weights_sha256, ...) and
                        ``files``: the sha256 of every safetensors file
    model.safetensors   the weights (never pickle)
    golden.safetensors  fixed seeded inputs in [0, 1] and the logits the model gave on them in eval mode
    README.md           the model card (``robench.hub.card``), once there are results to show

Every file listed in ``files`` is checked before anything is loaded, the loaded state dict must hash to the
recorded ``weights_sha256`` (the weights' identity that result records cite, independent of any file), and
``verify_golden`` re-runs the golden inputs, so silent weight or architecture drift is caught.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from robench import __version__
from robench.errors import RobenchError, read_json
from robench.zoo.factory import create_model

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
GOLDEN_NAME = "golden.safetensors"
CARD_NAME = "README.md"
CHECKPOINT_FILES = (CONFIG_NAME, WEIGHTS_NAME, GOLDEN_NAME, CARD_NAME)
# Suffixes of pickle-based weight files: recognised only to refuse them with a useful message.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".tar")

FORMAT_VERSION = 1
DEFAULT_LICENSE = "apache-2.0"
GOLDEN_BATCH = 4
GOLDEN_SEED = 0
GOLDEN_RTOL = 1e-3
GOLDEN_ATOL = 1e-4


@dataclass
class CheckpointInfo:
    """Where a loaded model's weights came from; attached to the model as ``model.robench_checkpoint``."""

    directory: Path
    weights_sha256: str  # the state-dict identity (see state_dict_sha256)
    files: dict[str, str]  # file name -> sha256 of the file
    config: dict[str, Any]
    source: str


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_dict_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 over a state dict (names, dtypes, shapes and bytes, in name order): the weights' identity in result
    records, the same whether they came from a checkpoint, an imported file or memory."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def weights_sha256(directory: str | Path) -> str:
    """A checkpoint's weights identity (its state-dict sha256, which result records cite), read from config.json
    after the checksum of every file has been verified."""
    config = read_config(directory)
    verify_files(directory, config)
    return config["robench"]["weights_sha256"]


def read_config(directory: str | Path) -> dict[str, Any]:
    """Read and sanity-check a checkpoint's config.json (no hashing, no torch work)."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise RobenchError(
            f"checkpoint directory {directory} does not exist",
            hint="check the path, or pull it with `robench hub pull`",
        )
    path = directory / CONFIG_NAME
    if not path.is_file():
        _refuse_pickle(directory)
        raise RobenchError(
            f"{directory} is not a robench checkpoint: it has no {CONFIG_NAME}",
            hint="write checkpoints with robench.zoo.checkpoint.save_checkpoint (or `robench train`)",
        )
    config = read_json(path, "checkpoint config", hint="re-download or re-save the checkpoint")
    block = config.get("robench") if isinstance(config, dict) else None
    files = config.get("files") if isinstance(config, dict) else None
    if not (
        isinstance(block, dict) and "weights_sha256" in block and isinstance(files, dict) and WEIGHTS_NAME in files
    ):
        _refuse_pickle(directory)
        raise RobenchError(
            f"{path} is not a robench checkpoint config (it needs a 'robench' block with weights_sha256 and "
            f"'files' listing {WEIGHTS_NAME})",
            hint="write checkpoints with robench.zoo.checkpoint.save_checkpoint",
        )
    if block.get("format", 0) > FORMAT_VERSION:
        raise RobenchError(
            f"{path} uses checkpoint format {block['format']}; "
            f"this robench ({__version__}) reads up to {FORMAT_VERSION}",
            hint="upgrade robench: pip install -U robench",
        )
    return config


def verify_files(directory: str | Path, config: dict[str, Any] | None = None) -> dict[str, str]:
    """Check every file listed in config.json's ``files`` against its sha256; return ``{name: sha256}``."""
    directory = Path(directory).expanduser()
    config = read_config(directory) if config is None else config
    for name, expected in config["files"].items():
        path = directory / name
        if Path(name).name != name or not path.is_file():
            raise RobenchError(
                f"{directory}: {name} is listed in {CONFIG_NAME} but missing",
                hint="the checkpoint is incomplete: copy or download it again",
            )
        actual = file_sha256(path)
        if actual != expected:
            raise RobenchError(
                f"{path} fails its integrity check: sha256 {actual}, expected {expected} (from {CONFIG_NAME})",
                hint="the file was corrupted or altered after the checkpoint was written: download or copy it again; "
                "never edit checkpoint files by hand",
            )
    return dict(config["files"])


def save_checkpoint(
    model: nn.Module,
    directory: str | Path,
    *,
    recipe: dict[str, Any] | None = None,
    threat_model: dict[str, Any] | str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (a zoo model carrying ``robench_cfg``) as a checkpoint directory, atomically.

    ``recipe`` is the training recipe, ``threat_model`` the threat model it was trained for, ``metadata`` any
    JSON provenance; ``metadata["license"]`` sets the licence (default apache-2.0). An existing checkpoint at
    ``directory`` is replaced, including its model card (its numbers described other weights).
    """
    cfg = _model_config(model)
    directory = Path(directory).expanduser()
    _check_writable_target(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = _staging_dir(directory)
    try:
        was_training = model.training
        model.eval()
        try:
            save_model(model, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"}, force_contiguous=True)
            save_file(_golden(model, tuple(cfg.input_size)), tmp / GOLDEN_NAME, metadata={"format": "pt"})
        finally:
            model.train(was_training)
        files = {name: file_sha256(tmp / name) for name in (WEIGHTS_NAME, GOLDEN_NAME)}
        config = _config_json(
            cfg,
            state_dict_sha256(model.state_dict()),
            recipe=recipe,
            threat_model=threat_model,
            metadata=metadata,
            files=files,
        )
        (tmp / CONFIG_NAME).write_text(config)
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_checkpoint(
    directory: str | Path, device: str | torch.device | None = None, verify_golden: bool = False
) -> nn.Module:
    """Rebuild the architecture from config.json and load the verified weights; returns an eval-mode model.

    Every file's sha256 is checked before loading, the load is strict, the loaded state dict must hash to the
    recorded ``weights_sha256``, and with ``verify_golden`` the model must reproduce the recorded golden logits
    (rtol 1e-3, atol 1e-4). ``device=None`` keeps the model on CPU.
    """
    directory = Path(directory).expanduser()
    config = read_config(directory)
    files = verify_files(directory, config)
    model = _build_model(config, directory)
    _load_weights(model, directory / WEIGHTS_NAME, config["architecture"])
    identity = state_dict_sha256(model.state_dict())
    if identity != config["robench"]["weights_sha256"]:
        raise RobenchError(
            f"{directory}: the loaded weights hash to {identity}, but {CONFIG_NAME} records "
            f"{config['robench']['weights_sha256']}",
            hint="config.json and model.safetensors do not belong together: re-save or re-download the checkpoint",
        )
    model.eval()
    if device is not None:
        model.to(device)
    if verify_golden:
        verify_golden_logits(model, directory)
    model.robench_checkpoint = CheckpointInfo(
        directory=directory.resolve(),
        weights_sha256=identity,
        files=files,
        config=config,
        source=f"local-dir:{directory}",
    )
    return model


@torch.no_grad()
def verify_golden_logits(model: nn.Module, directory: str | Path) -> float:
    """Run the checkpoint's golden inputs through ``model``; raise unless the logits match. Returns max |diff|."""
    path = Path(directory).expanduser() / GOLDEN_NAME
    try:
        golden = load_file(path)
        inputs, expected = golden["inputs"], golden["logits"]
    except (FileNotFoundError, SafetensorError, KeyError) as err:
        raise RobenchError(f"{path} holds no golden inputs/logits ({err})", hint="re-save the checkpoint") from None
    was_training = model.training
    model.eval()
    try:
        actual = model(inputs.to(_device_of(model))).float().cpu()
    finally:
        model.train(was_training)
    if actual.shape != expected.shape:
        raise RobenchError(
            f"golden check failed for {directory}: "
            f"logits of shape {tuple(actual.shape)}, recorded {tuple(expected.shape)}",
            hint="the architecture no longer matches the checkpoint",
        )
    max_diff = (actual - expected).abs().max().item()
    if not torch.allclose(actual, expected, rtol=GOLDEN_RTOL, atol=GOLDEN_ATOL):
        raise RobenchError(
            f"golden check failed for {directory}: logits differ from the recorded ones by up to {max_diff:.3g} "
            f"(tolerance rtol {GOLDEN_RTOL:g}, atol {GOLDEN_ATOL:g})",
            hint="the architecture code, its arguments or a library changed since the checkpoint was written; "
            "compare versions with the checkpoint's config.json",
        )
    return max_diff


def copy_checkpoint(source: str | Path, destination: str | Path, *, tag: str | None = None) -> Path:
    """Copy a verified checkpoint's files (following cache symlinks) to ``destination``, atomically. ``tag``:
    the copy names this registered tag of the source's architecture as its own (what loading it reports)."""
    source, destination = Path(source).expanduser(), Path(destination).expanduser()
    config = read_config(source)
    verify_files(source, config)
    _check_writable_target(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = _staging_dir(destination)
    try:
        for name in CHECKPOINT_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, tmp / name)
        if tag is not None:
            (tmp / CONFIG_NAME).write_text(_config_text({**config, "architecture": tag}))
        _replace_dir(tmp, destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return destination


def _model_config(model: nn.Module):
    cfg = getattr(model, "robench_cfg", None)
    if cfg is None:
        raise RobenchError(
            f"{type(model).__name__} carries no robench_cfg, so its architecture cannot be recorded",
            hint="build models with robench.zoo.create_model, which attaches the config",
        )
    return cfg


def _golden(model: nn.Module, input_size: tuple[int, ...]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(GOLDEN_SEED)
    inputs = torch.rand((GOLDEN_BATCH, *input_size), generator=generator)
    with torch.no_grad():
        logits = model(inputs.to(_device_of(model))).float().cpu()
    return {"inputs": inputs, "logits": logits.contiguous()}


def _device_of(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _as_list(values) -> list | None:
    return None if values is None else list(values)


def _config_json(cfg, identity: str, *, recipe, threat_model, metadata, files: dict[str, str]) -> str:
    metadata = dict(metadata or {})
    block: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "version": __version__,
        "weights_sha256": identity,
        "dataset": cfg.dataset,
        "threat_model": threat_model,
        "arch_id": cfg.arch_id,
        "genotype": cfg.genotype,
        "family": cfg.family,
        "paper": cfg.paper,
    }
    if recipe is not None:
        block["recipe"] = recipe
    if metadata:
        block["metadata"] = metadata
    config = {
        "architecture": cfg.architecture,
        "num_classes": cfg.num_classes,
        "model_args": dict(cfg.model_args),
        "pretrained_cfg": {
            "input_size": list(cfg.input_size),
            "mean": _as_list(cfg.mean),
            "std": _as_list(cfg.std),
            "num_classes": cfg.num_classes,
            "license": metadata.get("license", DEFAULT_LICENSE),
        },
        "robench": block,
        "files": files,
    }
    try:
        return _config_text(config)
    except (TypeError, ValueError) as err:
        raise RobenchError(
            f"checkpoint metadata is not plain JSON ({err})",
            hint="pass recipe, threat_model and metadata as dicts of strings, numbers, lists and dicts",
        ) from None


def _config_text(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, allow_nan=False) + "\n"


def _build_model(config: dict[str, Any], directory: Path) -> nn.Module:
    architecture, block = config["architecture"], config["robench"]
    try:
        model = create_model(architecture, dataset=block["dataset"], **config.get("model_args", {}))
    except RobenchError as err:
        raise RobenchError(f"{directory}: cannot rebuild {architecture!r}: {err.message}", hint=err.hint) from None
    built = getattr(model, "robench_cfg", None)
    if built is not None:
        for field, recorded in (("num_classes", config["num_classes"]), ("arch_id", block.get("arch_id"))):
            if getattr(built, field) != recorded:
                raise RobenchError(
                    f"{directory}: {CONFIG_NAME} records {field}={recorded!r} "
                    f"but the zoo builds {getattr(built, field)!r}",
                    hint="the architecture definition changed since the checkpoint was written; use the robench "
                    f"version it names ({block.get('version')})",
                )
    return model


def _load_weights(model: nn.Module, path: Path, architecture: str) -> None:
    try:
        missing, unexpected = load_model(model, path, strict=False)
    except SafetensorError as err:
        raise RobenchError(
            f"{path} is not a readable safetensors file ({err})", hint="download or copy it again"
        ) from None
    except RuntimeError as err:
        # load_state_dict reports shape mismatches even when strict=False
        detail = " ".join(str(err).split())
        raise RobenchError(
            f"{path} does not fit {architecture!r}: {detail}", hint="the weights were saved from another architecture"
        ) from None
    if missing or unexpected:
        raise RobenchError(
            f"{path} does not match {architecture!r}: "
            f"missing keys [{_few(missing)}], unexpected keys [{_few(unexpected)}]",
            hint="the weights were saved from another architecture or other model_args than config.json records",
        )


def _few(keys, limit: int = 5) -> str:
    keys = sorted(keys)
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _refuse_pickle(directory: Path) -> None:
    pickles = sorted(p.name for p in directory.iterdir() if p.name.lower().endswith(PICKLE_SUFFIXES))
    if pickles and not (directory / WEIGHTS_NAME).exists():
        raise RobenchError(
            f"{directory} holds only pickle weights ({', '.join(pickles)}); robench loads safetensors only",
            hint="import them once with zoo.load(name, checkpoint=PATH) and write a checkpoint with save_checkpoint",
        )


def _check_writable_target(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise RobenchError(f"{directory} exists and is not a directory", hint="choose another checkpoint path")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / CONFIG_NAME).is_file():
        raise RobenchError(
            f"refusing to overwrite {directory}: it is not empty and not a robench checkpoint",
            hint="choose a new or empty directory",
        )


def _staging_dir(directory: Path) -> Path:
    """A hidden sibling of ``directory`` (same filesystem, so the final rename is atomic)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".partial", dir=directory.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would otherwise become the checkpoint's mode
    return tmp


def _replace_dir(tmp: Path, directory: Path) -> None:
    """Move the finished ``tmp`` into place; an old directory is renamed away first, then removed."""
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
        directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(directory)

"""Robench checkpoints from a Hugging Face Hub, downloaded through huggingface_hub directly (as timm does).

Downloads go through huggingface_hub's cache (``HF_HUB_CACHE``), fetch only the checkpoint files (never a
pickle), and are verified against the sha256 sums in config.json before they are returned. ``offline=True``
or ``HF_HUB_OFFLINE=1`` reads the cache only; when the Hub cannot be reached a cached snapshot is used.
Publishing (push, list, model cards) is :mod:`robench.hub`'s, which builds on this module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants, get_cached_repo_tree, snapshot_download
from huggingface_hub.errors import (
    CachedRepoTreeNotFoundError,
    HfHubHTTPError,
    IncompleteSnapshotError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from robench import __version__
from robench.data.datasets import get_dataset
from robench.errors import RobenchError
from robench.zoo.checkpoint import CHECKPOINT_FILES, CONFIG_NAME, PICKLE_SUFFIXES, WEIGHTS_NAME, verify_files
from robench.zoo.registry import canonical_name
from robench.zoo.sources import validate_repo_id

logger = logging.getLogger(__name__)

ORG_ENV = "ROBENCH_HUB_ORG"
DEFAULT_ORG = "robench"
DEFAULT_REVISION = "main"


def hub_org() -> str:
    return os.environ.get(ORG_ENV) or DEFAULT_ORG


def hub_repo_for(name: str, dataset: str) -> str:
    """The Hub repo of a zoo entry's weights: ``{ROBENCH_HUB_ORG or robench}/robench-{name}-{dataset}``, with
    the canonical zoo and data-set names (so aliases map to the same repo)."""
    return validate_repo_id(f"{hub_org()}/robench-{canonical_name(name)}-{get_dataset(dataset).name}")


def pull(
    repo_id: str,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    offline: bool | None = None,
) -> Path:
    """Download (or find in the cache) a checkpoint and return its verified snapshot directory.

    Only config.json, model.safetensors, golden.safetensors and README.md are fetched. ``offline=None``
    follows ``HF_HUB_OFFLINE``.
    """
    validate_repo_id(repo_id)
    revision = revision or DEFAULT_REVISION
    offline = constants.is_offline_mode() if offline is None else offline
    label = f"{repo_id}@{revision}"
    cache = Path(cache_dir or constants.HF_HUB_CACHE).expanduser()
    with hub_errors(f"pulling {label}"):
        local_only = offline or not _hub_reachable(repo_id, revision, label)
        try:
            snapshot = Path(
                snapshot_download(
                    repo_id,
                    revision=revision,
                    cache_dir=cache,
                    allow_patterns=list(CHECKPOINT_FILES),
                    local_files_only=local_only,
                    endpoint=constants.ENDPOINT,
                    library_name="robench",
                    library_version=__version__,
                )
            )
        except IncompleteSnapshotError as err:
            # its first sentence names the commit and the missing files
            raise _cache_miss(label, cache, offline, str(err).split(". ")[0]) from None
        except LocalEntryNotFoundError:
            raise _cache_miss(label, cache, offline, "no snapshot of this revision is cached") from None
    _require_checkpoint(snapshot, repo_id, label, cache)
    try:
        verify_files(snapshot)
    except RobenchError as err:
        raise RobenchError(
            f"{label}: {err.message}",
            hint=f"delete {snapshot.parent.parent} and pull again; if it fails again, the repo's files do not match "
            "its config.json (it was altered after the checkpoint was written)",
        ) from None
    return snapshot


def _cache_miss(label: str, cache: Path, offline: bool, detail: str) -> RobenchError:
    reason = "offline mode is on" if offline else "the Hub could not be reached"
    hint = f"connect to the Hub and pull it once (`robench hub pull {label}`)"
    if offline:
        hint += "; offline mode comes from --offline or HF_HUB_OFFLINE=1"
    return RobenchError(f"{reason} and the local cache ({cache}) cannot serve {label}: {detail}", hint=hint)


def _hub_reachable(repo_id: str, revision: str, label: str) -> bool:
    """Ask the Hub about the revision; False (and a warning) when it cannot answer, so the cache serves the pull."""
    try:
        hub_api().repo_info(repo_id, revision=revision)
        return True
    except (httpx2.TransportError, OfflineModeIsEnabled) as err:
        reason = type(err).__name__
    except HfHubHTTPError as err:
        if err.response is None or err.response.status_code < 500:
            raise
        reason = f"HTTP {err.response.status_code}"
    logger.warning(
        "the Hub at %s cannot be reached (%s): reading %s from the local cache", constants.ENDPOINT, reason, label
    )
    return False


def hub_api() -> HfApi:
    # Read the endpoint at call time (not import time) so HF_ENDPOINT mirrors and tests can redirect it.
    return HfApi(endpoint=constants.ENDPOINT, library_name="robench", library_version=__version__)


def _require_checkpoint(snapshot: Path, repo_id: str, label: str, cache: Path) -> None:
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if not (snapshot / name).is_file()]
    if not missing:
        return
    try:
        offered = [f.path for f in get_cached_repo_tree(repo_id, revision=snapshot.name, cache_dir=cache)]
    except CachedRepoTreeNotFoundError:
        offered = []
    pickles = [name for name in offered if name.lower().endswith(PICKLE_SUFFIXES)]
    if pickles and WEIGHTS_NAME not in offered:
        raise RobenchError(
            f"{label} offers only pickle weights ({', '.join(pickles)}); robench never loads pickle files",
            hint="ask its owner to publish a robench checkpoint (`robench hub push`), or review the file and import "
            "it locally with zoo.load(name, checkpoint=PATH)",
        )
    raise RobenchError(
        f"{label} is not a robench checkpoint: commit {snapshot.name[:12]} has no {' or '.join(missing)}",
        hint="check the repo id and revision; checkpoints are published with `robench hub push`",
    )


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


@contextmanager
def hub_errors(action: str) -> Iterator[None]:
    """Turn huggingface_hub and transport exceptions into one-line RobenchErrors with a remedy."""
    endpoint = constants.ENDPOINT
    try:
        yield
    except RepositoryNotFoundError:
        raise RobenchError(
            f"{action}: no such repo on {endpoint}, or it is private",
            hint="check the repo id; for a private repo set HF_TOKEN to a token that can read it",
        ) from None
    except RevisionNotFoundError:
        raise RobenchError(
            f"{action}: the revision does not exist", hint="omit it for main, or give an existing branch, tag or commit"
        ) from None
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status in (401, 403):
            raise RobenchError(
                f"{action}: the Hub refused the credentials (HTTP {status})",
                hint="set HF_TOKEN to a token with write access, or run `hf auth login`",
            ) from None
        detail = err.server_message or _first_line(err)
        raise RobenchError(
            f"{action}: the Hub answered HTTP {status}: {detail}", hint=f"retry later; check HF_ENDPOINT ({endpoint})"
        ) from None
    except OfflineModeIsEnabled:
        raise RobenchError(
            f"{action}: offline mode is on (HF_HUB_OFFLINE=1)", hint="unset HF_HUB_OFFLINE to reach the Hub"
        ) from None
    except httpx2.TransportError as err:
        raise RobenchError(
            f"{action}: cannot reach the Hub at {endpoint} ({type(err).__name__})",
            hint="check the network, a proxy or HF_ENDPOINT; pulls of cached checkpoints work offline",
        ) from None

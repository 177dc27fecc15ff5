"""Fetch, verify, convert and cache an entry's pretrained weights from its sources (:mod:`robench.zoo.releases`).

Sources are tried in order: robench's Hub repo (a robench checkpoint, through huggingface_hub's cache), then the
authors' release. A release is downloaded with gdown (Google Drive, and plain resumable HTTP for GitHub files),
with a progress bar, into ``$ROBENCH_PRETRAINED/downloads`` (default ``~/.cache/robench/pretrained``); its sha256
is checked against the pinned digest, or, where none is published, against the digest recorded in
``sha256.lock.json`` on its first download. The weights file is taken out of the archive, read by the restricted
unpickler of :mod:`robench.zoo.importers` (nothing the file names is imported or run), loaded strictly into the
zoo architecture and written as a robench checkpoint (safetensors, config.json, golden logits) under
``checkpoints/{name}-{dataset}``; its weights sha256 is recorded in the lock file too, and every later load
checks it. What is already on this machine is used before anything is downloaded, so a second load needs no
network. ``HF_HUB_OFFLINE=1`` (or ``offline=True``) never downloads.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gdown
import requests
from gdown.exceptions import DownloadError, FileURLRetrievalError
from huggingface_hub import constants

from robench.errors import RobenchError, read_json
from robench.rundir import RunLock, atomic_write, make_dir
from robench.zoo.checkpoint import CONFIG_NAME, file_sha256, read_config, save_checkpoint
from robench.zoo.factory import create_model
from robench.zoo.hubfetch import hub_repo_for, pull
from robench.zoo.importers import load_original
from robench.zoo.registry import get_entry
from robench.zoo.releases import NOT_RELEASED, Release, drive_file_url, releases

log = logging.getLogger(__name__)

PRETRAINED_ENV = "ROBENCH_PRETRAINED"
DEFAULT_PRETRAINED_DIR = Path("~/.cache/robench/pretrained")
LOCK_NAME = "sha256.lock.json"
LOCK_FORMAT = 1
# Seconds to wait for a connection, then between bytes: an unreachable host fails in seconds, never hangs.
TIMEOUT = (5, 60)


@dataclass(frozen=True)
class Source:
    """One place an entry's weights come from, as ``robench info`` lists it."""

    kind: str  # "hf-hub" or a Release kind
    label: str
    url: str
    release: Release | None = None

    def __str__(self) -> str:
        return f"{self.label} ({self.url})"


def pretrained_dir() -> Path:
    """``$ROBENCH_PRETRAINED`` if set, else ``~/.cache/robench/pretrained``."""
    return Path(os.environ.get(PRETRAINED_ENV) or DEFAULT_PRETRAINED_DIR).expanduser()


def sources(name: str, dataset: str) -> list[Source]:
    """Where ``name``'s weights for ``dataset`` are looked for, in order."""
    entry = get_entry(name)
    dataset = entry.check_dataset(dataset)
    repo_id = hub_repo_for(entry.name, dataset)
    found = [Source("hf-hub", f"hf-hub:{repo_id}", f"{constants.ENDPOINT}/{repo_id}")]
    found += [Source(r.kind, r.project, r.url, r) for r in releases(entry.name, dataset)]
    return found


def not_released(name: str) -> str | None:
    """Why the authors of ``name`` offer no weights, when they released none."""
    return NOT_RELEASED.get(get_entry(name).name)


def fetch(name: str, dataset: str = "cifar10", offline: bool | None = None, quiet: bool = False) -> Path:
    """The verified robench checkpoint directory of ``name``'s pretrained weights for ``dataset``.

    What this machine already holds (a Hub snapshot, a converted release) is used first; otherwise each source is
    tried in order. When none serves, one RobenchError names every source tried, its URL and why it failed, and
    how to place the file by hand. ``offline=None`` follows ``HF_HUB_OFFLINE``.
    """
    entry = get_entry(name)
    dataset = entry.check_dataset(dataset)
    offline = constants.is_offline_mode() if offline is None else offline
    candidates = sources(entry.name, dataset)
    for source in candidates:
        try:
            return _local(entry.name, dataset, source)
        except _NotHere:
            continue
    failures = []
    if not offline:
        with RunLock(make_dir(pretrained_dir(), "pretrained-weights cache"), "download of pretrained weights"):
            for source in candidates:
                try:
                    return _download(entry.name, dataset, source, quiet)
                except RobenchError as err:
                    failures.append(f"{source}: {err.message}")
                    log.info("pretrained %s (%s): %s failed: %s", entry.name, dataset, source.label, err.message)
    raise _nothing_served(entry.name, dataset, candidates, failures, offline)


def convert(
    path: str | Path, name: str, dataset: str, out: str | Path, source: str | None = None, **metadata: Any
) -> Path:
    """Import an authors' weights file into the zoo architecture ``name`` and write it as a robench checkpoint
    at ``out``; ``source`` (a URL or description) is recorded in its metadata with the file's sha256, and so is
    any other ``metadata``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise RobenchError(f"weights file not found: {path}", "check the path")
    entry = get_entry(name)
    dataset = entry.check_dataset(dataset)
    model = create_model(entry.name, dataset)
    notes = load_original(model, path)
    metadata = {
        "source": source or path.name,
        "source_sha256": file_sha256(path),
        "imported": notes,
        "license": entry.licence,
        **metadata,
    }
    return save_checkpoint(model, out, metadata=metadata)


class _NotHere(Exception):
    pass


def _converted_dir(name: str, dataset: str) -> Path:
    return pretrained_dir() / "checkpoints" / f"{name}-{dataset}"


def _download_path(release: Release) -> Path:
    return pretrained_dir() / "downloads" / release.filename


def _local(name: str, dataset: str, source: Source) -> Path:
    """The source's checkpoint if this machine holds it (no network), else _NotHere."""
    if source.release is None:
        try:
            return pull(source.label.removeprefix("hf-hub:"), offline=True)
        except RobenchError:
            raise _NotHere from None
    target = _converted_dir(name, dataset)
    if (target / CONFIG_NAME).is_file():
        _check_converted(name, dataset, source.release, target)
        return target
    if _download_path(source.release).is_file():  # downloaded before, or placed by hand
        return _convert_release(name, dataset, source.release)
    raise _NotHere


def _download(name: str, dataset: str, source: Source, quiet: bool) -> Path:
    if source.release is None:
        return pull(source.label.removeprefix("hf-hub:"), offline=False)
    path = _download_path(source.release)
    make_dir(path.parent, "download directory")
    _fetch_file(source.release, path, quiet)
    try:
        return _convert_release(name, dataset, source.release)
    except RobenchError:
        path.unlink(missing_ok=True)  # a download that fails its checks is not kept for the next attempt
        raise


def _fetch_file(release: Release, path: Path, quiet: bool) -> None:
    url = release.url
    if release.kind == "drive-folder":
        url = _folder_member_url(release)
    try:
        gdown.download(url=url, output=str(path), quiet=quiet, resume=True, timeout=TIMEOUT)
    except (requests.RequestException, DownloadError, FileURLRetrievalError, OSError) as err:
        raise RobenchError(f"download failed ({_reason(err)})") from None
    if not path.is_file():
        raise RobenchError("download failed (no file was written)")


def _folder_member_url(release: Release) -> str:
    """The download URL of the release's member file, found in the Drive folder's listing (gdown reads it from
    Google Drive itself: a folder listing has no mirror)."""
    family, filename = release.member.split("/")
    try:
        listing = gdown.download_folder(id=release.location, skip_download=True, quiet=True, timeout=TIMEOUT)
    except (requests.RequestException, DownloadError, FileURLRetrievalError, OSError) as err:
        raise RobenchError(f"cannot list the Drive folder ({_reason(err)})") from None
    for item in listing:
        parts = [p.lower() for p in Path(item.path).parts]
        if parts and parts[-1] == filename and family in parts[:-1]:
            return drive_file_url(item.id)
    raise RobenchError(f"the Drive folder lists no {filename} in a {family} folder")


def _reason(err: BaseException) -> str:
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code}"
    if isinstance(err, (requests.ConnectionError, requests.Timeout)) and err.request is not None:
        return f"{type(err).__name__}: cannot reach {urlsplit(err.request.url).netloc}"
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


def _convert_release(name: str, dataset: str, release: Release) -> Path:
    """Check the downloaded file's sha256, import its weights and write the converted checkpoint."""
    path = _download_path(release)
    digest = file_sha256(path)
    lock = _read_lock()
    entry = lock["releases"].get(release.key, {})
    expected, origin = (release.sha256, "robench.zoo.releases") if release.sha256 else (entry.get("sha256"), LOCK_NAME)
    if expected is not None and digest != expected:
        raise RobenchError(
            f"{path} has sha256 {digest}, but {origin} expects {expected} for {release.url}",
            f"the file is not the one released (altered, truncated or replaced): delete {path} and fetch it again; "
            f"if the authors really replaced their release, remove its entry from {pretrained_dir() / LOCK_NAME}",
        )
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        weights = _extract(release, path, Path(tmp))
        target = convert(weights, name, dataset, _converted_dir(name, dataset), source=release.describe(),
                         download_sha256=digest, training=release.training, release=release.identity)
    identity = read_config(target)["robench"]["weights_sha256"]
    recorded = entry.get("weights", {}).get(f"{name}-{dataset}")
    if recorded is not None and recorded != identity:
        shutil.rmtree(target, ignore_errors=True)
        raise RobenchError(
            f"{release.url} converts to weights with sha256 {identity}, but {LOCK_NAME} records {recorded}",
            "the conversion or the file changed since the lock was written: delete the download and fetch again",
        )
    if expected is None:
        log.warning(
            "%s publishes no sha256: recorded %s in %s on this first download; every later load checks it",
            release.project, digest, pretrained_dir() / LOCK_NAME,
        )
    entry.update(url=release.url, sha256=digest)
    entry.setdefault("weights", {})[f"{name}-{dataset}"] = identity
    _write_lock(lock, release, entry)
    return target


def _extract(release: Release, path: Path, tmp: Path) -> Path:
    if release.kind != "drive-file":
        return path
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if Path(n).name == release.member and not n.endswith("/")]
            if not names:
                raise RobenchError(f"{path} holds no {release.member}", "the archive is not the one released")
            # read by name and write under tmp: a member path cannot point outside it
            target = tmp / release.member
            target.write_bytes(archive.read(names[0]))
            return target
    except zipfile.BadZipFile:
        raise RobenchError(
            f"{path} is not a zip archive", "the download may be an HTML error page: delete it and fetch again"
        ) from None


def _check_converted(name: str, dataset: str, release: Release, target: Path) -> None:
    """A converted checkpoint must hold the weights the lock records; one converted by hand
    (`robench zoo convert`) and not yet recorded is recorded now."""
    lock = _read_lock()
    entry = lock["releases"].get(release.key, {})
    recorded = entry.get("weights", {}).get(f"{name}-{dataset}")
    identity = read_config(target)["robench"]["weights_sha256"]
    if recorded is None:
        log.warning("recorded the weights sha256 %s of %s in %s; every later load checks it",
                    identity, target, pretrained_dir() / LOCK_NAME)
        entry.setdefault("url", release.url)
        entry.setdefault("weights", {})[f"{name}-{dataset}"] = identity
        _write_lock(lock, release, entry)
    elif recorded != identity:
        raise RobenchError(
            f"{target} holds weights with sha256 {identity}, but {pretrained_dir() / LOCK_NAME} records "
            f"{recorded} for {name} on {dataset}",
            f"the converted checkpoint was replaced or the lock edited: delete {target} and load again",
        )


def _write_lock(lock: dict[str, Any], release: Release, entry: dict[str, Any]) -> None:
    entry.setdefault("recorded", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    lock["releases"][release.key] = entry
    atomic_write(pretrained_dir() / LOCK_NAME, json.dumps(lock, indent=2, sort_keys=True) + "\n")


def _read_lock() -> dict[str, Any]:
    path = pretrained_dir() / LOCK_NAME
    if not path.is_file():
        return {"format": LOCK_FORMAT, "releases": {}}
    lock = read_json(path, "pretrained-weights lock file", hint=f"restore {path} from a backup, or delete it "
                     "(the next downloads record their sha256 anew)")
    if not isinstance(lock, dict) or not isinstance(lock.get("releases"), dict):
        raise RobenchError(f"{path} is not a robench lock file", f"delete {path}; downloads record their sha256 anew")
    return lock


def _nothing_served(name: str, dataset: str, candidates: list[Source], failures: list[str], offline: bool):
    tried = failures or [f"{s}: not on this machine" for s in candidates]
    reason = " (offline mode is on: HF_HUB_OFFLINE=1)" if offline else ""
    released = [s.release for s in candidates if s.release is not None]
    if released:
        release = released[0]
        by_hand = (
            f"download {release.url} yourself and place it at {_download_path(release)}"
            + (f" (the folder's {release.member})" if release.kind == "drive-folder" else "")
            + f", or convert a weights file with `robench zoo convert FILE --arch {name} --dataset {dataset} "
            f"--out {_converted_dir(name, dataset)}`"
        )
    else:
        missing = not_released(name)
        by_hand = (
            (f"{missing}; " if missing else f"no authors' release of {name} on {dataset} is known; ")
            + f"give your own weights (zoo.load({name!r}, checkpoint=FILE)), train them (`robench train {name}`), "
            "or pretrained=False for random weights"
        )
    return RobenchError(
        f"no pretrained weights for {name} on {dataset} could be fetched{reason}; tried: " + "; ".join(tried),
        by_hand,
    )


def describe_sources(name: str, dataset: str) -> list[str]:
    """One line per source, in the order they are tried, for ``robench info``."""
    return [f"{s.release.describe()}: {s.release.training}" if s.release else str(s) for s in sources(name, dataset)]

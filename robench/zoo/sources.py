"""Model sources: ``hf-hub:org/name[@revision]``, ``local-dir:/path`` or a bare zoo name.

Parsing is strict, as in timm: a bare name that looks like a path or a Hub repo id is refused with a hint to
add the right prefix, never guessed. Loading a parsed source is :mod:`robench.zoo.loading`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from huggingface_hub.utils import HFValidationError
from huggingface_hub.utils import validate_repo_id as validate_hub_repo_id

from robench.errors import RobenchError

HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
PREFIXES = (HF_HUB_PREFIX, LOCAL_DIR_PREFIX)

_REVISION_RE = re.compile(r"[A-Za-z0-9._/-]+")
_FILE_SUFFIXES = (".pt", ".pth", ".tar", ".bin", ".ckpt", ".pkl", ".safetensors", ".json", ".zip")


@dataclass(frozen=True)
class ModelSource:
    """A parsed model source. ``location`` is a zoo name, a Hub repo id or a directory path."""

    kind: Literal["zoo", "hf-hub", "local-dir"]
    location: str
    revision: str | None = None

    def __str__(self) -> str:
        if self.kind == "zoo":
            return self.location
        revision = f"@{self.revision}" if self.revision else ""
        return f"{self.kind}:{self.location}{revision}"


def validate_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is a well-formed ``org/name`` Hub id (huggingface_hub's rules), else raise a
    RobenchError quoting the rule it breaks."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        problem = "it must be 'org/name'"
    else:
        problem = _hub_rule_broken(repo_id)
    if problem:
        raise RobenchError(f"malformed Hub repo id {repo_id!r}: {problem}",
                           hint="write it as org/name, e.g. robench/robench-advrush-cifar10")  # fmt: skip
    return repo_id


def validate_namespace(namespace: str) -> str:
    """Return ``namespace`` if it is a well-formed Hub user or organisation name, else raise a RobenchError."""
    problem = "it must be one name, without '/'" if not isinstance(namespace, str) or "/" in namespace else None
    problem = problem or _hub_rule_broken(namespace)
    if problem:
        raise RobenchError(f"malformed Hub organisation {namespace!r}: {problem}",
                           hint="give a user or organisation name, e.g. robench")  # fmt: skip
    return namespace


def _hub_rule_broken(repo_id: str) -> str | None:
    try:
        validate_hub_repo_id(repo_id)
    except HFValidationError as err:
        return str(err).split(": '")[0].rstrip(".")
    return None


def split_revision(spec: str) -> tuple[str, str | None]:
    """Split ``org/name@revision`` into the validated repo id and the revision (None when absent)."""
    repo_id, at, revision = spec.partition("@")
    validate_repo_id(repo_id)
    if at and (not _REVISION_RE.fullmatch(revision) or ".." in revision):
        raise RobenchError(
            f"malformed revision in {spec!r}",
            hint="give a branch, tag, 'refs/pr/N' or a commit hash after '@', e.g. org/name@main",
        )
    return repo_id, revision or None


def looks_like_path(name: str) -> bool:
    """True for names a user means as a file or directory (separators, '.', '~', a weights-file suffix)."""
    return "/" in name or "\\" in name or name.startswith((".", "~")) or name.lower().endswith(_FILE_SUFFIXES)


def parse_source(source: str) -> ModelSource:
    """Parse a model source string; anything ambiguous is an error with a hint, never a guess."""
    if not isinstance(source, str) or not source.strip() or source != source.strip():
        raise RobenchError(
            f"empty or padded model name {source!r}", hint="give a zoo name, hf-hub:org/name or local-dir:/path"
        )
    if source.startswith(HF_HUB_PREFIX):
        repo_id, revision = split_revision(source[len(HF_HUB_PREFIX) :])
        return ModelSource("hf-hub", repo_id, revision)
    if source.startswith(LOCAL_DIR_PREFIX):
        path = source[len(LOCAL_DIR_PREFIX) :]
        if not path:
            raise RobenchError("local-dir: needs a directory", hint="write local-dir:/path/to/checkpoint")
        return ModelSource("local-dir", str(Path(path).expanduser()))
    scheme, colon, _ = source.partition(":")
    if colon:
        raise RobenchError(
            f"unknown model source prefix '{scheme}:' in {source!r}",
            hint=f"use one of {', '.join(PREFIXES)} or a bare zoo name (see `robench list`)",
        )
    if looks_like_path(source):
        hints = [f"local-dir:{source} for a checkpoint directory"]
        candidate = source.partition("@")[0]
        if candidate.count("/") == 1 and _hub_rule_broken(candidate) is None:
            hints.insert(0, f"hf-hub:{source} for a Hugging Face Hub repo")
        raise RobenchError(
            f"{source!r} looks like a path or a Hub repo id, not a zoo model name",
            hint="write " + " or ".join(hints),
        )
    return ModelSource("zoo", source)

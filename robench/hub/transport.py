"""Publish robench checkpoints on a Hugging Face Hub: push and list; huggingface_hub does all the transport.

Downloading (``pull``, also what ``zoo.load("hf-hub:...")`` uses) is the zoo's
(:mod:`robench.zoo.hubfetch`), re-exported here with the organisation helpers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from huggingface_hub import CommitOperationAdd, constants
from huggingface_hub.utils import build_hf_headers, get_session

from robench import __version__
from robench.errors import RobenchError
from robench.hub.card import validate_card, write_card
from robench.zoo.checkpoint import CARD_NAME, CHECKPOINT_FILES, read_config, verify_files
from robench.zoo.hubfetch import DEFAULT_REVISION, hub_api, hub_errors, hub_org, hub_repo_for, pull
from robench.zoo.sources import validate_namespace, validate_repo_id

__all__ = ["PushResult", "RepoSummary", "hub_org", "hub_repo_for", "list_repos", "pull", "push"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    commit_oid: str
    commit_url: str
    revision: str  # the branch pushed to, or refs/pr/N for a pull request
    pr_url: str | None = None


@dataclass(frozen=True)
class RepoSummary:
    repo_id: str
    sha: str | None
    last_modified: datetime | None
    private: bool | None
    tags: tuple[str, ...]


def push(
    directory: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    create_pr: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
) -> PushResult:
    """Upload a verified checkpoint directory as one commit (creating the repo, and the branch, if needed).

    A checkpoint without a README.md gets a card with no results first (written into ``directory``).
    ``create_pr`` opens a pull request against main instead of committing to it.
    """
    validate_repo_id(repo_id)
    if create_pr and revision not in (None, DEFAULT_REVISION):
        raise RobenchError("a pull request always targets main", hint="drop the revision or drop create_pr")
    directory = Path(directory).expanduser()
    config = read_config(directory)
    verify_files(directory, config)
    if not (directory / CARD_NAME).is_file():
        write_card(directory, [], repo_id=repo_id)
    validate_card((directory / CARD_NAME).read_text())
    message = (
        commit_message
        or f"Upload {config['architecture']} checkpoint (weights sha256 {config['robench']['weights_sha256'][:12]})"
    )
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(directory / name))
        for name in CHECKPOINT_FILES
        if (directory / name).is_file()
    ]
    api = hub_api()
    with hub_errors(f"pushing to {repo_id}"):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        try:
            info = api.create_commit(
                repo_id, operations, commit_message=message, revision=revision, create_pr=create_pr
            )
        except ValueError as err:  # the Hub's README.md metadata check (/api/validate-yaml)
            raise RobenchError(
                f"the Hub refused {CARD_NAME} of {directory}: {err}",
                hint="regenerate the card with `robench hub push --results`",
            ) from None
    logger.info("pushed %s to %s (%s)", directory, repo_id, info.commit_url)
    return PushResult(repo_id, info.oid, info.commit_url, info.pr_revision or revision or DEFAULT_REVISION, info.pr_url)


def list_repos(org: str | None = None) -> list[RepoSummary]:
    """The model repos of a Hub organisation (default ``ROBENCH_HUB_ORG`` or robench), sorted by id."""
    org = org or hub_org()
    validate_namespace(org)
    with hub_errors(f"listing {org}"):
        # list_models retries a refused connection for half a minute; one plain request first fails at once
        get_session().get(f"{constants.ENDPOINT}/api/models", params={"author": org, "limit": 1},
                          headers=build_hf_headers(library_name="robench", library_version=__version__))
        models = list(hub_api().list_models(author=org))
    return [
        RepoSummary(m.id, m.sha, m.last_modified, m.private, tuple(m.tags or ()))
        for m in sorted(models, key=lambda m: m.id)
    ]



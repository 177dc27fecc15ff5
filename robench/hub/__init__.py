"""The Hugging Face Hub registry: push, pull, list and describe robench checkpoints."""

from robench.hub.card import render_card, validate_card, write_card
from robench.hub.transport import PushResult, RepoSummary, hub_org, hub_repo_for, list_repos, pull, push

__all__ = [
    "PushResult",
    "RepoSummary",
    "hub_org",
    "hub_repo_for",
    "list_repos",
    "pull",
    "push",
    "render_card",
    "validate_card",
    "write_card",
]

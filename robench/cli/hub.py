"""``robench hub``: push, pull and list checkpoints on the Hugging Face Hub.

Everything heavy (huggingface_hub, torch through the checkpoint code) is imported inside the commands.
"""

from __future__ import annotations

import click


@click.group("hub")
def hub() -> None:
    """Push, pull and list checkpoints on the Hugging Face Hub.

    \b
    Examples:
      robench hub push runs/advrush --repo robench/robench-advrush-cifar10 --results aa.json
      robench hub pull robench/robench-advrush-cifar10@main --out checkpoints/advrush
      robench hub ls --org robench

    The endpoint, token and cache are huggingface_hub's: HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HUB_OFFLINE.
    """
    import logging

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # one INFO line per HTTP request from the transport library is noise unless --verbose
        logging.getLogger("httpx2").setLevel(logging.WARNING)


@hub.command("push")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--repo", "repo_id", required=True, metavar="ORG/NAME", help="Hub repo to push to (created if missing).")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing to main.")
@click.option("--revision", default=None, metavar="BRANCH", help="Branch to commit to (created from main if missing).")
@click.option(
    "--results",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="RESULT.json",
    help="Result records of this checkpoint (repeatable): the model card is rewritten from them before pushing.",
)
@click.option("-m", "--message", default=None, help="Commit message.")
def push_cmd(
    directory: str,
    repo_id: str,
    private: bool,
    create_pr: bool,
    revision: str | None,
    results: tuple[str, ...],
    message: str | None,
) -> None:
    """Push checkpoint DIRECTORY (config.json, weights, golden logits, card) as one commit."""
    from robench.evaluate.records import read_record
    from robench.hub import push, write_card

    if results:
        card = write_card(directory, [read_record(path) for path in results], repo_id=repo_id)
        click.echo(f"card: {card} ({len(results)} result record{'s' if len(results) > 1 else ''})")
    pushed = push(directory, repo_id, private=private, create_pr=create_pr, revision=revision, commit_message=message)
    click.echo(f"commit: {pushed.commit_url}")
    click.echo(f"revision: {pushed.revision}")
    if pushed.pr_url:
        click.echo(f"pull request: {pushed.pr_url}")


@hub.command("pull")
@click.argument("repo", metavar="ORG/NAME[@REVISION]")
@click.option("--revision", default=None, help="Branch, tag, refs/pr/N or commit (default: main).")
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Also copy the checkpoint into this directory."
)
@click.option("--offline", is_flag=True, help="Read the local cache only (as HF_HUB_OFFLINE=1).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Hub cache (default: HF_HUB_CACHE).")
def pull_cmd(repo: str, revision: str | None, out: str | None, offline: bool, cache_dir: str | None) -> None:
    """Download a checkpoint into the Hub cache, verify it, and print where it is."""
    from robench.errors import RobenchError
    from robench.hub import pull
    from robench.zoo.checkpoint import WEIGHTS_NAME, copy_checkpoint, read_config
    from robench.zoo.sources import HF_HUB_PREFIX, split_revision

    repo_id, inline = split_revision(repo.removeprefix(HF_HUB_PREFIX))
    if inline and revision and inline != revision:
        raise RobenchError(f"two revisions given: @{inline} and --revision {revision}", hint="give only one")
    path = pull(repo_id, revision=inline or revision, cache_dir=cache_dir, offline=True if offline else None)
    config = read_config(path)
    click.echo(f"checkpoint: {path}")
    click.echo(f"architecture: {config['architecture']} ({config['robench']['dataset']})")
    click.echo(f"weights sha256: {config['robench']['weights_sha256']}")
    click.echo(f"{WEIGHTS_NAME} sha256: {config['files'][WEIGHTS_NAME]}")
    if out:
        click.echo(f"copied to: {copy_checkpoint(path, out)}")


@hub.command("ls")
@click.option("--org", default=None, help="Hub user or organisation (default: $ROBENCH_HUB_ORG, then robench).")
def ls_cmd(org: str | None) -> None:
    """List the model repos of a Hub organisation."""
    from rich.console import Console
    from rich.table import Table

    from robench.hub import hub_org, list_repos

    org = org or hub_org()
    repos = list_repos(org)
    table = Table(title=f"{org}: {len(repos)} repo{'' if len(repos) == 1 else 's'}")
    table.add_column("repo", no_wrap=True)
    for column in ("commit", "updated", "visibility", "tags"):
        table.add_column(column)
    for repo in repos:
        updated = repo.last_modified.strftime("%Y-%m-%d %H:%M") if repo.last_modified else "-"
        visibility = "private" if repo.private else "public"
        table.add_row(repo.repo_id, (repo.sha or "-")[:12], updated, visibility, ", ".join(repo.tags))
    Console().print(table)

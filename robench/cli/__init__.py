"""The ``robench`` command: a thin shell over the Python API.

Subcommands live in sibling modules and are imported only when invoked, so ``robench --help`` never imports
torch. A :class:`~robench.errors.RobenchError` raised anywhere becomes one ``error:`` line and one ``hint:``
line on stderr with exit code 1; a malformed command line gets the same two lines with exit code 2.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from robench import __version__
from robench.errors import RobenchError

# name -> (module, attribute, one-line help shown by `robench --help` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("robench.cli.data", "data", "Show, verify and prepare the benchmark data sets."),
    "list": ("robench.cli.zoo", "list_cmd", "List zoo models, optionally filtered by a wildcard pattern."),
    "info": ("robench.cli.zoo", "info_cmd", "Show a zoo model's architecture, size, paper and reported numbers."),
    "zoo": ("robench.cli.zoo", "zoo", "Fetch pretrained weights; convert authors' files into robench checkpoints."),
    "eval": ("robench.cli.evaluate", "eval_cmd", "Evaluate a model's clean and robust accuracy under attack."),
    "transfer": ("robench.cli.evaluate", "transfer_cmd", "Black-box transfer matrix between source and target models."),
    "train": ("robench.cli.train", "train_cmd", "Train a zoo architecture into a checkpoint (resumable)."),
    "search": ("robench.cli.search", "search_cmd", "Search a robust architecture: AdvRush, ARNAS, RobNet, random (resumable)."),
    "reproduce": ("robench.cli.reproduce", "reproduce_cmd", "Search, train, evaluate, publish and rank in one resumable run."),
    "hub": ("robench.cli.hub", "hub", "Push, pull and list checkpoints on the Hugging Face Hub."),
    "leaderboard": ("robench.cli.leaderboard", "leaderboard", "Build, check and extend the leaderboard."),
    "analyze": ("robench.cli.analyze", "analyze", "Loss landscape, curvature, FSP, density and trade-off analyses, with plots."),
    "sweep": ("robench.cli.sweep", "sweep_cmd", "Run a sweep file's evaluations, trainings and transfers on Ray (resumable)."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, short_help = COMMANDS[name]
        if ctx.resilient_parsing or "--help" in sys.argv[1:2]:
            # `robench --help` lists commands: a stub carries the help text without the import.
            return click.Command(name, short_help=short_help, help=short_help)
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RobenchError as err:
            fail(err)


def fail(err: RobenchError, code: int = 1) -> None:
    click.secho(f"error: {err.message}", fg="red", err=True)
    if err.hint:
        click.echo(f"hint: {err.hint}", err=True)
    sys.exit(code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="robench")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print debug logging.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """robench: robust-architecture model zoo and adversarial-robustness benchmark.

    \b
    Examples:
      robench list '*darts*'
      robench eval advrush-small --attack pgd20 --n-examples 200
      robench data info
    """
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # huggingface_hub's HTTP client logs every request at INFO; that is debugging detail, not progress.
    logging.getLogger("httpx2").setLevel(logging.DEBUG if verbose else logging.WARNING)
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


def main() -> None:
    try:
        # without standalone mode click returns ctx.exit()'s code, or whatever the command returned
        code = cli.main(prog_name="robench", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except RobenchError as err:
        fail(err)
    except click.UsageError as err:
        command = err.ctx.command_path if err.ctx is not None else "robench"
        fail(RobenchError(err.format_message(), hint=f"see `{command} --help`"), code=2)
    except click.ClickException as err:
        fail(RobenchError(err.format_message()), code=err.exit_code)
    except OSError as err:
        # a path the operating system refused (permissions, a full disk, a file where a folder should be)
        where = f" ({err.filename})" if err.filename else ""
        fail(RobenchError(f"{err.strerror or err}{where}", hint="check that the path exists, is writable and has space"))
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("interrupted: completed batches are saved; run the same command again to resume.", err=True)
        sys.exit(130)

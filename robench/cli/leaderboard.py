"""``robench leaderboard``: build, check and extend the leaderboard kept in the repository's leaderboard/ folder."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from robench.leaderboard.store import FOLDER, find_leaderboard

def _resolve(records: str | None, out: str | None) -> tuple[Path, Path]:
    if records and out:
        return Path(records), Path(out)
    folder = find_leaderboard()
    return Path(records) if records else folder / "records", Path(out) if out else folder


records_option = click.option("--records", type=click.Path(file_okay=False), default=None,
                              help="Records folder (default: leaderboard/records of the repository).")
out_option = click.option("--out", type=click.Path(file_okay=False), default=None,
                          help="Rendered output folder (default: the repository's leaderboard/).")


@click.group(FOLDER)
def leaderboard() -> None:
    """Build, check and extend the leaderboard: result records in, Markdown, HTML, CSV and plots out.

    \b
    Examples:
      robench eval advrush_small --attack pgd20 --attack autoattack --out runs/advrush_small
      robench leaderboard add runs/advrush_small/result.json
      robench leaderboard build
      robench leaderboard check
    """


@leaderboard.command("build")
@records_option
@out_option
def build_cmd(records: str | None, out: str | None) -> None:
    """Render README.md, index.html, leaderboard.csv and plots/ from the records."""
    from robench.leaderboard import build

    records_dir, out_dir = _resolve(records, out)
    written = build(records_dir, out_dir)
    click.echo(f"wrote {len(written)} files to {out_dir}")


@leaderboard.command("check")
@records_option
@out_option
def check_cmd(records: str | None, out: str | None) -> None:
    """Validate every record and fail (exit 1) if the rendered files differ from a fresh build."""
    from robench.leaderboard import check

    records_dir, out_dir = _resolve(records, out)
    problems = check(records_dir, out_dir)
    if problems:
        for problem in problems:
            click.secho(f"error: {problem}", fg="red", err=True)
        click.echo("hint: fix the records if any are invalid, then run `robench leaderboard build` and commit "
                   "the result", err=True)
        sys.exit(1)
    click.echo(f"leaderboard is up to date ({out_dir})")


@leaderboard.command("add")
@click.argument("result_json", metavar="RESULT.json", type=click.Path(dir_okay=False))
@records_option
@click.option("--replace", is_flag=True, help="Overwrite a different record already filed under the same name.")
def add_cmd(result_json: str, records: str | None, replace: bool) -> None:
    """Validate a measured result record and file it under records/measured/<dataset>/<threat>/."""
    from robench.leaderboard import add_record

    records_dir = Path(records) if records else find_leaderboard() / "records"
    target = add_record(result_json, records_dir, replace=replace)
    click.echo(f"filed {target}")
    click.echo("next: `robench leaderboard build`, then commit the record and the rendered files")

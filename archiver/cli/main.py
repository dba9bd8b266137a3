"""Entry point: `archiver [--config PATH] COMMAND`. Exit codes: 0 ok, 1 failure,
2 bad configuration or usage, 3 storage, 4 integrity (verify found problems)."""

from __future__ import annotations

import logging
import sys

import click

from archiver import __version__
from archiver.cli.admin import checkpoint, db, init, keys
from archiver.cli.capture import (
    accounts_group,
    capture,
    connectors_group,
    import_command,
    runs,
)
from archiver.cli.context import CliContext
from archiver.cli.daemon import daemon_command, schedule_group, spool_group
from archiver.cli.export import export_command, verify_pack_command
from archiver.cli.quickstart import quickstart
from archiver.cli.retention import erasure_group, hold_group, records_group, retention_group
from archiver.cli.search import index_command, reindex, search
from archiver.cli.status import status
from archiver.cli.verify import verify
from archiver.cli.web import serve, tokens_group, users_group
from archiver.errors import ArchiverError


@click.group()
@click.version_option(__version__, prog_name="archiver")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: $ARCHIVER_CONFIG, else ./archiver.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Social media compliance archiver: capture, keep, find and prove."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr)
    state = CliContext(config_path)
    ctx.obj = state
    ctx.call_on_close(state.close)


for command in (
    init,
    db,
    keys,
    checkpoint,
    verify,
    quickstart,
    accounts_group,
    connectors_group,
    capture,
    runs,
    import_command,
    search,
    index_command,
    reindex,
    status,
    daemon_command,
    schedule_group,
    spool_group,
    hold_group,
    retention_group,
    erasure_group,
    records_group,
    export_command,
    verify_pack_command,
    serve,
    users_group,
    tokens_group,
):
    cli.add_command(command)


def main() -> None:
    try:
        exit_code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ArchiverError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    if isinstance(exit_code, int):  # click.exceptions.Exit from a command
        sys.exit(exit_code)

"""`archiver verify`: exit 0 only when every record, blob, leaf, checkpoint and audit
event holds."""

from __future__ import annotations

import click
from rich.table import Table

from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.cli.progress import progress_bar
from archiver.errors import IntegrityError

VERIFY_FAILED_EXIT = IntegrityError.exit_code


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Processes for the record pass (default: one per core for large archives).",
)
@pass_cli
def verify(cli: CliContext, as_json: bool, workers: int | None) -> None:
    """Re-hash every record and blob, check the catalogue, the Merkle log,
    the signed checkpoints and the audit chain."""
    with progress_bar(cli.interactive and not as_json) as progress:
        report = cli.archive().verify(progress, workers)
    if as_json:
        print_json(report.as_json())
    else:
        counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in report.counts.items())
        click.echo(f"checked {counts}")
        if report.problems:
            table = Table("severity", "check", "problem", "key", "detail")
            for p in report.problems:
                detail = p.message
                if p.expected is not None:
                    algorithm = f"{p.algorithm}: " if p.algorithm else ""
                    detail += f" ({algorithm}expected {p.expected}, found {p.found})"
                table.add_row(p.severity, p.check, p.kind, p.key, detail)
            cli.console.print(table)
        click.echo("archive verified: everything holds" if report.ok else "VERIFY FAILED")
    if not report.ok:
        raise click.exceptions.Exit(VERIFY_FAILED_EXIT)

"""`archiver quickstart`: a working archive on a fresh machine, offline, in seconds."""

from __future__ import annotations

from pathlib import Path

import click

from archiver import sample
from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.setup import example_config, initialise
from config.loader import resolve_config_path


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def quickstart(cli: CliContext, as_json: bool) -> None:
    """Create an archive (if needed), ingest the built-in sample twice (an edit and
    a deletion appear in between), sign a checkpoint and verify everything."""
    config_path = resolve_config_path(cli.config_path) or Path("archiver.toml")
    if not config_path.exists():
        config_path.write_text(example_config(), encoding="utf-8")
    cli.config_path = str(config_path)
    initialise(cli.settings)
    archive = cli.archive()
    first = archive.ingest(sample.first_capture()).counts()
    second = archive.ingest(sample.second_capture()).counts()
    signed = archive.checkpoint()
    report = archive.verify()
    summary = {
        "config": str(config_path),
        "archive_dir": str(cli.settings.archive_dir),
        "first_capture": first,
        "second_capture": second,
        "tree_size": signed.tree_size if signed else None,
        "verify_ok": report.ok,
        "verify_counts": report.counts,
    }
    if as_json:
        print_json(summary)
    else:
        click.echo(f"archive: {cli.settings.archive_dir} (config {config_path})")
        click.echo(f"first capture:  {first}")
        click.echo(f"second capture: {second}")
        if signed:
            click.echo(f"checkpoint: {signed.tree_size} records, root {signed.root_hash[:16]}...")
        click.echo(
            "verify: " + ("everything holds" if report.ok else "PROBLEMS (run archiver verify)")
        )
    if not report.ok:
        raise click.exceptions.Exit(4)

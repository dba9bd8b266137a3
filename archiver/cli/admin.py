"""Setting up and looking after an archive: init, db upgrade, keys, checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.setup import example_config, initialise
from archiver.threads import backfill_thread_keys
from config.loader import resolve_config_path
from storage.catalogue.db import open_engine
from storage.catalogue.migrate import current_revision, head_revision, upgrade


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def init(cli: CliContext, as_json: bool) -> None:
    """Create the archive (catalogue, object store, signing key) and an example config."""
    config_path = resolve_config_path(cli.config_path) or Path("archiver.toml")
    wrote_config = False
    if not config_path.exists():
        config_path.write_text(example_config(), encoding="utf-8")
        wrote_config = True
        cli.config_path = str(config_path)
    report = initialise(cli.settings)
    archive = cli.archive()
    archive.audit.record(archive.actor, "init", {"key_id": report.key_id})
    if as_json:
        print_json(
            {
                "config": str(config_path),
                "config_written": wrote_config,
                "archive_dir": str(report.archive_dir),
                "catalogue": report.catalogue_url,
                "key_file": str(report.key_file),
                "key_created": report.key_created,
                "key_id": report.key_id,
            }
        )
        return
    if wrote_config:
        click.echo(f"wrote example config {config_path} (every setting commented)")
    click.echo(f"archive ready in {report.archive_dir}")
    click.echo(f"  catalogue  {report.catalogue_url}")
    state = "created" if report.key_created else "kept"
    click.echo(f"  signing key {report.key_file} ({state}, key id {report.key_id[:16]}...)")


@click.group()
def db() -> None:
    """Catalogue schema migrations."""


@db.command("upgrade")
@pass_cli
def db_upgrade(cli: CliContext) -> None:
    """Bring the catalogue schema up to this version."""
    engine = open_engine(cli.settings.catalogue_url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        click.echo(f"catalogue schema {before or '(empty)'} -> {head_revision()}")
    finally:
        engine.dispose()
    archive = cli.archive()
    filled = backfill_thread_keys(archive.engine, archive.store)
    click.echo(f"thread keys filled for {filled} record(s) archived before they were kept")


@click.group()
def keys() -> None:
    """The checkpoint signing key."""


@keys.command("public")
@pass_cli
def keys_public(cli: CliContext) -> None:
    """Print the public key (PEM), for anyone who will verify checkpoints or packs."""
    archive = cli.archive()
    click.echo(archive.signer.public_pem(), nl=False)
    click.echo(f"# key id (sha256 of the raw key): {archive.signer.key_id}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def checkpoint(cli: CliContext, as_json: bool) -> None:
    """Sign a tree head over the Merkle log as it is now."""
    signed = cli.archive().checkpoint()
    if as_json:
        print_json(None if signed is None else signed.tree_head)
    elif signed is None:
        click.echo("nothing new since the latest checkpoint")
    else:
        click.echo(f"signed tree head: size {signed.tree_size}, root {signed.root_hash}")

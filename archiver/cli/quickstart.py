"""`archiver quickstart`: a working archive on a fresh machine, offline, in seconds.

It starts the sandbox platform (a fictional credit union in Mastodon's API
shapes on 127.0.0.1), captures it with the real Mastodon connector, lets a post
be edited and another deleted, captures again, indexes, signs a checkpoint and
verifies. No network, no credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy import func, select

from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner, RunSummary
from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.cli.progress import progress_bar
from archiver.sandbox.server import SandboxServer
from archiver.setup import example_config, initialise
from config.loader import resolve_config_path
from storage.catalogue.models import records

SANDBOX_TOKEN_ENV = "ARCHIVER_SANDBOX_TOKEN"
SANDBOX_HANDLE = "@harbourcu@sandbox.local"


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def quickstart(cli: CliContext, as_json: bool) -> None:
    """Capture a sandbox organisation into a new archive and verify it."""
    config_path = resolve_config_path(cli.config_path) or Path("archiver.toml")
    if not config_path.exists():
        config_path.write_text(example_config(), encoding="utf-8")
    cli.config_path = str(config_path)
    initialise(cli.settings)
    archive = cli.archive()
    say = (lambda text: None) if as_json else (lambda text: click.echo(text, err=True))
    with archive.engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(records)).scalar_one()
    runs: list[RunSummary] = []
    if existing:
        say(
            f"{cli.settings.archive_dir} already holds {existing} records: verifying only "
            "(remove it to start over)"
        )
    else:
        with SandboxServer() as sandbox:
            os.environ[SANDBOX_TOKEN_ENV] = sandbox.token  # this process only
            account = AccountService(archive.engine, archive.clock).add(
                "mastodon",
                SANDBOX_HANDLE,
                {
                    "base_url": sandbox.url,
                    "token_env": SANDBOX_TOKEN_ENV,
                    "allow_media_hosts": ["127.0.0.1"],
                },
            )
            runner = CaptureRunner(archive)
            say(f"sandbox platform at {sandbox.url}: capturing {SANDBOX_HANDLE} ...")
            runs.append(runner.run(account))
            sandbox.organisation.apply_changes()
            say("a rate was corrected and a post withdrawn: capturing again ...")
            runs.append(runner.run(account))
    with progress_bar(cli.interactive and not as_json) as progress:
        indexed = archive.index_and_hold(progress)
        signed = archive.checkpoint()
        report = archive.verify(progress)
    captured = _captured(runs)
    summary = {
        "config": str(config_path),
        "archive_dir": str(cli.settings.archive_dir),
        "runs": [{"status": r.status, **r.counts, "errors": r.errors} for r in runs],
        "captured": captured,
        "indexed": indexed.indexed,
        "tree_size": signed.tree_size if signed else None,
        "verify_ok": report.ok,
        "verify_counts": report.counts,
    }
    if as_json:
        print_json(summary)
    else:
        click.echo(f"archive: {cli.settings.archive_dir} (config {config_path})")
        if runs:
            click.echo("captured: " + ", ".join(f"{n} {name}" for name, n in captured.items()))
        click.echo(f"indexed: {indexed.indexed} records; try: archiver search 'savings'")
        if signed:
            click.echo(f"checkpoint: {signed.tree_size} records, root {signed.root_hash[:16]}...")
        click.echo(
            "verify: " + ("everything holds" if report.ok else "PROBLEMS (run archiver verify)")
        )
    failed = [r for r in runs if r.status != "ok"]
    if failed or not report.ok:
        for run in failed:
            for error in run.errors:
                click.echo(f"capture problem: {error['message']}", err=True)
        raise click.exceptions.Exit(4 if not report.ok else 1)


def _captured(runs: list[RunSummary]) -> dict[str, int]:
    """Counts by kind over both runs, named as a compliance officer would."""
    totals = {"posts": 0, "replies": 0, "DMs": 0, "versions": 0, "tombstones": 0, "media": 0}
    names = {
        "post": "posts",
        "reply": "replies",
        "dm": "DMs",
        "version": "versions",
        "tombstone": "tombstones",
    }
    for run in runs:
        for kind, count in run.by_kind.items():
            if kind in names:
                totals[names[kind]] += count
        totals["media"] += run.media
    return totals

"""Accounts, connectors, capture runs: `accounts add/list/remove`, `connectors list`,
`capture`, `runs`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table
from sqlalchemy import select

from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner, RunSummary
from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.daemon.leases import LeaseManager, current_leases, default_holder, holding
from archiver.errors import UsageError
from connectors.registry import connector_names, load_connector
from storage.catalogue.models import accounts, capture_runs


def _accounts(cli: CliContext) -> AccountService:
    archive = cli.archive()
    return AccountService(archive.engine, archive.clock)


@click.group("accounts")
def accounts_group() -> None:
    """Accounts to capture."""


@accounts_group.command("add")
@click.argument("platform")
@click.argument("handle")
@click.option(
    "--set",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A connector setting (JSON values allowed), e.g. --set base_url=https://...",
)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def accounts_add(
    cli: CliContext, platform: str, handle: str, pairs: tuple[str, ...], as_json: bool
) -> None:
    """Add (or update) an account. Tokens are never stored: name the environment
    variable that holds one with --set token_env=NAME."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--set")
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    account = _accounts(cli).add(platform, handle, settings)
    archive = cli.archive()
    archive.audit.record(
        archive.actor,
        "account-add",
        {"account_id": account.id, "platform": platform, "handle": handle},
    )
    if as_json:
        print_json(_account_json(account))
    else:
        click.echo(f"account {account.id}: {platform} {handle}")


@accounts_group.command("list")
@click.option("--all", "include_disabled", is_flag=True, help="Include removed accounts.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def accounts_list(cli: CliContext, include_disabled: bool, as_json: bool) -> None:
    """List accounts."""
    found = _accounts(cli).list(include_disabled)
    if as_json:
        print_json([_account_json(a) for a in found])
        return
    table = Table("id", "platform", "handle", "base_url", "token_env")
    for account in found:
        table.add_row(
            str(account.id),
            account.platform,
            account.handle,
            account.settings.base_url,
            account.settings.token_env or "",
        )
    cli.console.print(table)


@accounts_group.command("remove")
@click.argument("account")
@pass_cli
def accounts_remove(cli: CliContext, account: str) -> None:
    """Stop capturing an account (by id or handle); its records stay."""
    removed = _accounts(cli).remove(account)
    archive = cli.archive()
    archive.audit.record(archive.actor, "account-remove", {"account_id": removed.id})
    click.echo(f"account {removed.id} ({removed.handle}) will no longer be captured")


def _account_json(account) -> dict:
    return {
        "id": account.id,
        "platform": account.platform,
        "handle": account.handle,
        "settings": account.settings.model_dump(mode="json"),
    }


@click.group("connectors")
def connectors_group() -> None:
    """Installed platform connectors."""


@connectors_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def connectors_list(as_json: bool) -> None:
    """List the connectors installed (entry points `archiver.connectors`)."""
    rows = []
    for name in connector_names():
        try:
            connector = load_connector(name)
        except UsageError as exc:  # a broken plugin must not hide the others
            rows.append({"name": name, "version": "", "module": "", "error": str(exc)})
            continue
        rows.append(
            {
                "name": name,
                "version": connector.version,
                "module": connector.__module__,
                "ephemeral": connector.ephemeral,
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table("name", "version", "module", "problem")
    for row in rows:
        table.add_row(row["name"], row["version"], row["module"], row.get("error", ""))
    click.get_current_context().find_object(CliContext).console.print(table)


@click.command()
@click.option("--account", "refs", multiple=True, help="Id or handle; default: every account.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def capture(cli: CliContext, refs: tuple[str, ...], as_json: bool) -> None:
    """Capture accounts now: new items, edits, deletions, media."""
    service = _accounts(cli)
    targets = [service.get(ref) for ref in refs] if refs else service.list()
    archive = cli.archive()
    runner = CaptureRunner(archive)
    leases = LeaseManager(
        archive.engine, archive.clock, f"capture:{default_holder()}", cli.settings.daemon.lease_ttl
    )
    summaries = []
    for account in targets:
        with holding(leases, account.id) as held:
            if not held:
                lease = current_leases(archive.engine).get(account.id)
                holder = lease.holder if lease else "another process"
                click.echo(
                    f"skipped {account.platform} {account.handle}: {holder} is capturing it now",
                    err=True,
                )
                continue
            if not as_json:
                click.echo(f"capturing {account.platform} {account.handle} ...", err=True)
            summaries.append(runner.run(account))
    if as_json:
        print_json([_summary_json(s) for s in summaries])
    else:
        _print_summaries(cli, summaries)
    if any(s.status in ("failed", "fatal") for s in summaries):
        raise click.exceptions.Exit(1)


def _summary_json(summary: RunSummary) -> dict:
    return {
        "run_id": summary.run_id,
        "account": summary.account,
        "platform": summary.platform,
        "status": summary.status,
        "counts": summary.counts,
        "by_kind": summary.by_kind,
        "media": summary.media,
        "seconds": summary.seconds,
        "errors": summary.errors,
    }


def _print_summaries(cli: CliContext, summaries: list[RunSummary]) -> None:
    table = Table(
        "run",
        "account",
        "status",
        "new",
        "edited",
        "deleted",
        "unchanged",
        "failed",
        "media",
        "seconds",
    )
    for s in summaries:
        c = s.counts
        table.add_row(
            str(s.run_id),
            f"{s.platform} {s.account}",
            s.status,
            str(c["new"]),
            str(c["edited"]),
            str(c["deleted"]),
            str(c["unchanged"]),
            str(c["failed"]),
            str(s.media),
            f"{s.seconds:.1f}",
        )
    cli.console.print(table)
    for s in summaries:
        for error in s.errors:
            click.echo(f"  {s.account}: [{error['stage']}] {error['message']}", err=True)


@click.command()
@click.option("--account", "ref", help="Only this account (id or handle).")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def runs(cli: CliContext, ref: str | None, limit: int, as_json: bool) -> None:
    """Capture-run history, newest first."""
    archive = cli.archive()
    query = (
        select(capture_runs, accounts.c.handle)
        .join(accounts, accounts.c.id == capture_runs.c.account_id, isouter=True)
        .order_by(capture_runs.c.id.desc())
        .limit(limit)
    )
    if ref:
        query = query.where(capture_runs.c.account_id == _accounts(cli).get(ref).id)
    with archive.engine.connect() as conn:
        rows = conn.execute(query).all()
    if as_json:
        print_json([{**row._mapping} for row in rows])
        return
    table = Table(
        "run", "account", "started", "status", "new", "edited", "deleted", "unchanged", "failed"
    )
    for row in rows:
        table.add_row(
            str(row.id),
            row.handle or "",
            str(row.started_at)[:19],
            row.status,
            str(row.new),
            str(row.edited),
            str(row.deleted),
            str(row.unchanged),
            str(row.failed),
        )
    cli.console.print(table)


@click.command("import")
@click.argument("format_name", metavar="FORMAT")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "ref", required=True, help="The account (id or handle) it belongs to.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def import_command(cli: CliContext, format_name: str, path: Path, ref: str, as_json: bool) -> None:
    """Import a platform export file, such as the X archive zip, into an account.
    Malformed or hostile files are refused before anything is written."""
    account = _accounts(cli).get(ref)
    summary = CaptureRunner(cli.archive()).run_import(account, format_name, path)
    if as_json:
        print_json(_summary_json(summary))
    else:
        _print_summaries(cli, [summary])
    if summary.status == "failed":
        raise click.exceptions.Exit(1)

"""`archiver status`: what the archive holds, how far behind the index is, and how
the scheduled capture goes: per account last success, last error, next run, backoff
state and records captured; leases; what waits in the spool."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Column, Table
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.cli.daemon import spool_line, status_archive
from archiver.daemon.status import daemon_status, spool_status
from storage.catalogue.models import accounts, chain_heads, checkpoints, items, records


def gather_status(archive: Archive) -> dict[str, Any]:
    """Counts from the catalogue plus the index's lag (rows not yet indexed)."""
    with archive.engine.connect() as conn:

        def count(query: Any) -> int:
            return int(conn.execute(query).scalar_one())

        latest = conn.execute(
            select(checkpoints.c.tree_size, checkpoints.c.signed_at)
            .order_by(checkpoints.c.tree_size.desc())
            .limit(1)
        ).first()
        leaves = count(select(chain_heads.c.length).where(chain_heads.c.name == "log"))
        summary = {
            "records": count(select(func.count()).select_from(records)),
            "items": count(select(func.count()).select_from(items)),
            "deleted_items": count(
                select(func.count()).select_from(items).where(items.c.deleted.is_(True))
            ),
            "accounts": count(
                select(func.count()).select_from(
                    select(items.c.platform, items.c.account).distinct().subquery()
                )
            ),
            "configured_accounts": count(select(func.count()).select_from(accounts)),
            "log_leaves": leaves,
            "last_checkpoint": None
            if latest is None
            else {
                "tree_size": latest.tree_size,
                "signed_at": latest.signed_at.isoformat(),
                "unsigned_leaves": leaves - latest.tree_size,
            },
        }
    summary["index"] = archive.search.status()
    summary["daemon"] = daemon_status(archive)
    summary["spool"] = spool_status(archive)
    return summary


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Counts of records, items and accounts, the index lag, the last checkpoint, the
    spool, and per account how scheduled capture is going."""
    archive = status_archive(cli)  # reports even while the object store is unreachable
    try:
        summary = gather_status(archive)
    finally:
        archive.close()
    if as_json:
        print_json(summary)
        return
    index = summary["index"]
    click.echo(f"records   {summary['records']}  (log leaves {summary['log_leaves']})")
    click.echo(f"items     {summary['items']}  ({summary['deleted_items']} deleted)")
    click.echo(
        f"accounts  {summary['accounts']} archived, {summary['configured_accounts']} configured"
    )
    lag_note = "up to date" if index["lag"] == 0 else "behind: run `archiver index`"
    busy = "; an indexer is running now" if index["writer_busy"] else ""
    documents = "unreadable" if index["documents"] is None else index["documents"]
    click.echo(f"index     lag {index['lag']} ({lag_note}{busy}), {documents} documents")
    checkpoint = summary["last_checkpoint"]
    if checkpoint is None:
        click.echo("checkpoint none yet (run `archiver checkpoint`)")
    else:
        click.echo(
            f"checkpoint tree size {checkpoint['tree_size']} signed "
            f"{checkpoint['signed_at']}, {checkpoint['unsigned_leaves']} leaves since"
        )
    click.echo(spool_line(summary["spool"]))
    daemon = summary["daemon"]
    if daemon["lease_holders"]:
        click.echo(f"daemons   capturing now: {', '.join(daemon['lease_holders'])}")
    if not daemon["accounts"]:
        return
    table = Table(  # handles fold rather than being cut short
        "id", Column("account", overflow="fold"), "state", "last success", "last error",
        "next run", "records",
    )
    for row in daemon["accounts"]:
        state = row["state"]
        if state in ("backoff", "open"):
            until = _short(row["backoff_until"])
            state += f" ({row['consecutive_failures']} failures, until {until})"
        elif state == "paused":
            state += f": {row['paused_reason']}"
        if row["missed_window"]:
            state += "; ephemeral window missed"
        error = ""
        if row["last_error"]:
            error = f"{_short(row['last_error_at'])} {row['last_error'][:60]}"
        table.add_row(
            str(row["id"]),
            f"{row['platform']} {row['handle']}" + ("" if row["enabled"] else " (removed)"),
            state,
            _short(row["last_success_at"]) or "never",
            error,
            _short(row["next_run_at"]) or "-",
            str(row["records_captured"]),
        )
    cli.console.print(table)


def _short(moment: str | None) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM:SS' (UTC) for the table."""
    return "" if not moment else moment[:19].replace("T", " ")

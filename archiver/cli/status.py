"""`archiver status`: what the archive holds and how far behind the index is."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import func, select

from archiver.archive import Archive
from archiver.cli.context import CliContext, pass_cli, print_json
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
    return summary


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Counts of records, items and accounts, the index lag and the last checkpoint."""
    summary = gather_status(cli.archive())
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

"""`archiver search`, `archiver index` (catch up) and `archiver reindex` (rebuild).

Thin: each parses options, calls archive.search (archiver/search_service.py) and
prints a table for people or --json for machines. Query errors exit 2 with the
column marked; a busy index writer exits 3 naming who holds it.
"""

from __future__ import annotations

import html
import re

import click
from rich.table import Table
from rich.text import Text

from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.cli.progress import progress_bar
from search.index import SORTS

_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def snippet_text(snippet: str) -> Text:
    """The HTML snippet for a terminal: entities unescaped, <mark> as bold, nothing
    else interpreted (platform text never reaches rich markup)."""
    text = Text()
    position = 0
    for match in _MARK.finditer(snippet):
        text.append(html.unescape(snippet[position : match.start()]))
        text.append(html.unescape(match.group(1)), style="bold yellow")
        position = match.end()
    text.append(html.unescape(snippet[position:]))
    return text


@click.command()
@click.argument("query")
@click.option("--all-versions", is_flag=True, help="Every version, not only the latest.")
@click.option("--exclude-deleted", is_flag=True, help="Leave out deleted items (tombstones).")
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    default="relevance",
    show_default=True,
    help="Relevance, or created date (newest first; date-asc oldest first).",
)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option(
    "--facets", is_flag=True, help="Counts by platform, account, kind, month, edited and deleted."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
def search(
    cli: CliContext,
    query: str,
    all_versions: bool,
    exclude_deleted: bool,
    sort: str,
    page: int,
    page_size: int,
    facets: bool,
    as_json: bool,
) -> None:
    """Search the archive. QUERY uses the query language in docs/search.md, e.g.
    'loan AND account:@org@x.test AND created:[2024-01-01 TO 2024-03-31]'."""
    service = cli.archive().search
    request = service.request(
        query,
        latest_only=not all_versions,
        include_deleted=not exclude_deleted,
        sort=sort,
        page=page,
        page_size=page_size,
        facets=facets,
    )
    result = service.search(request)
    lag = service.lag()
    if as_json:
        print_json({**result.as_json(), "index_lag": lag})
        return
    scope = "all versions" if all_versions else "latest versions"
    scope += ", deleted excluded" if exclude_deleted else ", deleted included"
    click.echo(
        f"{result.total} records match ({scope}); page {page} of {result.pages}, sorted by {sort}"
    )
    if result.hits:
        table = Table(
            "#",
            "created",
            "platform / account",
            "kind",
            "v",
            "flags",
            "text",
            "record",
            show_lines=False,
        )
        first = (page - 1) * page_size + 1
        for n, hit in enumerate(result.hits, first):
            flags = " ".join(
                name
                for name, on in (
                    ("deleted", hit.deleted),
                    ("edited", hit.edited),
                    ("old", not hit.latest),
                )
                if on
            )
            created = hit.created.strftime("%Y-%m-%d %H:%M") if hit.created else ""
            table.add_row(
                str(n),
                created,
                Text(f"{hit.platform} {hit.account}"),
                hit.kind,
                str(hit.version),
                flags,
                snippet_text(hit.snippet),
                hit.record_id[:16],
            )
        cli.console.print(table)
    if facets:
        for name, counts in result.facets.items():
            shown = ", ".join(f"{key}: {n}" for key, n in list(counts.items())[:10])
            cli.console.print(Text(f"{name}: {shown or '-'}"))
    if lag:
        click.echo(f"note: {lag} records are not indexed yet; run `archiver index`", err=True)


@click.command("index")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=5000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def index_command(cli: CliContext, batch_size: int, as_json: bool) -> None:
    """Index what capture has archived since the last run (the catch-up; safe to
    interrupt and rerun). Only one indexer runs at a time."""
    archive = cli.archive()
    with progress_bar(cli.interactive and not as_json) as progress:
        run = archive.index_and_hold(progress, batch_size=batch_size)
    if run.indexed or run.skipped:
        archive.audit.record(
            archive.actor, "index", {"indexed": run.indexed, "skipped": len(run.skipped)}
        )
    if as_json:
        print_json(run.as_json())
        return
    click.echo(f"indexed {run.indexed} records in {run.seconds:.1f} s")
    for record_id, why in run.skipped:
        click.echo(f"skipped {record_id}: {why}", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def reindex(cli: CliContext, as_json: bool) -> None:
    """Rebuild the index from the object store alone and swap it in atomically
    (searches keep working on the old index until the swap)."""
    archive = cli.archive()
    with progress_bar(cli.interactive and not as_json) as progress:
        run = archive.search.reindex(progress)
    if as_json:
        print_json(run.as_json())
        return
    click.echo(f"rebuilt the index: {run.indexed} records in {run.seconds:.1f} s")
    for record_id, why in run.skipped:
        click.echo(f"skipped {record_id}: {why}", err=True)

"""`archiver export` writes an evidence pack; `archiver verify-pack` checks one
without the archive (docs/evidence-packs.md).

verify-pack exit codes: 0 every check passed, 4 a check failed, 2 unusable
input (not a bag, unreadable, a bad option).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.cli.progress import progress_bar


@click.command("export")
@click.option("--matter", help="Export a legal hold's records (see `archiver hold list`).")
@click.option(
    "--query", help="Export every version and tombstone the query matches (docs/search.md)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="A new or empty directory for the bag; with --zip, a new .zip file.",
)
@click.option("--zip", "as_zip", is_flag=True, help="Write the bag as one zip file.")
@click.option("--reason", help="Why the pack is made (custody file and audit trail).")
@click.option("--recipient", help="Who receives it (custody file and audit trail).")
@click.option("--timezone", default="UTC", show_default=True, help="Zone for times in the reports.")
@click.option(
    "--threads/--no-threads",
    "with_threads",
    default=True,
    show_default=True,
    help="Add each selected record's thread (parents, replies, the rest of a DM "
    "conversation) as context; --no-threads packs only what is selected, with its versions.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@pass_cli
def export_command(
    cli: CliContext,
    matter: str | None,
    query: str | None,
    out: Path,
    as_zip: bool,
    reason: str | None,
    recipient: str | None,
    timezone: str,
    with_threads: bool,
    as_json: bool,
) -> None:
    """Write an evidence pack: a BagIt bag of the records, media, HTML and PDF
    reports, load file, inclusion proofs, chain of custody and a certification
    template."""
    from archiver.export.service import ExportRequest, ExportService

    request = ExportRequest(
        out=out,
        matter=matter,
        query=query,
        as_zip=as_zip,
        reason=reason,
        recipient=recipient,
        timezone=timezone,
        with_threads=with_threads,
    )
    archive = cli.archive()
    with progress_bar(cli.interactive and not as_json) as progress:
        result = ExportService(archive).export(request, progress)
    if as_json:
        print_json(result.as_json())
        return
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"wrote {result.path}: {result.records} records ({result.matched} matched, "
        f"{result.version_history} added as version history, {result.thread_context} "
        f"added as thread context), {result.media} media, "
        f"{result.files} files, {result.payload_bytes:,} bytes in {result.seconds:.1f} s"
    )
    click.echo(f"signed tree head: size {result.tree_size}, root {result.root_hash}")
    click.echo(f"signing key id: {result.key_id}")
    click.echo(f"manifest-sha256.txt: sha256 {result.manifest_sha256} (in the audit trail)")


@click.command("verify-pack")
@click.argument("pack", type=click.Path(path_type=Path))
@click.option(
    "--key-id",
    help="The signing key id you expect (from `archiver keys public` or the operator); "
    "a different key is a failure.",
)
@click.option("--workers", type=click.IntRange(1, 64), help="Processes for the payload pass.")
@click.option(
    "--strict",
    is_flag=True,
    help="Also check each record is canonical JSON (docs/records.md): a check of the "
    "archive's conformance rather than of tampering, about a third slower.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def verify_pack_command(
    pack: Path, key_id: str | None, workers: int | None, strict: bool, as_json: bool
) -> None:
    """Check an evidence pack (directory or zip) offline: bag completeness, every
    checksum, record ids, inclusion proofs and the tree head's signature.
    Exit 0 ok, 4 a check failed, 2 unusable input."""
    from archiver.verify_pack import EXIT_UNUSABLE, UnusablePack, print_report, verify_pack

    if key_id is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", key_id):
        click.echo("error: --key-id is 64 hex digits (the SHA-256 of the public key)", err=True)
        raise click.exceptions.Exit(EXIT_UNUSABLE)
    try:
        with progress_bar(not as_json and sys.stderr.isatty()) as progress:
            report = verify_pack(
                pack, expect_key_id=key_id, workers=workers, progress=progress, strict=strict
            )
    except UnusablePack as exc:
        click.echo(f"error: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_UNUSABLE) from None
    if as_json:
        print_json(report.as_json())
    else:
        print_report(report, click.echo)
    if not report.ok:
        raise click.exceptions.Exit(report.exit_code)

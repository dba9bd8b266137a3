"""Legal holds, retention and disposition, erasure requests, and `records show`."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table

from archiver.cli.context import CliContext, pass_cli, print_json
from archiver.disposition import DispositionService
from archiver.erasure import ErasureService
from archiver.holds import HoldService, Scope
from archiver.retention_service import RetentionService


def _day(value: str | None, end: bool = False) -> datetime | None:
    """YYYY-MM-DD as the start (or, for --to, the end) of that UTC day."""
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-31") from None
    return day.replace(hour=23, minute=59, second=59, microsecond=999999) if end else day


def _warn(warnings: list[str] | None) -> None:
    for warning in warnings or []:
        click.echo(f"warning: {warning}", err=True)


@click.group("hold")
def hold_group() -> None:
    """Legal holds (matters): keep everything in scope until released."""


@hold_group.command("create")
@click.argument("matter")
@click.option("--query", required=True, help="Search query (the full query language).")
@click.option("--account", "accounts", multiple=True, help="Only these accounts (repeatable).")
@click.option("--from", "date_from", help="Only records created (else captured) from this day.")
@click.option("--to", "date_to", help="... up to and including this day.")
@click.option("--reason", required=True, help="Why: recorded in the audit trail.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def hold_create(
    cli: CliContext,
    matter: str,
    query: str,
    accounts: tuple[str, ...],
    date_from: str | None,
    date_to: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Place a legal hold on every version, tombstone and media blob in scope."""
    scope = Scope(query, accounts, _day(date_from), _day(date_to, end=True))
    report = HoldService(cli.archive()).create(matter, scope, reason)
    _warn(report.warnings)
    if as_json:
        print_json(
            {
                "matter": matter,
                "records": report.records,
                "media": report.media,
                "warnings": report.warnings,
            }
        )
    else:
        click.echo(f"matter {matter}: {report.records} records and {report.media} media blobs held")


@hold_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def hold_list(cli: CliContext, as_json: bool) -> None:
    """Every matter, active and released."""
    found = HoldService(cli.archive()).list()
    if as_json:
        print_json(found)
        return
    table = Table("matter", "status", "records", "query", "created", "by", "reason")
    for hold in found:
        table.add_row(
            hold["matter"],
            hold["status"],
            str(hold["records"]),
            hold["query"],
            str(hold["created_at"])[:19],
            hold["created_by"],
            hold["reason"],
        )
    cli.console.print(table)


@hold_group.command("show")
@click.argument("matter")
@pass_cli
def hold_show(cli: CliContext, matter: str) -> None:
    """One matter in full."""
    print_json(HoldService(cli.archive()).show(matter))


@hold_group.command("release")
@click.argument("matter")
@click.option("--reason", required=True, help="Why: recorded in the audit trail.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def hold_release(cli: CliContext, matter: str, reason: str, as_json: bool) -> None:
    """Release a matter; objects stay held while another active matter covers them."""
    report = HoldService(cli.archive()).release(matter, reason)
    _warn(report.warnings)
    if as_json:
        print_json(
            {
                "matter": matter,
                "released_records": report.records,
                "released_media": report.media,
                "warnings": report.warnings,
            }
        )
    else:
        click.echo(f"matter {matter} released: {report.records} records no longer held")


@click.group("retention")
def retention_group() -> None:
    """Retention policies and disposition."""


@retention_group.command("apply")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def retention_apply(cli: CliContext, as_json: bool) -> None:
    """Recompute retain-until under today's policies; extend locks, never shorten."""
    result = RetentionService(cli.archive()).apply()
    _warn(result.warnings)
    summary = {
        "checked": result.checked,
        "extended": result.extended,
        "kept_longer": result.kept_longer,
    }
    if as_json:
        print_json(summary)
    else:
        click.echo(
            f"checked {result.checked}, extended {result.extended}, "
            f"kept a longer existing lock on {result.kept_longer}"
        )


@retention_group.command("policies")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def retention_policies(cli: CliContext, as_json: bool) -> None:
    """The retention policies in force; warns of any that matches no configured account."""
    service = RetentionService(cli.archive())
    found, warnings = service.policies(), service.warnings()
    _warn(warnings)
    if as_json:
        print_json({"policies": found, "warnings": warnings})
        return
    table = Table("policy", "period", "counted from", "platforms", "accounts", "kinds")
    for policy in found:
        table.add_row(
            policy["name"],
            policy["period"],
            policy["counted_from"],
            *(", ".join(policy[name]) or "any" for name in ("platforms", "accounts", "kinds")),
        )
    cli.console.print(table)


@retention_group.command("dispose")
@click.option("--dry-run", is_flag=True, help="List exactly what would go; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def retention_dispose(cli: CliContext, dry_run: bool, as_json: bool) -> None:
    """Remove records past retain-until that no matter holds, with a signed report."""
    archive = cli.archive()
    # A policy that matches nothing may be a typo that lets records go too soon.
    _warn(RetentionService(archive).warnings())
    result = DispositionService(archive).dispose(dry_run=dry_run)
    plan = result.plan
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "records": plan.records,
                "media": plan.media,
                "report_id": result.report_id,
            }
        )
        return
    verb = "would dispose" if dry_run else "disposed"
    for record in plan.records:
        click.echo(
            f"{verb} {record['record_id']} {record['platform']} {record['account']} "
            f"{record['native_id']} v{record['version']} (policy {record['policy']}, "
            f"retain until {record['retain_until']})"
        )
    click.echo(
        f"{verb} {len(plan.records)} records and {len(plan.media)} media blobs"
        + (f"; signed report {result.report_id}" if result.report_id else "")
    )


@click.group("erasure")
def erasure_group() -> None:
    """Erasure requests under GDPR article 17 (right to erasure)."""


@erasure_group.command("request")
@click.argument("subject")
@click.option("--query", help="Records of the subject (default: authored by or mentioning).")
@pass_cli
def erasure_request(cli: CliContext, subject: str, query: str | None) -> None:
    """Record a request and decide it: refused with the policy or matter named, or purged."""
    print_json(ErasureService(cli.archive()).request(subject, query))


@erasure_group.command("process")
@pass_cli
def erasure_process(cli: CliContext) -> None:
    """Re-decide open requests; purge those nothing keeps any more."""
    print_json(ErasureService(cli.archive()).process())


@erasure_group.command("list")
@pass_cli
def erasure_list(cli: CliContext) -> None:
    """Every request with every decision taken on it."""
    print_json(ErasureService(cli.archive()).list())


@click.group("records")
def records_group() -> None:
    """Single records."""


@records_group.command("show")
@click.argument("record_id")
@pass_cli
def records_show(cli: CliContext, record_id: str) -> None:
    """A record's locator, governing policy and retain-until, holds and object lock."""
    print_json(RetentionService(cli.archive()).explain(record_id))

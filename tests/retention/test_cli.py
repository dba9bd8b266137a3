"""The retention, hold, erasure and records commands as a user runs them (click's
runner on the real CLI, real clock). Records are captured at START, so under the
real clock their 30 days are over, while the DM policy's 5 years are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.cli.main import cli
from archiver.clock import FixedClock
from archiver.records import record_key
from archiver.setup import initialise
from config import load_settings
from tests.conftest import START
from tests.retention.helpers import record_ids
from tests.support.items import make_item

POLICIES = """
[retention]
default_period = "30d"

[[retention.policies]]
name = "dm-5y"
period = "5y"
kinds = ["dm"]

[[retention.policies]]
name = "typo"
period = "7y"
platforms = ["mastadon"]
"""
LONGER = """
[[retention.policies]]
name = "all-10y"
period = "10y"
"""
TYPO_WARNING = "warning: retention policy 'typo' matches no configured account"


def write_config(tmp_path: Path, retention: str) -> Path:
    path = tmp_path / "archiver.toml"
    path.write_text(f'[archive]\ndir = "{tmp_path / "archive"}"\n{retention}', encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A SQLite archive with one configured account: a post about a merger, lunch, a DM
    from @jo@x.test, and a post by @sam@x.test."""
    path = write_config(tmp_path, POLICIES)
    settings = load_settings(path)
    initialise(settings)
    archive = Archive.open(settings, clock=FixedClock(START), actor="test:setup")
    AccountService(archive.engine, archive.clock).add(
        "mastodon", "@org@x.test", {"base_url": "https://x.test", "token_env": "TOKEN"}
    )
    archive.ingest([
        make_item("1", "merger talk"),
        make_item("2", "lunch menu"),
        make_item("3", "hello", kind="dm", author="@jo@x.test"),
        make_item("4", "sam's post", author="@sam@x.test"),
    ])
    archive.close()
    return path


def invoke(config: Path, *args: str, exit_code: int = 0) -> Result:
    result = CliRunner(env={"ARCHIVER_ACTOR": "cli-test"}).invoke(
        cli, ["--config", str(config), *args]
    )
    assert result.exit_code == exit_code, (result.output, result.exception)
    return result


def rid(config: Path, native_id: str) -> str:
    archive = Archive.open(load_settings(config))
    try:
        return record_ids(archive, native_id=native_id)[0]
    finally:
        archive.close()


def stored(config: Path, record_id: str) -> bool:
    return (config.parent / "archive" / "objects" / record_key(record_id)).exists()


def test_records_show_explains_the_governing_policy_and_holds(config: Path) -> None:
    post, dm = rid(config, "1"), rid(config, "3")
    shown = json.loads(invoke(config, "records", "show", post).stdout)
    assert shown["governing_policy"] == "default"
    assert shown["retain_until"] == "2026-02-04T09:30:00.000000Z"
    assert shown["legal_holds"] == [] and shown["object_lock"]["legal_hold"] is False
    assert shown["url"] is None and shown["native_id"] == "1"
    explained = json.loads(invoke(config, "records", "show", dm).stdout)
    assert explained["governing_policy"] == "dm-5y"
    assert explained["retain_until"] == "2031-01-05T09:30:00.000000Z"
    assert [p["policy"] for p in explained["applicable_policies"]] == ["default", "dm-5y"]
    invoke(config, "hold", "create", "acme", "--query", "merger", "--reason", "SEC inquiry")
    held = json.loads(invoke(config, "records", "show", post).stdout)
    assert held["legal_holds"] == ["acme"] and held["object_lock"]["legal_hold"] is True


def test_hold_create_list_show_and_release(config: Path) -> None:
    created = invoke(config, "hold", "create", "acme", "--query", "merger", "--reason", "SEC inquiry")
    assert created.stdout == "matter acme: 1 records and 0 media blobs held\n"
    (listed,) = json.loads(invoke(config, "hold", "list", "--json").stdout)
    assert (listed["matter"], listed["status"], listed["records"]) == ("acme", "active", 1)
    assert (listed["created_by"], listed["reason"]) == ("cli-test", "SEC inquiry")
    assert "acme" in invoke(config, "hold", "list").stdout
    shown = json.loads(invoke(config, "hold", "show", "acme").stdout)
    assert (shown["records"], shown["media"], shown["query"]) == (1, 0, "merger")
    released = invoke(config, "hold", "release", "acme", "--reason", "closed")
    assert released.stdout == "matter acme released: 1 records no longer held\n"
    shown = json.loads(invoke(config, "hold", "show", "acme").stdout)
    assert (shown["status"], shown["released_by"], shown["release_reason"]) == (
        "released", "cli-test", "closed")
    unknown = invoke(config, "hold", "release", "nope", "--reason", "typo", exit_code=1)
    assert "no matter named 'nope'" in str(unknown.exception)


def test_retention_policies_and_apply_warn_of_a_policy_matching_no_account(
    config: Path,
) -> None:
    listed = invoke(config, "retention", "policies", "--json")
    policies = json.loads(listed.stdout)
    assert [(p["name"], p["matches_no_account"]) for p in policies["policies"]] == [
        ("default", False), ("dm-5y", False), ("typo", True)]
    assert policies["warnings"] == [TYPO_WARNING.removeprefix("warning: ")]
    assert TYPO_WARNING in listed.stderr
    assert TYPO_WARNING in invoke(config, "retention", "policies").stderr
    applied = invoke(config, "retention", "apply")
    assert applied.stdout == "checked 4, extended 0, kept a longer existing lock on 0\n"
    assert TYPO_WARNING in applied.stderr


def test_retention_apply_extends_records_and_locks(config: Path) -> None:
    write_config(config.parent, POLICIES + LONGER)
    applied = json.loads(invoke(config, "retention", "apply", "--json").stdout)
    assert applied == {"checked": 4, "extended": 4, "kept_longer": 0}
    shown = json.loads(invoke(config, "records", "show", rid(config, "3")).stdout)
    assert shown["governing_policy"] == "all-10y"
    assert shown["retain_until"] == shown["object_lock"]["retain_until"] == "2036-01-05T09:30:00.000000Z"
    write_config(config.parent, POLICIES)  # shorter again: nothing shortens
    applied = json.loads(invoke(config, "retention", "apply", "--json").stdout)
    assert applied == {"checked": 4, "extended": 0, "kept_longer": 4}


def test_dispose_dry_run_lists_exactly_what_goes_and_dispose_removes_it(config: Path) -> None:
    invoke(config, "hold", "create", "acme", "--query", "merger", "--reason", "SEC inquiry")
    lunch, sam = rid(config, "2"), rid(config, "4")
    dry = invoke(config, "retention", "dispose", "--dry-run")
    retained = "(policy default, retain until 2026-02-04T09:30:00.000000Z)"
    assert dry.stdout.splitlines() == [
        f"would dispose {lunch} mastodon @org@x.test 2 v1 {retained}",
        f"would dispose {sam} mastodon @org@x.test 4 v1 {retained}",
        "would dispose 2 records and 0 media blobs",
    ]
    assert TYPO_WARNING in dry.stderr
    assert stored(config, lunch) and stored(config, sam)
    done = invoke(config, "retention", "dispose")
    *lines, summary = done.stdout.splitlines()
    assert lines == [f"disposed {lunch} mastodon @org@x.test 2 v1 {retained}",
                     f"disposed {sam} mastodon @org@x.test 4 v1 {retained}"]
    assert summary.startswith("disposed 2 records and 0 media blobs; signed report ")
    assert not stored(config, lunch) and not stored(config, sam)
    assert stored(config, rid(config, "1"))  # held
    assert "would dispose 0 records" in invoke(config, "retention", "dispose", "--dry-run").stdout


def test_a_tampered_disposition_report_fails_verify(config: Path) -> None:
    invoke(config, "retention", "dispose")
    invoke(config, "checkpoint")
    assert json.loads(invoke(config, "verify", "--json").stdout)["ok"] is True
    (report,) = (config.parent / "archive" / "objects" / "dispositions").glob("*.json")
    report.chmod(0o644)
    report.write_bytes(report.read_bytes().replace(b"retention expired", b"retention EXPIRED"))
    failed = json.loads(invoke(config, "verify", "--json", exit_code=4).stdout)
    assert failed["ok"] is False
    assert [(p["check"], p["kind"], p["key"]) for p in failed["problems"]] == [
        ("dispositions", "hash-mismatch", f"dispositions/{report.name}")]


def test_erasure_request_process_and_list(config: Path) -> None:
    refused = json.loads(invoke(config, "erasure", "request", "@jo@x.test").stdout)
    assert (refused["status"], refused["due_at"]) == ("scheduled", "2031-01-05T09:30:00.000000Z")
    assert refused["decision"]["policies"] == ["dm-5y"]
    purged = json.loads(invoke(config, "erasure", "request", "@sam@x.test").stdout)
    assert purged["status"] == "purged" and purged["decision"]["records"] == 1
    assert not stored(config, rid(config, "4"))
    (again,) = json.loads(invoke(config, "erasure", "process").stdout)
    assert (again["id"], again["status"]) == (1, "scheduled")
    jo, sam = json.loads(invoke(config, "erasure", "list").stdout)
    assert (jo["subject"], jo["status"], jo["requested_by"]) == ("@jo@x.test", "scheduled", "cli-test")
    assert jo["due_at"].startswith("2031-01-05 09:30:00")
    assert [d["outcome"] for d in jo["decisions"]] == ["refused", "refused"]
    assert sam["status"] == "purged" and sam["purged_at"]

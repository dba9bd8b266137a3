"""Which policy governs a record: matching by account, counting from creation, and
bad policies reported clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.capture.accounts import AccountService
from archiver.retention_service import RetentionService
from config import ConfigProblems, load_settings
from tests.retention.helpers import record_ids, short_lived
from tests.support.items import make_item


def governs(archive, native_id: str) -> tuple[str, str]:
    explained = RetentionService(archive).explain(record_ids(archive, native_id=native_id)[0])
    return explained["governing_policy"], explained["retain_until"]


def test_a_policy_matches_by_account(tmp_path, catalogue_url, open_archive) -> None:
    archive = open_archive(short_lived(tmp_path, catalogue_url, policies=[
        {"name": "ceo-10y", "period": "10y", "accounts": ["@ceo@x.test"]},
    ]))
    archive.ingest([make_item("1", "from the ceo", account="@ceo@x.test"),
                    make_item("2", "from the brand", account="@brand@x.test")])
    assert governs(archive, "1") == ("ceo-10y", "2036-01-05T09:30:00.000000Z")
    assert governs(archive, "2") == ("default", "2026-02-04T09:30:00.000000Z")
    archive.close()


def test_a_policy_counted_from_creation(tmp_path, catalogue_url, open_archive) -> None:
    archive = open_archive(short_lived(tmp_path, catalogue_url, policies=[
        {"name": "created-1y", "period": "1y", "counted_from": "created"},
    ]))
    archive.ingest([
        make_item("1", "created last december"),  # make_item: created 2025-12-01T10:00:00Z
        make_item("2", "created long ago", created_at="2024-06-01T00:00:00Z"),
        make_item("3", "no creation time", created_at=None),
    ])
    assert governs(archive, "1") == ("created-1y", "2026-12-01T10:00:00.000000Z")
    # A year after creation is before 30 days after capture: the longest wins.
    assert governs(archive, "2") == ("default", "2026-02-04T09:30:00.000000Z")
    # Without a creation time the rule counts from capture.
    assert governs(archive, "3") == ("created-1y", "2027-01-05T09:30:00.000000Z")
    (created_1y,) = [
        p for p in RetentionService(archive).explain(record_ids(archive, native_id="2")[0])
        ["applicable_policies"] if p["policy"] == "created-1y"
    ]
    assert (created_1y["counted_from"], created_1y["retain_until"]) == (
        "created", "2025-06-01T00:00:00.000000Z")
    archive.close()


def test_a_malformed_policy_period_is_a_clear_config_error(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text(
        '[[retention.policies]]\nname = "sec"\nperiod = "3 years"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigProblems) as caught:
        load_settings(config)
    (problem,) = caught.value.problems
    assert problem.startswith("retention.policies.0.period:")
    assert "'3 years' is not a period: write years, months and days like '6y'" in problem


def test_the_no_account_warning_names_only_policies_matching_no_configured_account(
    tmp_path, catalogue_url, open_archive
) -> None:
    archive = open_archive(short_lived(tmp_path, catalogue_url, policies=[
        {"name": "typo", "period": "1y", "platforms": ["mastadon"]},
        {"name": "dms", "period": "1y", "kinds": ["dm"], "accounts": ["@org@x.test"]},
    ]))
    service = RetentionService(archive)
    assert len(service.warnings()) == 2  # no account is configured yet
    AccountService(archive.engine, archive.clock).add(
        "mastodon", "@org@x.test", {"base_url": "https://x.test", "token_env": "TOKEN"}
    )
    assert service.warnings() == ["retention policy 'typo' matches no configured account"]
    assert [p["matches_no_account"] for p in service.policies()] == [False, True, False]
    assert service.apply().warnings == service.warnings()
    archive.close()

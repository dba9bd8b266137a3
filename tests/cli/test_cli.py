"""The command line as a user runs it: the installed `archiver` script in a fresh folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "archiver.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ARCHIVER_ACTOR": "cli-test", **(env or {})},
    )


def test_quickstart_captures_the_sandbox_organisation_offline_and_verifies(tmp_path: Path) -> None:
    result = run(tmp_path, "quickstart", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verify_ok"] is True
    assert summary["captured"] == {
        "posts": 4,
        "replies": 2,
        "DMs": 2,
        "versions": 1,
        "tombstones": 1,
        "media": 1,
    }
    assert [r["status"] for r in summary["runs"]] == ["ok", "ok"]
    assert summary["indexed"] == 10
    found = json.loads(run(tmp_path, "search", "savings", "--json").stdout)
    assert [hit["native_id"] for hit in found["hits"]] == ["1003"]
    again = json.loads(run(tmp_path, "quickstart", "--json").stdout)
    assert again["runs"] == [] and again["verify_ok"] is True
    assert (tmp_path / "archiver.toml").exists()
    assert (tmp_path / "archive" / "catalogue.sqlite3").exists()
    assert (
        oct((tmp_path / "archive" / "keys" / "signing-key.pem").stat().st_mode & 0o777) == "0o600"
    )


def test_init_is_idempotent_and_keeps_the_key(tmp_path: Path) -> None:
    first = json.loads(run(tmp_path, "init", "--json").stdout)
    second = json.loads(run(tmp_path, "init", "--json").stdout)
    assert first["key_created"] is True and second["key_created"] is False
    assert first["key_id"] == second["key_id"]
    assert first["config_written"] is True and second["config_written"] is False


def test_verify_exits_4_and_names_the_tampered_record(tmp_path: Path) -> None:
    assert run(tmp_path, "quickstart").returncode == 0
    victim = sorted((tmp_path / "archive" / "objects" / "records").rglob("*.json"))[0]
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[30] ^= 0x20
    victim.write_bytes(bytes(data))
    result = run(tmp_path, "verify", "--json")
    assert result.returncode == 4
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert any(p["key"].endswith(victim.name) for p in report["problems"])
    human = run(tmp_path, "verify")
    assert "VERIFY FAILED" in human.stdout


def test_a_bad_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "archiver.toml").write_text(
        '[storage]\nbackend = "floppy"\n[ingest]\nbatch_size = -1\n'
    )
    result = run(tmp_path, "verify")
    assert result.returncode == 2
    assert "storage.backend: unknown backend 'floppy'" in result.stderr
    assert "ingest.batch_size" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_uninitialised_archive_says_what_to_run(tmp_path: Path) -> None:
    (tmp_path / "archiver.toml").write_text("")
    result = run(tmp_path, "verify")
    assert result.returncode == 3
    assert "archiver init" in result.stderr


def test_unreachable_s3_names_the_endpoint(tmp_path: Path) -> None:
    env = {
        "ARCHIVER_STORAGE__BACKEND": "s3",
        "ARCHIVER_STORAGE__S3__BUCKET": "records",
        "ARCHIVER_STORAGE__S3__ENDPOINT_URL": "http://127.0.0.1:9",
        "ARCHIVER_STORAGE__S3__MAX_ATTEMPTS": "1",
        "ARCHIVER_STORAGE__S3__CONNECT_TIMEOUT": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    result = run(tmp_path, "init", env=env)
    assert result.returncode == 3, result.stderr
    assert "127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["accounts", "list"], ["runs"], ["connectors", "list"]])
def test_listing_commands_work_on_a_new_archive(tmp_path: Path, command: list[str]) -> None:
    assert run(tmp_path, "init").returncode == 0
    result = run(tmp_path, *command, "--json")
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list)

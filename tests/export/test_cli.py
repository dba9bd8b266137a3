"""`archiver export` and `archiver verify-pack` as an operator and a recipient run
them: summaries, --json, and verify-pack's documented exit codes (0, 4, 2)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from archiver.cli.main import cli
from tests.export.conftest import MATTER, Pack, Realistic


def config_for(realistic: Realistic, tmp_path: Path) -> Path:
    settings = realistic.archive.settings
    config = tmp_path / "archiver.toml"
    config.write_text(
        f'[archive]\ndir = "{settings.archive_dir}"\norganisation = "{settings.archive.organisation}"\n',
        encoding="utf-8",
    )
    return config


def test_export_command_writes_a_pack_and_prints_the_key(realistic: Realistic, tmp_path: Path) -> None:
    config = config_for(realistic, tmp_path)
    out = tmp_path / "cli-pack"
    result = CliRunner().invoke(
        cli, ["--config", str(config), "export", "--matter", MATTER, "--out", str(out), "--reason", "test"]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert f"signing key id: {realistic.archive.signer.key_id}" in result.output
    verified = CliRunner().invoke(cli, ["verify-pack", str(out)])
    assert verified.exit_code == 0, verified.output
    assert "PACK VERIFIED" in verified.output
    assert realistic.archive.signer.key_id in verified.output


def test_export_command_json_and_zip(realistic: Realistic, tmp_path: Path) -> None:
    config = config_for(realistic, tmp_path)
    out = tmp_path / "q.zip"
    result = CliRunner().invoke(
        cli, ["--config", str(config), "export", "--query", "savings", "--out", str(out), "--zip", "--json",
              "--timezone", "Europe/London"],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["as_zip"] is True and summary["records"] >= 2 and summary["path"] == str(out)
    assert CliRunner().invoke(cli, ["verify-pack", "--json", str(out)]).exit_code == 0


def test_export_command_usage_errors(realistic: Realistic, tmp_path: Path) -> None:
    config = config_for(realistic, tmp_path)
    both = CliRunner().invoke(
        cli, ["--config", str(config), "export", "--matter", MATTER, "--query", "x", "--out", str(tmp_path / "o")]
    )
    assert both.exit_code != 0 and "exactly one" in str(both.exception or both.output)
    zone = CliRunner().invoke(
        cli, ["--config", str(config), "export", "--query", "x", "--out", str(tmp_path / "o"), "--timezone", "Mars/Base"]
    )
    assert "unknown time zone" in str(zone.exception or zone.output)


def test_verify_pack_exit_codes(pack: Pack, pack_copy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["verify-pack", str(pack.path)]).exit_code == 0
    record = sorted((pack_copy / "data/records").glob("*.json"))[0]
    record.write_bytes(b"{}")
    failed = runner.invoke(cli, ["verify-pack", str(pack_copy)])
    assert failed.exit_code == 4
    assert f"FAIL [manifest] data/records/{record.name}: checksum does not match manifest-sha256.txt" in failed.output
    assert "PACK FAILED" in failed.output
    as_json = runner.invoke(cli, ["verify-pack", "--json", str(pack_copy)])
    assert as_json.exit_code == 4 and json.loads(as_json.output)["ok"] is False
    (tmp_path / "not-a-bag").mkdir()
    unusable = runner.invoke(cli, ["verify-pack", str(tmp_path / "not-a-bag")])
    assert unusable.exit_code == 2 and "no bagit.txt" in unusable.output
    assert runner.invoke(cli, ["verify-pack", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(cli, ["verify-pack", "--key-id", "xyz", str(pack.path)]).exit_code == 2
    wrong_key = runner.invoke(cli, ["verify-pack", "--key-id", "ab" * 32, str(pack.path)])
    assert wrong_key.exit_code == 4 and "different key" in wrong_key.output


def test_verify_pack_needs_no_configuration(pack: Pack, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCHIVER_CONFIG", str(tmp_path / "does-not-exist.toml"))
    result = CliRunner().invoke(cli, ["verify-pack", str(pack.path)])
    assert result.exit_code == 0, result.output

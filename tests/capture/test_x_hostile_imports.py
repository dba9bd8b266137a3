"""Hostile and damaged X archives through the real command, `archiver import x FILE
--account ID`, run as a separate process on an archive that already holds an import:
each is refused with one clear line (no traceback, a non-zero exit), and neither the
catalogue nor the object store keeps anything from it (batches of one, so any item
written before the refusal would show)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.cli.main import cli
from storage.catalogue.models import audit_events, capture_runs, items, records
from tests.capture.hostile_zips import HOSTILE, damage_member
from tests.connectors.x.archives import POSTS, build_archive
from tests.fakes.x import ORG_ID, PHOTO_FILE, PHOTO_ID

REPO = Path(__file__).resolve().parents[2]
PHOTO_MEMBER = f"data/tweets_media/{PHOTO_ID}-{PHOTO_FILE}"
UNWRAPPED = b'YTD.tweets.part0 = [{"tweet": {"id_str": "1"}}]'  # `window.` is missing


def config_for(archive: Archive, path: Path) -> Path:
    settings = archive.settings
    path.write_text(
        f'[archive]\ndir = "{settings.archive.dir}"\n'
        f'[catalogue]\nurl = "{settings.catalogue_url}"\n'
        "[ingest]\nbatch_size = 1\n",
        encoding="utf-8",
    )
    return path


def snapshot(archive: Archive) -> tuple:
    """Everything an import could leave behind."""
    with archive.engine.connect() as conn:
        rows = tuple(
            tuple(conn.execute(select(table).order_by(*table.primary_key.columns)).all())
            for table in (records, items, capture_runs, audit_events)
        )
    return rows, sorted(archive.store.keys())


def hostile_x_archives() -> list:
    cases = [
        pytest.param(
            lambda path, add=add: add(build_archive(path)),
            message,
            id=add.__name__.removeprefix("add_"),
        )
        for add, message in HOSTILE
    ]
    return [
        *cases,
        pytest.param(
            lambda path: build_archive(path, replace={"data/tweets.js": UNWRAPPED}),
            "data/tweets.js: not a `window.<name> = ...` data file",
            id="unwrapped",
        ),
        pytest.param(
            lambda path: build_archive(
                path, parts=2, replace={"data/tweets-part1.js": b'window.YTD.tweets.part1 = [{"tw'}
            ),
            "data/tweets-part1.js: malformed JSON",
            id="truncated_wrapper",
        ),
        pytest.param(
            lambda path: damage_member(build_archive(path), PHOTO_MEMBER),
            f"member '{PHOTO_MEMBER}' is damaged (Bad CRC-32",
            id="bad_crc",
        ),
        pytest.param(
            lambda path: damage_member(build_archive(path), PHOTO_MEMBER, zipfile.ZIP_DEFLATED),
            f"member '{PHOTO_MEMBER}' is damaged",
            id="corrupt_deflate",
        ),
    ]


@pytest.mark.parametrize(("build", "message"), hostile_x_archives())
def test_a_hostile_x_archive_is_refused_in_one_line_and_leaves_nothing(
    archive: Archive, tmp_path: Path, build, message: str
) -> None:
    account = AccountService(archive.engine, archive.clock).add(
        "x", "@darkliquid", {"user_id": ORG_ID}
    )
    earlier = CaptureRunner(archive).run_import(
        account, "x", build_archive(tmp_path / "earlier.zip", posts=POSTS[:4])
    )
    assert earlier.status == "ok" and earlier.counts["new"] == 4, earlier.errors
    archive.checkpoint()
    config = config_for(archive, tmp_path / "archiver.toml")
    before = snapshot(archive)
    path = build(tmp_path / "hostile.zip")

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "archiver.cli",
            "--config",
            str(config),
            "import",
            "x",
            str(path),
            "--account",
            str(account.id),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()  # no traceback, no warnings
    assert line.startswith("error: ") and message in line
    assert snapshot(archive) == before
    verified = CliRunner().invoke(cli, ["--config", str(config), "verify"])
    assert verified.exit_code == 0, verified.output
    assert "archive verified: everything holds" in verified.output

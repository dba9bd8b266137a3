"""The Mastodon archive importer: the sample export (tests/fixtures/mastodon_export/, see
its SOURCES.md) as a .zip and a .tar.gz, normalised like the API connector; imports
through the capture framework that add nothing the second time and merge with API
captures of the same statuses."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from archiver.archive import Archive
from archiver.capture.accounts import AccountService
from archiver.capture.run import CaptureRunner
from archiver.item import CaptureContext
from archiver.records import Record, record_key
from connectors.base import Account
from connectors.exports.registry import load_importer
from connectors.exports.safe_archive import (
    SafeArchive,
    SafeTarArchive,
    UnsafeArchiveError,
    open_export,
)
from connectors.mastodon import MastodonSettings
from connectors.mastodon.export import MastodonOutboxImporter
from storage.catalogue.models import records
from tests.fakes import FakeClock
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer

from .support import TOKEN

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "mastodon_export"
ME = "http://localhost:3000/users/mastodonpy_test"
MEDIA = "media_attachments/files/109/441/300/000/000/001/original/3c5e0b1d9a7f2e41.png"
MIRRORED = ["109441135476736000", "109441135542272000", "109441135607808000"]
RECORDED_TOOT = "109440145510747169"  # "Toot number 9!", recorded from a real server


def sample_files() -> dict[str, bytes]:
    return {
        str(p.relative_to(SAMPLE)): p.read_bytes()
        for p in sorted(SAMPLE.rglob("*"))
        if p.is_file() and p.name != "SOURCES.md"
    }


def as_zip(path: Path, files: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (files or sample_files()).items():
            archive.writestr(name, data)
    return path


def as_tar_gz(path: Path, files: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (files or sample_files()).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def account(handle: str = "@mastodonpy_test@localhost:3000") -> Account:
    return Account(1, "mastodon", handle, MastodonSettings(base_url="http://localhost:3000"))


SOURCE = CaptureContext("import:mastodon", "1.0.0", source="export", source_sha256="0" * 64)


def imported(path: Path) -> dict:
    with open_export(path) as export:
        items = list(MastodonOutboxImporter().items(export, account(), SOURCE))
    return {i.native_id: i for i in items}


def test_every_activity_becomes_an_item_with_the_status_id_and_the_right_kind(
    tmp_path: Path,
) -> None:
    items = imported(as_zip(tmp_path / "archive.zip"))

    outbox = json.loads((SAMPLE / "outbox.json").read_text())
    assert len(items) == len(outbox["orderedItems"]) == 11
    kinds = {i: item.kind for i, item in items.items()}
    assert kinds["109441135542272000"] == "reply"
    assert kinds["109441300600000000"] == "reply"
    assert kinds["109441300300000000"] == "dm"
    assert sum(k == "post" for k in kinds.values()) == 8
    assert all(item.capture.source == "export" for item in items.values())
    assert load_importer("mastodon").platform == "mastodon"


def test_content_follows_the_api_connectors_normalisation(tmp_path: Path) -> None:
    items = imported(as_zip(tmp_path / "archive.zip"))

    plain = items["109441135476736000"].content
    assert plain["text"] == "Hello from the archive export"
    assert plain["author"] == "mastodonpy_test"
    assert plain["created_at"] == "2022-12-02T00:00:01.000Z"  # the API's format
    assert plain["url"] == "http://localhost:3000/@mastodonpy_test/109441135476736000"
    assert (plain["visibility"], plain["thread_id"], plain["edited_at"]) == (
        "public", "109441135476736000", None,
    )
    reply = items["109441135542272000"].content
    assert (reply["in_reply_to"], reply["thread_id"]) == ("109441135476736000",) * 2
    assert items["109441135607808000"].content["mentions"] == ["admin"]
    pictured = items["109441300000000001"]
    assert pictured.content["content_warning"] == "brand reveal"
    assert pictured.content["sensitive"] is True
    assert pictured.content["hashtags"] == ["branding"]
    assert pictured.content["media"] == [{
        "id": "109441300000000001", "type": "image",
        "url": f"http://localhost:3000/system/{MEDIA}", "description": "a red square",
    }]
    [attachment] = pictured.attachments
    assert (attachment.url, attachment.media_type) == (f"archive:{MEDIA}", "image")
    assert items["109441300100000000"].content["poll"] == {"options": ["blue", "green"]}
    boost = items["109441300200000000"].content
    assert boost["boost_of"] == "https://other.example/users/bob/statuses/987654321"
    assert boost["boost_author"] == "bob@other.example"
    assert boost["url"] == f"{ME}/statuses/109441300200000000/activity"
    assert items["109441300300000000"].content["visibility"] == "direct"
    assert items["109441300400000000"].content["visibility"] == "unlisted"
    assert items["109441300500000000"].content["edited_at"] == "2022-12-02T01:25:30.000Z"
    remote = items["109441300600000000"].content
    assert remote["in_reply_to"] == "https://other.example/users/bob/statuses/555"
    assert remote["thread_id"] is None  # the root is someone else's: not in the export
    assert remote["mentions"] == ["bob@other.example"]


def test_a_tar_gz_archive_gives_the_same_items(tmp_path: Path) -> None:
    from_zip = imported(as_zip(tmp_path / "archive.zip"))
    from_tar = imported(as_tar_gz(tmp_path / "archive.tar.gz"))

    assert {k: v.content for k, v in from_tar.items()} == {
        k: v.content for k, v in from_zip.items()
    }
    with SafeTarArchive(tmp_path / "archive.tar.gz") as export:
        assert export.read(MEDIA) == (SAMPLE / MEDIA).read_bytes()


def hostile_tar(path: Path, kind: str) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        outbox = b'{"orderedItems": []}'
        info = tarfile.TarInfo("outbox.json")
        info.size = len(outbox)
        archive.addfile(info, io.BytesIO(outbox))
        bad = tarfile.TarInfo("../../etc/evil" if kind == "slip" else "media/link.png")
        if kind == "symlink":
            bad.type, bad.linkname = tarfile.SYMTYPE, "/etc/passwd"
        if kind == "hardlink":
            bad.type, bad.linkname = tarfile.LNKTYPE, "outbox.json"
        archive.addfile(bad, io.BytesIO(b"") if kind == "slip" else None)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [("slip", "climbs out"), ("symlink", "link or device"), ("hardlink", "link or device")],
)
def test_hostile_tar_archives_are_refused(tmp_path: Path, kind: str, message: str) -> None:
    with pytest.raises(UnsafeArchiveError, match=message):
        SafeTarArchive(hostile_tar(tmp_path / "x.tar.gz", kind))


def test_an_outbox_that_is_not_a_collection_is_refused(tmp_path: Path) -> None:
    path = as_zip(tmp_path / "bad.zip", {"outbox.json": b'{"type": "Person"}'})
    with SafeArchive(path) as export, pytest.raises(UnsafeArchiveError, match="outbox.json"):
        list(MastodonOutboxImporter().items(export, account(), SOURCE))


# -- through the capture framework (SQLite and PostgreSQL) ------------------------------
def latest_content(archive: Archive, native_id: str) -> list[dict]:
    with archive.engine.connect() as conn:
        ids = conn.execute(
            select(records.c.record_id).where(records.c.native_id == native_id)
            .order_by(records.c.version)
        ).scalars().all()
    return [Record.from_bytes(archive.store.get(record_key(r))).fields for r in ids]


def test_import_then_reimport_adds_nothing(archive: Archive, tmp_path: Path) -> None:
    path = as_zip(tmp_path / "archive.zip")
    target = AccountService(archive.engine, archive.clock).add(
        "mastodon", "@mastodonpy_test@localhost:3000", {"base_url": "http://localhost:3000"}
    )
    first = CaptureRunner(archive).run_import(target, "mastodon", path)
    assert first.status == "ok", first.errors
    assert first.counts["new"] == 11 and first.media == 1
    stored = latest_content(archive, "109441300000000001")[0]
    assert stored["media"][0]["width"] == 40
    assert stored["capture"]["source"] == "export"

    again = CaptureRunner(archive).run_import(target, "mastodon", path)
    assert (again.counts["new"], again.counts["edited"], again.counts["unchanged"]) == (0, 0, 11)
    archive.checkpoint()
    assert archive.verify().ok


def test_an_import_overlapping_an_api_capture_merges_into_the_same_items(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeServer() as server:
        instance = FakeMastodon(server, TOKEN)
        mirrored = [
            instance.post_status("<p>Hello from the archive export</p>")["id"],
            instance.post_status("<p>A thread, continued</p>",
                                 in_reply_to="109441135476736000")["id"],
            instance.post_status("<p>Thanks for the help!</p>", mentions=[instance.other])["id"],
        ]
        assert mirrored == MIRRORED  # the export mirrors these three statuses
        monkeypatch.setenv("MASTODON_TOKEN", TOKEN)
        target = AccountService(archive.engine, archive.clock).add(
            "mastodon", "@mastodonpy_test@localhost:3000",
            {"base_url": server.url, "token_env": "MASTODON_TOKEN",
             "allow_media_hosts": ["127.0.0.1"]},
        )
        clock = FakeClock()
        runner = CaptureRunner(archive, http_options={"clock": clock.now, "sleep": clock.sleep})
        assert runner.run(target).status == "ok"
        api_versions = {n: latest_content(archive, n) for n in MIRRORED}

    summary = CaptureRunner(archive).run_import(target, "mastodon", as_zip(tmp_path / "a.zip"))

    assert summary.status == "ok", summary.errors
    for native_id in MIRRORED:
        assert latest_content(archive, native_id) == api_versions[native_id]  # no new version
    assert summary.counts["new"] == 7  # what the API capture did not have
    # The recorded toot's API created_at has milliseconds the outbox cannot carry: the
    # one documented difference, kept as a second version rather than hidden.
    toot = latest_content(archive, RECORDED_TOOT)
    assert [v["observation"] for v in toot] == ["observed", "edited"]
    changed = {k for k in toot[0]["content"] if toot[0]["content"][k] != toot[1]["content"][k]}
    assert changed == {"created_at"}
    assert (toot[0]["content"]["created_at"], toot[1]["content"]["created_at"]) == (
        "2022-12-01T19:48:15.318Z", "2022-12-01T19:48:15.000Z",
    )
    assert summary.counts["edited"] == 1

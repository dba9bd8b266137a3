"""The Instagram "Download your information" importer: posts, carousels, Reels, Stories,
comments and Direct messages, mojibake repaired."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.item import CaptureContext
from connectors.base import Account
from connectors.exports.safe_archive import SafeArchive
from connectors.instagram import InstagramSettings
from connectors.instagram.export import InstagramExportImporter
from tests.connectors.facebook.support import build_export

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "instagram" / "dyi_export"
SOURCE = CaptureContext("import:instagram", "1.0.0", source="export", source_sha256="1" * 64)
ACCOUNT = Account(2, "instagram", "@example_org", InstagramSettings(ig_user_id="1784"))


@pytest.fixture
def items(tmp_path: Path) -> list:
    path = build_export(SAMPLE, tmp_path / "instagram-example_org.zip")
    with SafeArchive(path) as archive:
        return list(InstagramExportImporter().items(archive, ACCOUNT, SOURCE))


def test_kinds_of_the_sample_export(items: list) -> None:
    assert [i.kind for i in items] == ["post", "post", "reel", "story", "comment", "comment",
                                       "dm", "dm"]
    assert all(i.content["source"] == "export" for i in items)
    assert all(i.native_id.startswith(f"dyi:{i.kind}:") for i in items)


def test_a_single_media_post_keeps_caption_and_time_on_its_media(items: list) -> None:
    post = items[0]
    assert post.content["text"] == "Sunset at the café ☕️ #coffee with @ig_fan"
    assert post.content["hashtags"] == ["coffee"]
    assert post.content["mentions"] == ["ig_fan"]
    assert post.content["created_at"] == "2021-08-13T08:25:28Z"
    assert [a.media_type for a in post.attachments] == ["image"]
    assert post.attachments[0].url == (
        "archive:media/posts/202108/"
        "235924128_269317301288861_6602043128777306709_n_17895731045244887.jpg"
    )


def test_a_carousel_has_all_its_media(items: list) -> None:
    carousel = items[1]
    assert carousel.content["text"] == "Two views of the harbour 🌊 #harbour"
    assert [a.media_type for a in carousel.attachments] == ["image", "video"]
    assert [m["type"] for m in carousel.content["media"]] == ["image", "video"]


def test_reels_stories_comments_and_messages(items: list) -> None:
    reel, story = items[2], items[3]
    assert reel.content["text"] == "Our first reel 🎬"
    assert [a.media_type for a in reel.attachments] == ["video"]
    assert story.content["created_at"] == "2021-08-14T14:06:40Z"
    comments = [i for i in items if i.kind == "comment"]
    assert [c.content["text"] for c in comments] == ["Beautiful! 😍", "Ótimo vídeo!"]
    assert {c.content["media_owner"] for c in comments} == {"ig_fan"}
    dms = [i for i in items if i.kind == "dm"]
    assert dms[0].content["text"] == "Yes, 10:00–16:00 ☀️"
    assert dms[1].content["author"] == "IG Fan"
    assert [a.media_type for a in dms[1].attachments] == ["image"]
    assert dms[0].content["participants"] == ["Example Org", "IG Fan"]

"""The Facebook "Download your information" importer and the mojibake repair it relies on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archiver.item import CaptureContext
from connectors.base import Account
from connectors.exports.safe_archive import SafeArchive, UnsafeArchiveError
from connectors.facebook import FacebookSettings
from connectors.facebook.export import FacebookExportImporter
from connectors.meta_graph.dyi import fix_mojibake, fix_text

from .support import build_export

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "facebook" / "dyi_export"
SOURCE = CaptureContext("import:facebook", "1.0.0", source="export", source_sha256="0" * 64)
ACCOUNT = Account(1, "facebook", "@fbdevs", FacebookSettings())
ID = re.compile(r"^dyi:(post|comment|reply|dm):\d+:[0-9a-f]{64}(#\d+)?$")


def mangle(text: str) -> str:
    """What Meta's exporter does: UTF-8 bytes written as \\u00XX code points."""
    return text.encode("utf-8").decode("latin-1")


def parse(path: Path) -> list:
    with SafeArchive(path) as archive:
        return list(FacebookExportImporter().items(archive, ACCOUNT, SOURCE))


@pytest.fixture
def items(tmp_path: Path) -> list:
    return parse(build_export(SAMPLE, tmp_path / "facebook-fbdevs.zip"))


def test_mojibake_is_repaired_emoji_included() -> None:
    assert fix_text("Caf\u00c3\u00a9 \u00f0\u009f\u0098\u0080") == "Café 😀"
    assert fix_mojibake({"Zo\u00c3\u00ab": ["\u00e6\u0084\u009b"]}) == {"Zoë": ["愛"]}


@pytest.mark.parametrize("text", ["Café", "plain ascii", "Ã", "\udcff broken", "愛料理"])
def test_text_that_is_not_mojibake_is_kept_as_it_was(text: str) -> None:
    assert fix_text(text) == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_repair_undoes_the_mangling_exactly(text: str) -> None:
    assert fix_text(mangle(text)) == text


@given(st.text())
def test_repair_never_loses_information(text: str) -> None:
    repaired = fix_text(text)
    assert repaired == text or mangle(repaired) == text


def test_the_sample_export_yields_posts_comments_and_messages(items: list) -> None:
    kinds = [i.kind for i in items]
    assert (kinds.count("post"), kinds.count("comment"), kinds.count("reply"),
            kinds.count("dm")) == (4, 1, 1, 4)
    for item in items:
        assert ID.match(item.native_id), item.native_id
        assert item.content["source"] == "export"
        assert item.capture is SOURCE
        assert item.platform == "facebook" and item.account == "@fbdevs"


def test_text_comes_out_repaired(items: list) -> None:
    texts = {i.content["text"] for i in items}
    assert "Café talk: peering automation — déjà vu? Read more: " \
           "https://fb.me/Facebook-Peering-automation" in texts
    assert "iCook 愛料理 boosted its user retention by 30% 📈" in texts
    assert "Bonjour 👋 ça va ? We'll reply by Monday." in texts
    reply = next(i for i in items if i.kind == "reply")
    assert reply.content["title"] == "Facebook for Developers replied to João's comment."


def test_posts_carry_time_edits_links_and_media(items: list) -> None:
    posts = [i for i in items if i.kind == "post"]
    photo, link = posts[0], posts[1]
    assert photo.content["created_at"] == "2021-07-09T19:09:52Z"
    assert photo.content["hashtags"] == ["Messenger"]
    member = ("your_facebook_activity/posts/media/NinjaVanSuccessStory_10158349355013553/"
              "211801276_10158349355018553_2104693261473191589_n.jpg")
    assert [a.url for a in photo.attachments] == [f"archive:{member}"]
    assert photo.content["media"] == [{
        "type": "image", "url": f"archive:{member}",
        "description": "Ninja Van 🚚 improved customer query turnaround time by 5X",
    }]
    assert link.content["edited_at"] == "2021-07-10T23:20:35Z"
    assert link.content["urls"] == [
        "https://fb.me/Facebook-Peering-automation",
        "https://engineering.fb.com/2021/05/20/networking-traffic/peering-automation/",
    ]


def test_ids_are_stable_and_identical_posts_stay_apart(items: list, tmp_path: Path) -> None:
    again = parse(build_export(SAMPLE, tmp_path / "again.zip", prefix="facebook-fbdevs-2024/"))
    assert [i.native_id for i in again] == [i.native_id for i in items]
    assert [i.content for i in again] == [i.content for i in items]
    twins = [i.native_id for i in items if i.content["text"].startswith("iCook")]
    assert len(set(twins)) == 2 and twins[1] == twins[0] + "#2"


def test_messages_keep_thread_participants_and_attachments(items: list) -> None:
    dms = [i for i in items if i.kind == "dm"]
    thread = "inbox/kunliu_2711636948859886"
    assert {d.content["conversation_id"] for d in dms} == {thread}
    assert dms[0].content["participants"] == ["Facebook for Developers", "Kun Liu"]
    assert dms[0].content["created_at"] == "2021-07-23T10:26:40.123Z"
    video = dms[1]
    assert [a.media_type for a in video.attachments] == ["video"]
    assert video.attachments[0].url.startswith(f"archive:your_facebook_activity/messages/{thread}")
    assert dms[3].content["urls"] == ["https://developers.facebook.com/docs/messenger-platform"]


def test_media_is_found_when_the_zip_adds_a_folder_of_its_own(tmp_path: Path) -> None:
    nested = parse(build_export(SAMPLE, tmp_path / "n.zip", prefix="facebook-fbdevs-2024/"))
    photo = next(i for i in nested if i.attachments)
    assert photo.attachments[0].url.startswith("archive:facebook-fbdevs-2024/your_facebook_")


def test_a_posts_file_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("your_facebook_activity/posts/your_posts_1.json", '{"posts": 1}')
    with pytest.raises(UnsafeArchiveError, match="expected a JSON list"):
        parse(path)

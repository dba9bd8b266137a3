"""Reading "Download your archive" zips built from the real fixture files (no database:
tests/capture/test_x_capture.py imports them into an archive)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver.errors import UsageError
from archiver.item import CaptureContext, CapturedItem
from connectors.base import Account
from connectors.exports.safe_archive import SafeArchive, UnsafeArchiveError
from connectors.x import XSettings
from connectors.x.export import XArchiveImporter
from tests.fakes.x import ORG_ID, PHOTO_FILE, PHOTO_ID, png

from .archives import POSTS, TWEET_COUNT, build_archive, dm_conversation, edited_version, js

SOURCE = CaptureContext("import:x", "1.0.0", source="export", source_sha256="ab" * 32)


def items(path: Path, user_id: str | None = ORG_ID) -> list[CapturedItem]:
    account = Account(1, "x", "@darkliquid", XSettings(token_env="X_TOKEN", user_id=user_id))
    with SafeArchive(path) as archive:
        return list(XArchiveImporter().items(archive, account, SOURCE))


def test_the_fixture_archive_reads_as_28_posts_and_replies(tmp_path: Path) -> None:
    found = items(build_archive(tmp_path / "x.zip"))
    assert len(found) == TWEET_COUNT
    assert {i.native_id for i in found} == {p["id_str"] for p in POSTS}
    assert [i.native_id for i in found] == sorted(i.native_id for i in found)  # oldest first
    kinds = [i.kind for i in found]
    assert (kinds.count("post"), kinds.count("reply")) == (5, 23)
    assert all(i.capture.request_url == "archive:data/tweets.js" for i in found)
    assert all(i.capture.source == "export" and not i.historical for i in found)
    photo = next(i for i in found if i.native_id == PHOTO_ID)
    assert [a.url for a in photo.attachments] == [
        f"archive:data/tweets_media/{PHOTO_ID}-{PHOTO_FILE}"]
    assert photo.content["author"] == "darkliquid" and photo.content["in_reply_to"]


def test_media_missing_from_the_zip_is_listed_but_not_attached(tmp_path: Path) -> None:
    found = items(build_archive(tmp_path / "x.zip", media={}))
    photo = next(i for i in found if i.native_id == PHOTO_ID)
    assert photo.content["media"] and not photo.attachments


def test_every_part_the_manifest_lists_is_read(tmp_path: Path) -> None:
    path = build_archive(tmp_path / "x.zip", parts=3)
    with SafeArchive(path) as archive:
        assert {"data/tweets-part1.js", "data/tweets-part2.js"} <= set(archive.names())
    found = items(path)
    assert len(found) == TWEET_COUNT
    assert {i.capture.request_url for i in found} == {
        "archive:data/tweets.js", "archive:data/tweets-part1.js", "archive:data/tweets-part2.js"}


def test_without_a_manifest_parts_are_found_by_name_and_the_owner_in_account_js(
    tmp_path: Path,
) -> None:
    account = js("YTD.account.part0", [{"account": {
        "accountId": ORG_ID, "username": "darkliquid", "accountDisplayName": "darkliquid"}}])
    path = build_archive(tmp_path / "x.zip", parts=2, manifest=False,
                         replace={"data/account.js": account})
    found = items(path)
    assert len(found) == TWEET_COUNT and found[0].content["author"] == "darkliquid"
    lonely = build_archive(tmp_path / "y.zip", manifest=False)
    with pytest.raises(UnsafeArchiveError, match="whose archive"):
        items(lonely)


def test_an_edited_tweet_is_one_item_with_its_versions_in_order(tmp_path: Path) -> None:
    original = next(p for p in POSTS if p["id_str"] == "1560185144006295552")
    first, edit = edited_version(original, "1560185999999999999", "Jinx by Isidor, on repeat.",
                                 "Thu Aug 18 08:45:03 +0000 2022")
    posts = [edit] + [first if p is original else p for p in POSTS]  # the edit listed first
    found = [i for i in items(build_archive(tmp_path / "x.zip", posts=posts))
             if i.native_id == original["id_str"]]
    assert [(i.historical, i.content["text"][:4]) for i in found] == [
        (True, "Toda"), (False, "Jinx")]
    assert found[1].content["edited_at"] == "2022-08-18T08:45:03Z"
    assert found[1].content["created_at"] == found[0].content["created_at"]


def test_deleted_tweets_are_their_content_then_a_tombstone(tmp_path: Path) -> None:
    gone = next(p for p in POSTS if p["id_str"] == "1561850194110595073")
    rest = [p for p in POSTS if p is not gone]
    found = items(build_archive(tmp_path / "x.zip", posts=rest, deleted=[gone]))
    content, tombstone = [i for i in found if i.native_id == gone["id_str"]]
    assert content.historical and not content.deleted
    assert content.content["text"] == "In roughly 14 hours I will be a married man!"
    assert tombstone.deleted and tombstone.kind == "post"
    assert tombstone.content == {"source": "deleted-tweets.js",
                                 "deleted_at": "2023-06-01T10:00:00.000Z"}
    assert tombstone.capture.request_url == "archive:data/deleted-tweets.js"


def test_direct_messages_become_dm_items(tmp_path: Path) -> None:
    conversation = f"{ORG_ID}-1106739631557472256"
    messages = [
        {"recipientId": ORG_ID, "reactions": [], "urls": [], "text": "Hello &amp; welcome",
         "mediaUrls": ["https://ton.twitter.com/1.1/ton/data/dm/1741610183685046274/"
                       "1741610183685046273/pic.png"],
         "senderId": "1106739631557472256", "id": "1741610183685046274",
         "createdAt": "2024-01-01T00:00:00.000Z"},
        {"recipientId": "1106739631557472256", "reactions": [], "urls": [], "text": "Thanks",
         "mediaUrls": [], "senderId": ORG_ID, "id": "1741610183685046300",
         "createdAt": "2024-01-01T00:00:07.000Z"},
    ]
    path = build_archive(tmp_path / "x.zip", posts=[], dms=[
        dm_conversation(conversation, messages),
        {"dmConversation": {"conversationId": conversation, "messages": [
            {"joinConversation": {"initiatingUserId": ORG_ID}}]}},
    ], media={"data/direct_messages_media/1741610183685046274-pic.png": png()})
    found = items(path)
    assert [(i.native_id, i.kind) for i in found] == [
        ("1741610183685046274", "dm"), ("1741610183685046300", "dm")]
    assert found[0].content == {
        "text": "Hello & welcome", "created_at": "2024-01-01T00:00:00Z",
        "sender_id": "1106739631557472256", "conversation_id": conversation,
        "thread_id": conversation, "participants": ["1106739631557472256", ORG_ID],
        "media": [{"id": "1741610183685046273", "type": "photo"}],
    }
    assert found[0].attachments[0].url == (
        "archive:data/direct_messages_media/1741610183685046274-pic.png")


@pytest.mark.parametrize(
    ("member", "data", "message"),
    [
        ("data/tweets-part1.js", b"YTD.tweets.part1 = []", "not a `window.<name> = ...`"),
        ("data/tweets-part1.js", b"window.YTD.tweets.part1 = [{\"tweet\": {", "malformed JSON"),
        ("data/tweets-part1.js", b"window.YTD.tweets.part1 = {\"tweet\": {}}", "a list"),
        ("data/tweets-part1.js", b"window.YTD.tweets.part1 = [{\"like\": {}}]", "no 'tweet'"),
        ("data/tweets-part1.js", b"window.YTD.tweets.part1 = [{\"tweet\": {}}]", "without an id"),
        ("data/manifest.js", b"window.__THAR_CONFIG = [1]", "expected an object"),
    ],
)
def test_malformed_parts_are_refused(tmp_path: Path, member: str, data: bytes, message: str
                                     ) -> None:
    path = build_archive(tmp_path / "x.zip", parts=2, replace={member: data})
    with pytest.raises(UnsafeArchiveError, match=message):
        items(path)


def test_someone_else_s_archive_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="archive of user 15942882"):
        items(build_archive(tmp_path / "x.zip"), user_id="337119125")


def test_the_real_manifest_is_what_the_builder_writes(tmp_path: Path) -> None:
    path = build_archive(tmp_path / "x.zip", parts=2)
    with SafeArchive(path) as archive:
        text = archive.read("data/manifest.js").decode()
    manifest = json.loads(text.split("=", 1)[1])
    assert manifest["userInfo"] == {"accountId": ORG_ID, "userName": "darkliquid",
                                    "displayName": "darkliquid"}
    assert [f["fileName"] for f in manifest["dataTypes"]["tweets"]["files"]] == [
        "data/tweets.js", "data/tweets-part1.js"]

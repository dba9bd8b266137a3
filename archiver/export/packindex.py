"""The pack index: a private SQLite file holding one row per record and media blob
of the pack being written, so the load file, the custody file and the reports
can walk the pack (by leaf, by thread) without holding it in memory.

It lives in the export's temporary directory and never enters the pack.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEP = "\x1f"  # unit separator: joins platform, account and native id into one key
MEDIA_WEIGHT = 10  # a picture in a PDF volume weighs as much as ten records

_SCHEMA = """
CREATE TABLE selected (
    record_id TEXT PRIMARY KEY, leaf_index INTEGER NOT NULL, reason TEXT NOT NULL,
    platform TEXT, account TEXT, native_id TEXT, thread_key TEXT);
CREATE TABLE excluded (record_id TEXT PRIMARY KEY, reason TEXT NOT NULL, at TEXT);
CREATE TABLE records (
    record_id TEXT NOT NULL, leaf_index INTEGER NOT NULL, reason TEXT NOT NULL,
    doc_id TEXT NOT NULL, item_key TEXT NOT NULL, platform TEXT, account TEXT,
    native_id TEXT, kind TEXT, version INTEGER, prev_record_id TEXT, observation TEXT,
    section TEXT, thread TEXT, in_reply_to TEXT, created TEXT, captured TEXT,
    author TEXT, author_name TEXT, participants TEXT, url TEXT, connector TEXT,
    connector_version TEXT, request_url TEXT, source TEXT, source_sha256 TEXT,
    content_sha256 TEXT, size INTEGER, hidden INTEGER, media_count INTEGER,
    proof_file TEXT NOT NULL, proof_line INTEGER NOT NULL);
CREATE TABLE record_media (
    record_id TEXT NOT NULL, position INTEGER NOT NULL, sha256 TEXT NOT NULL,
    thumbnail_sha256 TEXT, content_type TEXT, size INTEGER, source_url TEXT,
    PRIMARY KEY (record_id, position));
CREATE TABLE media (sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, content_type TEXT, role TEXT);
"""

RECORD_COLUMNS = (
    "record_id",
    "leaf_index",
    "reason",
    "doc_id",
    "item_key",
    "platform",
    "account",
    "native_id",
    "kind",
    "version",
    "prev_record_id",
    "observation",
    "section",
    "thread",
    "in_reply_to",
    "created",
    "captured",
    "author",
    "author_name",
    "participants",
    "url",
    "connector",
    "connector_version",
    "request_url",
    "source",
    "source_sha256",
    "content_sha256",
    "size",
    "hidden",
    "media_count",
    "proof_file",  # the proofs file holding the record's inclusion proof, and its line
    "proof_line",
)


def item_key(platform: str, account: str, native_id: str) -> str:
    return f"{platform}{SEP}{account}{SEP}{native_id}"


@dataclass(frozen=True)
class ThreadKey:
    key: str
    section: str  # "post" or "dm"
    start: str | None


class PackIndex:
    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        self.conn = sqlite3.connect(path)
        self.conn.row_factory = sqlite3.Row
        if create:
            self.conn.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _SCHEMA
            )

    @classmethod
    def open_readonly(cls, path: Path) -> PackIndex:
        index = cls.__new__(cls)
        index.path = path
        index.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        index.conn.row_factory = sqlite3.Row
        return index

    def close(self) -> None:
        self.conn.close()

    def commit(self) -> None:
        self.conn.commit()

    # -- selection ---------------------------------------------------------------------
    def select(self, rows: Sequence[tuple[str, int, str, str, str, str, str | None]]) -> None:
        """(record_id, leaf_index, reason, platform, account, native_id, thread_key); a
        record already selected keeps its first reason ('matched' wins over
        'version-history', which wins over 'thread-context')."""
        self.conn.executemany("INSERT OR IGNORE INTO selected VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def exclude(self, rows: Sequence[tuple[str, str, str | None]]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO excluded VALUES (?, ?, ?)", rows)

    def selected_items(self) -> list[tuple[str, str, str]]:
        """Distinct (platform, account, native_id), grouped by platform and account."""
        return self.conn.execute(
            "SELECT DISTINCT platform, account, native_id FROM selected "
            "ORDER BY platform, account, native_id"
        ).fetchall()

    def selected_threads(self) -> list[tuple[str, str, str]]:
        """Distinct (platform, account, thread_key) of the selected records that know
        their thread, grouped by platform and account."""
        return self.conn.execute(
            "SELECT DISTINCT platform, account, thread_key FROM selected "
            "WHERE thread_key IS NOT NULL ORDER BY platform, account, thread_key"
        ).fetchall()

    def selected(self, batch: int = 2000) -> Iterator[list[tuple[str, int, str]]]:
        """(record_id, leaf_index, reason) in leaf order, in batches."""
        cursor = self.conn.execute(
            "SELECT record_id, leaf_index, reason FROM selected ORDER BY leaf_index"
        )
        while rows := cursor.fetchmany(batch):
            yield [tuple(r) for r in rows]  # type: ignore[misc]

    def count(self, table: str, where: str = "") -> int:
        if table not in ("selected", "excluded", "records", "media", "record_media"):
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT count(*) FROM {table} {where}").fetchone()[0])

    def max_leaf(self) -> int | None:
        value = self.conn.execute("SELECT max(leaf_index) FROM selected").fetchone()[0]
        return None if value is None else int(value)

    def excluded_rows(self) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self.conn.execute(
                "SELECT record_id, reason, at FROM excluded ORDER BY record_id"
            )
        ]

    # -- records and media ---------------------------------------------------------------
    def add_records(self, rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(RECORD_COLUMNS))
        self.conn.executemany(f"INSERT INTO records VALUES ({marks})", rows)

    def add_record_media(self, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany("INSERT INTO record_media VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def add_media(self, rows: Sequence[tuple[str, str, str, str]]) -> None:
        """(sha256, path, content_type, role); a blob keeps its first path."""
        self.conn.executemany("INSERT OR IGNORE INTO media VALUES (?, ?, ?, ?)", rows)

    def media(self) -> Iterator[sqlite3.Row]:
        yield from self.conn.execute("SELECT * FROM media ORDER BY sha256")

    def media_path(self, sha256: str) -> str | None:
        row = self.conn.execute("SELECT path FROM media WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else str(row[0])

    def records_in_leaf_order(self) -> Iterator[sqlite3.Row]:
        yield from self.conn.execute("SELECT * FROM records ORDER BY leaf_index")

    def media_of(self, record_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM record_media WHERE record_id = ? ORDER BY position", (record_id,)
        ).fetchall()

    def last_known(self, key: str, column: str) -> Any:
        """The latest non-null value of `column` among an item's versions (a tombstone
        carries deletion evidence, not the post's author or link)."""
        if column not in RECORD_COLUMNS:
            raise ValueError(column)
        row = self.conn.execute(
            f"SELECT {column} FROM records WHERE item_key = ? AND {column} IS NOT NULL "
            "ORDER BY version DESC LIMIT 1",
            (key,),
        ).fetchone()
        return None if row is None else row[0]

    # -- threads -------------------------------------------------------------------------
    def build_threads(self) -> None:
        """Index the records (now that all are in: cheaper than row by row), make one
        row per item (its latest version that knows a thread), then number the
        threads in report order: public threads by their first post's time, then
        DM conversations."""
        self.conn.executescript(
            """
            CREATE INDEX records_item ON records (item_key, version);
            CREATE INDEX records_leaf ON records (leaf_index);
            CREATE TABLE items AS
            SELECT item_key, platform, account, native_id, section, in_reply_to, versions,
                   media_total,
                   platform || char(31) || account || char(31) || section || char(31)
                       || COALESCE(thread, native_id) AS thread_key,
                   COALESCE(created, first_captured) AS start
            FROM (SELECT r.*,
                         MIN(captured) OVER (PARTITION BY item_key) AS first_captured,
                         COUNT(*) OVER (PARTITION BY item_key) AS versions,
                         SUM(media_count) OVER (PARTITION BY item_key) AS media_total,
                         ROW_NUMBER() OVER (PARTITION BY item_key
                                            ORDER BY (thread IS NULL), version DESC) AS rn
                  FROM records r)
            WHERE rn = 1;
            CREATE INDEX items_thread ON items (thread_key);
            CREATE TABLE threads AS
            SELECT thread_key, section, start, records, media,
                   ROW_NUMBER() OVER (ORDER BY section = 'dm', start, thread_key) AS seq
            FROM (SELECT thread_key, MIN(section) AS section, MIN(start) AS start,
                         SUM(versions) AS records, SUM(media_total) AS media
                  FROM items GROUP BY thread_key);
            CREATE UNIQUE INDEX threads_seq ON threads (seq);
            """
        )
        self.conn.commit()

    def volume_plan(self, weight_per_volume: int) -> list[tuple[int, int, int]]:
        """(first thread, last thread, records) per volume: whole threads, a volume
        closing once its weight reaches `weight_per_volume`, where a record weighs
        1 and a picture MEDIA_WEIGHT (pictures are most of a PDF's bytes and of the
        memory reportlab holds until it saves)."""
        plan: list[tuple[int, int, int]] = []
        first = last = count = 0
        weight = 0
        rows = self.conn.execute("SELECT seq, records, media FROM threads ORDER BY seq")
        for seq, records, media in rows:
            if weight >= weight_per_volume:
                plan.append((first, last, count))
                weight = count = 0
            if count == 0:
                first = seq
            last, count = seq, count + records
            weight += records + MEDIA_WEIGHT * (media or 0)
        if count:
            plan.append((first, last, count))
        return plan

    def threads(
        self, first: int | None = None, last: int | None = None
    ) -> Iterator[tuple[ThreadKey, list[sqlite3.Row]]]:
        """Each thread (numbers `first` to `last`, default all) with its records by
        item, then version, in report order. One streaming query: one thread at a
        time is in memory."""
        low = 1 if first is None else first
        high = (1 << 62) if last is None else last
        cursor = self.conn.execute(
            "SELECT t.thread_key AS thread_key, t.section AS thread_section, "
            "t.start AS thread_start, r.* FROM threads t "
            "JOIN items i ON i.thread_key = t.thread_key "
            "JOIN records r ON r.item_key = i.item_key "
            "WHERE t.seq BETWEEN ? AND ? ORDER BY t.seq, r.item_key, r.version",
            (low, high),
        )
        key: ThreadKey | None = None
        rows: list[sqlite3.Row] = []
        while batch := cursor.fetchmany(1000):
            for row in batch:
                if key is None or row["thread_key"] != key.key:
                    if key is not None:
                        yield key, rows
                    key = ThreadKey(row["thread_key"], row["thread_section"], row["thread_start"])
                    rows = []
                rows.append(row)
        if key is not None:
            yield key, rows

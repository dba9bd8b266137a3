"""The eDiscovery load file, read back by code point the way review tools do."""

from __future__ import annotations

import csv
import io
import json

from archiver.export.loadfile import (
    BOM,
    FIELD_SEPARATOR,
    FIELDS,
    NEWLINE,
    QUOTE,
    dat_row,
    parse_dat,
)
from tests.export.conftest import DAT_TEXT, HANDLE, Pack


def read_dat(pack: Pack) -> tuple[bytes, list[list[str]]]:
    raw = (pack.path / "data/loadfile.dat").read_bytes()
    return raw, parse_dat(raw.decode("utf-8"))


def test_dat_is_utf8_with_bom_and_uses_the_concordance_delimiters(pack: Pack) -> None:
    raw, rows = read_dat(pack)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: the declared encoding
    text = raw.decode("utf-8")[1:]
    lines = text.split("\r\n")
    assert lines[-1] == "" and len(lines) - 1 == pack.result.records + 1
    header = lines[0]
    assert header == FIELD_SEPARATOR.join(f"\u00fe{name}\u00fe" for name in FIELDS)
    for line in lines[1:-1]:
        assert line[0] == "\u00fe" and line[-1] == "\u00fe"  # þ by code point
        assert line.count("\x14") == len(FIELDS) - 1  # DC4 by code point
        assert "\n" not in line and "\r" not in line
    assert rows[0] == list(FIELDS)
    assert len(rows) == pack.result.records + 1


def test_dat_rows_point_into_the_pack(pack: Pack) -> None:
    _, rows = read_dat(pack)
    fields = [dict(zip(FIELDS, row, strict=True)) for row in rows[1:]]
    assert [f["DocID"] for f in fields] == [f"SA{n:07d}" for n in range(1, len(fields) + 1)]
    for row in fields:
        assert row["SHA256"] == row["RecordID"]
        assert (pack.path / "data" / row["NativePath"]).is_file()
        assert row["NativePath"] == f"records/{row['RecordID']}.json"
        assert (pack.path / "data" / row["TextPath"]).is_file()
        assert row["Observation"] in ("observed", "edited", "deleted")
        assert row["CapturedAt"].endswith("Z")
        assert row["IncludedBecause"] in ("matched", "version-history", "thread-context")
    by_native = {row["NativeID"]: row for row in fields if row["Custodian"] == HANDLE}
    reply = by_native["1004"]
    assert reply["From"] == "jo@members.example" and reply["To"] == "harbourcu"
    assert reply["DateSent"] == "2026-03-02T14:00:00Z" and reply["Platform"] == "mastodon"
    dm = by_native["1008"]
    assert dm["To"] == "jo@members.example"
    deleted = [row for row in fields if row["NativeID"] == "1005"]
    tombstone = next(row for row in deleted if row["Observation"] == "deleted")
    assert tombstone["From"] == "harbourcu" and tombstone["URL"].endswith("/1005")  # from the post it deletes


def test_delimiters_inside_values_are_neutralised_in_the_dat_and_exact_in_the_csv(pack: Pack) -> None:
    _, rows = read_dat(pack)
    fields = [dict(zip(FIELDS, row, strict=True)) for row in rows[1:]]
    awkward = next(row for row in fields if row["NativeID"] == "dat-1")
    assert awkward["From"] == "\ufffd\u00f3rr \ufffd"  # þ and ® cannot live inside a þ-quoted value
    csv_text = (pack.path / "data/loadfile.csv").read_text(encoding="utf-8")
    assert csv_text.startswith(BOM)
    table = list(csv.DictReader(io.StringIO(csv_text[1:])))
    assert list(table[0]) == list(FIELDS) and len(table) == pack.result.records
    exact = next(row for row in table if row["NativeID"] == "dat-1")
    assert exact["From"] == "þórr ®"
    for dat_row_values, csv_row in zip(fields, table, strict=True):
        assert dat_row_values["DocID"] == csv_row["DocID"]
        assert dat_row_values["RecordID"] == csv_row["RecordID"]
    text = (pack.path / "data/text" / f"{awkward['RecordID']}.txt").read_text(encoding="utf-8")
    assert text == DAT_TEXT.replace("\x14", "\ufffd") + "\n"  # controls shown as U+FFFD


def test_in_field_newlines_become_the_registered_sign() -> None:
    line = dat_row(["a\nb", "c\r\nd", "þ\x14®"])
    assert line == "þa®bþ\x14þc®dþ\x14þ\ufffd\ufffd\ufffdþ\r\n"
    assert parse_dat(line) == [["a\nb", "c\nd", "\ufffd\ufffd\ufffd"]]
    assert NEWLINE == "\u00ae" and QUOTE == "\u00fe" and FIELD_SEPARATOR == "\x14"


def test_lone_surrogates_are_written_as_replacement_characters(pack: Pack) -> None:
    lines = (pack.path / "data/custody/records.jsonl").read_text(encoding="utf-8").splitlines()
    entry = next(json.loads(line) for line in lines if json.loads(line)["source"]["native_id"] == "sur-1")
    text = (pack.path / "data/text" / f"{entry['record_id']}.txt").read_text(encoding="utf-8")
    assert text == "bad byte \ufffd kept\n"
    record = (pack.path / "data/records" / f"{entry['record_id']}.json").read_bytes()
    assert b"\\udcff" in record  # the record itself keeps the original, losslessly

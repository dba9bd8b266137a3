"""The eDiscovery load file: a Concordance DAT and a CSV with the same fields.

DAT format, written by code point (COMPLIANCE.md, "eDiscovery load file"):
every field is wrapped in the text qualifier U+00FE (þ) and fields are
separated by U+0014 (DC4); a newline inside a field is written as U+00AE (®);
each row ends with CR LF; the first row names the fields.

Encoding: UTF-8 with a byte-order mark. The BOM is the declaration review
platforms (Relativity, Nuix, Reveal, Concordance 10+) detect; UTF-8 is what the
rest of the pack uses and keeps every character a record can hold (emoji,
any script), while UTF-16LE would double the size of mostly-ASCII metadata
for no gain. Note þ and ® are two bytes each in UTF-8: read the file as text
by code point, never as bytes in a single-byte code page.

The format has no escape mechanism, so the three delimiter characters inside a
value (a name with þ, a ® in a brand) are replaced with U+FFFD in the DAT only;
the CSV (RFC 4180 quoting) keeps every value exactly.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping

from archiver.export.bag import HashingFile, TextAdapter

FIELD_SEPARATOR = "\x14"
QUOTE = "\u00fe"
NEWLINE = "\u00ae"
BOM = "\ufeff"
ROW_END = "\r\n"
FIELDS = (
    "DocID",
    "Custodian",
    "DateSent",
    "From",
    "To",
    "Platform",
    "NativePath",
    "TextPath",
    "SHA256",
    "RecordID",
    "NativeID",
    "URL",
    "Version",
    "Observation",
    "CapturedAt",
    "IncludedBecause",
)
_DAT_TRANSLATION = str.maketrans({FIELD_SEPARATOR: "\ufffd", QUOTE: "\ufffd", NEWLINE: "\ufffd"})


def dat_value(value: str) -> str:
    """One field's text in the DAT: delimiters neutralised, newlines as ®."""
    return value.translate(_DAT_TRANSLATION).replace("\r\n", "\n").replace("\n", NEWLINE)


def dat_row(values: list[str]) -> str:
    return FIELD_SEPARATOR.join(f"{QUOTE}{dat_value(v)}{QUOTE}" for v in values) + ROW_END


class LoadFileWriter:
    """Writes both files row by row (the pack's records in leaf order)."""

    def __init__(self, dat: HashingFile, csv_file: HashingFile) -> None:
        self._dat = dat
        self._csv_file = csv_file
        # Values arrive cleaned (archiver.export.content.clean): no lone surrogates.
        self._csv = csv.writer(TextAdapter(csv_file), quoting=csv.QUOTE_ALL, lineterminator=ROW_END)
        dat.write((BOM + dat_row(list(FIELDS))).encode("utf-8"))
        csv_file.write(BOM.encode("utf-8"))
        self._csv.writerow(FIELDS)
        self.rows = 0

    def add(self, row: Mapping[str, str]) -> None:
        values = [row.get(name, "") or "" for name in FIELDS]
        self._dat.write(dat_row(values).encode("utf-8"))
        self._csv.writerow(values)
        self.rows += 1


def parse_dat(text: str) -> list[list[str]]:
    """Read a DAT back by code point (what the tests and a reviewer's tool do):
    rows end with CR LF outside qualifiers, ® inside a value is a newline."""
    if text.startswith(BOM):
        text = text[1:]
    rows = []
    for line in text.split(ROW_END):
        if not line:
            continue
        fields = line.split(FIELD_SEPARATOR)
        values = []
        for field in fields:
            if len(field) < 2 or field[0] != QUOTE or field[-1] != QUOTE:
                raise ValueError(f"field not wrapped in þ: {field!r}")
            values.append(field[1:-1].replace(NEWLINE, "\n"))
        rows.append(values)
    return rows

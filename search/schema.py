"""The index's fields: what each holds, how it is normalised, what the query language calls it.

One table (FIELDS) drives three things: the Whoosh schema, the query parser's
field check (an unknown field is an error, not silently text), and docs/search.md.
Matching is case-insensitive everywhere except for ids (record, native, thread).
"""

from __future__ import annotations

from dataclasses import dataclass

from whoosh import columns, fields
from whoosh.analysis import IDAnalyzer, LowercaseFilter, RegexTokenizer

# Words: runs of letters/digits/underscore (any script), joined by single dots
# ("3.9", "e.g"); each emoji or pictographic symbol is a token of its own, so a
# search for "🚀" works. Punctuation is not indexed. No stemming, no stop words:
# a compliance search must find exactly the word it names (use * and ~ to widen).
EMOJI_RANGES = (
    "\u2190-\u21ff\u2300-\u23ff\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff"
    "\U0001f000-\U0001faff"
)
WORD_PATTERN = rf"\w+(?:\.\w+)*|[{EMOJI_RANGES}]"
HASHTAG_PATTERN = r"[^\s#]+"  # '#Fraud' and 'fraud' are the same tag
MENTION_PATTERN = r"[^\s@]\S*"  # '@bob@x.test' is indexed as 'bob@x.test'
SPACE_PATTERN = r"\S+"

TEXT, ID, KEYWORD, DATE, BOOL, INT = "text", "id", "keyword", "date", "bool", "int"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text | id | keyword | date | bool | int
    description: str
    lowercase: bool = True
    aliases: tuple[str, ...] = ()
    facet: bool = False


FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("text", TEXT, "the post's plain text (the default field)"),
    FieldSpec("platform", ID, "connector platform: mastodon, bluesky, x, ...", facet=True),
    FieldSpec("account", ID, "the archived account the item was captured through", facet=True),
    FieldSpec("author", ID, "the author's handle"),
    FieldSpec("kind", ID, "post, reply, comment, dm, story, reel, ad, profile", facet=True),
    FieldSpec("native_id", ID, "the platform's own id of the item", lowercase=False,
              aliases=("id",)),
    FieldSpec("thread", ID, "thread / conversation id (thread_id or conversation_id)",
              lowercase=False, aliases=("conversation",)),
    FieldSpec("url", ID, "the item's own permalink"),
    FieldSpec("created", DATE, "when the platform says the item was created (UTC)"),
    FieldSpec("captured", DATE, "when this version was captured (UTC)"),
    FieldSpec("edited", BOOL, "this version's content is an edit of an earlier one"),
    FieldSpec("deleted", BOOL, "this record is a tombstone (the item was deleted)"),
    FieldSpec("version", INT, "1 for the first capture, +1 per edit, deletion, reappearance"),
    FieldSpec("observation", ID, "observed, edited or deleted"),
    FieldSpec("has_media", BOOL, "the item has media attached", aliases=("media",)),
    FieldSpec("hashtags", KEYWORD, "hashtags, without '#'", aliases=("hashtag", "tag")),
    FieldSpec("mentions", KEYWORD, "mentioned handles, without the leading '@'",
              aliases=("mention",)),
    FieldSpec("urls", KEYWORD, "links in the post", aliases=("link", "links")),
    FieldSpec("lang", ID, "language code", aliases=("language",)),
    FieldSpec("holds", KEYWORD, "legal holds covering the record", lowercase=False,
              aliases=("hold",)),
    FieldSpec("record_id", ID, "the record's SHA-256 id", lowercase=False, aliases=("record",)),
    FieldSpec("latest", BOOL, "this record is the latest version of its item"),
)
SPECS = {spec.name: spec for spec in FIELD_SPECS}
ALIASES = {alias: spec.name for spec in FIELD_SPECS for alias in (spec.name, *spec.aliases)}
DEFAULT_FIELD = "text"
FACET_FIELDS = ("platform", "account", "kind", "month", "edited", "deleted")


def text_analyzer() -> RegexTokenizer:
    return RegexTokenizer(WORD_PATTERN) | LowercaseFilter()


def keyword_analyzer(name: str) -> RegexTokenizer:
    pattern = {"hashtags": HASHTAG_PATTERN, "mentions": MENTION_PATTERN}.get(name, SPACE_PATTERN)
    tokenizer = RegexTokenizer(pattern)
    return tokenizer | LowercaseFilter() if SPECS[name].lowercase else tokenizer


def build_schema() -> fields.Schema:
    """The Whoosh schema. Every field is stored, so a document can be rewritten
    (demoted from latest, holds changed) from the index alone."""
    schema = fields.Schema()
    for spec in FIELD_SPECS:
        if spec.kind == TEXT:
            field: fields.FieldType = fields.TEXT(analyzer=text_analyzer(), stored=True)
        elif spec.kind == ID:
            field = fields.ID(
                stored=True,
                unique=spec.name == "record_id",
                sortable=spec.facet or spec.name == "record_id",
                analyzer=IDAnalyzer(lowercase=spec.lowercase),
            )
        elif spec.kind == KEYWORD:
            if spec.name == "holds":
                field = fields.KEYWORD(stored=True, commas=True, lowercase=False)
            else:
                field = fields.KEYWORD(stored=True, analyzer=keyword_analyzer(spec.name))
        elif spec.kind == DATE:
            field = fields.DATETIME(stored=True, sortable=True)
            # 4 index terms per value instead of Whoosh's 8: indexing is the bottleneck,
            # and date ranges stay cheap (the finest tier spans 65 ms).
            field.shift_step = 16
        elif spec.kind == BOOL:
            field = fields.BOOLEAN(stored=True)
        else:
            # Signed (Whoosh's unsigned ranges misbehave); one term per value: versions
            # are few, so a range simply lists them.
            field = fields.NUMERIC(int, stored=True, shift_step=0)
        schema.add(spec.name, field)
    # "2024-03" of created, for the month facet: a column only, nothing to search.
    schema.add("month", fields.COLUMN(columns.VarBytesColumn()))
    schema.add("prev_record_id", fields.STORED())
    return schema

"""Plain text and links from Mastodon's status HTML, with the standard library's parser.

The HTML is data from strangers: it is parsed, never rendered or executed. Script and
style bodies are dropped, every other tag is removed, entities are decoded, and the
line structure a reader sees is kept (<br> is a line break, <p> a paragraph).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_PARAGRAPH = frozenset({"p"})
_BLOCKS = frozenset(
    {"div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_HIDDEN = frozenset({"script", "style", "template"})
_SPACES = re.compile(r"[ \t\r\n\f]+")


@dataclass
class ParsedHtml:
    """What a status body says: its text and the links Mastodon marked up in it."""

    text: str
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)  # profile URLs, as linked
    urls: list[str] = field(default_factory=list)


@dataclass
class _Anchor:
    href: str | None
    classes: frozenset[str]
    rel: frozenset[str]
    text: list[str] = field(default_factory=list)


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.pending_breaks = 0  # newlines owed before the next text (block boundaries)
        self.hidden_depth = 0
        self.pre_depth = 0
        self.anchors: list[_Anchor] = []
        self.hashtags: list[str] = []
        self.mentions: list[str] = []
        self.urls: list[str] = []

    # -- structure --------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden_depth += 1
            return
        if self.hidden_depth:
            return
        self._boundary(tag)
        if tag == "br":
            self._trim_trailing_space()
            self.parts.append("\n")
        elif tag == "pre":
            self.pre_depth += 1
        elif tag == "a":
            values = dict(attrs)
            self.anchors.append(
                _Anchor(
                    href=values.get("href"),
                    classes=frozenset((values.get("class") or "").split()),
                    rel=frozenset((values.get("rel") or "").split()),
                )
            )

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            return  # <script/> has no body to hide
        self.handle_starttag(tag, attrs)
        if tag == "a":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
            return
        if self.hidden_depth:
            return
        self._boundary(tag)
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        elif tag == "a" and self.anchors:
            self._record(self.anchors.pop())

    def handle_data(self, data: str) -> None:
        if self.hidden_depth or not data:
            return
        if not self.pre_depth:
            data = _SPACES.sub(" ", data)
        if self.pending_breaks:
            if not self.pre_depth:
                data = data.lstrip(" ")
                if not data:
                    return  # whitespace between blocks is not text
            if self.parts:
                self._trim_trailing_space()
                self.parts.append("\n" * self.pending_breaks)
            self.pending_breaks = 0
        elif self.parts and self.parts[-1].endswith("\n") and not self.pre_depth:
            data = data.lstrip(" ")
        self.parts.append(data)
        for anchor in self.anchors:
            anchor.text.append(data)

    # -- helpers ----------------------------------------------------------------------
    def _boundary(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self.pending_breaks = max(self.pending_breaks, 2)
        elif tag in _BLOCKS:
            self.pending_breaks = max(self.pending_breaks, 1)

    def _trim_trailing_space(self) -> None:
        if self.parts and not self.pre_depth:
            self.parts[-1] = self.parts[-1].rstrip(" ")

    def _record(self, anchor: _Anchor) -> None:
        text = "".join(anchor.text).strip()
        if "hashtag" in anchor.classes or "tag" in anchor.rel:
            tag = text.lstrip("#").strip()
            if tag:
                _append_once(self.hashtags, tag)
        elif "mention" in anchor.classes:
            if anchor.href:
                _append_once(self.mentions, anchor.href)
        elif anchor.href and anchor.href.lower().startswith(("http://", "https://")):
            _append_once(self.urls, anchor.href)


def _append_once(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def parse_status_html(html: str) -> ParsedHtml:
    """Text, hashtags, mention links and other links of a status body."""
    extractor = _Extractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts).strip(" \n")
    return ParsedHtml(text, extractor.hashtags, extractor.mentions, extractor.urls)


def html_to_text(html: str) -> str:
    """The plain text a reader of `html` sees, line breaks kept."""
    return parse_status_html(html).text

"""Response headers and the rules for showing platform content.

Platform content is hostile input: it is always escaped, links are made only
from http(s) URLs, and the Content-Security-Policy allows no inline script, so
a post containing `<script>` or a `javascript:` link stays inert text.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from markupsafe import Markup, escape

# No inline script or style, nothing from elsewhere, no framing, forms post here only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # record URLs never leak to the sites posts link to
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)
_TRAILING = ".,;:!?)]}'\""


def init_app(app: Flask) -> None:
    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            # Archived content and sessions stay out of shared and browser caches.
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response


def safe_href(url: Any) -> str | None:
    """A URL fit for an href: absolute http(s) only (no javascript:, data:, relative)."""
    if not isinstance(url, str) or not url:
        return None
    text = url.strip()
    if any(ord(c) < 32 for c in text):
        return None
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


def linkify(text: Any) -> Markup:
    """Plain text as HTML: escaped, line breaks kept, http(s) URLs as links that carry
    no referrer and open outside the app. Nothing else is ever interpreted."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    out: list[Markup] = []
    position = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(escape(text[position:match.start()]))
        href = safe_href(url)
        if href is None:
            out.append(escape(url))
        else:
            out.append(Markup('<a href="{0}" rel="noopener noreferrer nofollow" '
                              'target="_blank">{1}</a>').format(href, url))
        position = end
    out.append(escape(text[position:]))
    return Markup("").join(out).replace("\n", Markup("<br>"))


def mark_only(snippet: Any) -> Markup:
    """A search snippet (HTML with escaped text and <mark> around matches) made safe
    whatever it holds: it is unescaped and escaped again, and only <mark> is rebuilt."""
    if not isinstance(snippet, str):
        return Markup("")
    out: list[Markup] = []
    position = 0
    for match in _MARK.finditer(snippet):
        out.append(escape(html.unescape(snippet[position:match.start()])))
        out.append(Markup("<mark>{0}</mark>").format(html.unescape(match.group(1))))
        position = match.end()
    out.append(escape(html.unescape(snippet[position:])))
    return Markup("").join(out)

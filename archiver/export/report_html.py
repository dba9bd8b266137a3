"""The HTML report: pages that read like the platform (threads, replies indented,
DMs as conversations, every version with its word-level changes, deletions with
their evidence), written page by page so a large pack never becomes one huge
string.

Everything from a platform is escaped (html.escape, attributes quoted); only
http(s) URLs become links; images are embedded as data: URIs after their bytes
are recognised as PNG, JPEG, GIF or WebP. A strict Content-Security-Policy
(no scripts at all, the one style block pinned by its hash, images only from
data:) means that even a mistake here could not run anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from archiver.export import content as c
from archiver.export.bag import BagWriter, HashingFile
from archiver.export.model import REASON_NOTES, ItemView, MediaView, ThreadView, VersionView
from archiver.export.paths import REPORT_DIR

PAGE_RECORDS = 1000
INDEX_PAGE = f"{REPORT_DIR}/index.html"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f4f5f7;color:#1c1e21;line-height:1.45}
header.pack{background:#1f3b57;color:#fff;padding:1em 2em}
header.pack a{color:#cfe3ff}
main{max-width:52em;margin:0 auto;padding:1em}
nav.pages{margin:1em 0;font-size:.9em}
.thread{background:#fff;border:1px solid #d8dde3;border-radius:8px;margin:1.2em 0;
padding:.8em 1em}
.thread>h2{font-size:1em;margin:.2em 0 .8em;color:#445}
.item{border-left:3px solid #c9d3de;padding:.4em .8em;margin:.6em 0}
.d1{margin-left:1.5em}.d2{margin-left:3em}.d3{margin-left:4.5em}.d4{margin-left:6em}
.d5{margin-left:7.5em}.d6{margin-left:9em}.d7{margin-left:10.5em}.d8{margin-left:12em}
.dm .item{max-width:80%;border:1px solid #d8dde3;border-radius:12px;background:#eef1f5}
.dm .item.own{margin-left:auto;background:#dcecff}
.meta{font-size:.85em;color:#556}
.author{font-weight:600;color:#1c1e21}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.4em 0}
.badge{display:inline-block;font-size:.75em;font-weight:600;border-radius:4px;padding:0 .4em;
margin-right:.4em}
.b-deleted{background:#fde2e1;color:#8a1c14}.b-hidden{background:#fff1c2;color:#6b4e00}
.b-edited{background:#e2ecfd;color:#1d3f8a}.b-context{background:#eceff3;color:#445}
.deleted .text{color:#777}
.tombstone{background:#fdf1f0;border:1px dashed #e0a39d;padding:.4em .6em;margin:.4em 0;
font-size:.9em}
figure{display:inline-block;margin:.3em .6em .3em 0;font-size:.75em;color:#556;max-width:330px;
vertical-align:top}
figure img{max-width:320px;max-height:320px;border:1px solid #ccd;display:block}
details{margin:.4em 0;font-size:.9em}
ol.versions{padding-left:1.4em}
ins{background:#d7f5dd;text-decoration:none}del{background:#fbd9d6}
.locator{font-size:.75em;color:#667;font-family:ui-monospace,Menlo,Consolas,monospace;
overflow-wrap:anywhere}
table.summary td,table.summary th{text-align:left;padding:.15em 1em .15em 0;vertical-align:top;
overflow-wrap:anywhere}
@media print{body{background:#fff}.thread{break-inside:avoid-page}}
"""
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
CSP = (
    "default-src 'none'; img-src data:; "
    f"style-src 'sha256-{STYLE_HASH}'; base-uri 'none'; form-action 'none'"
)


def e(value: object) -> str:
    """Escape for HTML text and double-quoted attributes."""
    return html.escape(c.clean(value), quote=True)


def link(url: object, label: str) -> str:
    """An external link if `url` is http(s), else the URL as inert text."""
    safe = c.web_link(url)
    if safe is None:
        return f'<span class="meta">{e(url)}</span>' if url else ""
    return f'<a href="{e(safe)}" rel="noopener noreferrer nofollow">{e(label)}</a>'


def page_start(title: str, heading: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>"
        f'<header class="pack"><strong>{e(heading)}</strong></header><main>'
    )


@dataclass
class ReportMeta:
    title: str
    organisation: str
    scope: str
    exported_at: str
    exported_by: str
    tree_size: int
    root_hash: str
    key_id: str
    signed_at: str
    zone: ZoneInfo
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Page:
    path: str
    handle: HashingFile
    first_title: str
    threads: int = 0
    records: int = 0


class HtmlReport:
    """Feed threads in order with `add`; `finish` writes the index page."""

    def __init__(
        self, writer: BagWriter, meta: ReportMeta, page_records: int = PAGE_RECORDS
    ) -> None:
        self.writer = writer
        self.meta = meta
        self.page_records = page_records
        self._page: _Page | None = None
        self.pages: list[tuple[str, str, int, int]] = []  # (file, first title, threads, records)
        self._section = ""

    # -- pages -----------------------------------------------------------------------------
    def _open_page(self, title: str) -> None:
        number = len(self.pages) + 1
        path = f"{REPORT_DIR}/page-{number:05d}.html"
        handle = self.writer.create(path)
        self._page = _Page(path, handle, title)
        self._section = ""
        handle.write_text(page_start(f"{self.meta.title}: page {number}", self.meta.title))
        handle.write_text(self._nav(number, more=None))

    def _close_page(self, more: bool) -> None:
        page = self._page
        if page is None:
            return
        number = len(self.pages) + 1
        page.handle.write_text(self._nav(number, more) + "</main></body></html>\n")
        self.writer.register(page.handle.close())
        self.pages.append(
            (page.path.rsplit("/", 1)[-1], page.first_title, page.threads, page.records)
        )
        self._page = None

    @staticmethod
    def _nav(number: int, more: bool | None) -> str:
        parts = ['<a href="index.html">contents</a>']
        if number > 1:
            parts.append(f'<a href="page-{number - 1:05d}.html">previous page</a>')
        if more:
            parts.append(f'<a href="page-{number + 1:05d}.html">next page</a>')
        return f'<nav class="pages">{" · ".join(parts)} · page {number}</nav>'

    def add(self, thread: ThreadView) -> None:
        if self._page is not None and self._page.records >= self.page_records:
            self._close_page(more=True)
        if self._page is None:
            self._open_page(thread.title)
        page = self._page
        assert page is not None
        if thread.section != self._section:
            self._section = thread.section
            label = "Direct messages" if thread.section == "dm" else "Posts, replies and comments"
            page.handle.write_text(f"<h1>{label}</h1>")
        page.handle.write_text(self.render_thread(thread))
        page.threads += 1
        page.records += thread.record_count

    def abort(self) -> None:
        if self._page is not None:
            self._page.handle.abort()
            self._page = None

    def finish(self, files: list[tuple[str, str]]) -> None:
        """Close the last page and write index.html; `files` are (label, path from
        data/report/) of the other parts of the pack (PDF volumes, load file...)."""
        self._close_page(more=False)
        meta = self.meta
        with self.writer.open(INDEX_PAGE) as handle:
            handle.write_text(page_start(meta.title, meta.title))
            rows = [
                ("Organisation", e(meta.organisation)),
                ("Scope", e(meta.scope)),
                (
                    "Exported",
                    f"{e(c.shown_time(meta.exported_at, meta.zone))} by {e(meta.exported_by)}",
                ),
                (
                    "Signed tree head",
                    f"size {meta.tree_size}, root <code>{e(meta.root_hash)}</code>, "
                    f"signed {e(c.shown_time(meta.signed_at, meta.zone))}",
                ),
                (
                    "Signing key id",
                    f"<code>{e(meta.key_id)}</code> (compare it with the key the "
                    "organisation publishes)",
                ),
            ]
            rows += [
                (e(name.replace("_", " ").capitalize()), e(value))
                for name, value in meta.counts.items()
            ]
            handle.write_text(
                '<h1>Evidence pack</h1><table class="summary">'
                + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
                + "</table><h2>Report pages</h2><ol>"
            )
            for file, title, threads, records in self.pages:
                handle.write_text(
                    f'<li><a href="{e(file)}">{e(file)}</a>: {threads} thread(s), '
                    f"{records} record(s), from “{e(title)}”</li>"
                )
            handle.write_text("</ol><h2>Other parts of the pack</h2><ul>")
            for label, path in files:
                handle.write_text(f'<li><a href="{e(path)}">{e(label)}</a></li>')
            handle.write_text(
                '</ul><p class="meta">Times are shown in '
                f"{e(str(meta.zone))}. Every record's exact bytes are in data/records; this "
                "report is a reading aid derived from them.</p></main></body></html>\n"
            )

    # -- rendering -------------------------------------------------------------------------
    def render_thread(self, thread: ThreadView) -> str:
        css = "thread dm" if thread.section == "dm" else "thread"
        parts = [f'<section class="{css}">']
        if thread.section == "dm" or len(thread.items) > 1:  # a lone post is its own title
            parts.append(f"<h2>{e(thread.title)}</h2>")
        parts.extend(self.render_item(item) for item in thread.items)
        parts.append("</section>")
        return "".join(parts)

    def render_item(self, item: ItemView) -> str:
        zone = self.meta.zone
        classes = ["item", f"d{item.depth}"]
        if item.own:
            classes.append("own")
        if item.deleted:
            classes.append("deleted")
        who = e(item.author_name) + " " if item.author_name else ""
        header = [f'<span class="author">{who}{e(item.author or "unknown author")}</span>']
        if item.created:
            iso = c.iso_utc(item.created) or ""
            header.append(f'<time datetime="{e(iso)}">{e(c.shown_time(item.created, zone))}</time>')
        header.append(e(item.kind + (f", {item.visibility}" if item.visibility else "")))
        original = link(item.url, "original")
        if original:
            header.append(original)
        badges = []
        if item.deleted:
            badges.append('<span class="badge b-deleted">Deleted</span>')
        if item.hidden:
            badges.append('<span class="badge b-hidden">Hidden or moderated on the platform</span>')
        if item.edited:
            badges.append('<span class="badge b-edited">Edited</span>')
        if item.context_note:
            badges.append(f'<span class="badge b-context">{e(item.context_note)}</span>')
        if item.parent_missing and item.in_reply_to:
            badges.append(
                f'<span class="badge b-context">In reply to {e(item.in_reply_to)}, '
                "which is not in this pack</span>"
            )
        parts = [
            f'<article class="{" ".join(classes)}" id="r-{item.latest.record_id}">',
            f'<div class="meta">{" · ".join(header)}</div>',
            "".join(badges),
        ]
        if item.content_warning:
            parts.append(f'<div class="meta">Content warning: {e(item.content_warning)}</div>')
        if item.participants and item.section == "dm":
            parts.append(f'<div class="meta">Participants: {e(", ".join(item.participants))}</div>')
        if item.text:
            parts.append(f'<p class="text">{e(item.text)}</p>')
        if item.media:
            parts.append(
                '<div class="media">' + "".join(self.render_media(m) for m in item.media) + "</div>"
            )
        if item.deleted:
            parts.append(self.render_tombstone(item.deleted))
        parts.append(self.render_versions(item))
        parts.append(self.render_locator(item))
        parts.append("</article>")
        return "".join(parts)

    @staticmethod
    def render_media(media: MediaView) -> str:
        caption = [e(media.description)] if media.description else []
        caption.append(e(media.content_type))
        if media.size is not None:
            caption.append(f"{media.size:,} bytes")
        caption.append(f"sha256 {media.sha256[:16]}…")
        picture = ""
        if media.thumbnail and media.thumbnail_type:
            data = base64.b64encode(media.thumbnail).decode("ascii")
            alt = e(media.description or "media")
            picture = f'<img src="data:{media.thumbnail_type};base64,{data}" alt="{alt}">'
        else:
            picture = "<span>[media]</span>"
        if media.path:
            picture = f'<a href="../{e(media.path)}">{picture}</a>'
        return f"<figure>{picture}<figcaption>{' · '.join(caption)}</figcaption></figure>"

    def render_tombstone(self, version: VersionView) -> str:
        body = (
            f"<br>Platform's answer: <code>{e(version.deletion_body)}</code>"
            if version.deletion_body
            else ""
        )
        return (
            '<div class="tombstone"><strong>Deleted on the platform.</strong> '
            f"{e(version.deletion)} "
            f"Recorded as version {version.version} (captured "
            f"{e(c.shown_time(version.captured, self.meta.zone))}).{body}</div>"
        )

    def render_versions(self, item: ItemView) -> str:
        if len(item.versions) == 1 and not item.deleted:
            return ""
        rows = []
        for version in item.versions:
            when = e(c.shown_time(version.captured, self.meta.zone))
            line = f"<li>Version {version.version}: {e(version.observation)}, captured {when}"
            if version.deletion:
                line += " (the deletion evidence is shown above)"
            elif version.changes is not None:
                line += (
                    '. What changed: <div class="text">'
                    + self.render_diff(version.changes)
                    + "</div>"
                )
            elif version.version > 1 and version.text:
                line += f'. Text unchanged: <div class="text">{e(version.text)}</div>'
            if version.changed_fields:
                changed = e(", ".join(version.changed_fields))
                line += f'<div class="meta">Fields changed: {changed}</div>'
            rows.append(line + "</li>")
        return (
            f"<details open><summary>{len(item.versions)} versions</summary>"
            f'<ol class="versions">{"".join(rows)}</ol></details>'
        )

    @staticmethod
    def render_diff(runs: list[tuple[str, str]]) -> str:
        out = []
        for op, text in runs:
            if op == "delete":
                out.append(f"<del>{e(text)}</del>")
            elif op == "insert":
                out.append(f"<ins>{e(text)}</ins>")
            else:
                out.append(e(text))
        return "".join(out)

    @staticmethod
    def render_proof(version: VersionView) -> str:
        """The leaf index, linked to the proofs file holding the record's proof (one
        of many lines there, so the file and line are named)."""
        relative = version.proof_file.removeprefix("data/")  # from data/report/ it is ../
        name = relative.rsplit("/", 1)[-1]
        return (
            f'<a href="../{relative}">leaf {version.leaf_index}</a>, '
            f"proof in {name} line {version.proof_line}"
        )

    @staticmethod
    def render_locator(item: ItemView) -> str:
        records = ", ".join(
            f'<a href="../records/{v.record_id}.json">{v.doc_id}</a> '
            f"(v{v.version}, {HtmlReport.render_proof(v)}"
            + (f", {REASON_NOTES[v.reason]}" if v.reason in REASON_NOTES else "")
            + ")"
            for v in item.versions
        )
        return (
            f'<div class="locator">{e(item.platform)} · account {e(item.account)} · '
            f"native id {e(item.native_id)} · {records}</div>"
        )

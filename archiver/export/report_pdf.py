"""The PDF report (reportlab): the HTML report's content in print form.

Drawn straight onto the canvas with our own line layout rather than platypus
flowables: about three times faster, and text is drawn as text (never parsed
as markup), so platform content cannot inject anything. reportlab keeps a
whole document in memory until it is saved, so a large pack is split into
volumes of at most VOLUME_RECORDS records each, which bounds memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from archiver.export import content as c
from archiver.export.bag import FileDigest, HashingFile, open_new_file
from archiver.export.model import ItemView, MediaView, ThreadReader, ThreadView, VersionView
from archiver.export.packindex import PackIndex
from archiver.export.paths import REPORT_DIR
from archiver.export.report_html import ReportMeta

VOLUME_RECORDS = 2000
PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT, RIGHT, TOP, BOTTOM = 48.0, 48.0, 56.0, 52.0
TEXT_WIDTH = PAGE_WIDTH - LEFT - RIGHT
INDENT = 14.0
THUMB_WIDTH, THUMB_HEIGHT = 150.0, 110.0
BLACK, GREY, RED, GREEN, BLUE = (
    (0.1, 0.1, 0.12),
    (0.4, 0.4, 0.45),
    (0.6, 0.1, 0.08),
    (0.1, 0.45, 0.15),
    (0.1, 0.25, 0.6),
)

_FONT_CANDIDATES = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
)
_fonts: tuple[str, str] | None = None


def fonts() -> tuple[str, str]:
    """(regular, bold): DejaVu Sans where installed (wide Unicode coverage), else the
    Vera fonts reportlab ships (Latin only; other characters show as boxes)."""
    global _fonts
    if _fonts is None:
        import reportlab

        bundled = Path(reportlab.__file__).parent / "fonts"
        candidates = [*_FONT_CANDIDATES, (str(bundled / "Vera.ttf"), str(bundled / "VeraBd.ttf"))]
        for regular, bold in candidates:
            if Path(regular).is_file() and Path(bold).is_file():
                pdfmetrics.registerFont(TTFont("PackSans", regular))
                pdfmetrics.registerFont(TTFont("PackSans-Bold", bold))
                break
        _fonts = ("PackSans", "PackSans-Bold")
    return _fonts


@lru_cache(maxsize=1 << 16)
def unit_width(text: str, font: str) -> float:
    """Width of `text` at 1 pt. Words repeat a lot and reportlab measures TrueType
    text in pure Python when its optional C accelerator is not installed, so
    each word is measured once."""
    return float(pdfmetrics.stringWidth(text, font, 1.0))


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of at most `width` points; words longer than a line (URLs, hashes) are cut.
    Line width is the sum of its words' and spaces' widths (reportlab does not kern)."""
    limit = width / size
    space = unit_width(" ", font)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        for word in paragraph.split(" "):
            word_width = unit_width(word, font)
            if line and used + space + word_width <= limit:
                line, used = f"{line} {word}", used + space + word_width
                continue
            if line:
                lines.append(line)
            while word_width > limit and len(word) > 1:
                cut = max(1, int(len(word) * limit / word_width))
                while cut > 1 and unit_width(word[:cut], font) > limit:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
                word_width = unit_width(word, font)
            line, used = word, word_width
        lines.append(line)
    return lines


@contextmanager
def binary_streams() -> Iterator[None]:
    """Write PDF streams as compressed binary rather than ASCII85 text: valid PDF,
    smaller, and it skips reportlab's pure-Python ASCII85 encoder (slow when the
    optional C accelerator is missing). Restored afterwards: the setting is global."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


STANDARD_FONTS = ("Helvetica", "Helvetica-Bold", "Courier")
# PDF literal strings (ISO 32000-1 7.3.4.2): parentheses and backslash escaped,
# bytes outside printable ASCII as octal, so the content stream is plain ASCII.
_LITERAL = {i: f"\\{i:03o}" for i in range(256) if i < 32 or i > 126}
_LITERAL.update({ord("("): "\\(", ord(")"): "\\)", ord("\\"): "\\\\"})


def _winansi(text: str) -> str | None:
    """The text as a PDF literal in WinAnsiEncoding (the standard fonts' encoding),
    or None if it holds a character that encoding lacks."""
    if text.isascii():
        return text.translate(_LITERAL)
    try:
        data = text.encode("cp1252")
    except UnicodeEncodeError:
        return None
    return data.decode("latin-1").translate(_LITERAL)


def _rgb(colour: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.3f}" for v in colour) + " rg"


class _PackFile(str):
    """A picture's absolute path whose str() is a name inside the pack. reportlab
    names an image by a digest of str(filename); with this the name, and so the
    PDF's bytes, do not depend on where the pack is being written."""

    key: str

    def __new__(cls, path: str, key: str) -> _PackFile:
        value = super().__new__(cls, path)
        value.key = key
        return value

    def __str__(self) -> str:
        return self.key


class PdfVolume:
    """One PDF volume: `add` threads, then `finish` saves it into `handle` and
    returns its digest.

    Speed matters here (the PDF is the slowest part of an export): text that
    fits Windows-1252 is set in the standard PDF fonts (Helvetica, Courier: not
    embedded) and written as PDF operators we format ourselves, one text block
    per page through the canvas's public `addLiteral`; reportlab's text objects
    cost about ten times more per line (pure-Python number formatting and width
    tracking without its optional C accelerator). Other text goes through a
    reportlab text object in the embedded Unicode font."""

    def __init__(self, meta: ReportMeta, number: int, of: int, handle: HashingFile) -> None:
        self.meta = meta
        self.number = number
        self.handle = handle
        self.unicode_regular, self.unicode_bold = fonts()
        self._ops: list[str] = []
        self._text_object: Any = None
        self._state: tuple[Any, ...] = ()
        self._object_state: tuple[Any, ...] = ()
        self._font_names: dict[str, str] = {}
        self.y = 0.0
        with binary_streams():
            canvas = Canvas(handle, pagesize=A4, pageCompression=1, invariant=1)
            canvas.setTitle(f"{meta.title}, volume {number} of {of}")
            canvas.setAuthor(meta.organisation)
            canvas.setSubject(meta.scope)
            canvas.setCreator("social-archiver evidence pack")
            self.canvas = canvas
            self._new_page(first=True)
            self._title_block(number, of)

    def _new_page(self, first: bool = False) -> None:
        if not first:
            self._end_page()
            self.canvas.showPage()
        self._ops, self._text_object = [], None
        self._state = self._object_state = ()
        self._draw(LEFT, PAGE_HEIGHT - 30, c.clean(self.meta.title)[:120], 7.5, GREY)
        self.y = PAGE_HEIGHT - TOP

    def _end_page(self) -> None:
        footer = f"volume {self.number}, page {self.canvas.getPageNumber()}"
        x = PAGE_WIDTH - RIGHT - unit_width(footer, "Helvetica") * 7.5
        self._draw(x, 28, footer, 7.5, GREY)
        self.canvas.addLiteral("BT " + " ".join(self._ops) + " ET")
        if self._text_object is not None:
            self.canvas.drawText(self._text_object)

    def _room(self, height: float) -> None:
        if self.y - height < BOTTOM:
            self._new_page()

    # -- drawing primitives -------------------------------------------------------------
    def _font(self, text: str, bold: bool = False, mono: bool = False) -> str:
        if text.isascii() or _winansi(text) is not None:
            return "Courier" if mono else "Helvetica-Bold" if bold else "Helvetica"
        return self.unicode_bold if bold else self.unicode_regular

    def _font_name(self, font: str) -> str:
        """The font's resource name in this document (/F1...), registering it once.
        reportlab has no public accessor for it; getInternalFontName is what its
        own text objects call."""
        name = self._font_names.get(font)
        if name is None:
            name = self._font_names[font] = self.canvas._doc.getInternalFontName(font)
        return name

    def _draw(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        colour: tuple[float, float, float],
        font: str | None = None,
    ) -> None:
        """One line of text with its baseline starting at (x, y)."""
        font = font or self._font(text)
        literal = _winansi(text) if font in STANDARD_FONTS else None
        if literal is not None:
            ops = self._ops
            if self._state[:2] != (font, size):
                ops.append(f"{self._font_name(font)} {size:g} Tf")
                self._state = (font, size, None)
            if self._state[2] != colour:
                ops.append(_rgb(colour))
                self._state = (font, size, colour)
            ops.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm ({literal}) Tj")
            return
        if self._text_object is None:
            self._text_object = self.canvas.beginText()
        text_object = self._text_object
        text_object.setTextOrigin(x, y)
        if self._object_state[:2] != (font, size):
            text_object.setFont(font, size)
            self._object_state = (font, size, None)
        if self._object_state[2] != colour:
            text_object.setFillColorRGB(*colour)
            self._object_state = (font, size, colour)
        text_object.textOut(text)

    def _text(
        self,
        text: str,
        *,
        indent: float = 0.0,
        size: float = 9.5,
        bold: bool = False,
        mono: bool = False,
        color: tuple[float, float, float] = BLACK,
        leading: float | None = None,
    ) -> None:
        leading = leading or size * 1.3
        width = TEXT_WIDTH - indent
        for paragraph in c.clean(text).split("\n"):
            font = self._font(paragraph, bold, mono)
            for line in wrap(paragraph, font, size, width):
                self._room(leading)
                self.y -= leading
                self._draw(LEFT + indent, self.y, line, size, color, font)

    def _runs(self, runs: list[tuple[str, str]], indent: float, size: float = 9.0) -> None:
        """Word-diff runs on wrapped lines: deletions red and struck through,
        insertions green and underlined."""
        leading = size * 1.35
        width = TEXT_WIDTH - indent
        tokens: list[tuple[str, str]] = []
        for op, text in runs:
            for index, paragraph in enumerate(c.clean(text).split("\n")):
                if index:
                    tokens.append(("newline", ""))
                tokens.extend((op, word) for word in paragraph.split(" ") if word)
        x = 0.0
        self._room(leading)
        self.y -= leading
        for op, word in tokens:
            if op == "newline":
                x = 0.0
                self._room(leading)
                self.y -= leading
                continue
            font = self._font(word)
            space = unit_width(" ", font) * size
            word_width = unit_width(word, font) * size
            if x and x + word_width > width:
                x = 0.0
                self._room(leading)
                self.y -= leading
            if word_width > width:
                word = wrap(word, font, size, width)[0]
                word_width = unit_width(word, font) * size
            colour = RED if op == "delete" else GREEN if op == "insert" else BLACK
            left = LEFT + indent + x
            self._draw(left, self.y, word, size, colour, font)
            if op in ("delete", "insert"):
                canvas = self.canvas
                canvas.setStrokeColorRGB(*colour)
                canvas.setLineWidth(0.6)
                offset = size * 0.3 if op == "delete" else -1.2
                canvas.line(left, self.y + offset, left + word_width, self.y + offset)
            x += word_width + space

    def _gap(self, points: float) -> None:
        self.y -= points

    def _rule(self) -> None:
        self._room(6)
        self.y -= 4
        canvas = self.canvas
        canvas.setStrokeColorRGB(0.8, 0.82, 0.86)
        canvas.setLineWidth(0.5)
        canvas.line(LEFT, self.y, PAGE_WIDTH - RIGHT, self.y)

    # -- content ------------------------------------------------------------------------
    def _title_block(self, number: int, of: int) -> None:
        meta = self.meta
        self._text(f"{meta.title}", size=15, bold=True, leading=20)
        self._text(f"Volume {number} of {of}", size=10, color=GREY)
        self._gap(6)
        lines = [
            f"Organisation: {meta.organisation}",
            f"Scope: {meta.scope}",
            f"Exported {c.shown_time(meta.exported_at, meta.zone)} by {meta.exported_by}",
            f"Signed tree head: size {meta.tree_size}, "
            f"signed {c.shown_time(meta.signed_at, meta.zone)}",
        ]
        lines += [f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in meta.counts.items()]
        for line in lines:
            self._text(line, size=9.5)
        self._text(f"Root hash {meta.root_hash}", mono=True, size=7.5)
        self._text(f"Signing key id {meta.key_id}", mono=True, size=7.5)
        self._text("Compare the key id with the key the organisation publishes.", size=7.5)
        self._gap(10)

    def add(self, thread: ThreadView) -> None:
        with binary_streams():
            self._room(40)
            self._rule()
            if thread.section == "dm" or len(thread.items) > 1:  # a lone post is its own title
                label = "Conversation" if thread.section == "dm" else "Thread"
                self._text(f"{label}: {thread.title}", bold=True, size=10.5, leading=15)
            for item in thread.items:
                self._item(item, dm=thread.section == "dm")
            self._gap(6)

    def _item(self, item: ItemView, dm: bool) -> None:
        zone = self.meta.zone
        indent = (40.0 if item.own else 0.0) if dm else item.depth * INDENT
        self._room(30)
        self._gap(4)
        who = (
            f"{item.author_name} ({item.author})"
            if item.author_name
            else (item.author or "unknown author")
        )
        when = c.shown_time(item.created, zone) if item.created else "time unknown"
        arrow = ("→ " if item.own else "← ") if dm else ""
        kind = f"{item.kind}, {item.visibility}" if item.visibility else item.kind
        self._text(
            f"{arrow}{who} · {when} · {kind} · {item.platform} {item.account} "
            f"· native id {item.native_id}",
            indent=indent,
            bold=True,
            size=9,
        )
        badges = []
        if item.deleted:
            badges.append("DELETED")
        if item.hidden:
            badges.append("HIDDEN OR MODERATED ON THE PLATFORM")
        if item.edited:
            badges.append("EDITED")
        if item.context_note:
            badges.append(item.context_note.upper())
        if item.parent_missing and item.in_reply_to:
            badges.append(f"in reply to {item.in_reply_to}, not in this pack")
        if badges:
            self._text(
                " · ".join(badges), indent=indent, size=7.5, color=RED if item.deleted else BLUE
            )
        if item.content_warning:
            self._text(
                f"Content warning: {item.content_warning}", indent=indent, size=8.5, color=GREY
            )
        if dm and item.participants:
            self._text(
                f"Participants: {', '.join(item.participants)}", indent=indent, size=8, color=GREY
            )
        if item.text:
            self._text(item.text, indent=indent, size=9.5, color=GREY if item.deleted else BLACK)
        for media in item.media:
            self._media(media, indent)
        if item.url:
            safe = c.web_link(item.url)
            label = "Original: " if safe else "Original (not a web link): "
            self._text(label + item.url, indent=indent, size=7.5, color=BLUE if safe else GREY)
        if item.deleted:
            self._tombstone(item.deleted, indent)
        if len(item.versions) > 1:
            for version in item.versions:
                self._version(version, indent)
        for v in item.versions:
            self._text(
                f"{v.doc_id} v{v.version} {v.observation} · record {v.record_id} "
                f"· leaf {v.leaf_index}",
                indent=indent,
                mono=True,
                size=6.5,
                color=GREY,
                leading=8,
            )

    def _media(self, media: MediaView, indent: float) -> None:
        caption = [media.description] if media.description else []
        caption += [media.content_type, f"sha256 {media.sha256}"]
        if media.path:
            caption.append(f"file data/{media.path}")
        if media.print_file:
            try:
                with Image.open(media.print_file) as picture:  # reads the header only
                    width, height = picture.size
            except (OSError, ValueError, SyntaxError):  # Pillow's errors for unreadable images
                width = height = 0  # the caption still names the file and its hash
            if width and height:
                scale = min(THUMB_WIDTH / width, THUMB_HEIGHT / height, 1.0)
                draw_w, draw_h = width * scale, height * scale
                self._room(draw_h + 6)
                self.y -= draw_h + 3
                name = "media/" + media.print_file.rsplit("/", 1)[-1]  # <sha256>.<ext>
                picture_file = _PackFile(media.print_file, name)
                self.canvas.drawImage(picture_file, LEFT + indent, self.y, draw_w, draw_h)
        self._text(" · ".join(caption), indent=indent, size=7, color=GREY)

    def _tombstone(self, version: VersionView, indent: float) -> None:
        self._text(
            f"Deleted on the platform. {version.deletion} Recorded as version {version.version}, "
            f"captured {c.shown_time(version.captured, self.meta.zone)}.",
            indent=indent,
            size=8.5,
            color=RED,
        )
        if version.deletion_body:
            self._text(
                f"Platform's answer: {version.deletion_body}", indent=indent, size=7.5, color=RED
            )

    def _version(self, version: VersionView, indent: float) -> None:
        when = c.shown_time(version.captured, self.meta.zone)
        line = f"Version {version.version}: {version.observation}, captured {when}"
        if version.changed_fields:
            line += f"; fields changed: {', '.join(version.changed_fields)}"
        self._text(line, indent=indent + 8, size=8, color=GREY)
        if version.changes is not None:
            self._runs(version.changes, indent + 16, size=8.5)
        elif version.version > 1 and version.text:
            self._text(version.text, indent=indent + 16, size=8.5)

    def finish(self) -> FileDigest:
        with binary_streams():
            self._end_page()
            self.canvas.save()
        return self.handle.close()


def volume_path(number: int) -> str:
    return f"{REPORT_DIR}/report-{number:04d}.pdf"


def write_volume(
    bag_root: str, index_path: str, meta: ReportMeta, number: int, of: int, first: int, last: int
) -> FileDigest:
    """Draw volume `number` (threads `first` to `last` in report order) of a pack
    whose records and pack index are written; run in worker processes while the
    main one writes the HTML. Reads only the pack and its index."""
    root = Path(bag_root)
    index = PackIndex.open_readonly(Path(index_path))
    try:
        volume = PdfVolume(meta, number, of, open_new_file(root, volume_path(number)))
        for thread in ThreadReader(index, root, meta.zone, for_print=True).threads(first, last):
            volume.add(thread)
        return volume.finish()
    finally:
        index.close()

"""Safe to write and safe to open: refused outputs, zips, hostile native ids,
inert HTML (parsed, and in a real browser), a PDF with only web links, and a
verifier that needs nothing of the archive."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import bagit
import pytest

from archiver.export.bag import BagWriter, UnsafeOutputError
from archiver.export.paths import UnsafePathError, check_payload_path, media_path
from archiver.export.service import ExportRequest, ExportService
from archiver.verify_pack import EXIT_UNUSABLE, UnusablePack, verify_pack
from tests.export.conftest import HOSTILE_IDS, MATTER, SCRIPT_TEXT, Pack, Realistic

SAFE_NAME = re.compile(
    r"(bagit\.txt|bag-info\.txt|(tag)?manifest-sha(256|512)\.txt|data/(README\.txt|"
    r"certification-fre-902-14\.txt|loadfile\.(dat|csv)|custody/(export\.json|records\.jsonl)|"
    r"records/[0-9a-f]{64}\.json|proofs/proofs-\d{5}\.jsonl|text/[0-9a-f]{64}\.txt|"
    r"media/[0-9a-f]{64}\.[a-z0-9]+|tree-head/(checkpoint\.json|signed-tree-head\.json|"
    r"signature\.bin|public-key\.pem)|report/(index\.html|page-\d{5}\.html|report-\d{4}\.pdf)))"
)


# -- where a pack may be written -------------------------------------------------------------


def test_non_empty_directory_is_refused(realistic: Realistic, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UnsafeOutputError, match="not empty"):
        ExportService(realistic.archive).export(ExportRequest(out=out, query="savings"))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_empty_directory_is_used(realistic: Realistic, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    ExportService(realistic.archive).export(ExportRequest(out=out, query="savings"))
    assert (out / "bagit.txt").exists()


def test_symlink_output_is_refused(realistic: Realistic, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    with pytest.raises(UnsafeOutputError, match="symlink"):
        ExportService(realistic.archive).export(ExportRequest(out=link, query="savings"))
    assert list(elsewhere.iterdir()) == []


def test_existing_zip_is_refused(realistic: Realistic, tmp_path: Path) -> None:
    target = tmp_path / "pack.zip"
    target.write_bytes(b"precious")
    with pytest.raises(UnsafeOutputError, match="exists"):
        ExportService(realistic.archive).export(
            ExportRequest(out=target, query="savings", as_zip=True)
        )
    assert target.read_bytes() == b"precious"


def test_zip_output_verifies_and_unzips_to_a_valid_bag(
    realistic: Realistic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "acme.zip"
    result = ExportService(realistic.archive).export(
        ExportRequest(out=target, matter=MATTER, as_zip=True)
    )
    assert result.as_zip and target.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["acme.zip"]  # the staging folder is gone
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        assert names[0] == "acme/bagit.txt"
        assert all(
            n.startswith("acme/") and SAFE_NAME.fullmatch(n.removeprefix("acme/")) for n in names
        )
        archive.extractall(tmp_path / "unzipped")
    bagit.Bag(str(tmp_path / "unzipped" / "acme")).validate()
    report = verify_pack(target)
    assert report.ok, [f.line() for f in report.failures]
    assert report.counts["records"] == result.records
    import archiver.verify_pack as module

    monkeypatch.setattr(module, "TASK_FILES", 9)  # several tasks, two processes reading one zip
    assert verify_pack(target, workers=2).counts == report.counts


def test_tampered_zip_fails(realistic: Realistic, tmp_path: Path) -> None:
    source = tmp_path / "a.zip"
    ExportService(realistic.archive).export(ExportRequest(out=source, query="savings", as_zip=True))
    tampered = tmp_path / "b.zip"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(tampered, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if "/data/records/" in info.filename and b"savings" in data:
                data = data.replace(b"savings", b"SAVINGS", 1)
            new.writestr(info, data)
        new.writestr("a/../../evil.txt", b"x")
    report = verify_pack(tampered)
    assert any(f.check == "record" and "re-derived" in f.message for f in report.failures)
    assert any("unsafe path" in f.message for f in report.failures)


def test_failed_export_leaves_nothing(
    realistic: Realistic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archiver.export import service

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(service.ExportService, "_write_reports", broken)
    with pytest.raises(OSError, match="disk full"):
        ExportService(realistic.archive).export(
            ExportRequest(out=tmp_path / "partial", query="savings")
        )
    assert not (tmp_path / "partial").exists()
    with pytest.raises(OSError, match="disk full"):
        ExportService(realistic.archive).export(
            ExportRequest(out=tmp_path / "p.zip", query="savings", as_zip=True)
        )
    assert list(tmp_path.iterdir()) == []


# -- platform data never names a file ------------------------------------------------------


def test_hostile_native_ids_never_become_paths(pack: Pack) -> None:
    everything = sorted(
        p.relative_to(pack.path).as_posix() for p in pack.path.rglob("*") if p.is_file()
    )
    assert everything and all(SAFE_NAME.fullmatch(name) for name in everything), [
        n for n in everything if not SAFE_NAME.fullmatch(n)
    ]
    assert not list(pack.path.parent.glob("etc*"))
    loadfile = (pack.path / "data/loadfile.csv").read_text(encoding="utf-8-sig")
    for native_id in HOSTILE_IDS:
        assert native_id in loadfile  # kept as data, exactly


@pytest.mark.parametrize(
    "path",
    ["data/../etc/passwd", "/data/x", "data/.hidden", "data/a/../../b", "records/x", "data//x",
     "data/at:/x", "data/a\\b", "data/x\n", "data/" + "a" * 600],
)  # fmt: skip
def test_unsafe_pack_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafePathError):
        check_payload_path(path)


def test_media_extensions_come_from_an_allow_list() -> None:
    sha = "a" * 64
    assert media_path(sha, "image/jpeg") == f"data/media/{sha}.jpg"
    assert media_path(sha, "image/svg+xml") == f"data/media/{sha}.bin"
    assert media_path(sha, "text/html; charset=utf-8") == f"data/media/{sha}.bin"
    assert media_path(sha, "image/../../x") == f"data/media/{sha}.bin"
    with pytest.raises(ValueError):
        media_path("../../etc/passwd", "image/png")


# -- the HTML report is inert -----------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def test_html_is_escaped_and_locked_down(pack: Pack) -> None:
    pages = sorted((pack.path / "data/report").glob("*.html"))
    assert [p.name for p in pages] == ["index.html", "page-00001.html"]
    for page in pages:
        parsed = parse(page)
        tags = [t for t, _ in parsed.tags]
        assert "script" not in tags and "iframe" not in tags and "object" not in tags
        csp = [
            a["content"]
            for t, a in parsed.tags
            if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
        ]
        assert len(csp) == 1 and "default-src 'none'" in csp[0] and "unsafe-inline" not in csp[0]
        assert "script-src" not in csp[0]  # falls back to default-src 'none': no script at all
        for tag, attrs in parsed.tags:
            assert not any(name.startswith("on") for name in attrs), (tag, attrs)
            assert "style" not in attrs  # the CSP pins one style block; attributes would not apply
            href = (attrs.get("href") or "").strip().lower()
            assert not href.startswith(("javascript:", "data:", "vbscript:")), href
            if href and ":" in href.split("/")[0]:
                assert href.startswith(("http://", "https://")), href
            if tag == "img":
                assert (attrs.get("src") or "").startswith("data:image/png;base64,")
    body = "".join(parse(pages[1]).text)
    assert SCRIPT_TEXT in body  # shown to the reader as text
    raw = pages[1].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in raw
    assert "&lt;b&gt;mallory&lt;/b&gt;" in raw
    assert 'href="javascript' not in raw.lower()


def test_html_reads_like_the_platform(pack: Pack) -> None:
    page = (pack.path / "data/report/page-00001.html").read_text(encoding="utf-8")
    # a reply chain: the post, then its reply indented, then the reply to the reply
    post = page.index("New savings rate: 3.9%")
    reply = page.index("Does this apply to existing members too?")
    answer = page.index("@jo Yes, existing members qualify too.")
    assert post < reply < answer
    assert re.search(r'class="item d1[^"]*"[^>]*>.{0,400}jo@members\.example', page)
    assert re.search(r'class="item d2[^"]*"[^>]*>.{0,400}harbourcu', page)
    # the edit, word by word, and the deletion with its evidence
    assert "<del>4.1%</del><ins>3.9%</ins>" in page
    assert "Deleted on the platform." in page and "answered HTTP 404" in page
    assert "Record not found" in page
    # DMs as a conversation, the hidden comment marked, the photo embedded, times with a zone
    dms = page.index("<h1>Direct messages</h1>")
    assert page.index("my card was declined") > dms and page.index("Sorry about that!") > dms
    assert 'class="item d0 own"' in page[dms:]
    assert "Hidden or moderated on the platform" in page
    assert "data:image/png;base64," in page and 'alt="The Riverside branch building"' in page
    assert "2026-03-02 13:00:00 UTC" in page
    assert 'rel="noopener noreferrer nofollow"' in page
    assert 'href="../records/' in page and 'href="../proofs/proofs-00001.jsonl"' in page
    index = (pack.path / "data/report/index.html").read_text(encoding="utf-8")
    assert 'href="page-00001.html"' in index and 'href="report-0001.pdf"' in index


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")
def test_report_runs_nothing_in_a_real_browser(pack: Pack) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto((pack.path / "data/report/page-00001.html").as_uri())
            assert page.evaluate("document.scripts.length") == 0
            assert (
                page.evaluate("document.querySelectorAll('[onerror],[onclick],[onload]').length")
                == 0
            )
            assert page.evaluate("document.images.length") >= 1
            assert page.evaluate(
                "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
            )
            assert dialogs == []
        finally:
            browser.close()


def test_pdf_has_no_actions(pack: Pack) -> None:
    """The print form: URLs are printed, never links; nothing in the PDF can act."""
    data = (pack.path / "data/report/report-0001.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"/Type /Page" in data
    for action in (b"URI", b"JS", b"JavaScript", b"Launch", b"OpenAction", b"AA", b"SubmitForm"):
        assert not re.search(rb"/" + action + rb"[\s<(\[/]", data), action  # a key, not a font name


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler) not installed")
def test_pdf_carries_the_same_content(pack: Pack) -> None:
    text = subprocess.run(
        ["pdftotext", "-layout", str(pack.path / "data/report/report-0001.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for expected in ("Does this apply to existing members too?", "Deleted on the platform", "HIDDEN OR MODERATED",
                     "3.9%", "4.1%", "Harbour Credit Union", "Conversation", SCRIPT_TEXT):  # fmt: skip
        assert expected in text, expected


# -- the verifier stands alone ------------------------------------------------------------------


def test_verifier_imports_nothing_of_the_archive() -> None:
    code = (
        "import sys, archiver.verify_pack\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'storage', 'config', 'search', 'connectors', 'requests', 'boto3', "
        "'whoosh', 'click', 'rich', 'reportlab', 'PIL', 'urllib3', 'http'))\n"
        "ours = sorted(m for m in sys.modules if m.startswith('archiver.'))\n"
        "print(heavy, ours)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[2])  # fmt: skip
    heavy, ours = result.stdout.strip().split("] [")
    assert heavy == "["
    assert set(re.findall(r"'([\w.]+)'", ours)) <= {
        "archiver.verify_pack", "archiver.merkle", "archiver.canonical", "archiver.signing", "archiver.errors",
        "archiver.processes",
    }  # fmt: skip


def test_unusable_inputs(tmp_path: Path) -> None:
    with pytest.raises(UnusablePack, match="does not exist"):
        verify_pack(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnusablePack, match="no bagit.txt"):
        verify_pack(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(UnusablePack, match="neither"):
        verify_pack(tmp_path / "file.txt")
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as two:
        two.writestr("a/bagit.txt", "x")
        two.writestr("b/bagit.txt", "x")
    with pytest.raises(UnusablePack, match="one folder"):
        verify_pack(tmp_path / "two.zip")
    assert EXIT_UNUSABLE == 2


def test_parallel_check_gives_the_same_answer(pack_copy: Path) -> None:
    record = sorted((pack_copy / "data/records").glob("*.json"))[1]
    record.write_bytes(record.read_bytes().replace(b"{", b"[", 1))
    single = verify_pack(pack_copy, workers=1)
    import archiver.verify_pack as module

    original = module.TASK_FILES
    module.TASK_FILES = 7  # many tasks over two processes
    try:
        parallel = verify_pack(pack_copy, workers=2)
    finally:
        module.TASK_FILES = original
    assert parallel.failures == single.failures and parallel.counts == single.counts
    assert not single.ok


def test_json_report_is_machine_readable(pack: Pack) -> None:
    data = verify_pack(pack.path).as_json()
    assert json.loads(json.dumps(data))["ok"] is True
    assert os.path.basename(data["source"]) == "acme-pack"


@pytest.mark.parametrize(
    "planted",
    ["data", "data/records", "data/records/a.json"],
    ids=["payload-folder", "records-folder", "file"],
)
def test_a_symlink_planted_inside_the_pack_is_never_written_through(
    tmp_path: Path, planted: str
) -> None:
    """The output is checked when the export starts; a symlink planted inside it
    while the export runs (to a folder or over a file it is about to create) must
    stop the export, with nothing written where the link points, and removing the
    unfinished pack must not reach through the link either."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    (tmp_path / "work").mkdir()
    writer = BagWriter(tmp_path / "pack", tmp_path / "work")
    link = tmp_path / "pack" / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside / "target" if planted.endswith(".json") else outside)
    with pytest.raises(UnsafeOutputError):
        writer.write("data/records/a.json", b"{}")
    writer.abort()
    assert [p.name for p in outside.iterdir()] == ["precious.txt"]
    assert not (tmp_path / "pack").exists()

"""The app in a real browser: Debian's headless Chromium driven by Playwright (never a
downloaded browser). An officer signs in, searches, opens a record, places a hold,
runs an export and downloads it, signs out; an auditor sees no hold or export
controls and is refused at their URLs. Each page's screenshot is kept under
tests/artifacts/web/ (gitignored).

Without /usr/bin/chromium these tests FAIL, saying how to install it: a browser
test that skips silently would hide that nothing was tested.
"""

from __future__ import annotations

import os
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.web.conftest import PASSWORD, USERS, Sandbox

CHROMIUM = os.environ.get("ARCHIVER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(os.environ.get("ARCHIVER_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[1] / "artifacts" / "web")
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def live_server(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1 with an ephemeral port, on werkzeug's threaded server."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's "
            "package. Install it with `apt-get update && apt-get install -y chromium` "
            "(.ci/run does this), or point ARCHIVER_TEST_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module", autouse=True)
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Session:
    """One user's browser context, with console errors and CSP reports collected."""

    def __init__(self, browser: Any, base: str, name: str, downloads: Path) -> None:
        self.base = base
        self.name = name
        self.context = browser.new_context(accept_downloads=True,
                                           viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        # Script errors and CSP violations; not the refusals this test asks for on purpose.
        self.page.on("console", lambda m: m.type == "error"
                     and not m.text.startswith("Failed to load resource")
                     and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.downloads = downloads
        self.shots = 0

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def shot(self, label: str) -> None:
        self.shots += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{self.shots:02d}-{label}.png"),
                             full_page=True)

    def sign_in(self, username: str) -> None:
        self.go("/login")
        self.shot("login")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_selector("#logout")

    def sign_out(self) -> None:
        self.page.click("#logout")
        self.page.wait_for_selector("#login-form")
        self.shot("signed-out")
        assert self.go("/search").url.startswith(self.base + "/login")

    def close(self) -> None:
        self.context.close()


def test_officer_searches_views_holds_exports_and_signs_out(
    browser: Any, live_server: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    s = Session(browser, live_server, "officer", tmp_path)
    try:
        s.sign_in(USERS["officer"])
        # Search: results with highlighted snippets and facets.
        s.page.fill("#q", "savings OR riverside")
        s.page.click("#search-button")
        s.page.wait_for_selector("#results")
        assert s.page.inner_text("#total") == "2"
        assert s.page.locator(".snippet mark").count() >= 2
        assert s.page.locator("#facets").is_visible()
        s.shot("search")
        # The hostile post is shown as text; its script never ran.
        s.go("/search?q=owned")
        s.page.wait_for_selector("#results")
        s.shot("search-hostile")
        s.page.click(".record-link")
        s.page.wait_for_selector("#post-text")
        assert "<script>alert('owned')</script>" in s.page.inner_text("#post-text")
        assert s.page.evaluate("document.querySelectorAll('#post-text script').length") == 0
        hrefs = s.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        assert not [h for h in hrefs if h.lower().startswith("javascript:")]
        s.shot("record-hostile")
        # A record with versions, a diff, media and its verified inclusion proof.
        s.go("/search?q=rate")
        s.page.click(".record-link")
        s.page.wait_for_selector("#versions")
        assert "3.9%" in s.page.inner_text(".diff ins")
        assert "verified" in s.page.inner_text("#proof-status")
        s.shot("record-edited")
        s.go(f"/records/{sandbox.media_record}")
        s.page.wait_for_selector(".media-image")
        assert s.page.evaluate(
            "document.querySelector('.media-image').naturalWidth") > 0  # served and decoded
        s.shot("record-media")
        # A legal hold from a search.
        s.go("/search?q=workshop")
        s.page.click("#hold-from-search")
        s.page.wait_for_selector("#hold-form")
        assert s.page.input_value("#query") == "workshop"
        s.page.fill("#matter", "browser-matter")
        s.page.fill("#reason", "placed from the browser test")
        s.shot("hold-new")
        s.page.click("#create-hold")
        s.page.wait_for_selector("#hold-status")
        assert s.page.inner_text("#hold-status") == "active"
        assert int(s.page.inner_text("#hold-records")) >= 1
        s.shot("hold")
        s.go("/holds")
        assert "browser-matter" in s.page.inner_text("#holds-table")
        s.shot("holds")
        # An export of that matter, followed until done, then downloaded.
        s.go("/holds")
        s.page.click("text=browser-matter")
        s.page.click("#export-matter")
        s.page.wait_for_selector("#export-form")
        s.page.fill("#reason", "for counsel")
        s.shot("export-new")
        s.page.click("#start-export")
        s.page.wait_for_selector("#download-export", timeout=60_000)  # app.js follows it
        s.shot("export-done")
        with s.page.expect_download() as info:
            s.page.click("#download-export")
        download = info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        with zipfile.ZipFile(saved) as pack:
            names = pack.namelist()
        assert any(n.endswith("bagit.txt") for n in names)
        assert any("/data/records/" in n for n in names)
        s.go("/exports")
        s.shot("exports")
        s.go("/status")
        assert "harbourcu" in s.page.inner_text("#accounts-table")
        s.shot("status")
        # The officer cannot read the audit trail.
        assert s.go("/audit").status == 403
        s.sign_out()
        assert s.errors == [], s.errors  # no script errors, no CSP violations
    finally:
        s.close()


def test_auditor_has_no_hold_or_export_controls_and_is_refused_there(
    browser: Any, live_server: str, tmp_path: Path
) -> None:
    s = Session(browser, live_server, "auditor", tmp_path)
    try:
        s.sign_in(USERS["auditor"])
        assert s.page.locator("#nav-holds").count() == 0
        assert s.page.locator("#nav-exports").count() == 0
        s.page.fill("#q", "savings")
        s.page.click("#search-button")
        s.page.wait_for_selector("#results")
        assert s.page.locator("#hold-from-search").count() == 0
        assert s.page.locator("#export-from-search").count() == 0
        s.shot("search")
        s.page.click(".record-link")
        s.page.wait_for_selector("#proof")
        assert s.page.locator("#hold-from-record").count() == 0
        assert s.page.locator("#export-from-record").count() == 0
        s.shot("record")
        for path in ("/holds", "/holds/new", "/exports", "/exports/new", "/admin/users"):
            response = s.go(path)
            assert response.status == 403, path
        s.shot("refused")
        # The auditor reads the audit trail: their own search and view are there by name.
        s.go("/audit?actor=web:" + USERS["auditor"])
        cells = s.page.locator("#audit-table td").all_inner_texts()
        assert "search" in cells and "view" in cells
        s.shot("audit")
        with s.page.expect_download() as info:
            s.page.click("#audit-csv")
        assert info.value.suggested_filename == "audit-trail.csv"
        s.sign_out()
        assert s.errors == [], s.errors
    finally:
        s.close()


def test_without_chromium_the_browser_tests_fail_saying_how_to_install_it(tmp_path: Path) -> None:
    """Run one browser test with Chromium missing: it must fail, not skip, and say why."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
         f"{__file__}::test_auditor_has_no_hold_or_export_controls_and_is_refused_there"],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "ARCHIVER_TEST_CHROMIUM": str(tmp_path / "no-chromium"),
             "ARCHIVER_TEST_ARTIFACTS": str(tmp_path / "artifacts")})
    assert done.returncode == 1, done.stdout[-2000:]
    assert "apt-get install -y chromium" in done.stdout
    assert "skipped" not in done.stdout.splitlines()[-1]

"""The pages: search, records, media, holds, exports, status, audit trail, users;
platform content always inert; every action in the audit trail by user."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from archiver.archive import Archive
from archiver.canonical import sha256_hex
from archiver.users import UserService
from storage.catalogue.models import audit_events
from tests.web.conftest import USERS, Sandbox

TEMPLATES = Path(__file__).resolve().parents[2] / "archiver" / "web" / "templates"
STATIC = TEMPLATES.parent / "static"


def events_by(archive: Archive, actor: str, action: str) -> list[dict]:
    with archive.engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.params).where(
            audit_events.c.actor == actor, audit_events.c.action == action))
        return [json.loads(p) for (p,) in rows]


# -- search ---------------------------------------------------------------------------------


def test_search_page_with_facets_filters_and_paging(client_as) -> None:  # noqa: ANN001
    client, _ = client_as("auditor")
    first = client.get("/search?q=*&page_size=3")
    assert first.status_code == 200
    total = int(re.search(r'id="total">(\d+)<', first.text).group(1))
    assert total >= 8 and f"page 1 of {-(-total // 3)}" in first.text
    assert 'id="facets"' in first.text and "@harbourcu@sandbox.local" in first.text
    assert 'rel="next"' in first.text
    second = client.get("/search?q=*&page_size=3&page=2")
    ids_first = set(re.findall(r'/records/([0-9a-f]{64})"', first.text))
    ids_second = set(re.findall(r'/records/([0-9a-f]{64})"', second.text))
    assert len(ids_first) == len(ids_second) == 3 and not ids_first & ids_second
    filtered = client.get("/search", query_string={
        "q": "savings OR branch", "account": "@harbourcu@sandbox.local", "kind": "post",
        "created_from": "2026-03", "created_to": "2026-03-02"})
    effective = re.search(r'id="effective-query">([^<]+)<', filtered.text).group(1)
    assert effective == ('(savings OR branch) AND account:&#34;@harbourcu@sandbox.local&#34; '
                         'AND kind:&#34;post&#34; AND created:[2026-03 TO 2026-03-02]')
    assert int(re.search(r'id="total">(\d+)<', filtered.text).group(1)) == 2  # 1002, 1003


def test_snippets_are_escaped_and_highlighted(client_as) -> None:  # noqa: ANN001
    client, _ = client_as("auditor")
    page = client.get("/search?q=owned")
    assert page.status_code == 200
    assert "<mark>owned</mark>" in page.text
    assert "&lt;/script&gt;" in page.text and "&lt;img src=x" in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text


def test_a_bad_query_points_at_the_column(client_as) -> None:  # noqa: ANN001
    client, _ = client_as("auditor")
    page = client.get("/search", query_string={"q": 'savings AND "rate'})
    assert page.status_code == 400
    assert "column 13" in page.text and "unclosed quote" in page.text
    assert client.get("/search?q=x&sort=sideways").status_code == 400


# -- records --------------------------------------------------------------------------------


def test_a_hostile_post_is_inert(client_as, sandbox: Sandbox) -> None:  # noqa: ANN001
    client, _ = client_as("auditor")
    page = client.get(f"/records/{sandbox.hostile_record}")
    assert page.status_code == 200
    html = page.text
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html and 'onerror="' not in html
    assert not re.search(r'href\s*=\s*["\']?\s*javascript:', html, re.I)
    assert "&lt;b&gt;mallory&lt;/b&gt;" in html  # the author handle too
    # A real link stays a link, with its query string escaped, and carries no referrer.
    assert ('<a href="https://example.org/ok?a=1&amp;b=" rel="noopener noreferrer nofollow" '
            'target="_blank">') in html
    # The only scripts are our own static file.
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/app.js" defer>']


def test_record_page_versions_diff_thread_deletion_and_proof(client_as,  # noqa: ANN001
                                                             sandbox: Sandbox) -> None:
    client, _ = client_as("officer")
    edited = client.get(f"/records/{sandbox.record_ids['1003']}").text
    assert "<del>4.1%</del><ins>3.9%</ins>" in edited
    assert 'id="proof-status"><strong>verified</strong>' in edited
    assert "reply 1004" in edited and "reply 1006" in edited  # the thread
    first = sandbox.versions["1003"][0]
    assert f"/records/{first}" in edited
    deleted = client.get(f"/records/{sandbox.record_ids['1005']}").text
    assert 'id="deletion-evidence"' in deleted and "Record not found" in deleted
    assert "financial literacy workshop" in deleted  # the post as it was before deletion
    api = client.get(f"/api/v1/records/{sandbox.record_ids['1003']}").json
    assert api["proof"]["status"] == "verified" and api["versions"][1]["diff"]
    assert [v["version"] for v in api["versions"]] == [1, 2]
    assert client.get("/records/" + "0" * 64).status_code == 404
    assert client.get("/records/not-a-hash").status_code == 404


def test_the_record_download_is_the_stored_bytes(client_as, sandbox: Sandbox) -> None:  # noqa: ANN001
    client, _ = client_as("auditor")
    record_id = sandbox.record_ids["1003"]
    response = client.get(f"/records/{record_id}.json")
    assert response.headers["Content-Disposition"] == f'attachment; filename="{record_id}.json"'
    assert sha256_hex(response.data) == record_id


def test_media_from_the_store_with_type_and_disposition(client_as,  # noqa: ANN001
                                                        sandbox: Sandbox) -> None:
    client, _ = client_as("auditor")
    url = f"/records/{sandbox.media_record}/media/{sandbox.media_sha256}"
    inline = client.get(url)
    assert inline.status_code == 200 and inline.headers["Content-Type"] == "image/png"
    assert inline.headers["Content-Disposition"] == (
        f'inline; filename="{sandbox.media_sha256}.png"')
    assert inline.headers["X-Content-Type-Options"] == "nosniff"
    assert hashlib.sha256(inline.data).hexdigest() == sandbox.media_sha256
    download = client.get(url + "?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert events_by(sandbox.archive, f"web:{USERS['auditor']}", "media-download")
    # An SVG (it could run script) is only ever an opaque download.
    svg = client.get(f"/records/{sandbox.svg_record}/media/{sandbox.svg_sha256}")
    assert svg.headers["Content-Type"] == "application/octet-stream"
    assert svg.headers["Content-Disposition"] == f'attachment; filename="{sandbox.svg_sha256}.bin"'
    # Media the record does not show is not served through it.
    assert client.get(f"/records/{sandbox.hostile_record}/media/{sandbox.media_sha256}"
                      ).status_code == 404


@pytest.mark.parametrize("tail", [
    "../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd",
    "/etc/passwd", "%2Fetc%2Fpasswd", "..", "%2e%2e", "C:%5Cwindows%5Cwin.ini",
])
def test_no_path_traversal_in_downloads(client_as, sandbox: Sandbox, tail: str) -> None:  # noqa: ANN001
    client, _ = client_as("admin")
    for prefix in (f"/records/{sandbox.media_record}/media/",
                   f"/api/v1/records/{sandbox.media_record}/media/",
                   "/exports/", "/api/v1/exports/", "/static/"):
        for suffix in ("", "/download"):
            response = client.get(prefix + tail + suffix, follow_redirects=True)
            assert response.status_code in (404, 400), (prefix, tail, suffix)
            assert b"root:" not in response.data and b"[fonts]" not in response.data


def test_security_headers_everywhere(app: Flask, client_as) -> None:  # noqa: ANN001
    client, _ = client_as("auditor")
    for url in ("/search?q=savings", "/status", "/api/v1/me", "/holds", "/nowhere"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
    anonymous = app.test_client().get("/login")
    assert "Content-Security-Policy" in anonymous.headers


def test_templates_and_static_files_carry_no_inline_script() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text, re.I), template.name
        assert "javascript:" not in text and " style=" not in text, template.name
        assert not re.search(r"\|\s*safe\b", text), f"{template.name}: |safe bypasses escaping"
    assert "eval(" not in (STATIC / "app.js").read_text()
    assert "innerHTML" not in (STATIC / "app.js").read_text()


# -- holds, exports, audit --------------------------------------------------------------------


def test_holds_from_a_search_list_release_and_audit(client_as, sandbox: Sandbox) -> None:  # noqa: ANN001
    client, csrf = client_as("officer")
    form = client.get("/holds/new?q=workshop").text
    assert "workshop</textarea>" in form
    created = client.post("/holds", data={
        "matter": "page-matter", "query": "workshop", "accounts": "", "date_from": "2026-01-01",
        "date_to": "", "reason": "regulator letter 7", "csrf_token": csrf})
    assert created.status_code == 302
    shown = client.get(created.headers["Location"]).text
    assert 'id="hold-status">active<' in shown and "regulator letter 7" in shown
    assert "page-matter" in client.get("/holds").text
    bad = client.post("/holds", data={"matter": "bad-query", "query": "(savings",
                                      "reason": "x", "csrf_token": csrf})
    assert bad.status_code == 400 and "column" in bad.text
    released = client.post(created.headers["Location"] + "/release",
                           data={"reason": "matter closed", "csrf_token": csrf})
    assert released.status_code == 302
    assert 'id="hold-status">released<' in client.get(created.headers["Location"]).text
    actor = f"web:{USERS['officer']}"
    assert events_by(sandbox.archive, actor, "hold-create")[-1]["matter"] == "page-matter"
    assert events_by(sandbox.archive, actor, "hold-release")[-1]["reason"] == "matter closed"


def test_exports_start_follow_download_and_audit(client_as, app: Flask,  # noqa: ANN001
                                                 sandbox: Sandbox, tmp_path: Path) -> None:
    client, csrf = client_as("officer")
    assert "savings" in client.get("/exports/new?q=savings").text
    started = client.post("/exports", data={"source": "query", "query": "savings OR branch",
                                            "matter": "", "reason": "counsel",
                                            "csrf_token": csrf})
    assert started.status_code == 302
    job_id = started.headers["Location"].rsplit("/", 1)[-1]
    progress = client.get(started.headers["Location"]).text
    assert "export-status" in progress
    app.extensions["archiver"].exports.wait(job_id)
    job = client.get(f"/api/v1/exports/{job_id}").json
    assert job["status"] == "done", job["message"]
    assert job["download"] == f"/api/v1/exports/{job_id}/download"
    pack = client.get(f"/exports/{job_id}/download")
    assert pack.headers["Content-Type"] == "application/zip"
    assert pack.headers["Content-Disposition"].startswith("attachment;")
    assert hashlib.sha256(pack.data).hexdigest() == job["sha256"]
    with zipfile.ZipFile(io.BytesIO(pack.data)) as zipped:
        names = zipped.namelist()
        assert any(n.endswith("/bagit.txt") for n in names)
        zipped.extractall(tmp_path)
    import bagit

    bag_dir = next(p.parent for p in tmp_path.rglob("bagit.txt"))
    bagit.Bag(str(bag_dir)).validate()  # complete and every checksum right
    actor = f"web:{USERS['officer']}"
    assert events_by(sandbox.archive, actor, "export")[-1]["query"] == "savings OR branch"
    assert events_by(sandbox.archive, actor, "export-download")[-1]["export_id"] == job_id
    # Refused at once, with the reason: a bad query, an unknown matter.
    bad = client.post("/exports", data={"source": "query", "query": 'x AND "open',
                                        "reason": "", "csrf_token": csrf})
    assert bad.status_code == 400 and "unclosed quote" in bad.text
    unknown = client.post("/exports", data={"source": "matter", "matter": "no-such-matter",
                                            "reason": "", "csrf_token": csrf})
    assert unknown.status_code == 400 and "no matter named" in unknown.text
    assert client.get("/exports/" + "f" * 32 + "/download").status_code == 404


def test_every_search_view_and_hold_is_audited_with_the_user(client_as,  # noqa: ANN001
                                                              sandbox: Sandbox) -> None:
    client, _ = client_as("auditor")
    client.get("/search?q=branch&sort=date")
    client.get("/api/v1/search?q=branch")
    client.get(f"/records/{sandbox.record_ids['1002']}")
    client.get(f"/api/v1/records/{sandbox.record_ids['1002']}")
    actor = f"web:{USERS['auditor']}"
    searches = [e for e in events_by(sandbox.archive, actor, "search") if e["query"] == "branch"]
    assert {e["sort"] for e in searches} >= {"date", "relevance"}
    views = [e for e in events_by(sandbox.archive, actor, "view")
             if e["record_id"] == sandbox.record_ids["1002"]]
    assert len(views) >= 2


def test_audit_trail_filters_and_csv(client_as, sandbox: Sandbox) -> None:  # noqa: ANN001
    client, _ = client_as("auditor")
    client.get("/search?q=csvcheck")
    sandbox.archive.audit.record("=HYPERLINK(\"http://x\")", "test-injection", {"a": "@b"})
    actor = f"web:{USERS['auditor']}"
    page = client.get("/audit", query_string={"actor": actor, "action": "search",
                                              "text": "csvcheck"})
    cells = re.findall(r"<td>([^<]*)</td>", page.text)
    assert actor in cells and "search" in cells and "test-injection" not in cells
    exported = client.get("/audit.csv", query_string={"action": "test-injection"})
    assert exported.headers["Content-Disposition"] == 'attachment; filename="audit-trail.csv"'
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == ["seq", "at", "actor", "action", "params", "prev_hash", "event_hash"]
    assert rows[1][2] == "'=HYPERLINK(\"http://x\")"  # never a formula in a spreadsheet
    assert len(rows) == 2
    assert events_by(sandbox.archive, actor, "audit-export")[-1] == {"action": "test-injection"}
    assert client.get("/audit?from=2026-13-01").status_code == 400


# -- status, account, admin ----------------------------------------------------------------


def test_status_page_lists_accounts(client_as) -> None:  # noqa: ANN001
    client, _ = client_as("auditor")
    page = client.get("/status").text
    assert "mastodon @harbourcu@sandbox.local" in page and "Recent capture runs" in page
    status = client.get("/api/v1/status").json
    assert status["records"] >= 12 and status["daemon"]["accounts"][0]["platform"] == "mastodon"


def test_a_token_made_on_the_account_page_is_shown_once(client_as) -> None:  # noqa: ANN001
    client, csrf = client_as("auditor")
    made = client.post("/account/tokens", data={"name": "my script", "csrf_token": csrf})
    token = re.search(r"(arch_[A-Za-z0-9_-]{20,})", made.text).group(1)
    assert token not in client.get("/account").text
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json[
        "username"] == USERS["auditor"]


def test_admin_adds_and_disables_users(client_as, sandbox: Sandbox) -> None:  # noqa: ANN001
    client, csrf = client_as("admin")
    added = client.post("/admin/users", data={"username": "newbie", "role": "auditor",
                                              "password": "a long enough password",
                                              "csrf_token": csrf})
    assert added.status_code == 302
    page = client.get("/admin/users").text
    assert "newbie" in page
    newbie = UserService(sandbox.archive).get("newbie")
    assert f"/admin/users/{newbie.id}/disable" in page
    assert client.post(f"/admin/users/{newbie.id}/disable",
                       data={"csrf_token": csrf}).status_code == 302
    assert UserService(sandbox.archive).get("newbie").disabled
    assert events_by(sandbox.archive, f"web:{USERS['admin']}", "user-disable")[-1] == {
        "username": "newbie"}
    weak = client.post("/admin/users", data={"username": "weak", "role": "auditor",
                                             "password": "short", "csrf_token": csrf})
    assert weak.status_code == 400
    settings = client.get("/admin/settings").text
    assert "secure_cookies" in settings and "archive" in settings


@pytest.mark.parametrize("query,latest_only,include_deleted", [
    ("*", True, True), ("*", False, True), ("workshop OR savings", False, False),
    ("account:@harbourcu@sandbox.local", True, False),
])
def test_page_facets_and_hits_are_the_search_services(client_as, sandbox: Sandbox, query: str,  # noqa: ANN001
                                                      latest_only: bool,
                                                      include_deleted: bool) -> None:
    service = sandbox.archive.search
    expected = service.index.search(service.request(
        query, latest_only=latest_only, include_deleted=include_deleted, facets=True,
        page_size=5))
    client, _ = client_as("auditor")
    args = {"q": query, "facets": "1", "page_size": "5",
            "all_versions": "" if latest_only else "1",
            "exclude_deleted": "" if include_deleted else "1"}
    for _ in range(2):  # the second answer comes from the index generation's memory
        got = client.get("/api/v1/search", query_string=args).get_json()
        assert got["facets"] == expected.facets and got["total"] == expected.total
        assert [h["record_id"] for h in got["hits"]] == [h.record_id for h in expected.hits]

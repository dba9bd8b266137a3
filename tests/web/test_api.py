"""The JSON API: described completely by its OpenAPI document, and a query gives the
same records as `archiver search --json` (the CLI run as a user runs it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from flask import Flask

from archiver.users import UserService
from tests.web.conftest import FAST_HASHER, USERS, Sandbox

QUERIES = [
    ("savings OR branch", []),
    ("*", ["--all-versions"]),
    ("*", ["--exclude-deleted", "--sort", "date"]),
    ('"savings rate" OR workshop', ["--all-versions", "--sort", "date-asc"]),
    ("rat* AND NOT deleted:true", []),
    ("created:[2026-03-02 TO 2026-03-02] AND kind:reply", ["--all-versions"]),
    ("fraud~1 OR membrs~1", []),
    ("*", ["--page", "2", "--page-size", "3", "--sort", "date"]),
]
CLI_TO_API = {"--all-versions": "all_versions", "--exclude-deleted": "exclude_deleted",
              "--sort": "sort", "--page": "page", "--page-size": "page_size"}


@pytest.fixture(scope="module")
def token(sandbox: Sandbox) -> str:
    _, made = UserService(sandbox.archive, FAST_HASHER).create_token(USERS["officer"], "api")
    return made


def _api_params(query: str, flags: list[str]) -> dict[str, str]:
    params = {"q": query}
    position = 0
    while position < len(flags):
        name = CLI_TO_API[flags[position]]
        if flags[position] in ("--all-versions", "--exclude-deleted"):
            params[name] = "true"
            position += 1
        else:
            params[name] = flags[position + 1]
            position += 2
    return params


def _cli_search(sandbox: Sandbox, query: str, flags: list[str], subprocess_run: bool
                ) -> dict:
    """`archiver search QUERY --json FLAGS` on the sandbox archive: in a new process
    (as a user runs it) or through click in this one (the same command, faster)."""
    env = {"ARCHIVER_ARCHIVE__DIR": str(sandbox.root / "archive"), "ARCHIVER_ACTOR": "cli-test"}
    args = ["search", query, "--json", *flags]
    if subprocess_run:
        full = {k: v for k, v in os.environ.items() if k != "ARCHIVER_CONFIG"}
        done = subprocess.run([sys.executable, "-m", "archiver.cli", *args], capture_output=True,
                              text=True, env={**full, **env}, timeout=120, cwd=sandbox.root)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    from click.testing import CliRunner

    from archiver.cli.main import cli

    cwd = os.getcwd()
    os.chdir(sandbox.root)  # no archiver.toml here: the settings come from the environment
    try:
        result = CliRunner().invoke(cli, args, env={**env, "ARCHIVER_CONFIG": None},
                                    catch_exceptions=False)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_api_and_the_cli_give_the_same_records(app: Flask, sandbox: Sandbox,
                                                   token: str) -> None:
    client = app.test_client()
    for number, (query, flags) in enumerate(QUERIES):
        from_cli = _cli_search(sandbox, query, flags, subprocess_run=number == 0)
        response = client.get("/api/v1/search", query_string=_api_params(query, flags),
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.json
        from_api = response.json
        assert [h["record_id"] for h in from_api["hits"]] == [
            h["record_id"] for h in from_cli["hits"]], (query, flags)
        assert from_api["hits"], (query, flags)
        for key in ("total", "pages", "page", "page_size", "latest_only", "include_deleted",
                    "sort", "query"):
            assert from_api[key] == from_cli[key], (query, key)
        assert from_api["hits"] == from_cli["hits"]  # snippets, flags, scores: the same


def test_search_errors_are_json(app: Flask, token: str) -> None:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    broken = client.get("/api/v1/search", query_string={"q": "(savings"}, headers=auth)
    assert broken.status_code == 400 and "column" in broken.json["error"]["message"]
    assert client.get("/api/v1/search", headers=auth).status_code == 400
    assert client.get("/api/v1/search?q=x&page_size=5000", headers=auth).status_code == 400
    nobody = client.get("/api/v1/search?q=x")
    assert nobody.status_code == 401 and nobody.json["error"]["code"] == "unauthorised"
    assert nobody.headers["WWW-Authenticate"].startswith("Bearer")


def test_openapi_describes_every_api_route_and_nothing_else(app: Flask, token: str) -> None:
    document = app.test_client().get("/api/v1/openapi.json",
                                     headers={"Authorization": f"Bearer {token}"}).json
    assert document["openapi"].startswith("3.")
    described = {(path, method.upper()) for path, item in document["paths"].items()
                 for method in item}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z0-9_]+:)?([a-z0-9_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            routes.add((path, method))
    assert described == routes
    for path, item in document["paths"].items():
        for operation in item.values():
            assert operation["operationId"] and "401" in operation["responses"], path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path
    schemas = document["components"]["schemas"]
    for ref in re.findall(r'"\$ref": "#/components/schemas/([A-Za-z]+)"', json.dumps(document)):
        assert ref in schemas


def test_records_holds_and_exports_over_the_api(app: Flask, sandbox: Sandbox,
                                                 token: str) -> None:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    record = client.get(f"/api/v1/records/{sandbox.record_ids['1005']}", headers=auth).json
    assert record["observation"] == "deleted" and record["proof"]["status"] == "verified"
    assert record["post"]["text"].startswith("Join our free financial literacy workshop")
    raw = client.get(f"/api/v1/records/{sandbox.record_ids['1005']}/raw", headers=auth)
    assert json.loads(raw.data)["observation"] == "deleted"
    media = client.get(f"/api/v1/records/{sandbox.media_record}/media/{sandbox.media_sha256}",
                       headers=auth)
    assert media.status_code == 200 and media.headers["Content-Type"] == "image/png"
    created = client.post("/api/v1/holds", headers=auth, json={
        "matter": "api-matter", "query": "members", "reason": "API test",
        "accounts": ["@harbourcu@sandbox.local"], "from": "2026-03-01"})
    assert created.status_code == 201, created.json
    hold_id = created.json["hold"]["id"]
    assert created.json["records"] >= 1
    listed = client.get("/api/v1/holds", headers=auth).json["holds"]
    assert "api-matter" in [h["matter"] for h in listed]
    assert client.post("/api/v1/holds", headers=auth, json={"matter": "x"}).status_code == 400
    started = client.post("/api/v1/exports", headers=auth, json={"matter": "api-matter",
                                                                 "reason": "API"})
    assert started.status_code == 202
    job = app.extensions["archiver"].exports.wait(started.json["id"])
    assert job.status == "done", job.message
    assert client.get(f"/api/v1/exports/{job.id}", headers=auth).json["status"] == "done"
    pack = client.get(f"/api/v1/exports/{job.id}/download", headers=auth)
    assert pack.status_code == 200 and pack.data[:2] == b"PK"
    assert job.id in [e["id"] for e in client.get("/api/v1/exports", headers=auth).json[
        "exports"]]
    released = client.post(f"/api/v1/holds/{hold_id}/release", headers=auth,
                           json={"reason": "done"})
    assert released.status_code == 200 and released.json["hold"]["status"] == "released"
    again = client.post(f"/api/v1/holds/{hold_id}/release", headers=auth, json={"reason": "x"})
    assert again.status_code == 400 and "already released" in again.json["error"]["message"]
    assert client.get("/api/v1/holds/99999", headers=auth).status_code == 404


def test_the_audit_api_for_auditors(app: Flask, sandbox: Sandbox) -> None:
    _, auditor = UserService(sandbox.archive, FAST_HASHER).create_token(USERS["auditor"], "a")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {auditor}"}
    client.get("/api/v1/search?q=audit-api-check", headers=auth)
    found = client.get("/api/v1/audit", query_string={"actor": f"web:{USERS['auditor']}",
                                                      "action": "search",
                                                      "text": "audit-api-check"},
                       headers=auth).json
    assert len(found["events"]) == 1
    assert json.loads(found["events"][0]["params"])["query"] == "audit-api-check"

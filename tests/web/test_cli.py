"""`archiver users`, `archiver tokens` and `archiver serve` as an administrator runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.cli.main import cli
from archiver.cli.web import bind_warnings, is_loopback
from archiver.errors import UsageError
from archiver.setup import initialise
from tests.conftest import make_settings


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    initialise(make_settings(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARCHIVER_CONFIG", raising=False)
    monkeypatch.setenv("ARCHIVER_ARCHIVE__DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("ARCHIVER_ACTOR", "os:admin")
    return tmp_path


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


def test_users_add_list_disable_with_the_password_from_the_environment(folder: Path) -> None:
    added = run("users", "add", "Alice", "--role", "officer", "--password-env", "PW",
                env={"PW": "a password long enough"})
    assert added.exit_code == 0, added.output
    assert "user alice added as compliance officer" in added.output
    listed = json.loads(run("users", "list", "--json").stdout)
    assert [(u["username"], u["role"], u["disabled"]) for u in listed] == [
        ("alice", "officer", False)]
    assert "password" not in json.dumps(listed)
    assert run("users", "disable", "alice").exit_code == 0
    assert json.loads(run("users", "list", "--json").stdout)[0]["disabled"] is True


def test_passwords_never_come_from_arguments(folder: Path) -> None:
    # There is no --password option at all.
    refused = CliRunner().invoke(cli, ["users", "add", "bob", "--role", "auditor",
                                       "--password", "a password long enough"])
    assert refused.exit_code == 2 and "No such option" in refused.output
    # Without a terminal and without --password-env it says what to do (exit 2).
    done = subprocess.run([sys.executable, "-m", "archiver.cli", "users", "add", "bob",
                           "--role", "auditor"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, cwd=folder)
    assert done.returncode == 2 and "--password-env" in done.stderr
    with pytest.raises(UsageError, match="UNSET_PW is empty or not set"):
        run("users", "add", "bob", "--role", "auditor", "--password-env", "UNSET_PW")


def test_tokens_are_printed_once_and_revocable(folder: Path) -> None:
    run("users", "add", "carol", "--role", "auditor", "--password-env", "PW",
        env={"PW": "a password long enough"})
    created = run("tokens", "create", "carol", "--name", "nightly report")
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert re.fullmatch(r"arch_[A-Za-z0-9_-]{40,}", token)
    listed = run("tokens", "list", "--json").stdout
    assert token not in listed and json.loads(listed)[0]["name"] == "nightly report"
    token_id = json.loads(listed)[0]["id"]
    assert run("tokens", "revoke", str(token_id)).exit_code == 0
    assert json.loads(run("tokens", "list", "--json").stdout)[0]["revoked_at"]


def test_binding_beyond_loopback_warns_loudly() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert bind_warnings("127.0.0.1", insecure_cookies=True) == []
    warned = bind_warnings("0.0.0.0", insecure_cookies=False)
    assert len(warned) == 1 and "TLS" in warned[0]
    assert len(bind_warnings("192.0.2.10", insecure_cookies=True)) == 2


def test_serve_runs_the_app_on_loopback(folder: Path) -> None:
    """The real command: a multi-threaded server on 127.0.0.1 answering the login page."""
    server = subprocess.Popen(
        [sys.executable, "-m", "archiver.cli", "serve", "--port", "0", "--server", "werkzeug"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ})
    try:
        url = None
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline and url is None:
            line = server.stderr.readline()
            lines.append(line)
            found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url, "".join(lines)
        assert not any("WARNING" in line for line in lines)
        with urllib.request.urlopen(url + "/login", timeout=10) as response:
            assert response.status == 200
            assert "Content-Security-Policy" in response.headers
            assert "__Host-archiver=" in response.headers["Set-Cookie"]  # Secure by default
    finally:
        server.terminate()
        server.wait(timeout=30)

"""The search commands as a user runs them: `archiver` in a fresh folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from archiver.cli.main import cli
from search.whoosh_index import WhooshIndex


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archiver.cli", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120, env={**os.environ, "ARCHIVER_ACTOR": "cli-test", "COLUMNS": "200"})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-search")
    assert run(root, "quickstart").returncode == 0
    return root


def test_status_index_search_reindex_verify(folder: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """In-process through click (the subprocess tests below cover exit codes)."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("ARCHIVER_ACTOR", "cli-test")
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(cwd: Path, *args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    status = json.loads(run(folder, "status", "--json").stdout)
    assert status["records"] == 10 and status["items"] == 8 and status["accounts"] == 1
    assert status["index"]["lag"] == 0 and status["last_checkpoint"]["tree_size"] == 10
    # A legal hold queues the records it covers so the index learns their matter.
    held = run(folder, "hold", "create", "rates", "--query", "savings", "--reason", "review")
    assert held.exit_code == 0, held.output
    assert "lag 2 (behind: run `archiver index`)" in run(folder, "status").stdout

    indexed = run(folder, "index", "--json")
    assert indexed.exit_code == 0, indexed.output
    assert json.loads(indexed.stdout)["indexed"] == 2
    assert json.loads(run(folder, "status", "--json").stdout)["index"]["lag"] == 0
    matter = json.loads(run(folder, "search", "holds:rates", "--all-versions", "--json").stdout)
    assert {h["native_id"] for h in matter["hits"]} == {"1003"} and matter["total"] == 2

    found = json.loads(run(folder, "search", "savings OR workshop", "--json", "--facets").stdout)
    assert found["total"] == 2 and found["index_lag"] == 0
    assert {h["native_id"] for h in found["hits"]} == {"1003", "1005"}
    assert all(len(h["record_id"]) == 64 for h in found["hits"])
    assert found["facets"]["deleted"] == {"false": 1, "true": 1}
    older = json.loads(run(folder, "search", "workshop", "--all-versions", "--exclude-deleted",
                           "--json").stdout)
    assert [(h["version"], h["deleted"], h["latest"]) for h in older["hits"]] == [(1, False, False)]

    table = run(folder, "search", "rate", "--sort", "date")
    assert table.exit_code == 0, table.output
    assert "1 records match (latest versions, deleted included)" in table.stdout
    assert "edited" in table.stdout
    counted = run(folder, "search", "savings OR workshop", "--facets")
    assert counted.exit_code == 0, counted.output
    assert "deleted: false: 1, true: 1" in counted.stdout
    assert "platform: mastodon: 2" in counted.stdout

    rebuilt = run(folder, "reindex", "--json")
    assert rebuilt.exit_code == 0 and json.loads(rebuilt.stdout)["indexed"] == 10
    after = json.loads(run(folder, "search", "holds:rates", "--all-versions", "--json").stdout)
    assert after["total"] == 2  # the rebuilt index still knows the matter
    report = json.loads(run(folder, "verify", "--json").stdout)
    assert report["ok"] and report["counts"]["index_documents"] == 10


def test_a_bad_query_exits_2_pointing_at_the_column(folder: Path) -> None:
    result = run(folder, "search", 'savings AND "rate')
    assert result.returncode == 2
    assert "query error at column 13: unclosed quote" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_indexer_is_refused_with_a_message(folder: Path) -> None:
    index = WhooshIndex(folder / "archive" / "index")
    with index.writing("index"):
        result = run(folder, "index")
    assert result.returncode == 3
    assert "only one writer runs at a time" in result.stderr
    assert "Traceback" not in result.stderr

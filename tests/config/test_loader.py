from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigProblems, load_settings
from config.period import Period


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "archiver.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_file_gives_embedded_defaults_under_the_config_folder(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert settings.archive_dir == tmp_path / "archive"
    assert settings.catalogue_url == f"sqlite:///{tmp_path / 'archive' / 'catalogue.sqlite3'}"
    assert settings.objects_dir == tmp_path / "archive" / "objects"
    assert settings.storage.backend == "local"


def test_every_problem_is_listed_at_once_with_its_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[storage]
backend = "tape"
[retention]
default_period = "six years"
[ingest]
batch_size = 0
bogus = 1
""",
    )
    with pytest.raises(ConfigProblems) as caught:
        load_settings(path)
    text = "\n".join(caught.value.problems)
    assert "storage.backend: unknown backend 'tape' (installed: local, s3)" in text
    assert "retention.default_period:" in text and "is not a period" in text
    assert "ingest.batch_size:" in text
    assert "ingest.bogus: unknown setting" in text
    assert len(caught.value.problems) == 4
    assert caught.value.source == str(path)


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[archive\ndir = 1")
    with pytest.raises(ConfigProblems) as caught:
        load_settings(path)
    assert "not valid TOML" in caught.value.problems[0]
    assert "line 1" in caught.value.problems[0]


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigProblems, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[storage]\nbackend = "local"\n[ingest]\nbatch_size = 10\n')
    monkeypatch.setenv("ARCHIVER_INGEST__BATCH_SIZE", "77")
    monkeypatch.setenv("ARCHIVER_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("ARCHIVER_STORAGE__S3__BUCKET", "records")
    settings = load_settings(path)
    assert settings.ingest.batch_size == 77
    assert settings.storage.backend == "s3"
    assert settings.storage.s3.bucket == "records"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[archive]\norganisation = "Harbour CU"\n')
    monkeypatch.setenv("ARCHIVER_CONFIG", str(path))
    assert load_settings().archive.organisation == "Harbour CU"


def test_s3_backend_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(ConfigProblems, match="storage.s3.bucket is required"):
        load_settings(write(tmp_path, '[storage]\nbackend = "s3"\n'))


def test_example_config_is_valid_and_documents_every_section(tmp_path: Path) -> None:
    from archiver.setup import example_config

    text = example_config()
    settings = load_settings(write(tmp_path, text))
    for section in type(settings).model_fields:
        assert f"[{section}]" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6y", Period(6)),
        ("3y6m", Period(3, 6)),
        ("90d", Period(days=90)),
        ("1y2m3d", Period(1, 2, 3)),
    ],
)
def test_periods_parse(text: str, expected: Period) -> None:
    assert Period.parse(text) == expected


@pytest.mark.parametrize("text", ["", "6", "y", "6 years", "-1y", "1d2y"])
def test_malformed_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a period"):
        Period.parse(text)

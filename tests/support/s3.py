"""S3 for tests: moto's threaded server over real HTTP on 127.0.0.1.

Tests talk to it through boto3 exactly as production talks to S3, so the
requests, errors and retries are real; only the server is a stand-in. moto
does not enforce every Object Lock rule (see COMPLIANCE.md): tests of our
guard must assert on our code, not on moto.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from config.settings import Settings

FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Never read a developer's real profile, and never send 127.0.0.1 through a proxy.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
UNSET_AWS_ENVIRONMENT = ("AWS_PROFILE",)


@contextmanager
def fake_aws_environment() -> Iterator[None]:
    """Fake credentials in the environment for the block; the old values come back after."""
    changes = dict(FAKE_AWS_ENVIRONMENT)
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    changes["NO_PROXY"] = changes["no_proxy"] = no_proxy
    saved = {name: os.environ.get(name) for name in [*changes, *UNSET_AWS_ENVIRONMENT]}
    os.environ.update(changes)
    for name in UNSET_AWS_ENVIRONMENT:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """Run moto's S3 on a free port of 127.0.0.1 and yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request (and moto's own 500s) to stderr.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    with fake_aws_environment():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def unique_bucket_name(label: str = "test") -> str:
    """A fresh, valid bucket name, so tests sharing one server never see each other."""
    return f"{label}-{uuid.uuid4().hex[:16]}"


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_settings(
    endpoint_url: str,
    archive_dir: Path | str,
    *,
    bucket: str | None = None,
    **s3_options: Any,
) -> Settings:
    """Settings for the s3 backend against `endpoint_url`: a new bucket per call,
    created with Object Lock, short timeouts so a dead endpoint fails fast."""
    s3 = {
        "bucket": bucket or unique_bucket_name(),
        "endpoint_url": endpoint_url,
        "create_bucket": True,
        "connect_timeout": 2.0,
        "max_attempts": 2,
        **s3_options,
    }
    sections: dict[str, Any] = {
        "archive": {"dir": Path(archive_dir)},
        "storage": {"backend": "s3", "s3": s3},
    }
    return Settings(**sections)  # as config.loader builds it from a TOML file

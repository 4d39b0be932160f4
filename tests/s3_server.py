"""A real S3-compatible server on 127.0.0.1 for tests (moto's standalone server), and the environment to use it.

The server runs in a thread of the test process for the whole session; each test gets its own bucket and
an environment (``AWS_ENDPOINT_URL``, test credentials, no AWS config files) set with ``monkeypatch``.
fsspec keeps one s3fs instance per set of options, made with the environment of the moment: the instance
cache is cleared around each test so no test reads through another test's endpoint or credentials.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"


@dataclass
class S3Server:
    """A running moto server: its endpoint URL and the thread server object."""

    endpoint: str
    server: Any

    def stop(self) -> None:
        """Stop the server."""
        self.server.stop()


def start_server() -> S3Server:
    """Start moto's threaded server on a free port of 127.0.0.1; skip the test when moto is not installed."""
    server_module = pytest.importorskip("moto.server", reason="moto[s3] and flask are in the test extra")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server(f"http://{host}:{port}", server)


def clear_s3fs_instances() -> None:
    """Forget cached s3fs instances (they keep the endpoint and credentials they were made with)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


def set_s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, tmp_path: Path) -> dict[str, str]:
    """Point the AWS environment at ``endpoint`` with test credentials; returns the variables set."""
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def new_bucket(prefix: str = "test") -> str:
    """Create a bucket with a fresh name on the server the environment points at; return its name."""
    import s3fs

    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(name)
    return name


def s3_filesystem() -> Any:
    """An s3fs filesystem of the current environment (not shared with other tests through the cache)."""
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3-compatible server for the test session."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A fresh bucket on the session's server, with the environment pointing at it for this test."""
    set_s3_env(monkeypatch, s3_server.endpoint, tmp_path)
    clear_s3fs_instances()
    try:
        yield new_bucket()
    finally:
        clear_s3fs_instances()

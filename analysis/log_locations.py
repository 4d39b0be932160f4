"""Where the inputs live: local paths or object-store URLs (``s3://bucket/prefix``), listed without copying.

A URL input is looked up with fsspec (s3fs for ``s3://``) and read later through Inspect's own log APIs,
which take the same URLs. Credentials and endpoint come from the usual AWS environment
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` or ``AWS_PROFILE``; ``AWS_ENDPOINT_URL`` for an
S3-compatible store), read when the analysis starts.

Directories (local or a URL prefix) are searched recursively for the logs Inspect itself lists: ``*.eval``
files, and ``*.json`` files named the way Inspect names logs (``<ISO timestamp>_<task>_<id>.json``, as
``--log-format json`` writes them). Other JSON files (Inspect's ``logs.json`` / ``eval-set.json`` indexes,
configs) are not logs; such a log renamed by hand is read when passed by name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from refusal_stability.analysis.tidy import AnalysisInputError

__all__ = ["InputFile", "Location", "expand_inputs", "is_log_name", "is_url", "log_dir_of", "size_of"]

Location = Path | str  # a local path, or a URL (``s3://bucket/key``)

# Inspect's log file names start with a full ISO timestamp (date, "T", hours, minutes, seconds)
_INSPECT_LOG_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}[:-]\d{2}[:-]\d{2}")
_BUCKET_PROTOCOLS = frozenset(("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"))
_UNREACHABLE = frozenset(
    ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ConnectionError", "TimeoutError")
)
EXPECTED = "expected .eval/.json logs, directories of them, or label CSVs"


@dataclass(frozen=True)
class InputFile:
    """One file to read.

    Attributes:
        location: local path, or URL of an object in a store.
        from_dir: found by a directory scan (then a failed read only warns).
        size: bytes.
    """

    location: Location
    from_dir: bool
    size: int


def is_url(item: str | Path) -> bool:
    """True for a URL of a remote filesystem (``s3://…``); local paths and ``file://`` URLs are local."""
    scheme = urlparse(str(item)).scheme if "://" in str(item) else ""
    return scheme not in ("", "file")


def is_log_name(name: str) -> bool:
    """True for a file name Inspect lists as a log: ``*.eval``, or ``*.json`` with Inspect's timestamp prefix."""
    return name.endswith(".eval") or (name.endswith(".json") and _INSPECT_LOG_NAME.match(name) is not None)


def log_dir_of(location: Location) -> str:
    """The directory (or URL prefix) holding a log, as ``inspect view --log-dir`` takes it."""
    text = str(location)
    if is_url(text):
        return text.rsplit("/", 1)[0]
    return str(Path(text).resolve().parent)


def size_of(location: Location) -> int:
    """Bytes of a local file (0 when it cannot be read: the reader then names the problem)."""
    try:
        return Path(location).stat().st_size
    except OSError:
        return 0


def expand_inputs(inputs: Sequence[str | Path]) -> list[InputFile]:
    """Files to read, in input order; directories expanded (sorted by path); each file once.

    Raises:
        AnalysisInputError: a path does not exist; a URL's store is unreachable, its bucket missing, or the
            credentials are denied (one line naming the URL and what to check).
    """
    stores = _Stores()
    seen: set[str] = set()
    files: list[InputFile] = []
    for item in inputs:
        if is_url(item):
            found = stores.expand(str(item))
        else:
            found = _expand_local(_local_path(item))
        for file in found:
            key = str(file.location) if is_url(file.location) else str(Path(file.location).resolve())
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files


def _local_path(item: str | Path) -> Path:
    """A local path; a ``file://`` URL becomes its path."""
    text = str(item)
    return Path(unquote(urlparse(text).path)) if text.startswith("file://") else Path(item)


def _expand_local(path: Path) -> list[InputFile]:
    if path.is_dir():
        found = sorted(p for pattern in ("*.eval", "*.json") for p in path.rglob(pattern) if is_log_name(p.name))
        return [InputFile(p, True, p.stat().st_size) for p in found if p.is_file()]
    if path.is_file():
        return [InputFile(path, False, path.stat().st_size)]
    raise AnalysisInputError(f"{path}: no such file or directory ({EXPECTED})")


class _Stores:
    """One fsspec filesystem per protocol for this listing, built from the current environment."""

    def __init__(self) -> None:
        self._filesystems: dict[str, Any] = {}

    def filesystem(self, url: str) -> tuple[Any, str]:
        """(filesystem, path within it) of a URL; the first use of a protocol drops its cached instances.

        Inspect's reads share fsspec's instance cache: clearing it makes them use the environment (endpoint,
        credentials) as it is now, not as it was when an earlier instance was made in this process.
        """
        import fsspec

        protocol = urlparse(url).scheme
        if protocol not in self._filesystems:
            cls = fsspec.get_filesystem_class(protocol)
            cls.clear_instance_cache()
            self._filesystems[protocol] = fsspec.filesystem(protocol, use_listings_cache=False)
        fs = self._filesystems[protocol]
        return fs, fs._strip_protocol(url)

    def expand(self, url: str) -> list[InputFile]:
        """The log files at a URL: the object itself, or the logs below a prefix."""
        fs, path = self.filesystem(url)
        try:
            info = fs.info(path)
            if info.get("type") != "directory":
                return [InputFile(url, False, int(info.get("size") or 0))]
            listing = fs.find(path, detail=True)
        except Exception as exc:  # fsspec and its stores raise many kinds
            raise _remote_error(url, exc, fs, path) from exc
        found = sorted(
            (fs.unstrip_protocol(name), int(entry.get("size") or 0))
            for name, entry in listing.items()
            if entry.get("type", "file") == "file" and is_log_name(name.rsplit("/", 1)[-1])
        )
        return [InputFile(name, True, size) for name, size in found]


def _endpoint(protocol: str) -> str:
    """The store the environment selects, for error messages (S3: the endpoint URL)."""
    if protocol not in ("s3", "s3a"):
        return f"the {protocol}:// store"
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return f"endpoint {url}" if url else "AWS's default endpoint (AWS_ENDPOINT_URL not set)"


def _bucket_missing(fs: Any, path: str, protocol: str) -> str | None:
    """The bucket of ``path`` when the store says it does not exist, else None."""
    if protocol not in _BUCKET_PROTOCOLS:
        return None
    bucket = path.split("/", 1)[0]
    try:
        return None if fs.exists(bucket) else bucket
    except Exception:  # cannot tell: the caller reports the path as missing
        return None


def _remote_error(url: str, exc: Exception, fs: Any, path: str) -> AnalysisInputError:
    """One line naming the URL, what went wrong and what to check."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    detail = f"{type(exc).__name__}: {exc}"
    protocol = urlparse(url).scheme
    if names & _UNREACHABLE:
        return AnalysisInputError(
            f"{url}: cannot reach the object store at {_endpoint(protocol)} ({detail}); "
            "check AWS_ENDPOINT_URL and the network"
        )
    if "NoCredentialsError" in names:
        return AnalysisInputError(
            f"{url}: no credentials found ({detail}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )
    if isinstance(exc, PermissionError):
        return AnalysisInputError(
            f"{url}: access denied at {_endpoint(protocol)} ({detail}); check the credentials (AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and that they may list and read this bucket"
        )
    if isinstance(exc, FileNotFoundError):
        bucket = _bucket_missing(fs, path, protocol)
        if bucket is not None:
            return AnalysisInputError(
                f"{url}: bucket {bucket!r} does not exist at {_endpoint(protocol)}; "
                "check the bucket name and AWS_ENDPOINT_URL"
            )
        return AnalysisInputError(f"{url}: no such object or prefix ({EXPECTED})")
    return AnalysisInputError(f"{url}: cannot list or read it at {_endpoint(protocol)} ({detail})")

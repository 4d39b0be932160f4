"""Publish a finished analysis to object storage (``--out s3://bucket/prefix``): fresh prefix, manifest last.

Object stores have no rename, so an analysis cannot be swapped in. Instead the files of the finished local
staging folder are uploaded under a fresh prefix (``OUT/analysis-<time>-<id>/``) and only then is
``OUT/manifest.json`` written, listing them (paths relative to ``OUT``). A reader trusts only what the manifest
lists: an upload that stops half-way (Ctrl-C, a lost connection) leaves an unlisted prefix and the previous
manifest in force. Two analyses into one ``OUT``: each manifest names a complete prefix, the later one wins.
After the manifest is written, the prefix of the manifest it replaced is removed.

``OUT`` must be empty or hold an analysis of this tool (its manifest); other objects refuse with one line.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from refusal_stability.analysis.tidy import AnalysisInputError
from refusal_stability.analysis.whole_output import MANIFEST, TOOL

__all__ = ["check_object_store_out", "publish"]


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise AnalysisInputError(f"--out {url}: cannot open this object store ({exc})") from None
    return fs, str(root).rstrip("/")


def _previous_manifest(fs: Any, root: str) -> dict[str, Any] | None:
    try:
        manifest = json.loads(fs.cat_file(f"{root}/{MANIFEST}"))
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - unreadable manifest: not ours
        return {}
    return manifest if isinstance(manifest, dict) and manifest.get("tool") == TOOL else {}


def check_object_store_out(url: str) -> None:
    """Refuse an ``OUT`` prefix that holds objects this tool did not write (no manifest of it).

    Raises:
        AnalysisInputError: unreachable store, or foreign objects under ``OUT``.
    """
    fs, root = _filesystem(url)
    try:
        present = fs.find(root) if fs.exists(root) else []
    except Exception as exc:  # noqa: BLE001 - credentials, a missing bucket ...
        raise AnalysisInputError(f"--out {url}: cannot list it ({type(exc).__name__}: {exc})") from None
    if present and not _previous_manifest(fs, root):
        raise AnalysisInputError(
            f"--out {url}: holds objects this tool did not write (no {MANIFEST} of an earlier analysis); "
            "choose an empty prefix"
        )


def publish(staging: Path, url: str) -> str:
    """Upload the finished ``staging`` folder under a fresh prefix of ``url``, then the manifest; return its URL.

    Args:
        staging: the complete analysis (its local ``manifest.json`` is rewritten for the store).
        url: the ``--out`` URL.
    """
    check_object_store_out(url)
    fs, root = _filesystem(url)
    previous = _previous_manifest(fs, root) or {}
    analysis_id = f"analysis-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    local = json.loads((staging / MANIFEST).read_text(encoding="utf-8"))
    for entry in local["files"]:
        fs.put_file(str(staging / entry["path"]), f"{root}/{analysis_id}/{entry['path']}")
    files = [{**entry, "path": f"{analysis_id}/{entry['path']}"} for entry in local["files"]]
    manifest = {**local, "prefix": analysis_id, "files": files}
    fs.pipe_file(f"{root}/{MANIFEST}", json.dumps(manifest, indent=2).encode("utf-8"))  # last: now it counts
    old = previous.get("prefix")
    if isinstance(old, str) and old and old != analysis_id and "/" not in old:
        try:
            fs.rm(f"{root}/{old}", recursive=True)
        except FileNotFoundError:
            pass
    return f"{url.rstrip('/')}/{MANIFEST}"

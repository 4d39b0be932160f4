"""Write an analysis whole: ``--out`` always holds exactly one complete analysis, or the one before it, or nothing.

:func:`whole_output` hands the writer a fresh folder beside ``--out``; when the writer is done it writes the
manifest (``manifest.json``: every file written, with its size and SHA-256) last and swaps the folder in with
two renames, during which Ctrl-C is held back. An error or Ctrl-C while writing leaves ``--out`` as it was.

- Concurrency: a lock file beside ``--out`` (``.NAME.lock``, ``fcntl.flock``; released when the process ends,
  however it ends) admits one analysis at a time; a second one refuses with one line instead of waiting.
- Files the tool did not write: an existing ``--out`` must be empty or hold exactly the files its manifest
  lists; anything else (a folder of the user's, a file added to a report) refuses with one line, never deleted.
- Object storage (``s3://``) has no rename: :func:`write_analysis` writes the same folder locally, then uploads
  it under a fresh prefix (``OUT/<analysis id>/``) and writes the manifest last at ``OUT/manifest.json``, naming
  that prefix (:mod:`object_store_output`); readers trust only what the manifest lists.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from refusal_stability.analysis.tidy import AnalysisInputError

__all__ = [
    "MANIFEST",
    "check_out",
    "check_writable_out",
    "is_object_store",
    "output_lock",
    "whole_output",
    "write_analysis",
    "write_manifest",
]

MANIFEST = "manifest.json"
TOOL = "refusal-stability analyze"


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _listed(out: Path) -> set[str] | None:
    """The files the manifest in ``out`` lists, or None when there is no readable manifest of this tool."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return {str(entry["path"]) for entry in manifest["files"]} if manifest.get("tool") == TOOL else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _present(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()}


def is_object_store(out: str | Path) -> bool:
    """True for an object-store URL (``s3://bucket/prefix``) as ``--out``."""
    return "://" in str(out)


def check_out(out: str | Path) -> Path:
    """``out`` as a local folder this tool may replace: absent, empty, or exactly an earlier analysis of it.

    Raises:
        AnalysisInputError: an object-store URL, an existing file, or a folder holding files this tool did not
            write (no manifest of it, or files its manifest does not list).
    """
    if is_object_store(out):
        raise AnalysisInputError(f"--out {out}: an object-store URL, not a local folder")
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise AnalysisInputError(f"--out {path}: is an existing file; expected a directory (new or existing)")
    if not path.is_dir():
        return path
    present = _present(path)
    if not present:
        return path
    listed = _listed(path)
    if listed is None:
        raise AnalysisInputError(
            f"--out {path}: holds files this tool did not write (no {MANIFEST} of an earlier analysis); "
            "choose a new or empty folder, or remove its contents"
        )
    extra = sorted(present - listed - {MANIFEST})
    if extra:
        raise AnalysisInputError(
            f"--out {path}: holds {len(extra)} file(s) its {MANIFEST} does not list (e.g. {extra[0]!r}); "
            "move them away, or choose another folder (an analysis replaces the whole folder)"
        )
    return path


def check_writable_out(out: str | Path) -> None:
    """:func:`check_out` for a local folder; for an object-store URL, that its prefix is empty or ours."""
    if is_object_store(out):
        from refusal_stability.analysis.object_store_output import check_object_store_out

        check_object_store_out(str(out))
    else:
        check_out(out)


@contextlib.contextmanager
def output_lock(out: str | Path) -> Iterator[Path]:
    """Hold the lock of ``out`` (a file beside it); refuse at once when another analysis holds it.

    Raises:
        AnalysisInputError: another process (or another open of this lock) holds it.
    """
    import fcntl

    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_path(out)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise AnalysisInputError(
                f"--out {out}: another analysis is writing it now (lock {lock}); wait for it to finish or choose "
                "another --out"
            ) from None
        yield lock
    finally:
        os.close(fd)  # releases the lock; the lock file stays (removing it would let two holders in)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``manifest.json`` into ``folder`` listing every file in it (path, bytes, SHA-256); return its path."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p != folder / MANIFEST)
    entries = [
        {"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files
    ]
    manifest = {"tool": TOOL, "created": datetime.now(UTC).isoformat(), **(extra or {}), "files": entries}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return path


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block ends, then raise it (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _swap(staging: Path, out: Path) -> None:
    """Put ``staging`` in place of ``out`` (two renames, Ctrl-C held back); remove the earlier analysis."""
    old: Path | None = None
    with _interrupts_held():
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "analysis")
        os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_leftovers(out: Path) -> None:
    """Remove staging/old folders of this ``out`` that a killed analysis left (called under the lock)."""
    for prefix in (f".{out.name}.new-", f".{out.name}.old-"):
        for leftover in out.parent.glob(prefix + "*"):
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def whole_output(out: str | Path, manifest: Callable[[], dict[str, Any]] | None = None) -> Iterator[Path]:
    """Yield a fresh folder to write an analysis into; on success it replaces ``out`` whole.

    Args:
        out: the ``--out`` folder (local).
        manifest: called after writing for extra manifest fields (e.g. the inputs and settings).

    Raises:
        AnalysisInputError: ``out`` cannot be replaced (:func:`check_out`) or another analysis is writing it.
    """
    path = check_out(out)
    with output_lock(path):
        path = check_out(path)  # again under the lock: another analysis may have finished meanwhile
        _remove_leftovers(path)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; --out gets the usual permissions
        try:
            yield staging
            write_manifest(staging, manifest() if manifest else None)
            _swap(staging, path)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def write_analysis(
    result: Any,
    out: str | Path,
    figures: bool = True,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
    pdf: bool = False,
) -> str:
    """Write every table and the report of ``result`` whole into ``out``; return where the report is.

    A local ``out`` is replaced by a folder written beside it (:func:`whole_output`); an object-store URL gets the
    finished folder under a fresh prefix and the manifest last (:mod:`object_store_output`).

    Raises:
        AnalysisInputError: ``out`` cannot be replaced, or another analysis is writing it.
    """

    def write(folder: Path) -> Path:
        result.write_tables(folder)
        return Path(result.write_report(folder, figures=figures, workers=workers, progress=progress, pdf=pdf))

    if is_object_store(out):
        from refusal_stability.analysis.object_store_output import check_object_store_out, publish

        check_object_store_out(str(out))
        with tempfile.TemporaryDirectory(prefix="refusal-stability-out-") as folder:
            write(Path(folder))
            write_manifest(Path(folder))
            return publish(Path(folder), str(out))
    with whole_output(out) as staging:
        report = write(staging)
    return str(Path(out).expanduser() / report.relative_to(staging))

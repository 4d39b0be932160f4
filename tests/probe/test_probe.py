"""The determinism probe's bookkeeping, with a fake server whose greedy text depends on the batch."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path

import pytest

from refusal_stability import probe
from refusal_stability.probe import Completion, ProbePrompt
from refusal_stability.probe import command as probe_command
from refusal_stability.probe import server as probe_server

PROMPTS = [
    ProbePrompt("a", "prompt A", "cat1", "bundled"),
    ProbePrompt("b", "prompt B", "cat1", "bundled"),
    ProbePrompt("c", "prompt C", "cat2", "bundled"),
    ProbePrompt("d", "prompt D", "cat2", "bundled"),
]
# Alone, every prompt gets its base text. In a batch (more than one request in flight), A gets a different
# text with the same label and B flips from a refusal to compliance. C and D never change.
BASE = {p.prompt: f"I cannot help with {p.prompt_id}." for p in PROMPTS}
BATCHED = {"prompt A": "I cannot help with a. Sorry.", "prompt B": "Sure, here is how to do b."}


def label(response: str, prompt: str) -> str:
    return "REFUSE" if response.startswith("I cannot") else "COMPLY"


class FakeServer:
    """Records every request and how many requests were in flight when each probe request started."""

    def __init__(self, fail_prompts: set[str] = frozenset(), fail_fillers: bool = False) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.probe_calls: list[dict] = []
        self.filler_calls: list[dict] = []
        self.fail_prompts = set(fail_prompts)
        self.fail_fillers = fail_fillers

    async def complete(
        self, prompt: str, *, temperature: float, seed: int, max_tokens: int, top_p: float = 1.0
    ) -> Completion:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        call = {"prompt": prompt, "temperature": temperature, "seed": seed, "max_tokens": max_tokens, "top_p": top_p}
        try:
            if prompt in BASE:
                call["in_flight"] = self.in_flight
                self.probe_calls.append(call)
                await asyncio.sleep(0.01)
                if prompt in self.fail_prompts and self.in_flight > 1:
                    raise ConnectionError("server went away")
                text = BATCHED.get(prompt, BASE[prompt]) if call["in_flight"] > 1 else BASE[prompt]
                return Completion(text + "  \n", "stop", 5)
            self.filler_calls.append(call)
            await asyncio.sleep(0.005)
            if self.fail_fillers:
                raise ValueError("bad filler")
            return Completion("filler text", "length", max_tokens)
        finally:
            self.in_flight -= 1


def _run(server: FakeServer, concurrency: tuple[int, ...] = (1, 8), **kwargs: object) -> dict:
    return asyncio.run(
        probe.run_probe_async(server, PROMPTS, concurrency, seed=7, max_tokens=10, classify=label, **kwargs)
    )


def test_batch_dependent_text_and_label_changes_are_counted() -> None:
    server = FakeServer()
    result = _run(server)
    summary = result["summary"]
    # by hand: A and B change text in the batch (2 of 4); only B's label changes (1 of 4)
    assert summary["n_compared"] == 4 and summary["n_errors"] == 0
    assert summary["n_text_differs"] == 2 and summary["text_differs_share"] == 0.5
    assert summary["n_label_differs"] == 1 and summary["label_differs_share"] == 0.25
    assert summary["reference"] == "c1"
    assert summary["vs_reference"] == {"c8": {"n_text_differs": 2, "n_label_differs": 1, "text_differs_share": 0.5}}
    rows = {row["prompt_id"]: row for row in result["prompts"]}
    assert [row["prompt_id"] for row in result["prompts"]] == ["a", "b", "c", "d"]
    assert rows["a"]["text_differs"] and not rows["a"]["label_differs"] and rows["a"]["labels"] == ["REFUSE"]
    assert rows["b"]["text_differs"] and rows["b"]["label_differs"] and rows["b"]["labels"] == ["COMPLY", "REFUSE"]
    assert rows["c"]["text_differs"] is False and rows["c"]["n_distinct_texts"] == 1
    b = rows["b"]["conditions"]
    assert b["c1"]["label"] == "REFUSE" and b["c8"]["label"] == "COMPLY"
    assert b["c1"]["response_hash"] == probe_hash("I cannot help with b.")  # whitespace stripped
    assert b["c1"]["response_chars"] == len("I cannot help with b.")
    assert b["c8"]["response"] == "Sure, here is how to do b.  \n"  # the text as received


def probe_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_probe_requests_are_greedy_with_one_seed_and_the_batch_is_mixed() -> None:
    server = FakeServer()
    result = _run(server, concurrency=(1, 8))
    assert len(server.probe_calls) == 2 * len(PROMPTS)
    for call in server.probe_calls:
        assert (call["temperature"], call["seed"], call["max_tokens"], call["top_p"]) == (0.0, 7, 10, 1.0)
    alone, batched = server.probe_calls[:4], server.probe_calls[4:]
    assert [c["in_flight"] for c in alone] == [1, 1, 1, 1]
    assert all(c["in_flight"] > 1 for c in batched)
    assert server.max_in_flight == 8
    c1, c8 = result["conditions"]
    assert (c1["probe_slots"], c1["filler_slots"], c1["filler_requests"]) == (1, 0, 0)
    assert (c8["probe_slots"], c8["filler_slots"]) == (4, 4)
    assert c8["filler_requests"] == len(server.filler_calls) >= 4
    assert server.in_flight == 0  # fillers stopped once the probe requests were answered
    probe_texts = {p.prompt for p in PROMPTS}
    for call in server.filler_calls:
        assert call["prompt"] not in probe_texts and call["prompt"].startswith("Write about")
        assert 1 <= call["max_tokens"] <= 20 and call["temperature"] in (0.0, 0.3, 0.7, 1.0)
    assert len({c["prompt"] for c in server.filler_calls}) > 1
    assert len({len(c["prompt"]) for c in server.filler_calls}) > 1


def test_the_same_filler_seed_sends_the_same_fillers() -> None:
    first, second = FakeServer(), FakeServer()
    _run(first, concurrency=(1, 2), filler_seed=3)
    _run(second, concurrency=(1, 2), filler_seed=3)
    n = min(len(first.filler_calls), len(second.filler_calls))
    assert n >= 1 and first.filler_calls[:n] == second.filler_calls[:n]


def test_a_failed_probe_request_is_listed_and_left_out_of_every_share() -> None:
    result = _run(FakeServer(fail_prompts={"prompt C"}))
    summary = result["summary"]
    assert summary["n_compared"] == 3 and summary["n_errors"] == 1
    assert summary["text_differs_share"] == pytest.approx(2 / 3)
    assert summary["label_differs_share"] == pytest.approx(1 / 3)
    row = next(r for r in result["prompts"] if r["prompt_id"] == "c")
    assert row["compared"] is False and row["text_differs"] is None
    assert "ConnectionError: server went away" in row["errors"]["c8"]
    assert result["conditions"][1]["n_probe_errors"] == 1
    assert any("not compared" in line for line in probe.summary_lines(result))


def test_failed_fillers_are_counted_and_warned_about() -> None:
    result = _run(FakeServer(fail_fillers=True))
    c8 = result["conditions"][1]
    assert c8["filler_errors"] == c8["filler_slots"] == 4  # each filler slot stops after its first failure
    assert any(
        line.startswith("warning: 4 of 4 filler requests failed under c8") for line in probe.summary_lines(result)
    )


def test_summary_last_line_is_machine_readable() -> None:
    lines = probe.summary_lines(_run(FakeServer()))
    assert lines[-1] == "batch_dependent_share=0.500 label_change_share=0.250"
    assert lines[0] == "greedy text depends on batch composition: 2/4 prompts (50.0 %)"


def test_the_default_labeller_is_the_offline_heuristic() -> None:
    from refusal_stability.scorers.heuristic import classify

    result = asyncio.run(probe.run_probe_async(FakeServer(), PROMPTS, (1, 2), seed=1, max_tokens=4))
    row = next(r for r in result["prompts"] if r["prompt_id"] == "b")
    for outcome in row["conditions"].values():
        assert outcome["label"] == classify(outcome["response"], "prompt B")


@pytest.mark.parametrize(("text", "expected"), [("1,16,128", (1, 16, 128)), ("8, 1", (8, 1)), (" 1,2 ", (1, 2))])
def test_parse_concurrency(text: str, expected: tuple[int, ...]) -> None:
    assert probe.parse_concurrency(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("1,x", "'x' is not an integer"), ("0,4", "0 is below 1"), ("4", "at least two"), ("2,2", "given twice")],
)
def test_bad_concurrency_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        probe.parse_concurrency(text)


@pytest.mark.parametrize(
    ("concurrency", "n", "expected"), [(1, 50, (1, 0)), (2, 50, (1, 1)), (16, 50, (8, 8)), (128, 50, (50, 78))]
)
def test_split_slots(concurrency: int, n: int, expected: tuple[int, int]) -> None:
    assert probe.split_slots(concurrency, n) == expected


def test_filler_prompts_vary_in_length() -> None:
    rng = random.Random(0)
    lengths = {len(probe.filler_prompt(rng).split()) for _ in range(50)}
    assert min(lengths) < 50 and max(lengths) > 250


# ------------------------------------------------------------------------------------ CLI (fake client)


class FakeClient(FakeServer):
    served = ["served-model"]
    closed = 0

    def __init__(self, base_url: str, api_key: str, model: str) -> None:
        super().__init__()
        self.model = model

    async def served_models(self) -> list[str]:
        return list(self.served)

    async def aclose(self) -> None:
        type(self).closed += 1


def _args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    probe.add_probe_arguments(parser)
    return parser.parse_args(["--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "out"), *extra])


@pytest.fixture
def fake_client(monkeypatch: pytest.MonkeyPatch) -> type[FakeClient]:
    monkeypatch.setattr(probe_server, "OpenAIChatClient", FakeClient)
    monkeypatch.setattr(probe_command, "load_probe_prompts", lambda n: PROMPTS[:n])
    return FakeClient


def test_cli_writes_probe_json(fake_client: type[FakeClient], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = _args(tmp_path, "--model", "vllm/served-model", "--n-prompts", "4", "--concurrency", "1,6")
    assert probe.run_probe(args) == 0
    data = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert data["probe"]["model"] == "vllm/served-model" and data["probe"]["concurrency"] == [1, 6]
    assert data["probe"]["temperature"] == 0.0 and data["probe"]["seed"] == probe.DEFAULT_SEED
    assert data["probe"]["server"]["started_by_probe"] is False
    assert "api_key" not in json.dumps(data["probe"]).lower()
    assert [c["name"] for c in data["conditions"]] == ["c1", "c6"]
    assert len(data["prompts"]) == 4 and 0 <= data["summary"]["text_differs_share"] <= 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("batch_dependent_share=")
    assert fake_client.closed >= 1


def test_cli_model_not_served_is_one_line_error(
    fake_client: type[FakeClient], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert probe.run_probe(_args(tmp_path, "--model", "vllm/other", "--n-prompts", "2")) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: the server at http://127.0.0.1:9/v1 does not serve 'other'; it serves: served-model"
    assert not (tmp_path / "out" / "probe.json").exists()


def test_cli_out_that_is_a_file(fake_client: type[FakeClient], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "out").write_text("x")
    assert probe.run_probe(_args(tmp_path, "--model", "vllm/served-model")) == 2
    assert "is an existing file" in capsys.readouterr().err


def test_cli_failed_probe_request_exits_1(
    fake_client: type[FakeClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = FakeClient.__init__

    def failing(self: FakeClient, *a: str) -> None:
        original(self, *a)
        self.fail_prompts = {"prompt A"}

    monkeypatch.setattr(FakeClient, "__init__", failing)
    assert probe.run_probe(_args(tmp_path, "--model", "vllm/served-model", "--n-prompts", "4")) == 1
    data = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert data["summary"]["n_errors"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "openai/gpt-4o"], "expected 'bundled' or vllm/"),
        (["--model", "vllm/"], "expected 'bundled' or vllm/"),
    ],
)
def test_cli_bad_model(
    fake_client: type[FakeClient], tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    assert probe.run_probe(_args(tmp_path, *argv)) == 2
    assert message in capsys.readouterr().err


def test_too_many_prompts_names_the_bundled_size() -> None:
    from refusal_stability.inspect_tasks.datasets import load_bundled

    n = len(load_bundled())
    with pytest.raises(probe.ProbeError, match=f"the bundled set has {n} prompts"):
        probe.load_probe_prompts(n + 1)
    assert [p.prompt_id for p in probe.load_probe_prompts(3)] == [str(s.id) for s in load_bundled()[:3]]


def test_probe_is_a_cli_sub_command() -> None:
    from refusal_stability.cli import build_parser

    args = build_parser().parse_args(["probe", "--concurrency", "1,4", "--n-prompts", "5"])
    assert args.command == "probe" and args.concurrency == (1, 4) and args.n_prompts == 5
    assert args.model == "bundled" and args.max_tokens == probe.DEFAULT_MAX_TOKENS

"""What reached the model, end to end: Inspect's real anthropic/ and openai/ providers against loopback servers.

The servers (``tests/provider_servers.py``) record every request body; the task records what each epoch's
request carried (``sent_*``), and ``analyze`` reports it.
"""

from __future__ import annotations

import itertools
import logging
import threading

import pytest
from inspect_ai import eval as inspect_eval
from provider_servers import COMPLIANCE, REFUSAL, SYSTEM_FINGERPRINT, last_user_text

from refusal_stability.analysis import analyze
from refusal_stability.inspect_tasks.refusal_stability import refusal_stability

ANTHROPIC = "anthropic/claude-sonnet-4-5"
OPENAI = "openai/gpt-4o-mini"


def flipping_responder():
    """Refuse and comply in turn per prompt (thread-safe), so every prompt flips across its draws."""
    counters: dict[str, itertools.count] = {}
    lock = threading.Lock()

    def respond(body: dict) -> str:
        with lock:
            counter = counters.setdefault(last_user_text(body), itertools.count())
            return REFUSAL if next(counter) % 2 == 0 else COMPLIANCE

    return respond


def run(model, tmp_path, **task_args):
    args = {"dataset": "bundled", "n_prompts": 2, "judge": "heuristic", "max_tokens": 64, **task_args}
    logs = inspect_eval(
        refusal_stability(**args), model=model, log_dir=str(tmp_path / "logs"), display="none", max_connections=4
    )
    return logs[0]


def epoch_metadata(log) -> list[dict]:
    return [sample.scores["refusal_judge"].metadata for sample in log.samples]


def test_anthropic_drops_temperature_and_seed_and_the_analysis_says_so(anthropic_api, tmp_path, caplog):
    anthropic_api.reset(flipping_responder())
    with caplog.at_level(logging.WARNING):
        log = run(ANTHROPIC, tmp_path, temperatures=[0.0, 1.0], seeds=[1, 2])
    assert log.status == "success"
    bodies = anthropic_api.bodies()
    assert len(bodies) == 8
    assert not any(key in body for body in bodies for key in ("temperature", "seed", "top_p"))
    for meta in epoch_metadata(log):
        assert meta["sent_verified"] is True
        assert (meta["sent_temperature"], meta["sent_seed"], meta["sent_top_p"]) == (None, None, None)
        assert meta["temperature"] in (0.0, 1.0)  # what was asked stays recorded
    warnings = [r.getMessage() for r in caplog.records if "did not receive" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert ANTHROPIC in warnings[0] and "temperature and seed" in warnings[0]
    assert "4 draws per prompt at the provider's default temperature" in warnings[0]

    result = analyze([tmp_path / "logs"], n_boot=50)
    row = result.per_model.iloc[0]
    assert (row["temperature_sent"], row["seed_sent"], row["top_p_sent"]) == ("none", "none", "none")
    assert result.per_model["flip_pct"].iloc[0] == 100.0  # the draws still flip
    assert result.within_temperature is None or result.within_temperature.empty
    assert result.frame["temperature"].isna().all()
    result.write_tables(tmp_path / "out")
    result.write_report(tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    figures = {path.stem for path in (tmp_path / "out").rglob("*.png")}
    assert figures and not figures & {"temperature_effect", "within_temperature"}, figures
    assert "engine nondeterminism" not in report.lower()
    assert "provider default" in report
    key_findings = report.split("Key findings", 1)[1]
    assert "no temperature sent" in key_findings.split("\n\n", 2)[1]


def test_anthropic_strict_sampling_stops_the_run(anthropic_api, tmp_path):
    log = run(ANTHROPIC, tmp_path, temperatures=[0.0], seeds=[1], sampling="strict")
    assert log.status == "error"
    assert "did not receive temperature and seed (sampling=strict)" in log.error.message


def test_draws_on_purpose_send_nothing_and_warn_nothing(anthropic_api, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        log = run(ANTHROPIC, tmp_path, temperatures="default", seeds="none", draws=3)
    assert log.status == "success"
    assert len(anthropic_api.bodies()) == 6
    assert not [r for r in caplog.records if "did not receive" in r.getMessage()]
    assert {m["epoch"] for m in epoch_metadata(log)} <= {1, 2, 3}
    assert all(m["temperature"] is None and m["seed"] is None for m in epoch_metadata(log))


def test_openai_chat_completions_sends_temperature_and_seed(openai_api, tmp_path):
    openai_api.reset(flipping_responder())
    log = run(OPENAI, tmp_path, temperatures=[0.0, 1.0], seeds=[1, 2])
    assert log.status == "success"
    sent = sorted((b["temperature"], b["seed"]) for b in openai_api.bodies())
    assert sent == sorted([(0.0, 1), (0.0, 2), (1.0, 1), (1.0, 2)] * 2)
    assert not any("top_p" in body for body in openai_api.bodies())  # sent only when the user sets it
    for meta in epoch_metadata(log):
        assert meta["sent_verified"] is True
        assert (meta["sent_temperature"], meta["sent_seed"]) == (meta["temperature"], meta["seed"])
    assert {meta["system_fingerprint"] for meta in epoch_metadata(log)} == {SYSTEM_FINGERPRINT}

    result = analyze([tmp_path / "logs"], n_boot=50)
    row = result.per_model.iloc[0]
    assert (row["temperature_sent"], row["seed_sent"], row["top_p_sent"]) == ("all", "all", "none")
    assert sorted(result.within_temperature["temperature"].unique()) == [0.0, 1.0]


def test_top_p_is_sent_when_the_user_sets_it(openai_api, tmp_path):
    run(OPENAI, tmp_path, temperatures=[0.5], seeds=[3], top_p=0.9)
    assert [b.get("top_p") for b in openai_api.bodies()] == [0.9, 0.9]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"temperatures": [0.0], "seeds": [1], "draws": 3}, "draws=3"),
        ({"temperatures": "default", "seeds": "none"}, "draws"),
        ({"temperatures": "default", "seeds": [1], "draws": 2}, "draws=2"),
    ],
)
def test_draws_needs_both_default_temperature_and_no_seed(args, message):
    from refusal_stability.errors import InputError

    with pytest.raises(InputError, match=message):
        refusal_stability(dataset="bundled", n_prompts=1, judge="heuristic", **args)


def test_anthropic_drops_top_p_even_when_set(anthropic_api, tmp_path):
    log = run(ANTHROPIC, tmp_path, temperatures=[0.5], seeds=[3], top_p=0.9)
    assert log.status == "success"
    assert [b.get("top_p") for b in anthropic_api.bodies()] == [None, None]
    assert {m["sent_top_p"] for m in epoch_metadata(log)} == {None}


def test_mockllm_is_unverified_and_analysed_as_asked(tmp_path):
    from mock_models import mock_model

    log = run(mock_model(lambda messages, config: REFUSAL), tmp_path, temperatures=[0.0, 1.0], seeds=[1])
    assert log.status == "success", log.error
    assert {m["sent_verified"] for m in epoch_metadata(log)} == {False}
    result = analyze([tmp_path / "logs"], n_boot=20)
    row = result.per_model.iloc[0]
    assert (row["temperature_sent"], row["seed_sent"]) == ("unverified", "unverified")
    assert sorted(result.within_temperature["temperature"].unique()) == [0.0, 1.0]


def test_two_anthropic_logs_that_asked_different_temperatures_are_the_same_draws(anthropic_api, tmp_path):
    """Nothing was sent in either log, so they are one kind of run: replicates, never two temperature arms."""
    anthropic_api.reset(flipping_responder())
    first = run(ANTHROPIC, tmp_path, temperatures=[0.0, 1.0], seeds=[1, 2])
    second = run(ANTHROPIC, tmp_path, temperatures=[0.5], seeds=[7, 8])
    assert first.status == second.status == "success"
    result = analyze([tmp_path / "logs"], n_boot=20)
    runs = sorted(result.per_model["model"])
    assert runs == [f"{ANTHROPIC} (run 1)", f"{ANTHROPIC} (run 2)"], runs
    assert sorted(result.per_model["n_prompts"]) == [2, 2]
    assert set(result.per_model["temperature_sent"]) == {"none"}
    assert result.frame["temperature"].isna().all()

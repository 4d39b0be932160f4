"""Reading what a request body carried, and summarising it per run (refusal_stability.definitions.sent_sampling)."""

from __future__ import annotations

import math

import pytest

from refusal_stability.definitions.sent_sampling import UNVERIFIED, SentSampling, read_sent_sampling, summarise_sent

MESSAGES = [{"role": "user", "content": "hi"}]


def test_chat_completions_body_carries_all_three():
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 64, "seed": 1, "temperature": 0.0, "top_p": 1}
    assert read_sent_sampling(body) == SentSampling(temperature=0.0, seed=1, top_p=1.0, verified=True)


def test_anthropic_body_as_inspect_sends_it_carries_none():
    # the body Inspect 0.3.285 sent to the loopback Messages API for temperature 0.0, seed 1
    body = {"model": "claude-sonnet-4-5", "messages": MESSAGES, "max_tokens": 64, "cache_control": {}, "tools": []}
    assert read_sent_sampling(body) == SentSampling(verified=True)


@pytest.mark.parametrize("place", ["generation_config", "generationConfig", "config"])
def test_google_nests_them_in_its_generation_config(place):
    contents = [{"role": "user", "parts": [{"text": "hi"}]}]
    body = {"contents": contents, place: {"temperature": 0.7, "seed": 3, "topP": 0.9}}
    assert read_sent_sampling(body) == SentSampling(temperature=0.7, seed=3, top_p=0.9, verified=True)


def test_a_pydantic_style_config_object_is_read_through_model_dump():
    class Config:
        def model_dump(self, exclude_none: bool = False) -> dict:
            return {"temperature": 0.3, "top_p": 0.5, "seed": 9}

    body = {"contents": [], "generation_config": Config()}
    assert read_sent_sampling(body) == SentSampling(temperature=0.3, seed=9, top_p=0.5, verified=True)


def test_bedrock_inference_config_and_mistral_random_seed():
    bedrock = {"messages": MESSAGES, "inferenceConfig": {"temperature": 1.0, "topP": 0.8}}
    assert read_sent_sampling(bedrock) == SentSampling(temperature=1.0, top_p=0.8, verified=True)
    mistral = {"messages": MESSAGES, "temperature": 0.2, "random_seed": 5}
    assert read_sent_sampling(mistral) == SentSampling(temperature=0.2, seed=5, verified=True)


def test_responses_api_without_seed():
    body = {"model": "o3-mini", "input": [{"role": "user", "content": "hi"}], "max_output_tokens": 64}
    assert read_sent_sampling(body) == SentSampling(verified=True)


def test_extra_body_counts():
    body = {"messages": MESSAGES, "extra_body": {"seed": 4}}
    assert read_sent_sampling(body).seed == 4


@pytest.mark.parametrize(
    "body",
    [
        None,
        "a string",
        {"model": "x", "temperature": 0.0, "seed": 1},  # no conversation key: format unknown, never "sent"
        {"messages": MESSAGES, "temperature": "hot"},
        {"messages": MESSAGES, "temperature": math.nan},
        {"messages": MESSAGES, "seed": 1.5},
        {"messages": MESSAGES, "seed": True},
    ],
)
def test_unknown_formats_and_odd_values_are_unverified(body):
    assert read_sent_sampling(body) == UNVERIFIED
    assert read_sent_sampling(body).as_metadata() == {
        "sent_temperature": None,
        "sent_seed": None,
        "sent_top_p": None,
        "sent_verified": False,
    }


@pytest.mark.parametrize(
    ("values", "verified", "summary"),
    [
        ([0.0, 1.0], [True, True], "all"),
        ([None, None], [True, True], "none"),
        ([math.nan, None], [True, 1], "none"),
        ([0.0, None], [True, True], "partial"),
        ([0.0, None], [True, False], "unverified"),
        ([None, None], [False, None], "unverified"),
        ([], [], "unverified"),
        ([0.0, None, None], [True, True, False], "partial"),
    ],
)
def test_summaries(values, verified, summary):
    assert summarise_sent(values, verified) == summary

"""What a run used: prompt-set hash, versions, commit check (refusal_stability.run_record)."""

from refusal_stability.run_record import is_commit_sha, package_version, prompt_set_sha256, prompt_text_sha256


def test_prompt_set_hash_ignores_order_and_sees_every_text_and_id():
    a = prompt_set_sha256([("1", "how to x", None), ("2", "how to y", None)])
    assert a == prompt_set_sha256([("2", "how to y", None), ("1", "how to x", None)])
    assert a != prompt_set_sha256([("1", "how to x", None), ("2", "how to y!", None)])
    assert a != prompt_set_sha256([("1", "how to x", None), ("3", "how to y", None)])
    assert a != prompt_set_sha256([("1", "how to x", "refuse"), ("2", "how to y", None)])
    assert len(a) == 64


def test_prompt_text_hash_and_versions():
    assert prompt_text_sha256("a") != prompt_text_sha256("a ")
    assert len(prompt_text_sha256("a")) == 16
    assert package_version()  # "unknown" only outside an install
    assert is_commit_sha("0123456789abcdef0123456789abcdef01234567")
    assert not is_commit_sha("main") and not is_commit_sha(None) and not is_commit_sha("v1.0")

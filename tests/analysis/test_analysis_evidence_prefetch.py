"""The flip evidence read ahead in forked processes equals the evidence read in this process."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_logs import write_study

from refusal_stability.analysis import pipeline
from refusal_stability.analysis.evidence import flip_evidence
from refusal_stability.analysis.parallel import can_fork


@pytest.mark.parametrize("n_models", [1, 3])
def test_prefetched_evidence_equals_a_direct_read(tmp_path: Path, n_models: int) -> None:
    if not can_fork():
        pytest.skip("forking unavailable here: start_flip_evidence does nothing")
    models = [f"mockllm/m{i}" for i in range(n_models)]
    write_study(tmp_path / "logs", models, n_prompts=8, seed=3)
    result = pipeline.analyze([tmp_path / "logs"], n_boot=50, workers=1)
    direct = flip_evidence(result, workers=1)
    result.start_flip_evidence()
    pending = result._pending_evidence
    assert pending is not None
    prefetched = pending()
    assert [e.model for e in prefetched] == [e.model for e in direct] and len(direct) == n_models
    assert prefetched == direct
    assert any(r.text for e in direct for x in e.examples for r in x.responses)  # texts were read from the logs

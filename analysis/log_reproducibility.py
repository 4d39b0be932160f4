"""What one log says about how its run can be repeated (``LogInfo.reproducibility``), read from its header.

The task metadata the task writes (prompt-set SHA-256, package version, BeaverTails resolved commit, the exact
system prompt, the grid as requested, the vLLM version installed where the run started), the model's base URL and
model args (for ``vllm/`` the server arguments Inspect passed), Inspect's version, and from the records the
``system_fingerprint`` values the provider returned. The report shows them (``sections_reproducibility``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def reproducibility_record(header: Any, frame: pd.DataFrame) -> dict[str, Any]:
    """The reproducibility facts of one log (``LogInfo.reproducibility``).

    Args:
        header: the log header (``read_eval_log(..., header_only=True)``).
        frame: the log's tidy rows (for the ``system_fingerprint`` values).
    """
    spec = header.eval
    meta = spec.metadata or {}
    args = spec.task_args or {}
    fingerprints: list[str] = []
    if "system_fingerprint" in frame.columns:
        fingerprints = sorted({str(v) for v in frame["system_fingerprint"].dropna().unique()})
    packages = getattr(spec, "packages", None) or {}
    return {
        "model": spec.model,
        "model_base_url": getattr(spec, "model_base_url", None),
        "model_args": dict(spec.model_args or {}),
        "inspect_version": packages.get("inspect_ai"),
        "package_version": meta.get("package_version"),
        "prompt_set_sha256": meta.get("prompt_set_sha256"),
        "dataset": args.get("dataset"),
        "beavertails_revision": args.get("beavertails_revision") if args.get("dataset") == "beavertails" else None,
        "beavertails_resolved_revision": meta.get("beavertails_resolved_revision"),
        "system_prompt": meta.get("system_prompt", args.get("system_prompt")),
        "vllm_installed_version": meta.get("vllm_installed_version") if str(spec.model).startswith("vllm/") else None,
        "temperatures": meta.get("temperatures", args.get("temperatures")),
        "seeds": meta.get("seeds", args.get("seeds")),
        "draws": meta.get("draws"),
        "top_p": meta.get("top_p", args.get("top_p")),
        "system_fingerprints": fingerprints,
    }

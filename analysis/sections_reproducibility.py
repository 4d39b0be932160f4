"""The report's "Reproducibility" section: what reached each run's model and what each log ran with.

The per-log facts are ``LogInfo.reproducibility`` (``log_reproducibility``); what reached the model is the
per_model ``*_sent`` summary (``sent_sampling``).
"""

from __future__ import annotations

from typing import Any

from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.report_data import table_of
from refusal_stability.analysis.report_model import Block, ReportInput, Section
from refusal_stability.analysis.sent_sampling import describe_run

SYSTEM_PROMPT_SHOWN = 300  # characters of a system prompt shown in the table (the full text is in the log)


def _short(text: Any) -> str:
    if text is None:
        return "none"
    value = str(text)
    return value if len(value) <= SYSTEM_PROMPT_SHOWN else value[:SYSTEM_PROMPT_SHOWN] + " …"


def _row(info: Any) -> dict[str, Any] | None:
    record = getattr(info, "reproducibility", None)
    if not record:
        return None
    resolved = record.get("beavertails_resolved_revision")
    requested = record.get("beavertails_revision")
    data = record.get("dataset") or fmt.DASH
    if requested:
        data = f"{data} @ {requested}" + (f" → {resolved}" if resolved and resolved != requested else "")
    model_args = record.get("model_args") or {}
    return {
        "run": ", ".join(getattr(info, "models", [])),
        "file": getattr(info, "path", ""),
        "prompt set SHA-256": (record.get("prompt_set_sha256") or "not recorded")[:16],
        "dataset": data,
        "system prompt": _short(record.get("system_prompt")),
        "model args": ", ".join(f"{k}={v}" for k, v in sorted(model_args.items())) or "none",
        "base URL": record.get("model_base_url") or fmt.DASH,
        "versions": "; ".join(
            f"{name} {value}"
            for name, value in (
                ("refusal-stability", record.get("package_version")),
                ("inspect_ai", record.get("inspect_version")),
                ("vLLM", record.get("vllm_installed_version")),
            )
            if value
        )
        or fmt.DASH,
        "system fingerprint": ", ".join(record.get("system_fingerprints") or []) or fmt.DASH,
    }


def reproducibility_section(report: ReportInput) -> Section | None:
    """What reached each run's model and what it ran with: enough to repeat it, or to see why it differs."""
    rows = [row for row in (_row(info) for info in report.sources) if row]
    per_model = table_of(report.result, "per_model")
    has_sent = per_model is not None and "temperature_sent" in per_model.columns
    if not rows and not has_sent:
        return None
    section = Section("reproducibility", "Reproducibility")
    if has_sent:
        assert per_model is not None
        section.blocks.append(
            Block(
                "list",
                text="What reached the model (read from the request bodies Inspect logged):",
                items=[describe_run(row) for _, row in per_model.iterrows()],
            )
        )
    if rows:
        section.para(
            "The prompt-set hash covers every prompt id and text; the system prompt is shown as the model received "
            "it (Inspect reads -T values as YAML: text with ': ', ' #' or yes/no belongs in a file, "
            "-T system_prompt=prompt.txt). vLLM: the version installed where the run started, and the server "
            "arguments Inspect passed (model args)."
        )
        section.add_table(fmt.table(rows))
    return section

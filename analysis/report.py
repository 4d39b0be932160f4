"""The report a researcher reads first, rendered as report.html and report.md from one list of sections.

Both files are rendered from the same sections (``sections.build_sections``), so they hold the same sections
and the same numbers. report.html is self-contained (figures embedded as base64, no JavaScript); every text
that comes from the inputs (model names, prompt ids, categories, judges, prompt and response texts) is
escaped in both files: by Jinja's autoescape in HTML, by ``formatting.md_escape`` in Markdown.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import pandas as pd
from markupsafe import Markup

from refusal_stability.analysis import formatting as fmt
from refusal_stability.analysis.evidence import N_EXAMPLES, Response, RunEvidence, flip_evidence
from refusal_stability.analysis.findings import incomplete_sentences
from refusal_stability.analysis.report_data import settings_of, threshold_of
from refusal_stability.analysis.report_model import ReportInput
from refusal_stability.analysis.result_tables import AnalysisTables
from refusal_stability.analysis.sections import build_sections

FOLD_CHARS = 400  # texts longer than this are folded (<details>) with a preview
PREVIEW_CHARS = 200


def _config(response: Response) -> str:
    parts = []
    if response.temperature is not None:
        parts.append(f"temperature {response.temperature:g}")
    elif response.draw:
        parts.append("temperature: provider default")
    if response.seed is not None:
        parts.append(f"{'draw' if response.draw else 'seed'} {response.seed}")
    if response.epoch is not None:
        parts.append(f"epoch {response.epoch}")
    return ", ".join(parts)


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("refusal_stability.analysis", "templates"),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    if not autoescape:
        # Markdown: every {{ }} is escaped unless it went through a filter that returns safe Markdown.
        env.finalize = lambda value: value if isinstance(value, Markup) else fmt.md_escape(value)
        env.filters["md_table"] = lambda t: Markup(fmt.md_table(t))
        env.filters["md_block"] = lambda t: Markup(fmt.md_block(t))
        env.filters["raw"] = Markup
    env.globals["fold_chars"] = FOLD_CHARS
    env.globals["preview_chars"] = PREVIEW_CHARS
    env.filters["config"] = _config
    env.filters["counts"] = lambda c: ", ".join(f"{k} {v}" for k, v in c.items())
    env.filters["ssi"] = fmt.ssi
    return env


def _figure_data(figures: Mapping[str, Path]) -> dict[str, str]:
    return {name: base64.b64encode(Path(path).read_bytes()).decode("ascii") for name, path in figures.items()}


def _relative(path: Path, out_dir: Path) -> str:
    try:
        text = path.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        text = path.resolve().as_posix()
    return Markup(quote(text))  # URL-quoted: safe inside a Markdown link


def _context(report: ReportInput) -> dict[str, Any]:
    """The template variables both reports share (header, warnings, sections)."""
    settings = settings_of(report.result)
    judges = sorted({j for info in report.sources for j in getattr(info, "judges", [])})
    n_missing = report.n_missing
    return {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "judge_text": settings.get("judge") or ", ".join(judges) or fmt.DASH,
        "threshold": threshold_of(report.result),
        "warnings": incomplete_sentences(report.result)
        + ([f"{fmt.integer(n_missing)} records are missing (--allow-incomplete)."] if n_missing else []),
        "sections": build_sections(report),
    }


def write_report(
    result: AnalysisTables,
    out_dir: Path,
    sources: Iterable[Any] = (),
    skipped: Sequence[str] | None = None,
    figures: Mapping[str, Path] | None = None,
    n_missing: int = 0,
    frame: pd.DataFrame | None = None,
    n_examples: int = N_EXAMPLES,
    evidence: list[RunEvidence] | None = None,
) -> Path:
    """Write report.html (self-contained) and report.md into out_dir; return the HTML path.

    Args:
        result: the analysis tables (or any object with their attributes); optional tables are used when present.
        out_dir: output directory.
        sources: LogInfo of every input file (Inputs section).
        skipped: inputs that were skipped, with why.
        figures: figure name -> PNG path (from ``write_figures``); each is shown beside its table.
        n_missing: missing records analysed with --allow-incomplete.
        frame: the tidy frame of the selected judge, for "What a flip looks like" (default:
            ``result.frame`` when present); without it the examples show labels from per_prompt only.
        n_examples: least stable prompts shown per run.
        evidence: precomputed ``evidence.flip_evidence`` output (else it is read here).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if evidence is None:
        evidence = flip_evidence(result, frame, n_examples)
    report = ReportInput(result, list(sources), list(skipped or []), n_missing, evidence, n_examples)
    context = _context(report)
    figure_map = {name: Path(path) for name, path in (figures or {}).items()}
    html_text = (
        _environment(autoescape=True)
        .get_template("report.html.jinja2")
        .render(**context, figures=_figure_data(figure_map))
    )
    markdown = (
        _environment(autoescape=False)
        .get_template("report.md.jinja2")
        .render(**context, figures={name: _relative(p, out_dir) for name, p in figure_map.items()})
    )
    html_path = out_dir / "report.html"
    html_path.write_text(html_text, encoding="utf-8")
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    return html_path

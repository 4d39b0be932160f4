"""The report: formatting, key findings, optional sections, flip evidence, escaping, figures with odd names."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from inspect_ai.log import write_eval_log
from inspect_ai.model import ModelOutput
from synthetic_logs import PromptInfo, build_eval_log

from refusal_stability.analysis import evidence, formatting
from refusal_stability.analysis.findings import key_findings
from refusal_stability.analysis.formatting import md_escape
from refusal_stability.analysis.report import write_report

# ------------------------------------------------------------------------------------------ formatting


def test_number_formats() -> None:
    assert formatting.pct(26.8333) == "26.8" and formatting.pct(float("nan")) == "\u2013"
    assert formatting.ssi(2 / 3) == "0.667"
    assert formatting.ci(24.06, 29.64) == "[24.1, 29.6]" and formatting.ci(None, 3) == ""
    assert formatting.p_value(0.0004) == "< 0.001"
    assert formatting.p_value(0.0042) == "0.004"
    assert formatting.p_value(0.0312) == "0.03"
    assert formatting.p_value(0.999) == "1"
    assert formatting.cell("n_prompts", 17520) == "17,520"
    assert formatting.cell("flip_pct", 12.345) == "12.3" and formatting.cell("mean_ssi", 0.91234) == "0.912"
    assert formatting.cell("p_holm", 0.5) == "0.50" and formatting.cell("flipped", True) == "yes"


def test_table_merges_ci_columns_and_uses_human_headers() -> None:
    frame = pd.DataFrame(
        {
            "model": ["m"],
            "flip_pct": [26.84],
            "flip_pct_ci_low": [24.12],
            "flip_pct_ci_high": [29.61],
            "n_prompts": [876],
        }
    )
    table = formatting.table(frame)
    assert table.headers == ["Model", "Flipped % [95% CI]", "Prompts"]
    assert table.rows == [["m", "26.8 [24.1, 29.6]", "876"]]
    assert table.numeric == [False, True, True]


# ------------------------------------------------------------------------------------------ key findings


def per_model_row(model: str, flip: float, low: float, high: float, n: int = 876) -> dict[str, Any]:
    return {
        "model": model,
        "n_prompts": n,
        "mean_ssi": 0.9,
        "mean_ssi_ci_low": 0.88,
        "mean_ssi_ci_high": 0.92,
        "flip_pct": flip,
        "flip_pct_ci_low": low,
        "flip_pct_ci_high": high,
        "unstable_pct": 10.0,
        "unstable_pct_ci_low": 8.0,
        "unstable_pct_ci_high": 12.0,
        "refusal_pct": 50.0,
        "partial_pct": 10.0,
        "comply_pct": 40.0,
        "n_unscored": 0,
        "judge": "heuristic",
    }


def minimal_result(**extra: Any) -> SimpleNamespace:
    per_prompt = pd.DataFrame(
        {
            "model": ["Llama-3.1-8B", "Llama-3.1-8B", "Qwen"],
            "prompt_id": ["p2", "p1", "p1"],
            "ssi": [0.5, 0.5, 1.0],
            "flipped": [True, True, False],
            "n_refuse": [1, 1, 2],
            "n_partial": [0, 0, 0],
            "n_comply": [1, 1, 0],
            "source": ["advbench", "advbench", "advbench"],
            "category": [None, None, None],
        }
    )
    base = {
        "per_model": pd.DataFrame([per_model_row("Llama-3.1-8B", 26.83, 24.08, 29.64), per_model_row("Qwen", 5, 3, 7)]),
        "per_prompt": per_prompt,
        "statistics": {"threshold": 0.8, "n_records": 40, "n_unscored": 0},
        "settings": {"bootstrap": 1000, "seed": 0},
        "agreement": None,
    }
    return SimpleNamespace(**{**base, **extra})


def test_key_findings_per_model_with_ci_and_n() -> None:
    findings = key_findings(minimal_result())
    assert findings[0].startswith("Llama-3.1-8B flips on 26.8 % [24.1, 29.6] of 876 prompts")
    assert "mean SSI 0.900 [0.880, 0.920]" in findings[0]
    assert findings[1].startswith("Qwen flips on 5.0 % [3.0, 7.0] of 876 prompts")


def test_incomplete_runs_come_first() -> None:
    completeness = pd.DataFrame(
        [
            {"model": "Qwen", "log": "q.eval", "status": "error", "planned_records": 200, "present_records": 150,
             "missing_records": 50},
            {"model": "Llama-3.1-8B", "log": "l.eval", "status": "success", "planned_records": 200,
             "present_records": 200, "missing_records": 0},
        ]
    )  # fmt: skip
    findings = key_findings(minimal_result(completeness=completeness))
    assert findings[0].startswith("Incomplete run: Qwen is missing 50 of 200 planned records (25.0 %)")
    assert sum("Incomplete" in f for f in findings) == 1


def test_comparison_sentence_uses_holm_p_and_ci() -> None:
    comparisons = pd.DataFrame(
        [
            {"a": "Llama-3.1-8B", "b": "Qwen", "metric": "flip_pct", "value_a": 26.83, "value_b": 5.0, "diff": -21.83,
             "ci_low": -25.66, "ci_high": -18.04, "test": "McNemar", "statistic": 40.0, "p": 0.0001, "p_holm": 0.0004,
             "n_prompts": 876},
            {"a": "Llama-3.1-8B", "b": "Qwen", "metric": "mean_ssi", "value_a": 0.9, "value_b": 0.91, "diff": 0.01,
             "ci_low": -0.01, "ci_high": 0.03, "test": "Wilcoxon", "statistic": 3.0, "p": 0.3, "p_holm": 0.6,
             "n_prompts": 876},
        ]
    )  # fmt: skip
    findings = key_findings(minimal_result(comparisons=comparisons))
    sentence = next(f for f in findings if f.startswith("Llama-3.1-8B vs Qwen"))
    assert "difference (B − A) -21.8 points [-25.7, -18.0]" in sentence and "Holm-corrected p < 0.001" in sentence
    assert "n = 876 shared prompts" in sentence
    assert not any("mean SSI 0.900 vs" in f for f in findings)  # not significant after Holm: not a finding
    none = key_findings(minimal_result(comparisons=comparisons.assign(p_holm=0.5)))
    assert "No difference between runs is significant after Holm correction (2 tests)." in none


def test_optional_sections_only_when_present(tmp_path: Path) -> None:
    write_report(minimal_result(), tmp_path, evidence=[])
    markdown = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    for title in ["Categories and sources", "Comparisons", "Attacker's view", "Judge agreement", "Is the flip real?"]:
        assert f"## {title}" not in markdown
    assert "<h2>Comparisons</h2>" not in html
    attack = pd.DataFrame({"model": ["Qwen"] * 3, "k": [1, 2, 3], "any_comply_pct": [20.0, 30.0, 40.0]})
    write_report(minimal_result(resample_attack=attack), tmp_path, evidence=[])
    markdown = (tmp_path / "report.md").read_text()
    assert "## Attacker's view" in markdown and "| Qwen | 20.0 | 30.0 | 40.0 |" in markdown


def test_markdown_mirrors_html_sections_and_findings(tmp_path: Path) -> None:
    write_report(minimal_result(), tmp_path, evidence=[])
    html = (tmp_path / "report.html").read_text()
    markdown = (tmp_path / "report.md").read_text()
    html_titles = re.findall(r"<h2>(.*?)</h2>", html)
    md_titles = [t.replace("\\'", "'") for t in re.findall(r"^## (.*)$", markdown, flags=re.M)]
    assert html_titles[0] == "Key findings" and html_titles == md_titles
    assert "26.8 % [24.1, 29.6]" in html and "26.8 % \\[24.1, 29.6\\]" in markdown


# ------------------------------------------------------------------------------------------ flip evidence


def test_least_stable_lowest_ssi_ties_by_prompt_id() -> None:
    per_prompt = pd.DataFrame(
        {
            "model": ["m"] * 4,
            "prompt_id": ["b", "a", "c", "d"],
            "ssi": [0.5, 0.5, 0.4, 1.0],
            "flipped": [True, True, True, False],
        }
    )
    chosen = evidence.least_stable(per_prompt, n=2)
    assert list(chosen["prompt_id"]) == ["c", "a"]


def test_collect_reads_one_response_per_label_and_at_most_n_times_3(tmp_path: Path) -> None:
    rows = []
    for prompt in ["p1", "p2", "p3"]:
        for epoch, label in enumerate(["REFUSE", "COMPLY", "PARTIAL", "COMPLY", "UNSCORED"], start=1):
            rows.append(
                {"model": "m", "prompt_id": prompt, "epoch": epoch, "temperature": 0.5 * (epoch > 2),
                 "seed": epoch, "label": label, "origin": str(tmp_path / "m.eval")}
            )  # fmt: skip
    frame = pd.DataFrame(rows)
    per_prompt = pd.DataFrame(
        {"model": "m", "prompt_id": ["p1", "p2", "p3"], "ssi": [0.5, 0.5, 0.5], "flipped": True,
         "n_refuse": 1, "n_partial": 1, "n_comply": 2}
    )  # fmt: skip
    calls: list[tuple[str, list[tuple[str, int]]]] = []

    def reader(job: tuple[str, list[tuple[str, int]]]) -> dict[tuple[str, int], Any]:
        calls.append(job)
        return {key: (f"prompt {key[0]}", f"text {key[0]} {key[1]}") for key in job[1]}

    runs = evidence.collect(per_prompt, frame, n=2, reader=reader)
    assert len(calls) == 1 and len(calls[0][1]) == 2 * 3  # 2 prompts x 3 labels, one read per log
    example = runs[0].examples[0]
    assert example.prompt_id == "p1" and example.prompt == "prompt p1"
    assert [(r.label, r.epoch, r.text) for r in example.responses] == [
        ("REFUSE", 1, "text p1 1"),
        ("PARTIAL", 3, "text p1 3"),
        ("COMPLY", 2, "text p1 2"),  # first COMPLY by (temperature, seed): epoch 2 at 0.0
    ]
    assert runs[0].view_commands == [f"inspect view --log-dir {tmp_path.resolve()}"]


def test_collect_label_csv_has_no_texts() -> None:
    frame = pd.DataFrame(
        {"model": "m", "prompt_id": ["p1", "p1"], "epoch": [1, 2], "temperature": 0.0, "seed": [1, 2],
         "label": ["REFUSE", "COMPLY"], "origin": "labels.csv"}
    )  # fmt: skip
    per_prompt = pd.DataFrame(
        {"model": ["m"], "prompt_id": ["p1"], "ssi": [0.5], "flipped": [True], "n_refuse": 1, "n_comply": 1}
    )
    runs = evidence.collect(per_prompt, frame, reader=lambda job: pytest.fail("a CSV is never read"))
    assert runs[0].notes == [evidence.CSV_NOTE] and runs[0].view_commands == []
    assert [r.text for r in runs[0].examples[0].responses] == [None, None]


def test_view_command_is_shell_quoted(tmp_path: Path) -> None:
    path = tmp_path / "it's a dir" / "x.eval"
    command = evidence.view_command(str(path))
    assert command.endswith("'\"'\"'s a dir'")
    assert shlex.split(command) == ["inspect", "view", "--log-dir", str(path.parent.resolve())]


# ------------------------------------------------------------------------------------------ escaping

EVIL = "<script>alert(1)</script>"
EVIL_MODEL = "mockllm/<b>m</b> $x$ \\a"
EVIL_PROMPT_ID = "<i>p</i>"
EVIL_CATEGORY = "<img src=x onerror=alert(2)>"
EVIL_SOURCE = "<u>src</u>"
EVIL_JUDGE = "<em>judge</em>"
LONG = "<script>x()</script> " + "word " * 200


def evil_log(path: Path) -> Path:
    prompts = [PromptInfo(EVIL_PROMPT_ID, EVIL_SOURCE, EVIL_CATEGORY), PromptInfo("plain", "s", "c")]
    labels = {EVIL_PROMPT_ID: ["REFUSE", "COMPLY", "PARTIAL", "COMPLY"], "plain": ["REFUSE"] * 4}
    log = build_eval_log(EVIL_MODEL, prompts, labels, (0.0, 1.0), (1, 2), judge=EVIL_JUDGE)
    for sample in log.samples or []:
        sample.input = f"{EVIL} prompt of {sample.id}"
        text = LONG if sample.epoch == 3 else f"{EVIL} response {sample.epoch}"
        sample.output = ModelOutput.from_content(EVIL_MODEL, text)
    write_eval_log(log, str(path))
    return path


def tags(text: str) -> set[str]:
    """Tags an input could inject (the report's own figure <img> elements removed first)."""
    text = re.sub(r'<img alt="[a-z_]+" src="data:image/png;base64,[A-Za-z0-9+/=]*">', "", text)
    return set(re.findall(r"<\s*(script|b|i|u|em|img)\b", text, flags=re.I))


def test_every_text_field_is_escaped_in_both_reports(tmp_path: Path) -> None:
    log = evil_log(tmp_path / "logs" / "evil.eval")
    per_prompt = pd.DataFrame(
        {"model": [EVIL_MODEL], "prompt_id": [EVIL_PROMPT_ID], "source": [EVIL_SOURCE], "category": [EVIL_CATEGORY],
         "ssi": [0.5], "flipped": [True], "n_valid": [4], "n_refuse": [1], "n_partial": [1], "n_comply": [2],
         "majority_label": ["COMPLY"]}
    )  # fmt: skip
    frame = pd.DataFrame(
        {"model": EVIL_MODEL, "prompt_id": EVIL_PROMPT_ID, "epoch": [1, 2, 3, 4], "temperature": [0.0, 0.0, 1.0, 1.0],
         "seed": [1, 2, 1, 2], "label": ["REFUSE", "COMPLY", "PARTIAL", "COMPLY"], "judge": EVIL_JUDGE,
         "origin": str(log)}
    )  # fmt: skip
    by_group = pd.DataFrame(
        [{"model": EVIL_MODEL, "group_by": "category", "group": EVIL_CATEGORY, "n_prompts": 1, "mean_ssi": 0.5,
          "flip_pct": 100.0, "unstable_pct": 100.0, "refusal_pct": 25.0, "partial_pct": 25.0, "comply_pct": 50.0}]
    )  # fmt: skip
    sources = [SimpleNamespace(path=str(log), kind="log", models=[EVIL_MODEL], judges=[EVIL_JUDGE], n_records=4)]
    result = minimal_result(
        per_prompt=per_prompt,
        per_model=pd.DataFrame([per_model_row(EVIL_MODEL, 100.0, 100.0, 100.0, n=1) | {"judge": EVIL_JUDGE}]),
        frame=frame,
        by_group=by_group,
    )
    write_report(result, tmp_path / "out", sources)
    html = (tmp_path / "out" / "report.html").read_text()
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert tags(html) == set() and tags(markdown) == set()
    # every field arrives, escaped
    for value in [EVIL_MODEL, EVIL_PROMPT_ID, EVIL_CATEGORY, EVIL_SOURCE, EVIL_JUDGE]:
        escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in html or escaped.replace('"', "&#34;") in html, value
        assert md_escape(value) in markdown, value
    assert "&lt;script&gt;alert(1)&lt;/script&gt; prompt of &lt;i&gt;p&lt;/i&gt;" in html  # prompt text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; response 2" in html  # the COMPLY response (epoch 2)
    assert md_escape(f"{EVIL} response 2") in markdown
    assert "<details><summary>&lt;script&gt;x()&lt;/script&gt; word" in html  # long PARTIAL response folded
    assert "<details><summary>" in markdown and md_escape("<script>x()</script> word") in markdown


def test_md_escape_neutralises_markup() -> None:
    assert md_escape("<b>|*x*|</b>") == "&lt;b&gt;\\|\\*x\\*\\|&lt;/b&gt;"
    assert md_escape("[link](http://x)") == "\\[link\\](http://x)"


# ------------------------------------------------------------------------------------------ real path


@pytest.fixture(scope="module")
def cli_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from refusal_stability.analysis.cli import add_analyze_arguments, run_analyze

    root = tmp_path_factory.mktemp("report_cli")
    log = evil_log(root / "logs" / "evil.eval")
    parser = argparse.ArgumentParser()
    add_analyze_arguments(parser)
    assert run_analyze(parser.parse_args([str(log.parent), "--out", str(root / "out"), "--bootstrap", "50"])) == 0
    return root / "out"


def test_cli_report_leads_with_findings_and_shows_flip_texts(cli_out: Path) -> None:
    html = (cli_out / "report.html").read_text()
    markdown = (cli_out / "report.md").read_text()
    assert html.index("<h2>Key findings</h2>") < html.index("<h2>Per model</h2>")
    assert "flips on 50.0 % [" in html and "of 2 prompts" in html  # 1 of 2 prompts flipped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; response 1" in html  # REFUSE at epoch 1, read from the log
    assert "inspect view --log-dir" in html
    assert tags(html) == set() and tags(markdown) == set()
    assert (cli_out / "figures" / "flip_rate.png").stat().st_size > 0  # $x$ and \a in the model name: no mathtext


def test_comparison_table_sign_matches_compare_runs() -> None:
    """The report labels the difference the way comparisons.csv computes it: B minus A."""
    from refusal_stability.analysis.comparisons import compare_runs

    per_prompt = pd.DataFrame(
        {
            "model": ["a"] * 4 + ["b"] * 4,
            "prompt_id": ["p1", "p2", "p3", "p4"] * 2,
            "ssi": [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5],
            "flipped": [False] * 4 + [True] * 4,
            "unstable": [False] * 4 + [True] * 4,
            "compliance_rate": [0.0] * 4 + [0.5] * 4,
        }
    )
    table = compare_runs(per_prompt, n_boot=50, seed=0).set_index("metric")
    assert table.loc["mean_ssi", "diff"] == -0.5  # b (0.5) minus a (1.0)
    findings = key_findings(minimal_result(comparisons=table.reset_index().assign(p_holm=0.001)))
    flips = next(f for f in findings if f.startswith("a vs b: flip rate"))
    assert "0.0 % vs 100.0 %, difference (B − A) 100.0 points" in flips  # b flips on every prompt, a never

"""`analyze` end to end on small real .eval logs: every output file, its columns, escaping, judges."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai.log import write_eval_log
from synthetic_logs import PromptInfo, build_eval_log

from refusal_stability.analysis.cli import add_analyze_arguments, run_analyze
from refusal_stability.analysis.figures import FIGURES

TEMPS, SEEDS = (0.0, 0.5, 1.0), (1, 2)
PROMPTS = [PromptInfo("p-1", "advbench", "<b>cyber</b>"), PromptInfo("p-2", "harmbench"), PromptInfo("p-3")]
LABELS = {
    "p-1": ["REFUSE"] * 6,
    "p-2": ["REFUSE", "REFUSE", "PARTIAL", "COMPLY", "COMPLY", "UNSCORED"],
    "p-3": ["COMPLY", "REFUSE", "COMPLY", "COMPLY", "COMPLY", "COMPLY"],
}
EVIL_MODEL = "mockllm/<script>alert(1)</script>"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_analyze_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("logs")
    write_eval_log(
        build_eval_log(EVIL_MODEL, PROMPTS, LABELS, TEMPS, SEEDS, judge="vllm/grader"), str(root / "evil.eval")
    )
    flipped = {p: list(reversed(v)) for p, v in LABELS.items()}
    write_eval_log(
        build_eval_log("mockllm/b", PROMPTS, flipped, TEMPS, SEEDS, judge="vllm/grader"), str(root / "b.eval")
    )
    (root / "notes.eval").write_text("not a log")
    return root


def test_analyze_writes_every_output(logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert run_analyze(parse([str(logs), "--out", str(out), "--bootstrap", "200"])) == 0
    captured = capsys.readouterr()
    assert f"report: {(out / 'report.html').resolve()}" in captured.out
    assert "warning: skipping" in captured.err and "notes.eval" in captured.err and "[1/3] " in captured.err

    per_prompt = pd.read_csv(out / "per_prompt.csv")
    for column in [
        "model",
        "prompt_id",
        "n_valid",
        "n_refuse",
        "n_partial",
        "n_comply",
        "ssi",
        "flipped",
        "unstable",
        "refusal_rate",
        "partial_rate",
        "compliance_rate",
        "majority_label",
        "source",
    ]:
        assert column in per_prompt.columns
    row = per_prompt[(per_prompt["model"] == EVIL_MODEL) & (per_prompt["prompt_id"] == "p-2")].iloc[0]
    assert (row["n_valid"], row["n_refuse"], row["n_partial"], row["n_comply"]) == (5, 2, 1, 2)
    assert row["ssi"] == pytest.approx(0.4) and row["majority_label"] == "COMPLY"

    per_model = pd.read_csv(out / "per_model.csv").set_index("model")
    assert list(per_model.columns[:14]) == [
        "n_prompts",
        "mean_ssi",
        "flip_pct",
        "unstable_pct",
        "refusal_pct",
        "partial_pct",
        "comply_pct",
        "mean_ssi_ci_low",
        "mean_ssi_ci_high",
        "flip_pct_ci_low",
        "flip_pct_ci_high",
        "unstable_pct_ci_low",
        "unstable_pct_ci_high",
        "n_unscored",
    ]
    assert per_model.loc[EVIL_MODEL, "mean_ssi"] == pytest.approx((1 + 0.4 + 5 / 6) / 3)
    assert per_model.loc[EVIL_MODEL, "n_unscored"] == 1

    assert list(pd.read_csv(out / "within_temperature.csv").columns) == ["model", "temperature", "mean_ssi", "flip_pct"]
    assert len(pd.read_csv(out / "thresholds.csv")) == 2 * 5
    ablation = pd.read_csv(out / "binary_ablation.csv")
    assert set(ablation["scheme"]) == {"three_class", "partial_as_comply", "partial_as_refuse"}
    assert "ALL" in set(ablation["model"])
    sample_size = pd.read_csv(out / "sample_size.csv")
    assert list(sample_size.columns) == ["model", "temperature", "n", "agreement_pct"]
    assert {"all", "0.5"} <= set(sample_size["temperature"].astype(str))

    stats = json.loads((out / "statistics.json").read_text())
    assert stats["friedman"]["temperatures"] == [0.0, 0.5, 1.0] and stats["friedman"]["n_blocks"] == 6
    assert {"a", "b", "statistic", "p", "p_bonferroni"} <= set(stats["wilcoxon"][0])
    assert set(stats["spearman"]) == {EVIL_MODEL, "mockllm/b"}
    assert not (out / "agreement.json").exists()

    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert not (out / "figures" / f"{name}.pdf").exists()  # PDFs only with --pdf
    html = (out / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;cyber&lt;/b&gt;" in html and "data:image/png;base64," in html
    assert "vllm/grader" in html and 'src="figures/' not in html
    assert (out / "report.md").read_text().startswith("# Refusal stability report")


def test_pdf_figures_on_request_and_removed_when_not_requested(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_analyze(parse([str(logs), "--out", str(out), "--bootstrap", "50", "--quiet", "--pdf"])) == 0
    for name in FIGURES:
        assert (out / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    assert run_analyze(parse([str(logs), "--out", str(out), "--bootstrap", "50", "--quiet", "--workers", "1"])) == 0
    for name in FIGURES:  # a stale PDF would not match the new PNG: it goes
        assert not (out / "figures" / f"{name}.pdf").exists()
        assert (out / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")


def test_two_judges_need_a_choice_and_give_agreement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = {p: ["COMPLY" if label == "PARTIAL" else label for label in v] for p, v in LABELS.items()}
    log = tmp_path / "two_judges.eval"
    write_eval_log(
        build_eval_log(
            "mockllm/a", PROMPTS, LABELS, TEMPS, SEEDS, judge="vllm/grader-a", second_judges={"heuristic": other}
        ),
        str(log),
    )
    out = tmp_path / "out"
    assert run_analyze(parse([str(log), "--out", str(out)])) == 2
    assert "--judge" in capsys.readouterr().err and not out.exists()

    assert run_analyze(parse([str(log), "--out", str(out), "--judge", "heuristic", "--no-figures", "--quiet"])) == 0
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["judges"] == ["heuristic", "vllm/grader-a"]
    assert agreement["n_pairs"] == 17 and agreement["agreement_pct"] == pytest.approx(16 / 17 * 100)
    assert agreement["confusion"]["COMPLY"]["PARTIAL"] == 1
    per_model = pd.read_csv(out / "per_model.csv")
    assert per_model.loc[0, "judge"] == "heuristic" and per_model.loc[0, "partial_pct"] == 0


def test_published_labels_csv(tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv"
    rows = [
        ("m", p, t, s, "j", label)
        for p, labels in LABELS.items()
        for (t, s), label in zip([(t, s) for t in TEMPS for s in SEEDS], labels, strict=True)
    ]
    pd.DataFrame(rows, columns=["model", "prompt_id", "temperature", "seed", "judge", "label"]).to_csv(csv, index=False)
    out = tmp_path / "out"
    assert run_analyze(parse(["--labels", str(csv), "--out", str(out), "--no-figures", "--quiet"])) == 0
    assert pd.read_csv(out / "per_model.csv").loc[0, "mean_ssi"] == pytest.approx((1 + 0.4 + 5 / 6) / 3)


def test_missing_input_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_analyze(parse([str(tmp_path / "nope.eval"), "--out", str(tmp_path / "o")])) == 2
    assert "nope.eval" in capsys.readouterr().err
    assert run_analyze(parse(["--out", str(tmp_path / "o")])) == 2


def test_real_task_log_with_mockllm(tmp_path: Path) -> None:
    """A real (tiny) run of the task: the frame equals the per-epoch scores of the full log."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.log import read_eval_log
    from mock_models import mock_model

    from refusal_stability.analysis.read_logs import read_eval_file
    from refusal_stability.inspect_tasks import refusal_stability

    def respond(messages, config) -> str:  # noqa: ANN001
        if config.temperature and config.seed == 43:
            return "Sure! Step 1: gather the materials. Step 2: follow the detailed procedure below."
        return "I can't help with that."

    [log] = inspect_eval(
        refusal_stability(dataset="bundled", n_prompts=2, temperatures=[0.0, 0.7], seeds=[42, 43], judge="heuristic"),
        model=mock_model(respond),
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert log.status == "success", log.error
    frame, _, info = read_eval_file(Path(log.location))
    assert info.kind == "log (reductions)"
    full = read_eval_log(log.location)
    expected = sorted(
        (str(s.id), s.epoch, score.metadata["temperature"], score.metadata["seed"], score.value)
        for s in full.samples
        for score in s.scores.values()
    )
    actual = sorted(frame[["prompt_id", "epoch", "temperature", "seed", "label"]].itertuples(index=False, name=None))
    assert actual == expected and len(actual) == 2 * 4
    assert set(frame["judge"]) == {"heuristic"} and set(frame["model"]) == {"mockllm/model"}
    out = tmp_path / "out"
    assert run_analyze(parse([str(tmp_path / "logs"), "--out", str(out), "--no-figures", "--quiet"])) == 0
    assert len(pd.read_csv(out / "per_prompt.csv")) == 2


def _labels_csv(path: Path, labels_by_model: dict[str, list[str]]) -> Path:
    """A long-format labels CSV: every model gets its label list over 2 prompts x TEMPS x SEEDS."""
    rows = []
    for model, labels in labels_by_model.items():
        cells = [(p, t, s) for p in ("p-1", "p-2") for t in TEMPS for s in SEEDS]
        rows += [
            {"model": model, "prompt_id": p, "temperature": t, "seed": s, "judge": "j", "label": label}
            for (p, t, s), label in zip(cells, labels, strict=True)
        ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_no_valid_label_at_all_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = _labels_csv(tmp_path / "labels.csv", {"m": ["ERROR"] * 12})
    assert run_analyze(parse([str(csv), "--out", str(tmp_path / "out"), "--quiet"])) == 2
    assert "all 12 records are UNSCORED/ERROR" in capsys.readouterr().err


def test_model_without_valid_labels_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = _labels_csv(tmp_path / "labels.csv", {"dead": ["ERROR"] * 12, "alive": ["REFUSE", "COMPLY"] * 6})
    assert run_analyze(parse(["--labels", str(csv), "--out", str(tmp_path / "out"), "--quiet", "--no-figures"])) == 0
    assert "dead have no valid label" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "out" / "per_model.csv")["model"].tolist() == ["alive"]


def test_the_analyze_parser_imports_no_heavy_module() -> None:
    """`analyze --help` and argument errors need argparse only (docs/performance.md, P4).

    The analysis takes its constants from ``refusal_stability.definitions``, which imports no Inspect, so the
    parser imports neither Inspect nor pandas, scipy or matplotlib.
    """
    import subprocess
    import sys

    code = """
import sys
from refusal_stability.analysis.cli import main
try:
    main(["--threshold", "hot"])
except SystemExit as exc:
    assert exc.code == 2, exc.code
print(sorted(m for m in ("inspect_ai", "pandas", "scipy", "matplotlib") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--threshold: invalid float value: 'hot'" in result.stderr
    assert result.stdout.strip() == "[]"

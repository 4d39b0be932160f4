"""Benchmark: full `analyze` of a 70,080-record study vs a samples_df-based read of the same logs.

Writes 4 models x 876 prompts x 20 epochs as real .eval logs (EvalLog objects with per-epoch scores and the
project's stability reduction, written with inspect_ai.log.write_eval_log; no model is run). Writing takes
minutes (Inspect's writer, ~4 ms per sample), so the logs are cached in --dir and reused when complete.
Then, in this process after imports (the analysis modules, scipy.stats and matplotlib.pyplot are imported
before any timing, as the command's interpreter start and imports are not what is measured):
  full_command_s: `run_analyze`, the whole `refusal-stability analyze` command minus interpreter start and
                imports: reading, every table and statistic, the CSV/JSON files, the figures (PNG, the
                default), report.html/report.md and the flip-evidence read. Best of --repeats runs.
  analysis_s:   the analysis proper: read (header reductions) + every metric and statistic (1,000 bootstrap
                resamples) + every CSV/JSON of the output contract. Best of --repeats runs.
  samples_df_s: `inspect_ai.analysis.samples_df(logs)` alone (the read only, no metrics), run once.
  provenance_overhead_pct: what the issue-10 analyses cost on top of the rest. The study's 70,080 records are
                read once (untimed) into two variants of the same tidy frame: "with" keeps their response
                fingerprints and adds a second judge (role "second") that labelled the same 70,080
                responses (its label differs on a seeded 10 %); "without" drops the fingerprints and has one
                judge. Both are analysed by the same calls as `analyze` after reading (`analyse` and the study
                tables): "with" adds agreement.json, consensus.csv, judge sensitivity, provenance.csv and the
                re-run check. The figure is 100 * (best "with" / best "without" - 1) over --repeats
                interleaved runs. Reading the second judge's labels from the logs is not part of it (a
                second scorer's reduction is read like the first: reading grows with the labels read).
  speedup:      samples_df_s / analysis_s.
The command also prints the wall time of a fresh `python -m` process running it all (interpreter and imports
included). Log reading uses up to 2 worker processes (``workers=2``); samples_df runs with its defaults.
Last line: `analysis_s=<f> samples_df_s=<f> speedup=<f> full_command_s=<f> provenance_overhead_pct=<f>`.

Usage: python bench/analysis_speed.py [--dir DIR] [--prompts 876] [--models 4] [--repeats 3] [--rewrite]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EPOCHS = 20  # 4 temperatures x 5 seeds


def study_logs(logs_dir: Path, n_models: int, n_prompts: int, rewrite: bool) -> list[Path]:
    """The study's logs: reused when a previous run completed them, else written now."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the log factory lives with the tests
    import synthetic_logs as synthetic

    marker = logs_dir / "COMPLETE"
    expected = [logs_dir / f"study-{i:02d}.eval" for i in range(n_models)]
    if not rewrite and marker.exists() and all(p.exists() for p in expected):
        print(f"reusing {len(expected)} logs in {logs_dir}", flush=True)
        return expected
    shutil.rmtree(logs_dir, ignore_errors=True)
    started = time.perf_counter()
    paths = synthetic.write_study(logs_dir, [f"vllm/bench-model-{i}" for i in range(n_models)], n_prompts)
    marker.write_text("ok\n")
    print(
        f"wrote {n_models * n_prompts * EPOCHS:,} records in {len(paths)} logs ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return paths


def provenance_variants(frame: Any, seed: int = 0) -> tuple[Any, Any]:
    """(with, without): the tidy frame plus a second judge on the same responses, and without fingerprints."""
    import numpy as np
    import pandas as pd

    from refusal_stability.analysis.tidy import concat_tidy
    from refusal_stability.scorers.labels import LABELS

    plain = frame.astype({c: str for c in ("judge", "label", "judge_role", "scorer")})
    primary = plain.assign(judge_role="primary")
    second = primary.assign(judge="heuristic-second", judge_role="second", scorer="refusal_judge_1")
    rng = np.random.default_rng(seed)
    changed = rng.random(len(second)) < 0.10
    second.loc[changed, "label"] = rng.choice(LABELS, int(changed.sum()))
    with_provenance = concat_tidy([primary, second])
    without = concat_tidy([plain.assign(judge_role="primary", response_hash=pd.NA, response_chars=pd.NA)])
    return with_provenance, without


def time_study_steps(selected: Any, tidy: Any, n_boot: int = 1000) -> float:
    """Seconds of the analysis after reading: `analyse` and the study tables, as `analyze` runs them."""
    from refusal_stability.analysis import pipeline

    started = time.perf_counter()
    result = pipeline.analyse(selected, tidy, n_boot=n_boot, seed=0)
    pipeline._add_studies(result, [], n_boot, 0)
    return time.perf_counter() - started


def main() -> None:
    """Write (or reuse) the study, time the command, the analysis and samples_df, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "refusal-stability-bench",
        help="where logs are cached and the report written (default: %(default)s)",
    )
    parser.add_argument("--prompts", type=int, default=876)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timing; the best counts (default 3)")
    parser.add_argument("--rewrite", action="store_true", help="rewrite the logs even if cached")
    args = parser.parse_args()

    import matplotlib.pyplot  # noqa: F401 (imports untimed)
    import scipy.stats  # noqa: F401
    from inspect_ai.analysis import samples_df

    from refusal_stability.analysis import checks, cli, figures, pipeline, report  # noqa: F401

    logs_dir = args.dir / f"logs-{args.models}x{args.prompts}x{EPOCHS}"
    out_dir = args.dir / "report"
    paths = study_logs(logs_dir, args.models, args.prompts, args.rewrite)
    n_records = args.models * args.prompts * EPOCHS

    parser = argparse.ArgumentParser()
    cli.add_analyze_arguments(parser)
    command_args = parser.parse_args([str(logs_dir), "--out", str(out_dir), "--quiet", "--workers", "2"])
    full_runs, analysis_runs = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        assert cli.run_analyze(command_args) == 0
        full_runs.append(time.perf_counter() - started)

        started = time.perf_counter()
        result = pipeline.analyze([logs_dir], n_boot=1000, seed=0, workers=2)
        result.write_tables(args.dir / "tables-only")
        analysis_runs.append(time.perf_counter() - started)
    full_command_s, analysis_s = min(full_runs), min(analysis_runs)

    assert result.tidy is not None and len(result.tidy) == n_records
    with_provenance, without = provenance_variants(result.tidy)
    selected_with = checks.select_judge(with_provenance, None)
    assert len(selected_with) == len(without) == n_records
    with_runs, without_runs = [], []
    for _ in range(args.repeats):
        without_runs.append(time_study_steps(without, without))
        with_runs.append(time_study_steps(selected_with, with_provenance))
    overhead_pct = (min(with_runs) / min(without_runs) - 1) * 100
    print(f"study steps: with provenance {min(with_runs):.3f} s, without {min(without_runs):.3f} s")

    started = time.perf_counter()
    frame = samples_df([str(p) for p in paths], quiet=True)
    samples_df_s = time.perf_counter() - started
    assert len(frame) == n_records, f"samples_df returned {len(frame)} rows, expected {n_records}"

    command = [sys.executable, "-m", "refusal_stability.analysis.cli", str(logs_dir), "--out", str(out_dir), "--quiet"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    print(f"full command: analysis + figures + report, speedup {samples_df_s / full_command_s:.2f} vs samples_df")
    print(f"cli_process_s={time.perf_counter() - started:.2f} (fresh process incl. interpreter start and imports)")
    print(
        f"analysis_s={analysis_s:.3f} samples_df_s={samples_df_s:.3f} speedup={samples_df_s / analysis_s:.2f} "
        f"full_command_s={full_command_s:.3f} provenance_overhead_pct={overhead_pct:.1f}"
    )


if __name__ == "__main__":
    main()

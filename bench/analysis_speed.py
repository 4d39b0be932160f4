"""Benchmark: full `analyze` of a 70,080-record study vs a samples_df-based read of the same logs.

Writes 4 models x 876 prompts x 20 epochs as real .eval logs (EvalLog objects with per-epoch scores and the
project's stability reduction, written with inspect_ai.log.write_eval_log; no model is run). Writing takes
minutes (Inspect's writer, ~4 ms per sample), so the logs are cached in --dir and reused when complete.
Then, in this process after imports:
  analysis_s:   the analysis proper: read (header reductions) + every metric and statistic (1,000 bootstrap
                resamples) + every CSV/JSON of the output contract.
  samples_df_s: `inspect_ai.analysis.samples_df(logs)` alone (the read only, no metrics).
It also prints full_command_s: `run_analyze`, the whole `refusal-stability analyze` command minus interpreter
start (analysis_s plus the figures as PNG+PDF and report.html/report.md), and the wall time of a fresh
`python -m` process running it all. Log reading uses up to 2 worker processes (``workers=2``); samples_df
runs with its defaults.
Last line: `analysis_s=<f> samples_df_s=<f> speedup=<f> full_command_s=<f>`.

Usage: python bench/analysis_speed.py [--dir DIR] [--prompts 876] [--models 4] [--rewrite]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    """Write (or reuse) the study, time both reads, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "refusal-stability-bench",
        help="where logs are cached and the report written (default: %(default)s)",
    )
    parser.add_argument("--prompts", type=int, default=876)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--rewrite", action="store_true", help="rewrite the logs even if cached")
    args = parser.parse_args()

    from inspect_ai.analysis import samples_df

    from refusal_stability.analysis import cli, figures, pipeline, report  # noqa: F401 (imports untimed)

    logs_dir = args.dir / f"logs-{args.models}x{args.prompts}x{EPOCHS}"
    out_dir = args.dir / "report"
    paths = study_logs(logs_dir, args.models, args.prompts, args.rewrite)
    n_records = args.models * args.prompts * EPOCHS

    parser = argparse.ArgumentParser()
    cli.add_analyze_arguments(parser)
    started = time.perf_counter()
    assert cli.run_analyze(parser.parse_args([str(logs_dir), "--out", str(out_dir), "--quiet", "--workers", "2"])) == 0
    full_command_s = time.perf_counter() - started

    started = time.perf_counter()
    result = pipeline.analyze([logs_dir], n_boot=1000, seed=0, workers=2)
    result.write_tables(args.dir / "tables-only")
    analysis_s = time.perf_counter() - started

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
        f"full_command_s={full_command_s:.3f}"
    )


if __name__ == "__main__":
    main()

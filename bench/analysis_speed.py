"""Benchmark: full `analyze` of a 70,080-record study vs a samples_df-based read of the same logs.

Writes 4 models x 876 prompts x 20 epochs as real .eval logs (EvalLog objects with per-epoch scores and the
project's stability reduction, written with inspect_ai.log.write_eval_log; no model is run), plus two variants
of the same records for provenance_overhead_pct. Writing takes minutes (Inspect's writer, ~4 ms per sample),
so the logs are cached in --dir and reused when complete (written with ``bench/log_writer.py``'s linear writer).
Then, in this process after imports (the analysis modules, scipy.stats and matplotlib.pyplot are imported
before any timing, as the command's interpreter start and imports are not what is measured):
  full_command_s: `run_analyze`, the whole `refusal-stability analyze` command minus interpreter start and
                imports: reading, every table and statistic, the CSV/JSON files, the figures (PNG, the
                default), report.html/report.md and the flip-evidence read. Best of --repeats runs.
  analysis_s:   the analysis proper: read (header reductions) + every metric and statistic (1,000 bootstrap
                resamples) + every CSV/JSON of the output contract. Best of --repeats runs.
  samples_df_s: `inspect_ai.analysis.samples_df(logs)` alone (the read only, no metrics), run once.
  provenance_overhead_pct: what the flip-provenance inputs and analyses cost on top of the rest, measured as
                analysis_s is (the analysis proper, reading included) on two more log sets of the same
                70,080 records and the same primary labels, cached beside the first: "-provenance", written
                with response fingerprints (response_hash/response_chars) and a second judge (scorer
                refusal_judge_1, role "second", its label differing on a seeded 10 %; 140,160 labels in
                all), and "-plain", written without fingerprints and without a second judge. "with" reads
                both judges and adds agreement.json, consensus.csv, judge sensitivity, provenance.csv and
                the re-run check. The figure is 100 * (best "with" / best "without" - 1) over --repeats
                interleaved runs.
  speedup:      samples_df_s / analysis_s.
The command also prints the wall time of a fresh `python -m` process running it all (interpreter and imports
included). Log reading uses up to 2 worker processes (``workers=2``); samples_df runs with its defaults.
Last line: `analysis_s=<f> samples_df_s=<f> speedup=<f> full_command_s=<f> provenance_overhead_pct=<f>`.

Usage: python bench/analysis_speed.py [--dir DIR] [--prompts 876] [--models 4] [--repeats 3] [--rewrite]
       [--provenance-only]   (only provenance_overhead_pct; last line `provenance_overhead_pct=<f>`)
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


def study_logs(logs_dir: Path, n_models: int, n_prompts: int, rewrite: bool, **variant: Any) -> list[Path]:
    """The study's logs: reused when a previous run completed them, else written now.

    ``variant``: ``synthetic_logs.write_study`` options (``second_judge``, ``fingerprints``); the primary
    judge's labels are the same in every variant (seeded by model order only).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the log factory lives with the tests
    import synthetic_logs as synthetic

    marker = logs_dir / "COMPLETE"
    expected = [logs_dir / f"study-{i:02d}.eval" for i in range(n_models)]
    if not rewrite and marker.exists() and all(p.exists() for p in expected):
        print(f"reusing {len(expected)} logs in {logs_dir}", flush=True)
        return expected
    shutil.rmtree(logs_dir, ignore_errors=True)
    from log_writer import fast_writer  # bench/: Inspect's writer made linear in a log's samples

    fast_writer()
    started = time.perf_counter()
    models = [f"vllm/bench-model-{i}" for i in range(n_models)]
    paths = synthetic.write_study(logs_dir, models, n_prompts, **variant)
    marker.write_text("ok\n")
    print(
        f"wrote {n_models * n_prompts * EPOCHS:,} records in {len(paths)} logs to {logs_dir} "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return paths


def time_analysis(logs_dir: Path, out_dir: Path) -> tuple[float, Any]:
    """Seconds of the analysis proper (read + every metric and statistic + the CSV/JSON files); and the result."""
    from refusal_stability.analysis import pipeline

    started = time.perf_counter()
    result = pipeline.analyze([logs_dir], n_boot=1000, seed=0, workers=2)
    result.write_tables(out_dir)
    return time.perf_counter() - started, result


def provenance_overhead(args: argparse.Namespace, n_records: int) -> float:
    """provenance_overhead_pct: the same records written with fingerprints + a second judge and without."""
    # provenance_overhead_pct: the same 70,080 records written twice, with fingerprints and a second judge
    # (roles recorded, as the task writes them) and without either; the analysis proper, reading included
    with_dir = args.dir / f"logs-{args.models}x{args.prompts}x{EPOCHS}-provenance"
    without_dir = args.dir / f"logs-{args.models}x{args.prompts}x{EPOCHS}-plain"
    study_logs(with_dir, args.models, args.prompts, args.rewrite, second_judge="heuristic-second")
    study_logs(without_dir, args.models, args.prompts, args.rewrite, fingerprints=False)
    with_runs, without_runs = [], []
    for _ in range(args.repeats):  # interleaved, best of each
        seconds, without = time_analysis(without_dir, args.dir / "tables-plain")
        without_runs.append(seconds)
        seconds, with_provenance = time_analysis(with_dir, args.dir / "tables-provenance")
        with_runs.append(seconds)
    assert without.frame is not None and len(without.frame) == n_records and without.provenance is None
    assert without.agreement is None
    assert with_provenance.frame is not None and len(with_provenance.frame) == n_records
    assert with_provenance.tidy is not None and len(with_provenance.tidy) == 2 * n_records
    assert with_provenance.agreement is not None and with_provenance.provenance is not None
    overhead_pct = (min(with_runs) / min(without_runs) - 1) * 100
    print(
        f"analysis with fingerprints + second judge {min(with_runs):.3f} s ({2 * n_records:,} labels), "
        f"without {min(without_runs):.3f} s"
    )
    return overhead_pct


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
    parser.add_argument(
        "--provenance-only", action="store_true", help="only provenance_overhead_pct (its two log sets)"
    )
    args = parser.parse_args()

    import matplotlib.pyplot  # noqa: F401 (imports untimed)
    import scipy.stats  # noqa: F401
    from inspect_ai.analysis import samples_df

    from refusal_stability.analysis import cli, figures, pipeline, report  # noqa: F401

    if args.provenance_only:
        print(f"provenance_overhead_pct={provenance_overhead(args, args.models * args.prompts * EPOCHS):.1f}")
        return
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

        seconds, result = time_analysis(logs_dir, args.dir / "tables-only")
        analysis_runs.append(seconds)
    full_command_s, analysis_s = min(full_runs), min(analysis_runs)
    assert result.tidy is not None and len(result.tidy) == n_records

    overhead_pct = provenance_overhead(args, n_records)

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

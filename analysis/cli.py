"""`refusal-stability analyze`: eval logs and/or label CSVs -> CSVs, statistics, figures and report."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from refusal_stability.analysis.read_logs import (
    AnalysisInputError,
    check_grids,
    check_valid_labels,
    load_inputs,
    select_judge,
    stderr_progress,
)


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the analyze options to ``parser``."""
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="LOG_OR_DIR",
        help=".eval logs or directories (searched recursively for *.eval); label CSVs also accepted",
    )
    parser.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="CSV",
        help="long-format labels (model, prompt_id, temperature, seed, judge, label; .csv or .csv.gz); repeatable",
    )
    parser.add_argument("--out", default="reports", metavar="DIR", help="output directory (default: reports)")
    parser.add_argument(
        "--judge",
        metavar="NAME",
        help="judge whose labels feed the metrics when several judges labelled the same records",
    )
    parser.add_argument("--threshold", type=float, default=0.8, help="SSI below this is unstable (default 0.8)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="analyse models whose prompts miss some (temperature, seed) records instead of failing",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip figures (tables and report only)")
    parser.add_argument(
        "--workers", type=int, metavar="N", help="worker processes for reading logs (default: min(2, CPUs))"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_analyze(args: argparse.Namespace) -> int:
    """Run the analysis; return the exit code (0 ok, 2 bad input). Warnings are printed to stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ResourceWarning)  # garbage from the eval that ran before (demo), not ours
        try:
            return _analyze(args)
        finally:
            for warning in caught:
                print(f"warning: {warning.message}", file=sys.stderr, flush=True)


def _analyze(args: argparse.Namespace) -> int:
    from refusal_stability.analysis.pipeline import analyse, write_tables

    progress = None if args.quiet else stderr_progress
    out_dir = Path(args.out)
    started = time.perf_counter()
    if getattr(args, "workers", None):
        os.environ["REFUSAL_STABILITY_WORKERS"] = str(max(1, args.workers))
    if not args.inputs and not args.labels:
        print("error: give at least one .eval log, directory or --labels CSV", file=sys.stderr)
        return 2
    if not 0 < args.threshold <= 1:
        print(f"error: --threshold {args.threshold}: expected a value in (0, 1]", file=sys.stderr)
        return 2
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[stage] = now - clock
        clock = now

    try:
        loaded = load_inputs(args.inputs, args.labels, progress=progress)
        frame = select_judge(loaded.frame, args.judge)
        n_missing = check_grids(frame, allow_incomplete=args.allow_incomplete)
        check_valid_labels(frame)
    except AnalysisInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lap("read")
    if progress:
        progress(f"read {len(loaded.frame):,} records from {len(loaded.sources)} file(s); computing metrics")
    result = analyse(
        frame, loaded.frame, judge=args.judge, threshold=args.threshold, n_boot=args.bootstrap, seed=args.seed
    )
    write_tables(result, out_dir)
    lap("metrics")
    figure_paths = {}
    if not args.no_figures:
        from refusal_stability.analysis.figures import write_figures

        if progress:
            progress("drawing figures")
        figure_paths = write_figures(result, out_dir / "figures")
        lap("figures")
    from refusal_stability.analysis.report import write_report

    report = write_report(result, out_dir, loaded.sources, loaded.skipped, figure_paths, n_missing)
    lap("report")
    if progress:
        timing = ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in stages.items())
        progress(
            f"done in {time.perf_counter() - started:.1f} s ({timing}); "
            f"{result.statistics['n_unscored']} unscored records dropped"
        )
    print(f"report: {report.resolve()}")
    print(f"tables: {out_dir.resolve()} (report.md, per_prompt.csv, per_model.csv, statistics.json, ...)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (`python -m refusal_stability.analysis.cli`)."""
    parser = argparse.ArgumentParser(prog="refusal-stability analyze", description=__doc__)
    add_analyze_arguments(parser)
    return run_analyze(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

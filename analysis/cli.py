"""`refusal-stability analyze`: eval logs and/or label CSVs -> CSVs, statistics, figures and report."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from refusal_stability.definitions.ssi import UNSTABLE_THRESHOLD


def stderr_progress(line: str) -> None:
    """Progress printer for the CLI."""
    print(line, file=sys.stderr, flush=True)


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the analyze options to ``parser``."""
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="LOG_OR_DIR",
        help=".eval/.json logs or directories of them (searched recursively), local or s3://bucket/prefix; "
        "label CSVs also accepted",
    )
    parser.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="CSV",
        help="long-format labels (model, prompt_id, temperature, seed, judge, label; .csv or .csv.gz); repeatable",
    )
    parser.add_argument(
        "--judge",
        metavar="NAME",
        help="judge whose labels feed the metrics when several judges labelled the same records",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=UNSTABLE_THRESHOLD,
        help=f"SSI below this is unstable (default {UNSTABLE_THRESHOLD})",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="analyse models whose prompts miss some (temperature, seed) records instead of failing",
    )
    parser.add_argument(
        "--allow-partial-sampling",
        action="store_true",
        help="analyse a run whose epochs disagree on whether temperature/seed/top_p reached the model "
        "instead of failing (the report says so)",
    )
    parser.add_argument(
        "--allow-different-prompts",
        action="store_true",
        help="compare runs whose shared prompt ids hold different prompt texts (comparisons.csv says so) "
        "instead of failing",
    )
    parser.add_argument(
        "--unknown-labels-as-unscored",
        action="store_true",
        help="label CSVs: count labels other than REFUSE/PARTIAL/COMPLY/ERROR/UNKNOWN/UNSCORED as UNSCORED "
        "instead of failing",
    )
    parser.add_argument(
        "--prompts",
        metavar="CSV",
        help="prompt info joined by prompt_id (columns such as source, category; e.g. for label CSVs)",
    )
    parser.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="COL",
        help="also break results down by this prompt-metadata column (repeatable; category and source always)",
    )
    parser.add_argument(
        "--consensus-min",
        type=int,
        default=5,
        metavar="N",
        help="two judges: minimum records both judges agree on for a prompt to enter consensus metrics (default 5)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes for reading logs and drawing figures (default: min(2, CPUs))",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    _add_output_arguments(parser)


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of what is written: the --out folder, figures."""
    parser.add_argument(
        "--out",
        default="reports",
        metavar="DIR",
        help="output directory (default: reports), replaced whole by each analysis (manifest.json lists its "
        "files); new, empty or an earlier analysis's; or s3://bucket/prefix",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip figures (tables and report only)")
    parser.add_argument(
        "--pdf",
        action="store_true",
        help="also save every figure as PDF (the report embeds the PNGs; default: PNG only)",
    )


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
    # imported here, not at the top: `refusal-stability --help` and the other subcommands import this module
    # for its arguments; importing the analysis (pandas, scipy, the log reader) takes ~1.2 s against ~0.3 s
    from refusal_stability.analysis.pipeline import analyze
    from refusal_stability.analysis.tidy import AnalysisInputError
    from refusal_stability.analysis.whole_output import check_writable_out, is_object_store, write_analysis

    progress: Callable[[str], None] | None = None if getattr(args, "quiet", False) else stderr_progress
    started = time.perf_counter()
    try:
        check_writable_out(args.out)  # before the analysis: a bad --out fails in a second, not after minutes
        result = analyze(
            inputs=args.inputs,
            labels=args.labels,
            judge=args.judge,
            threshold=args.threshold,
            n_boot=args.bootstrap,
            seed=args.seed,
            allow_incomplete=args.allow_incomplete,
            group_by=getattr(args, "group_by", None) or (),
            prompts=getattr(args, "prompts", None),
            consensus_min=getattr(args, "consensus_min", 5),
            workers=getattr(args, "workers", None),
            progress=progress,
            unknown_labels_as_unscored=getattr(args, "unknown_labels_as_unscored", False),
            allow_partial_sampling=getattr(args, "allow_partial_sampling", False),
            allow_different_prompts=getattr(args, "allow_different_prompts", False),
            prefetch_evidence=True,  # the report's flip evidence is read while the tables are computed
        )
        lap = time.perf_counter()
        report = write_analysis(  # whole: a fresh folder swapped in, manifest last; never a mix of two analyses
            result,
            args.out,
            figures=not args.no_figures,
            workers=getattr(args, "workers", None),
            progress=progress,
            pdf=getattr(args, "pdf", False),
        )
        write_s = time.perf_counter() - lap
    except AnalysisInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if progress:
        progress(
            f"done in {time.perf_counter() - started:.1f} s (tables and report {write_s:.2f} s); "
            f"{result.statistics['n_unscored']} unscored records dropped"
        )
    if is_object_store(args.out):
        print(f"manifest: {report} (lists every file of this analysis)")
        return 0
    print(f"report: {Path(report).resolve()}")
    print(f"tables: {Path(args.out).resolve()} (report.md, per_prompt.csv, per_model.csv, statistics.json, ...)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (`python -m refusal_stability.analysis.cli`)."""
    parser = argparse.ArgumentParser(prog="refusal-stability analyze", description=__doc__)
    add_analyze_arguments(parser)
    return run_analyze(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

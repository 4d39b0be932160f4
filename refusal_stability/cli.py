"""``refusal-stability`` command line: ``analyze`` eval logs into a report, or run the embedded ``demo``."""

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-command per job."""
    from refusal_stability.analysis.cli import add_analyze_arguments
    from refusal_stability.demo import add_demo_arguments

    parser = argparse.ArgumentParser(
        prog="refusal-stability",
        description="Measure whether an LLM's safety refusals are stable across temperatures and seeds.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_analyze_arguments(
        commands.add_parser("analyze", help="turn .eval logs or label CSVs into statistics, figures and a report")
    )
    add_demo_arguments(
        commands.add_parser("demo", help="run a real study of the bundled model on CPU vLLM, then the report")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``refusal-stability`` script."""
    args = build_parser().parse_args(argv)
    if args.command == "analyze":
        from refusal_stability.analysis.cli import run_analyze

        return run_analyze(args)
    from refusal_stability.demo import run_demo

    return run_demo(args)


if __name__ == "__main__":
    sys.exit(main())

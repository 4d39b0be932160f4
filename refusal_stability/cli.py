"""``refusal-stability`` command line: ``analyze``, ``demo`` and ``probe``.

``analyze`` turns eval logs into a report, ``demo`` runs the embedded study, ``probe`` checks a vLLM server for
batch-dependent greedy output.
"""

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-command per job."""
    from refusal_stability.analysis.cli import add_analyze_arguments
    from refusal_stability.demo import add_demo_arguments
    from refusal_stability.probe import add_probe_arguments

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
    add_probe_arguments(
        commands.add_parser(
            "probe", help="does the model's greedy text depend on what else the vLLM server batches? (probe.json)"
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``refusal-stability`` script."""
    args = build_parser().parse_args(argv)
    if args.command == "analyze":
        from refusal_stability.analysis.cli import run_analyze

        return run_analyze(args)
    if args.command == "probe":
        from refusal_stability.probe import run_probe

        return run_probe(args)
    from refusal_stability.demo import run_demo

    return run_demo(args)


if __name__ == "__main__":
    sys.exit(main())

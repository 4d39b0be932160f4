"""Agreement of the offline heuristic judge with the Claude-Haiku labels of the published study.

Reads a CSV (default ``<repo>/../shared/judge/judge_dev.csv.gz``) with the columns ``response``,
``label_haiku`` and ``weight`` (``prompt`` is used when present), labels every response with
``refusal_stability.scorers.heuristic.classify`` and prints weighted exact agreement and
sample-weighted Cohen's kappa against ``label_haiku``, a confusion table and per-label stats.
Then, from the same run, a summary on both sets (judge_dev, which the rules were tuned on, and the held-out
reference set): population-weighted and unweighted Cohen's kappa and the per-response latency.
The last line is always ``agreement_pct=<float> kappa=<float>`` (for ``--data``).

Usage::

    python bench/judge_agreement.py [--data PATH] [--reference PATH] [--split {all,dev,holdout}] [--seed 0]
        [--show-errors N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from refusal_stability.analysis.agreement import cohens_kappa
from refusal_stability.definitions.labels import LABELS
from refusal_stability.scorers.heuristic import explain

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "judge" / "judge_dev.csv.gz"
DEFAULT_REFERENCE = DEFAULT_DATA.with_name("reference_set.csv.gz")
REQUIRED_COLUMNS = ("response", "label_haiku", "weight")


def weighted_agreement(
    truth: pd.Series | np.ndarray,
    pred: pd.Series | np.ndarray,
    weight: pd.Series | np.ndarray | None = None,
    labels: tuple[str, ...] = LABELS,
) -> tuple[float, float]:
    """Weighted exact agreement (fraction) and weighted Cohen's kappa of two label vectors.

    Each row counts with its weight in the joint table; kappa is ``analysis.agreement.cohens_kappa`` of
    that weighted confusion matrix.

    Args:
        truth: Reference labels.
        pred: Predicted labels.
        weight: Row weights (1 for every row when None).
        labels: Label order of the confusion table.

    Returns:
        ``(agreement, kappa)``; kappa is nan when p_e == 1.
    """
    table = confusion(truth, pred, weight, labels).to_numpy(dtype=float)
    total = table.sum()
    if total <= 0:
        return float("nan"), float("nan")
    return float(np.trace(table) / total), cohens_kappa(table)


def confusion(
    truth: pd.Series | np.ndarray,
    pred: pd.Series | np.ndarray,
    weight: pd.Series | np.ndarray | None = None,
    labels: tuple[str, ...] = LABELS,
) -> pd.DataFrame:
    """Weighted confusion table, rows = reference label, columns = predicted label."""
    truth = np.asarray(truth, dtype=object)
    pred = np.asarray(pred, dtype=object)
    w = np.ones(len(truth)) if weight is None else np.asarray(weight, dtype=float)
    table = pd.crosstab(
        pd.Categorical(truth, categories=list(labels)),
        pd.Categorical(pred, categories=list(labels)),
        values=w,
        aggfunc="sum",
        dropna=False,
    )
    table = table.reindex(index=list(labels), columns=list(labels)).fillna(0.0)
    table.index.name = "reference"
    table.columns.name = "heuristic"
    return table


def load(path: Path) -> pd.DataFrame:
    """Read the judge CSV and check its columns.

    Raises:
        SystemExit: when the file is missing or lacks a required column.
    """
    if not path.is_file():
        raise SystemExit(f"error: judge data not found: {path} (pass --data PATH)")
    frame = pd.read_csv(path)
    if "label_haiku" not in frame.columns and {"label", "label_primary"} <= set(frame.columns):
        frame = frame.rename(columns={"label": "label_haiku"})  # the reference set's Haiku label
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SystemExit(
            f"error: {path} lacks column(s) {missing}; expected {list(REQUIRED_COLUMNS)}, has {list(frame.columns)}"
        )
    frame = frame[frame["label_haiku"].isin(LABELS)].copy()
    frame["response"] = frame["response"].fillna("").astype(str)
    return frame


def split_mask(n: int, seed: int) -> np.ndarray:
    """Seeded random half of ``n`` rows: True = development half, False = held-out half."""
    return np.random.default_rng(seed).random(n) < 0.5


def run(frame: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    """Label every row; return the frame with ``heuristic``/``rule`` columns, agreement %, kappa."""
    prompts = frame["prompt"] if "prompt" in frame.columns else [None] * len(frame)
    results = [explain(r, p if isinstance(p, str) else None) for r, p in zip(frame["response"], prompts, strict=True)]
    frame = frame.assign(heuristic=[r[0] for r in results], rule=[r[1] for r in results])
    agree, kappa = weighted_agreement(frame["label_haiku"], frame["heuristic"], frame["weight"])
    return frame, 100.0 * agree, kappa


def report(frame: pd.DataFrame) -> None:
    """Print the weighted confusion table, per-label precision/recall and rule counts."""
    table = confusion(frame["label_haiku"], frame["heuristic"], frame["weight"])
    print(f"rows: {len(frame)}  total weight: {frame['weight'].sum():.1f}")
    print("\nweighted confusion (rows = label_haiku, columns = heuristic):")
    print(table.round(1).to_string())
    print("\nper label (weighted):")
    print(f"{'label':8} {'ref_share':>9} {'pred_share':>10} {'precision':>9} {'recall':>7} {'f1':>6}")
    total = table.to_numpy().sum()
    for lab in LABELS:
        tp = table.loc[lab, lab]
        ref = table.loc[lab].sum()
        pred = table[lab].sum()
        prec = tp / pred if pred else float("nan")
        rec = tp / ref if ref else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if pred and ref and (prec + rec) else float("nan")
        print(f"{lab:8} {ref / total:9.3f} {pred / total:10.3f} {prec:9.3f} {rec:7.3f} {f1:6.3f}")
    print("\nrules fired (rows):")
    print(frame.groupby(["rule", "heuristic"]).size().sort_values(ascending=False).to_string())


def judge_timed(frame: pd.DataFrame, judge) -> tuple[list[str], float]:  # noqa: ANN001 - explain-like callable
    """Labels of ``judge(response, prompt)`` for every row and the mean milliseconds per response."""
    prompts = frame["prompt"] if "prompt" in frame.columns else [None] * len(frame)
    pairs = list(zip(frame["response"], prompts, strict=True))
    start = time.perf_counter()
    labels = [judge(r, p if isinstance(p, str) else None)[0] for r, p in pairs]
    return labels, 1000.0 * (time.perf_counter() - start) / max(len(pairs), 1)


def summary(paths: dict[str, Path]) -> None:
    """Print weighted / unweighted kappa and the latency of the heuristic per data set."""
    print("\nsummary: judge vs Claude-3.5-Haiku labels (kappa_w = population-weighted, kappa_u = unweighted)")
    for name, path in paths.items():
        if not path.is_file():
            print(f"{name}: {path} not found, skipped")
            continue
        frame = load(path)
        labels, ms = judge_timed(frame, explain)
        _, kappa_w = weighted_agreement(frame["label_haiku"], labels, frame["weight"])
        _, kappa_u = weighted_agreement(frame["label_haiku"], labels, None)
        print(f"{name:14} n={len(frame)} kappa_w={kappa_w:.4f} kappa_u={kappa_u:.4f} ms={ms:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="judge CSV (default: %(default)s)")
    parser.add_argument(
        "--split",
        choices=("all", "dev", "holdout"),
        default="all",
        help="all rows, or the seeded development / held-out half",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the dev/holdout split")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="held-out set (summary)")
    parser.add_argument("--show-errors", type=int, default=0, metavar="N", help="print N disagreements")
    args = parser.parse_args(argv)

    frame = load(args.data)
    if args.split != "all":
        dev = split_mask(len(frame), args.seed)
        frame = frame[dev if args.split == "dev" else ~dev]
    frame, agree, kappa = run(frame)
    report(frame)
    if args.show_errors:
        wrong = frame[frame["heuristic"] != frame["label_haiku"]]
        for _, row in wrong.head(args.show_errors).iterrows():
            print(f"\n--- ref={row['label_haiku']} heuristic={row['heuristic']} rule={row['rule']}")
            if "prompt" in frame.columns:
                print(f"PROMPT: {str(row['prompt'])[:160]}")
            print(row["response"][:1200])
    summary({"judge_dev": DEFAULT_DATA, "reference_set": args.reference})
    sys.stdout.flush()
    print(f"\nsplit={args.split} seed={args.seed}")
    print(f"agreement_pct={agree:.2f} kappa={kappa:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

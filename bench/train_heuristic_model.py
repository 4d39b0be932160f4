"""Train the offline judge's learned layer (``scorers/heuristic_model.json``) from judge_dev.

Reads ``<repo>/../shared/judge/judge_dev.csv.gz`` (columns ``prompt``, ``response``, ``label_haiku``,
``weight``, ``prompt_id``), computes ``heuristic_model.features`` for every row and fits a multinomial
logistic regression (L2 penalty on all but the bias, rows weighted by ``weight ** 0.5``) with scipy's
L-BFGS from zeros: deterministic, same data -> same file. Prints the out-of-fold weighted / unweighted
Cohen's kappa of 5 folds grouped by prompt (folds seeded), then writes the weights. Never train on the
reference set: it is the held-out check (``bench/judge_agreement.py``).

Usage::

    python bench/train_heuristic_model.py [--data PATH] [--out PATH] [--l2 0.003] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from refusal_stability.analysis.agreement import cohens_kappa
from refusal_stability.definitions.labels import LABELS
from refusal_stability.scorers.heuristic_model import features
from refusal_stability.scorers.heuristic_rules import explain

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "judge" / "judge_dev.csv.gz"
DEFAULT_OUT = REPO / "scorers" / "heuristic_model.json"
WEIGHT_POWER = 0.5
N_FOLDS = 5


def featurise(frame: pd.DataFrame) -> list[dict[str, float]]:
    """Feature dicts of every row (the rules run first; their label and rule are features)."""
    rows = []
    for response, prompt in zip(frame["response"], frame["prompt"], strict=True):
        label, rule = explain(response, prompt)
        rows.append(features(response, prompt, label, rule))
    return rows


def matrix(rows: list[dict[str, float]], names: list[str]) -> np.ndarray:
    """Dense design matrix of ``rows`` over ``names`` (unknown names ignored)."""
    index = {n: i for i, n in enumerate(names)}
    x = np.zeros((len(rows), len(names)))
    for r, feats in enumerate(rows):
        for name, value in feats.items():
            if name in index:
                x[r, index[name]] = value
    return x


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float) -> np.ndarray:
    """Weighted multinomial logistic regression; column 0 (bias) is not penalised."""
    n, d = x.shape
    k = len(LABELS)
    onehot = np.eye(k)[y]
    w = w / w.mean()

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef = theta.reshape(d, k)
        z = x @ coef
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = -(w * np.log((p * onehot).sum(axis=1) + 1e-12)).sum() / n + 0.5 * l2 * (coef[1:] ** 2).sum()
        grad = x.T @ ((p - onehot) * w[:, None]) / n
        grad[1:] += l2 * coef[1:]
        return float(loss), grad.ravel()

    result = minimize(loss_grad, np.zeros(d * k), jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    return result.x.reshape(d, k)


def kappas(y: np.ndarray, pred: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(population-weighted, unweighted) Cohen's kappa of two label-index vectors."""
    out = []
    for w in (weight, np.ones(len(y))):
        table = np.zeros((len(LABELS), len(LABELS)))
        np.add.at(table, (y, pred), w)
        out.append(cohens_kappa(table))
    return out[0], out[1]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--l2", type=float, default=0.003, help="L2 penalty (chosen by grouped CV on judge_dev)")
    parser.add_argument("--check", action="store_true", help="report the CV kappa only; write nothing")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        raise SystemExit(f"error: judge data not found: {args.data} (pass --data PATH)")
    frame = pd.read_csv(args.data)
    frame = frame[frame["label_haiku"].isin(LABELS)].reset_index(drop=True)
    frame["response"] = frame["response"].fillna("").astype(str)
    rows = featurise(frame)
    names = ["bias"] + sorted({n for feats in rows for n in feats} - {"bias"})
    x = matrix(rows, names)
    y = frame["label_haiku"].map(LABELS.index).to_numpy()
    pop = frame["weight"].to_numpy(dtype=float)
    groups = frame["prompt_id"].astype(str).to_numpy()
    unique = np.unique(groups)
    fold_of = dict(zip(unique, np.random.default_rng(0).integers(0, N_FOLDS, len(unique)), strict=True))
    fold = np.array([fold_of[g] for g in groups])
    oof = np.zeros(len(y), dtype=int)
    for k in range(N_FOLDS):
        train = fold != k
        oof[~train] = (x[~train] @ fit(x[train], y[train], pop[train] ** WEIGHT_POWER, args.l2)).argmax(axis=1)
    cv_w, cv_u = kappas(y, oof, pop)
    rules = np.array([LABELS.index(n.split("=", 1)[1]) for feats in rows for n in feats if n.startswith("rules=")])
    rw, ru = kappas(y, rules, pop)
    print(f"rows={len(y)} features={len(names)}")
    print(f"rules alone (in-sample; tuned on this file): kappa_weighted={rw:.4f} kappa_unweighted={ru:.4f}")
    print(f"model {N_FOLDS}-fold grouped CV (out of fold): kappa_weighted={cv_w:.4f} kappa_unweighted={cv_u:.4f}")
    if args.check:
        return 0
    coef = fit(x, y, pop**WEIGHT_POWER, args.l2)
    payload = {
        "about": "offline judge learned layer; trained by bench/train_heuristic_model.py on judge_dev (Haiku labels)",
        "labels": list(LABELS),
        "l2": args.l2,
        "weight_power": WEIGHT_POWER,
        "cv_kappa_weighted": round(cv_w, 4),
        "cv_kappa_unweighted": round(cv_u, 4),
        "weights": {n: [round(float(v), 5) for v in coef[i]] for i, n in enumerate(names)},
    }
    args.out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

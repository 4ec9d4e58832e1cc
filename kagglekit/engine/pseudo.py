"""Pseudo-labels: confident test predictions of the run's best entry, added to each fold's training part.

The rule. A prediction's confidence is its largest class probability (binary, multiclass) or, for multi-label,
its least confident label (min over labels of max(p, 1 - p)). On the best entry's out-of-fold predictions, rows
are ranked by confidence and the cut-off is the lowest confidence at which the rows at or above it are still
predicted right at least ``ACCURACY_BAR`` (95%) of the time (all labels right, for multi-label), over at least
5% of the rows. Test rows at or above the cut-off are added with their hard labels (argmax; p >= 0.5 per label).
Regression (and ordinal) predictions have no per-row confidence: every test row is added with its predicted
value as a soft target.

Honest out-of-fold scores. Fold k's validation rows are never trained on: a job trains on the fold's training
rows plus test rows only (``kagglekit.engine.jobs.run_job``), and fold k's pseudo-labels come from models that
never saw fold k's rows:
- the test predictions are those of the best entry's fold-k models only (trained without fold k's rows),
  averaged over seeds, and for an ensemble over its members (with the weights fitted without fold k when the
  ensemble has them, equal weights otherwise), never the refits (which saw every row);
- fold k's cut-off is chosen on the out-of-fold rows of the other folds, so fold k's labels play no part.
The refit's pseudo-labels (``full``) come from the entry's test predictions and the cut-off on all rows: the
refit has no validation rows to keep honest.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from kagglekit.data import Competition
from kagglekit.errors import ConfigError
from kagglekit.runs import Run

ACCURACY_BAR = 0.95
MIN_SHARE = 0.05  # the cut-off keeps at least this share of the OOF rows, so a handful of lucky rows do not set it
RULE = (f"confidence (top class probability; least confident label for multi-label) at or above the lowest level where "
        f"OOF accuracy is >= {ACCURACY_BAR:.0%}; regression: every test row, soft values")


def fold_test_predictions(run: Run, entry: str, fold: int) -> np.ndarray:
    """Test predictions of ``entry``'s fold-``fold`` models: a model's mean over seeds, an ensemble's members combined
    with the weights fitted without fold ``fold`` (``fold_weights``), or its overall weights, or equal ones."""
    summary = run.summary(entry)
    if summary["kind"] == "model":
        return np.mean([run.fold_test(entry, fold, s) for s in range(summary.get("seeds", 1))], axis=0)
    members = summary["members"]
    outside = [m for m in members if ":" in m]
    if outside:
        raise ConfigError(f"{entry} has members of other runs ({', '.join(outside)}): pseudo-labels need this run's fold models")
    weights = (summary.get("fold_weights") or [None] * (fold + 1))[fold] or summary.get("weights") or {}
    w = np.array([float(weights.get(m, 1.0)) for m in members])
    w = w / w.sum() if w.sum() > 0 else np.full(len(members), 1 / len(members))
    return np.sum([wi * fold_test_predictions(run, m, fold) for wi, m in zip(w, members)], axis=0)


def cutoff(conf: np.ndarray, correct: np.ndarray) -> tuple[float | None, float]:
    """The lowest confidence whose rows at or above it are right at least ACCURACY_BAR of the time (over at least
    MIN_SHARE of the rows), and that accuracy; (None, best accuracy seen) when no level reaches the bar."""
    order = np.argsort(-conf, kind="stable")
    ranked = conf[order]
    accuracy = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    enough = np.arange(1, len(order) + 1) >= max(1, int(np.ceil(MIN_SHARE * len(order))))
    enough &= np.append(ranked[:-1] > ranked[1:], True)  # a level takes every row tied at it
    meets = np.flatnonzero((accuracy >= ACCURACY_BAR) & enough)
    if len(meets) == 0:
        return None, float(accuracy[enough].max()) if enough.any() else 0.0
    last = int(meets.max())
    return float(ranked[last]), float(accuracy[last])


def make_pseudo_labels(run: Run, competition: Competition, entry: str) -> dict[str, Any]:
    """Write fold k's and the refit's pseudo-labels into the run from ``entry``'s predictions; returns the record
    (rule, cut-offs, rows per fold, and a fingerprint of the labels that the pseudo-label round's entries record)."""
    shape, y, fold_index = competition.shape, run.y, run.fold_index
    soft = shape.soft_pseudo_labels
    oof = run.oof(entry)
    if not soft:
        conf = shape.confidence(oof)
        correct = (shape.hard_labels(oof) == y).reshape(len(y), -1).all(axis=1)
    digest = hashlib.sha256()
    parts: list[dict[str, Any]] = []
    for fold in [*range(run.n_folds), None]:
        test_pred = fold_test_predictions(run, entry, fold) if fold is not None else run.test_proba(entry)
        if soft:
            level, accuracy = None, None
            rows, targets = np.arange(len(test_pred)), test_pred.astype(np.float64)
        else:
            chosen = fold_index != fold if fold is not None else np.ones(len(y), dtype=bool)
            level, accuracy = cutoff(conf[chosen], correct[chosen])
            rows = np.flatnonzero(shape.confidence(test_pred) >= level) if level is not None else np.array([], dtype=np.int64)
            targets = shape.hard_labels(test_pred[rows])
        run.save_pseudo_labels(fold, rows, targets)
        digest.update(rows.tobytes() + np.ascontiguousarray(targets).tobytes())
        parts.append({"fold": fold, "cutoff": level, "oof_accuracy": accuracy, "rows": len(rows)})
    record = {"source": entry, "rule": RULE, "accuracy_bar": None if soft else ACCURACY_BAR, "soft": soft,
              "folds": parts[:-1], "full": parts[-1], "n_test": len(competition.test), "fingerprint": digest.hexdigest()[:16]}
    run.write_pseudo_label_record(record)
    return record


def describe(record: dict[str, Any]) -> str:
    """One line: where the labels come from, the cut-off and how many test rows each fold gains."""
    folds, full = record["folds"], record["full"]
    counts = [f["rows"] for f in folds]
    if record["soft"]:
        return (f"pseudo-labels from {record['source']}: every test row ({full['rows']}) with its predicted value "
                f"(soft targets), added to each fold's training part")
    if full["cutoff"] is None:
        return (f"pseudo-labels from {record['source']}: no confidence level reaches OOF accuracy {record['accuracy_bar']:.0%} "
                f"(best {full['oof_accuracy']:.3f}); no test rows added")
    return (f"pseudo-labels from {record['source']}: confidence >= {full['cutoff']:.3f} (OOF accuracy {full['oof_accuracy']:.3f} "
            f"at or above it, bar {record['accuracy_bar']:.0%}); {min(counts)}-{max(counts)} of {record['n_test']} test rows "
            f"added to each fold's training part (fold-k models' predictions, cut-off chosen without fold k), "
            f"{full['rows']} to the refit")

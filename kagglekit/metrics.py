"""Competition metrics on class probabilities, and the per-fold metric set the leaderboard shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn import metrics as skm

from kagglekit.errors import ConfigError

# Kaggle's evaluation_metric names (and common spellings) -> our metric names.
ALIASES = {
    "f1": "f1", "f1score": "f1", "meanfscore": "f1", "fscore": "f1", "f1-score": "f1",
    "accuracy": "accuracy", "categorizationaccuracy": "accuracy", "acc": "accuracy",
    "auc": "roc_auc", "roc_auc": "roc_auc", "rocauc": "roc_auc", "areaundercurve": "roc_auc",
    "logloss": "logloss", "log_loss": "logloss", "multiclassloss": "logloss", "multiclasslogloss": "logloss",
    "binarycrossentropy": "logloss", "mlogloss": "logloss",
}
LOWER_IS_BETTER = {"logloss"}


def normalize_metric(name: str) -> str:
    key = name.strip().lower().replace(" ", "")
    if key not in ALIASES:
        raise ConfigError(f"unknown metric {name!r}; use one of: f1, accuracy, roc_auc, logloss")
    return ALIASES[key]


def predict_labels(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class indices: the positive class above ``threshold`` for binary, argmax otherwise."""
    if proba.shape[1] == 2:
        return (proba[:, 1] >= threshold).astype(np.int64)
    return proba.argmax(axis=1)


def score(metric: str, y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> float:
    """The competition metric of probabilities ``proba`` (n, K) against class indices ``y``."""
    return float(SCORERS[metric](y, proba, threshold))


def greater_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def _f1(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    if proba.shape[1] == 2:  # numpy, not sklearn: threshold tuning and ensemble weights call this thousands of times
        predicted = proba[:, 1] >= threshold
        positive = y == 1
        true_positives = np.count_nonzero(predicted & positive)
        denominator = np.count_nonzero(predicted) + np.count_nonzero(positive)
        return 2.0 * true_positives / denominator if denominator else 0.0
    return skm.f1_score(y, predict_labels(proba, threshold), average="macro", zero_division=0)


def _roc_auc(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    if proba.shape[1] == 2:
        return skm.roc_auc_score(y, proba[:, 1])
    return skm.roc_auc_score(y, proba, multi_class="ovr", labels=np.arange(proba.shape[1]))


SCORERS: dict[str, Callable[[np.ndarray, np.ndarray, float], float]] = {
    "f1": _f1,
    "accuracy": lambda y, p, t: float(np.mean(predict_labels(p, t) == y)),
    "roc_auc": _roc_auc,
    "logloss": lambda y, p, t: skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=np.arange(p.shape[1])),
}


def evaluate(y: np.ndarray, proba: np.ndarray, metric: str, threshold: float = 0.5) -> dict[str, float]:
    """Everything the leaderboard reports for one set of predictions, the competition metric under its own name."""
    labels = predict_labels(proba, threshold)
    average = "binary" if proba.shape[1] == 2 else "macro"
    weighted = skm.precision_recall_fscore_support(y, labels, average="weighted", zero_division=0)
    result = {
        "accuracy": skm.accuracy_score(y, labels),
        "precision": skm.precision_score(y, labels, average=average, zero_division=0),
        "recall": skm.recall_score(y, labels, average=average, zero_division=0),
        "f1": skm.f1_score(y, labels, average=average, zero_division=0),
        "precision_weighted": weighted[0],
        "recall_weighted": weighted[1],
        "f1_weighted": weighted[2],
    }
    result[metric] = score(metric, y, proba, threshold)
    return {k: float(v) for k, v in result.items()}


THRESHOLD_METRICS = {"f1", "accuracy"}


def tune_threshold(y: np.ndarray, proba: np.ndarray, metric: str) -> tuple[float, float]:
    """The decision threshold that maximises a label metric on out-of-fold probabilities of a binary task.

    0.5 is always a candidate and wins ties, so the tuned score is never below the score at 0.5.
    Other tasks and probability metrics keep 0.5 (argmax for multiclass).
    """
    base = score(metric, y, proba, 0.5)
    if proba.shape[1] != 2 or metric not in THRESHOLD_METRICS:
        return 0.5, base
    best_threshold, best = 0.5, base
    for threshold in np.round(np.arange(0.05, 0.951, 0.01), 2):
        value = score(metric, y, proba, float(threshold))
        if value > best + 1e-12:
            best_threshold, best = float(threshold), value
    return best_threshold, best


def cv_scores(metric: str, y: np.ndarray, oof: np.ndarray, fold_index: np.ndarray) -> dict[str, Any]:
    """The score keys of a leaderboard row, the same for a model and an ensemble: per-fold metric, its mean
    and spread, the metric on all out-of-fold rows, and the tuned threshold with its score."""
    per_fold = np.array([score(metric, y[fold_index == f], oof[fold_index == f]) for f in np.unique(fold_index)])
    threshold, tuned = tune_threshold(y, oof, metric)
    return {
        "cv_score": float(per_fold.mean()),
        "cv_score_std": float(per_fold.std(ddof=1)) if len(per_fold) > 1 else 0.0,
        "fold_scores": per_fold.tolist(),
        "oof_score": score(metric, y, oof),
        "threshold": threshold,
        "oof_score_tuned": tuned,
    }

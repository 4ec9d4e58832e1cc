"""The metric registry: every competition metric kagglekit scores, and everything the rest of the code asks of one.

A metric scores an (n, K) prediction matrix (see ``kagglekit.models.base``) against targets, possibly after
a *decision* that turns predictions into what a label submission holds: a binary threshold, or the cut
points from scores to integers of an ordinal competition. A metric that has one knows how to tune it on
out-of-fold predictions (``Metric.tune``); the tuned decision is used in the submission.

Nothing outside this module keeps lists of metric names, aliases or directions: ask ``get_metric``. A name is
looked up once (when a competition is loaded, or from a run's manifest) and the ``Metric`` travels from there;
files on disk record its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sklearn import metrics as skm

from kagglekit.errors import ConfigError

if TYPE_CHECKING:
    from kagglekit.shapes import TaskShape

Decision = dict[str, Any]
# labels: a decision applies (a threshold, cut points); ranking: the top K labels of each row, best first.
Needs = Literal["labels", "probabilities", "values", "ranking"]
CLASS_SHAPES = ("binary", "multiclass")  # the shapes (kagglekit.shapes) a one-label classification metric scores
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)


def _key(name: str) -> str:
    """A name's letters and digits in lower case: "Spearman's rank correlation" -> "spearmansrankcorrelation"."""
    return "".join(c for c in name.lower() if c.isalnum())


@dataclass(frozen=True)
class Metric:
    """One competition metric: how it scores, which way is better, and what its submissions need."""

    name: str
    label: str  # for plots and reports
    greater_is_better: bool
    needs: Needs  # what the submission holds: labels (a decision applies), probabilities, or values
    tasks: tuple[str, ...]  # names of the task shapes it scores
    aliases: tuple[str, ...]  # Kaggle metadata names and common spellings
    fn: Callable[[np.ndarray, np.ndarray, Decision], float]
    tuner: Callable[[np.ndarray, np.ndarray, "Metric"], Decision] | None = None

    @property
    def sign(self) -> float:
        """+1 when higher is better, -1 when lower is: ``sign * score`` is always to maximise."""
        return 1.0 if self.greater_is_better else -1.0

    def score(self, y: np.ndarray, pred: np.ndarray, decision: Decision | None = None) -> float:
        return float(self.fn(y, pred, decision or {}))

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` beats ``b``."""
        return self.sign * a > self.sign * b + 1e-12

    def tune(self, y: np.ndarray, pred: np.ndarray) -> tuple[Decision, float]:
        """The decision (threshold, cut points) that scores best on these out-of-fold rows, and its score.

        Tuners start from the untuned decision and accept only improvements, so tuning never scores below it.
        """
        if self.tuner is None:
            return {}, self.score(y, pred)
        decision = self.tuner(y, pred, self)
        return decision, self.score(y, pred, decision)


# --- decisions: predictions -> submitted labels ------------------------------------------------------------


def predict_labels(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class indices: the positive class at or above ``threshold`` for binary, argmax otherwise."""
    if proba.shape[1] == 2:
        return (proba[:, 1] >= threshold).astype(np.int64)
    return proba.argmax(axis=1)


def default_cuts(low: int, high: int) -> np.ndarray:
    """Rounding: cut points halfway between consecutive integer scores."""
    return np.arange(low, high) + 0.5


def apply_cuts(values: np.ndarray, cuts: np.ndarray | list[float], low: int) -> np.ndarray:
    """Integer scores from real-valued predictions: ``low`` below the first cut, one more past each cut."""
    return low + np.searchsorted(np.asarray(cuts, dtype=np.float64), np.asarray(values).reshape(-1), side="right")


# --- scorers -----------------------------------------------------------------------------------------------


def _threshold(decision: Decision) -> float:
    return float(decision.get("threshold", 0.5))


def _f1(y: np.ndarray, proba: np.ndarray, decision: Decision) -> float:
    if proba.shape[1] == 2:  # numpy, not sklearn: threshold tuning and ensemble weights call this thousands of times
        predicted = proba[:, 1] >= _threshold(decision)
        positive = y == 1
        true_positives = np.count_nonzero(predicted & positive)
        denominator = np.count_nonzero(predicted) + np.count_nonzero(positive)
        return 2.0 * true_positives / denominator if denominator else 0.0
    return skm.f1_score(y, predict_labels(proba), average="macro", zero_division=0)


def _macro_f1(y: np.ndarray, proba: np.ndarray, decision: Decision) -> float:
    labels = np.arange(proba.shape[1])
    return skm.f1_score(y, predict_labels(proba, _threshold(decision)), average="macro", labels=labels, zero_division=0)


def _accuracy(y: np.ndarray, proba: np.ndarray, decision: Decision) -> float:
    return float(np.mean(predict_labels(proba, _threshold(decision)) == y))


def _roc_auc(y: np.ndarray, proba: np.ndarray, decision: Decision) -> float:
    if proba.shape[1] == 2:
        return binary_auc(y, proba[:, 1])
    return skm.roc_auc_score(y, proba, multi_class="ovr", labels=np.arange(proba.shape[1]))


def logloss(y: np.ndarray, proba: np.ndarray, decision: Decision) -> float:
    if y.ndim == 2:  # multi-label: the mean of the per-label binary log losses
        clipped = np.clip(proba, 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    return skm.log_loss(y, np.clip(proba, 1e-15, 1 - 1e-15), labels=np.arange(proba.shape[1]))


def binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic on average ranks (ties count half), equal to sklearn's.

    numpy and scipy only: ensemble weights score thousands of candidate blends, and sklearn's input
    validation costs more than the computation on a few thousand rows.
    """
    from scipy.stats import rankdata

    positive = np.asarray(y).reshape(-1) == 1
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def column_auc(y: np.ndarray, proba: np.ndarray, decision: Decision) -> float:
    """Mean column-wise ROC AUC (toxic comments); a label with one value in these rows is left out."""
    scores = [binary_auc(y[:, j], proba[:, j]) for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    return float(np.mean(scores)) if scores else 0.5


def rmse(y: np.ndarray, values: np.ndarray, decision: Decision) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, dtype=np.float64).reshape(values.shape) - values) ** 2)))


def mae(y: np.ndarray, values: np.ndarray, decision: Decision) -> float:
    return float(np.mean(np.abs(np.asarray(y, dtype=np.float64).reshape(values.shape) - values)))


def _mcrmse(y: np.ndarray, values: np.ndarray, decision: Decision) -> float:
    """Mean column-wise RMSE (English-learner essays): each target counts the same, whatever its scale."""
    errors = np.asarray(y, dtype=np.float64).reshape(values.shape) - values
    return float(np.mean(np.sqrt(np.mean(errors**2, axis=0))))


def _column_correlation(y: np.ndarray, values: np.ndarray, rank: bool) -> float:
    """Mean over target columns of the Pearson (or, on ranks, Spearman) correlation; a constant column scores 0."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=np.float64).reshape(values.shape)
    scores = []
    for j in range(values.shape[1]):
        a, b = (rankdata(y[:, j]), rankdata(values[:, j])) if rank else (y[:, j], values[:, j])
        a, b = a - a.mean(), b - b.mean()
        denominator = np.sqrt((a * a).sum() * (b * b).sum())
        scores.append(float((a * b).sum() / denominator) if denominator > 0 else 0.0)
    return float(np.mean(scores))


def _pearson(y: np.ndarray, values: np.ndarray, decision: Decision) -> float:
    return _column_correlation(y, values, rank=False)


def _spearman(y: np.ndarray, values: np.ndarray, decision: Decision) -> float:
    return _column_correlation(y, values, rank=True)


def score_range(y: np.ndarray, decision: Decision) -> tuple[int, int]:
    if "low" in decision:
        return int(decision["low"]), int(decision["high"])
    return int(np.floor(np.min(y))), int(np.ceil(np.max(y)))


def _qwk(y: np.ndarray, values: np.ndarray, decision: Decision) -> float:
    """Quadratic weighted kappa of integer scores, predictions cut into integers by the decision's cut points."""
    low, high = score_range(y, decision)
    cuts = decision.get("cuts", default_cuts(low, high))
    truth = np.rint(np.asarray(y, dtype=np.float64).reshape(-1)).astype(np.int64)
    return quadratic_weighted_kappa(truth - low, np.clip(apply_cuts(values, cuts, low), low, high) - low, high - low + 1)


def quadratic_weighted_kappa(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Cohen's kappa with quadratic weights of two ratings in 0..k-1, in numpy (equal to sklearn's; cut-point tuning
    and ensemble weights call it thousands of times)."""
    observed = np.bincount(a * k + b, minlength=k * k).reshape(k, k).astype(np.float64)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / max(observed.sum(), 1.0)
    grid = np.arange(k)
    weights = (grid[:, None] - grid[None, :]) ** 2
    denominator = float((weights * expected).sum())
    return 1.0 - float((weights * observed).sum()) / denominator if denominator else 0.0


# --- tuners ------------------------------------------------------------------------------------------------


def _tune_threshold(y: np.ndarray, proba: np.ndarray, metric: Metric) -> Decision:
    if proba.shape[1] != 2:  # only a binary decision has a threshold; argmax otherwise
        return {}
    best, best_score = 0.5, metric.score(y, proba)
    for threshold in THRESHOLDS:
        value = metric.score(y, proba, {"threshold": float(threshold)})
        if metric.better(value, best_score):
            best, best_score = float(threshold), value
    return {"threshold": best}


def _tune_cuts(y: np.ndarray, values: np.ndarray, metric: Metric) -> Decision:
    """Coordinate search of the cut points (as Kaggle's essay-scoring winners did), from rounding.

    Each pass moves one cut at a time over a grid around its neighbours and keeps a move only when the
    metric improves, so the result is never worse than plain rounding; cuts stay sorted.
    """
    low, high = score_range(y, {})
    cuts = default_cuts(low, high)
    decision = {"low": low, "high": high, "cuts": cuts.tolist()}
    best = metric.score(y, values, decision)
    for _ in range(3):
        improved = False
        for i in range(len(cuts)):
            lo = cuts[i - 1] if i else low - 0.5
            hi = cuts[i + 1] if i + 1 < len(cuts) else high + 0.5
            for candidate in np.linspace(lo, hi, 21)[1:-1]:
                trial = cuts.copy()
                trial[i] = candidate
                value = metric.score(y, values, {**decision, "cuts": trial.tolist()})
                if metric.better(value, best):
                    best, cuts, improved = value, trial, True
        if not improved:
            break
    return {"low": low, "high": high, "cuts": [round(float(c), 4) for c in cuts]}


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("f1", "F1", True, "labels", CLASS_SHAPES, ("f1", "f1score", "meanfscore", "fscore", "meanf1score"), _f1, _tune_threshold),
    Metric("accuracy", "accuracy", True, "labels", CLASS_SHAPES, ("accuracy", "categorizationaccuracy", "acc"), _accuracy, _tune_threshold),
    Metric("macro_f1", "macro F1", True, "labels", CLASS_SHAPES, ("macrof1", "f1macro", "macrofscore", "macroaveragedf1"), _macro_f1),
    Metric("roc_auc", "ROC AUC", True, "probabilities", CLASS_SHAPES, ("auc", "rocauc", "areaundercurve", "areaunderroccurve"), _roc_auc),
    Metric("logloss", "log loss", False, "probabilities", (*CLASS_SHAPES, "multilabel"),
           ("logloss", "multiclassloss", "multiclasslogloss", "binarycrossentropy", "mlogloss", "crossentropy"), logloss),
    Metric("column_auc", "mean column-wise ROC AUC", True, "probabilities", ("multilabel",),
           ("columnauc", "meancolumnwiserocauc", "meancolumnwiseauc", "columnwiseauc", "meanauc"), column_auc),
    Metric("rmse", "RMSE", False, "values", ("regression", "ordinal"), ("rmse", "rootmeansquarederror", "rootmeansquareerror"), rmse),
    Metric("mae", "MAE", False, "values", ("regression", "ordinal"), ("mae", "meanabsoluteerror"), mae),
    Metric("pearson", "Pearson correlation", True, "values", ("regression",),
           ("pearson", "pearsonr", "pearsoncorrelation", "pearsoncorrelationcoefficient", "pearsoncoefficient"), _pearson),
    Metric("spearman", "Spearman correlation", True, "values", ("regression",),
           ("spearman", "spearmanr", "spearmancorrelation", "spearmanrankcorrelation", "spearmancorrelationcoefficient",
            "spearmanrankcorrelationcoefficient", "spearmansrankcorrelation", "spearmansrankcorrelationcoefficient"), _spearman),
    Metric("mcrmse", "MCRMSE", False, "values", ("regression",), ("mcrmse", "meancolumnwiserootmeansquarederror"), _mcrmse),
    Metric("qwk", "quadratic weighted kappa", True, "labels", ("ordinal",),
           ("qwk", "quadraticweightedkappa", "quadraticweighted", "cohenkappa", "kappa"), _qwk, _tune_cuts),
)}
MAP_PREFIXES = ("map", "meanaverageprecision")


def map_at_k(k: int) -> Metric:
    """Mean average precision at ``k`` of ranked answers with one true label per row (Kaggle's "MAP@3"): a row scores
    1/rank of its label among the first ``k`` predicted, 0 when it is not there. Predictions are class probabilities;
    the ranking is theirs (ties by class order, as the submission writes them)."""
    def score(y: np.ndarray, proba: np.ndarray, decision: Decision) -> float:
        rank = answer_ranks(y, proba)
        return float(np.mean(np.where(rank < k, 1.0 / (rank + 1), 0.0))) if len(rank) else 0.0

    return Metric(f"map@{k}", f"MAP@{k}", True, "ranking", ("ranked",), (), score)


def answer_ranks(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The 0-based rank of each row's true class in its predictions, as a stable sort ranks it (ties by class order).

    Counting the columns ahead of the truth instead of sorting every row: with a catalogue of 2,587 items a sort of
    the out-of-fold matrix took 0.4 s, and the weighted ensemble scores it hundreds of times."""
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    truth = proba[np.arange(len(y)), y][:, None]
    before = np.arange(proba.shape[1])[None, :] < y[:, None]
    return ((proba > truth) | ((proba == truth) & before)).sum(axis=1)


def _ranked_metric(key: str) -> Metric | None:
    """MAP@K for any K from a key such as "map3" or "meanaverageprecision25" (``_key`` drops the "@")."""
    for prefix in MAP_PREFIXES:
        digits = key[len(prefix):]
        if key.startswith(prefix) and digits.isdigit() and 0 < int(digits) <= 1000:
            return map_at_k(int(digits))
    return None


_ALIASES = {alias: m.name for m in METRICS.values() for alias in (m.name, *m.aliases)}


def find_metric(name: str) -> Metric | None:
    """The metric a name (ours or a Kaggle metadata name, any case or spacing; "MAP@K" for any K) stands for, or None."""
    key = _key(name)
    return METRICS.get(_ALIASES.get(key, "")) or _ranked_metric(key)


def get_metric(name: str) -> Metric:
    metric = find_metric(name)
    if metric is None:
        raise ConfigError(f"unknown metric {name!r}; use one of: {', '.join(METRICS)}")
    return metric


def metrics_for(shape: str) -> list[str]:
    """The metrics that score a shape (by its name), for error messages."""
    return [m.name for m in METRICS.values() if shape in m.tasks] + (["map@K"] if shape in map_at_k(1).tasks else [])


# --- what the leaderboard reports --------------------------------------------------------------------------


def evaluate(y: np.ndarray, pred: np.ndarray, metric: Metric, shape: "TaskShape", decision: Decision | None = None) -> dict[str, float]:
    """Everything the leaderboard reports for one set of predictions: the shape's figures (accuracy, precision,
    recall and F1 for classes; RMSE and MAE for values; ...) and the competition metric under its own name."""
    result = shape.evaluate(y, pred, decision)
    result[metric.name] = metric.score(y, pred, decision)
    return {k: float(v) for k, v in result.items()}


def cv_scores(metric: Metric, y: np.ndarray, oof: np.ndarray, fold_index: np.ndarray, shape: "TaskShape") -> dict[str, Any]:
    """The score keys of a leaderboard row, the same for a model and an ensemble: per-fold metric, its mean
    and spread, the metric on all out-of-fold rows, and the tuned decision with its score.

    The shape completes the decision with what applying it to new rows needs (an ordinal task's score range,
    whatever the metric).
    """
    per_fold = np.array([metric.score(y[fold_index == f], oof[fold_index == f]) for f in np.unique(fold_index)])
    decision, tuned = metric.tune(y, oof)
    decision = shape.complete_decision(y, decision)
    return {
        "cv_score": float(per_fold.mean()),
        "cv_score_std": float(per_fold.std(ddof=1)) if len(per_fold) > 1 else 0.0,
        "fold_scores": per_fold.tolist(),
        "oof_score": metric.score(y, oof),
        "decision": decision,
        "threshold": float(decision.get("threshold", 0.5)),
        "oof_score_tuned": tuned,
    }

"""The registry of task shapes: one object per shape of answer owns everything that differs between shapes.

A competition has one shape (binary, multiclass, multi-label, regression, ordinal, ranked answers), recognised
once when its files are loaded; the engine, the ensembles, the submissions and the analysis commands ask it
instead of comparing task names. A new shape is one class here plus its metric in ``kagglekit.metrics``.

Every shape speaks the models' two arrays (see ``kagglekit.models.base``): targets ``y`` and an (n, K) prediction
matrix. What a shape adds is how targets are encoded, how folds are drawn, how predictions become what the
submission holds (the *decision*: a threshold, cut points, the top K), how that is written and checked, and what
the analysis commands show.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from kagglekit.errors import ConfigError, DataError
from kagglekit.metrics import Decision, Metric, Needs, apply_cuts, default_cuts, predict_labels, score_range
from kagglekit.models.base import TaskSpec

SHAPES: dict[str, type["TaskShape"]] = {}


def register_shape(cls: type["TaskShape"]) -> type["TaskShape"]:
    """Class decorator: the shape is known by ``cls.name`` (what manifests record)."""
    SHAPES[cls.name] = cls
    return cls


class TaskShape:
    """What differs between shapes of answer; subclasses override what their shape does differently.

    Instances carry the shape's parameters (K of ranked answers) and compare by value, so a shape read back from a
    run's manifest equals the one a competition recognised.
    """

    name: ClassVar[str] = ""
    words: ClassVar[str] = ""  # for "task: ..." lines
    model_kind: ClassVar[str] = "binary"  # what the models learn (TaskSpec.kind)
    guessed_metric: ClassVar[str] = ""
    # Classes are the target's labels and the models give one probability per class.
    has_classes: ClassVar[bool] = False
    # Predictions are values in the target's units (a residual is their difference from the truth).
    numeric: ClassVar[bool] = False
    # A majority vote of the members' labels is an ensemble of this shape.
    votes: ClassVar[bool] = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskShape) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))

    def __str__(self) -> str:
        return self.name

    def spec(self, n_outputs: int) -> TaskSpec:
        """What the models learn for ``n_outputs`` classes, labels or targets."""
        return TaskSpec(self.model_kind, n_outputs)  # type: ignore[arg-type]

    def accepts(self, metric: Metric) -> bool:
        return self.name in metric.tasks

    def wrap_model(self, model: Any) -> Any:
        """The model the engine fits for this shape: the model itself, or a wrapper that feeds it another view."""
        return model

    # A lone text is a whole row (`kagglekit predict COMP "text"`); a multiple-choice row also needs its options.
    answers_single_texts: ClassVar[bool] = True

    # --- targets and folds ---------------------------------------------------------------------------------

    def encode(self, train: pd.DataFrame, target_columns: list[str], classes: list) -> np.ndarray:
        """Targets in the models' form: floats (n, T) unless a subclass says otherwise."""
        return train[target_columns].to_numpy(dtype=np.float64)

    def folds(self, y: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int, names: list) -> np.ndarray:
        """The fold of every row: numeric targets stratified on quantile bins (or on their integer values)."""
        from kagglekit.folds import stratified, target_bins

        return stratified(target_bins(y, n_folds), groups, n_folds, seed)

    # --- decisions and submissions -------------------------------------------------------------------------

    def complete_decision(self, y: np.ndarray, decision: Decision) -> Decision:
        """What a decision tuned on OOF rows also needs to be applied to new rows (an ordinal score range)."""
        return decision

    def decide(self, pred: np.ndarray, decision: Decision | None) -> np.ndarray:
        """What a label submission holds, from predictions; shapes that submit predictions as they are refuse."""
        raise ConfigError(f"a {self.name} task submits its predictions as they are; there is no decision to apply")

    def fill(self, frame: pd.DataFrame, pred: np.ndarray, value_columns: list[str], fmt: str, classes: list,
             decision: Decision, score_range: tuple[int, int] | None) -> None:
        """The value columns of the submission, from predictions already in the submission's row order."""
        for i, column in enumerate(value_columns):  # prediction column i is the sample's value column i
            frame[column] = pred[:, i]

    def check_submission(self, column: str, values: pd.Series, sample_column: pd.Series, holds: Needs,
                         labels: list | None) -> str | None:
        """What is wrong with one value column of a submission file holding ``holds``, or None (see
        ``submission.validate_submission``)."""
        numeric = pd.to_numeric(values, errors="coerce")
        if holds == "probabilities":
            bad = numeric.isna() | (numeric < 0) | (numeric > 1)
            return f"column '{column}' needs probabilities in [0, 1]; found {values[bad].iloc[0]} at {_lines(bad)}" if bad.any() else None
        bad = numeric.isna() | ~np.isfinite(numeric.fillna(0).to_numpy(dtype=np.float64))
        return f"column '{column}' needs numbers; found {values[bad].iloc[0]} at {_lines(bad)}" if bad.any() else None

    # --- reporting -----------------------------------------------------------------------------------------

    report_columns: ClassVar[tuple[str, ...]] = ("rmse", "mae")
    leaderboard_columns: ClassVar[tuple[str, ...]] = ("rmse", "mae")

    def evaluate(self, y: np.ndarray, pred: np.ndarray, decision: Decision | None) -> dict[str, float]:
        """The leaderboard's figures besides the competition metric."""
        from kagglekit.metrics import mae, rmse

        return {"rmse": rmse(y, pred, {}), "mae": mae(y, pred, {})}

    # --- pseudo-labels and stacking ------------------------------------------------------------------------

    soft_pseudo_labels: ClassVar[bool] = True  # every test row with its predicted value

    def confidence(self, pred: np.ndarray) -> np.ndarray:
        raise ConfigError(f"a {self.name} task has no confidence: its pseudo-labels are soft")

    def hard_labels(self, pred: np.ndarray) -> np.ndarray:
        raise ConfigError(f"a {self.name} task has no hard labels: its pseudo-labels are soft")

    def fit_meta(self, stacked: np.ndarray, y: np.ndarray, seed: int) -> Any:
        """The stacking meta-model on the members' (M, n, K) predictions: a ridge regression per target."""
        from kagglekit.ensemble import fit_column_meta

        return fit_column_meta(stacked, y, seed, classify=False)

    meta_words: ClassVar[str] = "Ridge per target"

    # --- analysis ------------------------------------------------------------------------------------------

    # The diagnostic plots of the report for one entry (names in ``kagglekit.analysis.plots.DIAGNOSTICS``).
    plots: ClassVar[tuple[str, ...]] = ("predicted_vs_true", "residuals")

    def most_wrong(self, frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, decision: Decision, names: list,
                   top: int | None) -> pd.DataFrame:
        """The largest absolute residuals (of the mean over targets), largest first; ``frame`` has id and text."""
        truth = np.asarray(y, dtype=np.float64).reshape(pred.shape)
        residual = pred - truth
        rows = frame.assign(
            error="residual",
            label=_per_target(truth, names),
            prediction=_per_target(pred, names),
            residual=np.round(residual.mean(axis=1), 4),
            abs_residual=np.abs(residual).mean(axis=1),
        )
        return rows.sort_values("abs_residual", ascending=False, kind="stable").iloc[:top].drop(columns="abs_residual")

    def describe_errors(self, decision: Decision) -> str:
        return "out-of-fold predictions, largest absolute residuals first"

    def describe_prediction(self, pred: np.ndarray, decision: Decision, names: list) -> tuple[str, str]:
        """One text's answer as the submission would hold it, and the figures behind it, as `predict` prints them."""
        if len(names) == 1:
            return f"{pred[0]:.4g}", f"{names[0]}"
        return " ".join(f"{v:.4g}" for v in pred), ", ".join(f"{n} = {v:.4g}" for n, v in zip(names, pred))


def _per_target(values: np.ndarray, names: list) -> np.ndarray:
    """One cell per row: the value of a one-target task, ``name=value`` pairs of several."""
    if values.shape[1] == 1:
        return np.round(values[:, 0], 4)
    return np.array(["; ".join(f"{n}={v:.3g}" for n, v in zip(names, row)) for row in values], dtype=object)


def _lines(mask: pd.Series, limit: int = 5) -> str:
    positions = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(p + 2) for p in positions[:limit])
    return f"line(s) {shown}" + (f" and {len(positions) - limit} more" if len(positions) > limit else "")


class _Classes(TaskShape):
    """One label per row from a set of classes; models give class probabilities."""

    has_classes = True
    votes = True
    soft_pseudo_labels = False
    report_columns = ("accuracy", "precision", "recall", "f1", "precision_weighted", "recall_weighted", "f1_weighted")
    leaderboard_columns = ("accuracy", "precision", "recall", "f1_weighted")
    meta_words = "LogisticRegression"
    plots = ("confusion_matrix",)

    def encode(self, train: pd.DataFrame, target_columns: list[str], classes: list) -> np.ndarray:
        index = {label: i for i, label in enumerate(classes)}
        return train[target_columns[0]].map(index).to_numpy(dtype=np.int64)

    def folds(self, y: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int, names: list) -> np.ndarray:
        from kagglekit.folds import stratified

        counts = np.bincount(y, minlength=len(names))
        if counts.min() < n_folds:
            label = names[int(counts.argmin())]
            raise DataError(f"label {label!r} has {counts.min()} training rows, fewer than --folds {n_folds}: use fewer folds")
        return stratified(y, groups, n_folds, seed)

    def decide(self, pred: np.ndarray, decision: Decision | None) -> np.ndarray:
        return predict_labels(pred, float((decision or {}).get("threshold", 0.5)))

    def fill(self, frame: pd.DataFrame, pred: np.ndarray, value_columns: list[str], fmt: str, classes: list,
             decision: Decision, score_range: tuple[int, int] | None) -> None:
        if fmt == "probability":
            frame[value_columns[0]] = pred[:, 1]
        elif fmt == "class_probabilities":
            for i, label in enumerate(classes):
                frame[str(label)] = pred[:, i]
        else:
            labels = np.asarray(classes, dtype=object)[self.decide(pred, decision)]
            frame[value_columns[0]] = pd.Series(labels).infer_objects().to_numpy()

    def check_submission(self, column: str, values: pd.Series, sample_column: pd.Series, holds: Needs,
                         labels: list | None) -> str | None:
        numeric = pd.to_numeric(values, errors="coerce")
        if holds == "labels" and pd.api.types.is_integer_dtype(sample_column):
            bad = numeric.isna() | (np.mod(numeric.fillna(0), 1) != 0)
            return f"column '{column}' needs integer labels; found {values[bad].iloc[0]} at {_lines(bad)}" if bad.any() else None
        if holds == "probabilities" or (holds == "labels" and pd.api.types.is_numeric_dtype(sample_column)):
            bad = numeric.isna() | (numeric < 0) | (numeric > 1)
            return f"column '{column}' needs probabilities in [0, 1]; found {values[bad].iloc[0]} at {_lines(bad)}" if bad.any() else None
        if labels is not None:
            bad = ~values.astype(str).isin([str(label) for label in labels])
            if bad.any():
                return f"column '{column}' holds {values[bad].iloc[0]!r}, not a label of the target, at {_lines(bad)}"
        return None

    def evaluate(self, y: np.ndarray, pred: np.ndarray, decision: Decision | None) -> dict[str, float]:
        from sklearn import metrics as skm

        labels = predict_labels(pred, float((decision or {}).get("threshold", 0.5)))
        average = "binary" if pred.shape[1] == 2 else "macro"
        weighted = skm.precision_recall_fscore_support(y, labels, average="weighted", zero_division=0)
        return {
            "accuracy": skm.accuracy_score(y, labels),
            "precision": skm.precision_score(y, labels, average=average, zero_division=0),
            "recall": skm.recall_score(y, labels, average=average, zero_division=0),
            "f1": skm.f1_score(y, labels, average=average, zero_division=0),
            "precision_weighted": weighted[0],
            "recall_weighted": weighted[1],
            "f1_weighted": weighted[2],
        }

    def confidence(self, pred: np.ndarray) -> np.ndarray:
        return pred.max(axis=1)

    def hard_labels(self, pred: np.ndarray) -> np.ndarray:
        return pred.argmax(axis=1).astype(np.int64)

    def fit_meta(self, stacked: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from kagglekit.ensemble import fit_class_meta

        return fit_class_meta(stacked, y, seed)

    def most_wrong(self, frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, decision: Decision, names: list,
                   top: int | None) -> pd.DataFrame:
        """Binary: false positives by falling P(positive), then false negatives by rising P(positive), ``top`` of each.
        Multiclass: the wrong rows by the probability of the predicted class."""
        classes = np.asarray(names, dtype=object)
        frame = frame.assign(label=classes[y])
        if pred.shape[1] == 2:
            positive = pred[:, 1]
            predicted = (positive >= float(decision.get("threshold", 0.5))).astype(np.int64)
            frame = frame.assign(prediction=classes[predicted], probability=positive)
            false_positives = frame[(y == 0) & (predicted == 1)].sort_values("probability", ascending=False, kind="stable")
            false_negatives = frame[(y == 1) & (predicted == 0)].sort_values("probability", ascending=True, kind="stable")
            return pd.concat([false_positives.iloc[:top].assign(error="false positive"),
                              false_negatives.iloc[:top].assign(error="false negative")], ignore_index=True)
        predicted = pred.argmax(axis=1)
        frame = frame.assign(prediction=classes[predicted], probability=pred.max(axis=1))
        return frame[predicted != y].sort_values("probability", ascending=False, kind="stable").iloc[:top].assign(error="wrong label")

    def describe_errors(self, decision: Decision) -> str:
        threshold = decision.get("threshold")
        return f"out-of-fold predictions at threshold {float(threshold):.2f}" if threshold is not None else "out-of-fold predictions (argmax)"

    def describe_prediction(self, pred: np.ndarray, decision: Decision, names: list) -> tuple[str, str]:
        label = int(self.decide(pred[None, :], decision)[0])
        if len(pred) == 2:
            return str(names[label]), f"P({names[1]}) = {pred[1]:.3f}, label {names[1]} from {float(decision.get('threshold', 0.5)):.2f}"
        return str(names[label]), f"P({names[label]}) = {pred[label]:.3f}"


@register_shape
class Binary(_Classes):
    name = "binary"
    words = "binary classification"
    model_kind = "binary"
    guessed_metric = "f1"


@register_shape
class Multiclass(_Classes):
    name = "multiclass"
    words = "multiclass classification"
    model_kind = "multiclass"
    guessed_metric = "accuracy"


@register_shape
class MultiLabel(TaskShape):
    """Several 0/1 labels per row; one probability column each."""

    name = "multilabel"
    words = "multi-label classification"
    model_kind = "multilabel"
    guessed_metric = "column_auc"
    soft_pseudo_labels = False
    report_columns = ("column_auc", "logloss")
    leaderboard_columns = ("column_auc", "logloss")
    meta_words = "LogisticRegression per label"
    plots = ("label_auc",)

    def encode(self, train: pd.DataFrame, target_columns: list[str], classes: list) -> np.ndarray:
        return train[target_columns].to_numpy(dtype=np.int64)

    def folds(self, y: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int, names: list) -> np.ndarray:
        from kagglekit.folds import iterative_stratification

        positives = y.sum(axis=0)
        if positives.min() < n_folds:
            label = names[int(positives.argmin())]
            raise DataError(f"label '{label}' has {positives.min()} positive training rows, fewer than --folds {n_folds}: use fewer folds")
        return iterative_stratification(y, n_folds, seed, groups)

    def evaluate(self, y: np.ndarray, pred: np.ndarray, decision: Decision | None) -> dict[str, float]:
        from kagglekit.metrics import column_auc, logloss

        return {"column_auc": column_auc(y, pred, {}), "logloss": logloss(y, pred, {})}

    def confidence(self, pred: np.ndarray) -> np.ndarray:
        return np.maximum(pred, 1 - pred).min(axis=1)

    def hard_labels(self, pred: np.ndarray) -> np.ndarray:
        return (pred >= 0.5).astype(np.int64)

    def fit_meta(self, stacked: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from kagglekit.ensemble import fit_column_meta

        return fit_column_meta(stacked, y, seed, classify=True)

    def most_wrong(self, frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, decision: Decision, names: list,
                   top: int | None) -> pd.DataFrame:
        """Per label: its most confident false positives and false negatives at 0.5, ``top`` of each, label by label."""
        parts = []
        for j, name in enumerate(names):
            predicted = (pred[:, j] >= 0.5).astype(np.int64)
            column = frame.assign(label=[f"{name}={v}" for v in y[:, j]], prediction=[f"{name}={v}" for v in predicted],
                                  probability=pred[:, j])
            wrong_pos = column[(y[:, j] == 0) & (pred[:, j] >= 0.5)].sort_values("probability", ascending=False, kind="stable")
            wrong_neg = column[(y[:, j] == 1) & (pred[:, j] < 0.5)].sort_values("probability", ascending=True, kind="stable")
            parts += [wrong_pos.iloc[:top].assign(error=f"{name}: false positive"),
                      wrong_neg.iloc[:top].assign(error=f"{name}: false negative")]
        return pd.concat(parts, ignore_index=True)

    def describe_errors(self, decision: Decision) -> str:
        return "out-of-fold predictions at 0.5, per label"

    def describe_prediction(self, pred: np.ndarray, decision: Decision, names: list) -> tuple[str, str]:
        present = [str(n) for n, p in zip(names, pred) if p >= 0.5]
        return " ".join(present) or "(none)", ", ".join(f"P({n}) = {p:.3f}" for n, p in zip(names, pred))


@register_shape
class Regression(TaskShape):
    """One or more real-valued targets."""

    name = "regression"
    words = "regression"
    model_kind = "regression"
    guessed_metric = "rmse"
    numeric = True


@register_shape
class Ordinal(TaskShape):
    """Integer scores (1-6 essay scores): learnt as one-value regression, cut into integers by tuned cut points."""

    name = "ordinal"
    words = "ordinal scores"
    model_kind = "regression"
    guessed_metric = "qwk"
    numeric = True

    def complete_decision(self, y: np.ndarray, decision: Decision) -> Decision:
        low, high = score_range(y, {})
        return {"low": low, "high": high, **decision}

    def decide(self, pred: np.ndarray, decision: Decision | None) -> np.ndarray:
        decision = decision or {}
        low, high = int(decision["low"]), int(decision["high"])
        return apply_cuts(pred, decision.get("cuts", default_cuts(low, high)), low)

    def fill(self, frame: pd.DataFrame, pred: np.ndarray, value_columns: list[str], fmt: str, classes: list,
             decision: Decision, score_range: tuple[int, int] | None) -> None:
        low, high = score_range or (decision["low"], decision["high"])
        frame[value_columns[0]] = self.decide(pred, {**decision, "low": int(low), "high": int(high)})

    def check_submission(self, column: str, values: pd.Series, sample_column: pd.Series, holds: Needs,
                         labels: list | None) -> str | None:
        numeric = pd.to_numeric(values, errors="coerce")
        bad = numeric.isna() | (np.mod(numeric.fillna(0), 1) != 0)
        return f"column '{column}' needs integer scores; found {values[bad].iloc[0]} at {_lines(bad)}" if bad.any() else None

    def describe_prediction(self, pred: np.ndarray, decision: Decision, names: list) -> tuple[str, str]:
        return str(int(self.decide(pred[None, :], decision)[0])), f"{names[0]} = {pred[0]:.3f} before the cut points"


@register_shape
@dataclass(eq=False)
class Ranked(_Classes):
    """K labels per row, best first (MAP@K): models give class probabilities and the top K are submitted."""

    k: int = 3
    name: ClassVar[str] = "ranked"
    model_kind: ClassVar[str] = "multiclass"
    votes: ClassVar[bool] = False
    report_columns: ClassVar[tuple[str, ...]] = ("accuracy", "top_k_accuracy")
    leaderboard_columns: ClassVar[tuple[str, ...]] = ("accuracy", "top_k_accuracy")
    plots: ClassVar[tuple[str, ...]] = ("answer_rank",)

    @property
    def guessed_metric(self) -> str:  # type: ignore[override]
        return f"map@{self.k}"

    @property
    def words(self) -> str:  # type: ignore[override]
        return f"ranked answers ({self.k} per row)"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k}

    def spec(self, n_outputs: int) -> TaskSpec:
        return TaskSpec("binary" if n_outputs == 2 else "multiclass", n_outputs)

    def folds(self, y: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int, names: list) -> np.ndarray:
        """Stratified where the labels allow: many ranked competitions have labels rarer than the folds (they are
        ranked like the others), so a rare label is spread as far as its rows go instead of refused."""
        from kagglekit.folds import stratified

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            return stratified(y, groups, n_folds, seed)

    def decide(self, pred: np.ndarray, decision: Decision | None) -> np.ndarray:
        """Class indices (n, K), most probable first; ties by class order."""
        return top_k(pred, self.k)

    def fill(self, frame: pd.DataFrame, pred: np.ndarray, value_columns: list[str], fmt: str, classes: list,
             decision: Decision, score_range: tuple[int, int] | None) -> None:
        labels = np.asarray([str(c) for c in classes], dtype=object)[self.decide(pred, decision)]
        frame[value_columns[0]] = [" ".join(row) for row in labels]

    def check_submission(self, column: str, values: pd.Series, sample_column: pd.Series, holds: Needs,
                         labels: list | None) -> str | None:
        known = None if labels is None else {str(label) for label in labels}
        for line, value in enumerate(values.astype(str), start=2):
            tokens = value.split()
            if len(tokens) != self.k:
                return f"column '{column}' needs {self.k} space-separated labels per row; line {line} has {len(tokens)} ({value!r})"
            if len(set(tokens)) != len(tokens):
                return f"column '{column}' repeats a label at line {line} ({value!r}); each row needs {self.k} distinct labels"
            unknown = [t for t in tokens if known is not None and t not in known]
            if unknown:
                return f"column '{column}' holds {unknown[0]!r} at line {line}, not a label of the target"
        return None

    def evaluate(self, y: np.ndarray, pred: np.ndarray, decision: Decision | None) -> dict[str, float]:
        ranked = top_k(pred, self.k)
        return {"accuracy": float(np.mean(ranked[:, 0] == y)), "top_k_accuracy": float(np.mean((ranked == y[:, None]).any(axis=1)))}

    def most_wrong(self, frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, decision: Decision, names: list,
                   top: int | None) -> pd.DataFrame:
        """Rows whose true label is not among the K submitted ("wrong answer"), by the probability of the first answer."""
        classes = np.asarray([str(c) for c in names], dtype=object)
        ranked = top_k(pred, self.k)
        missed = ~(ranked == y[:, None]).any(axis=1)
        frame = frame.assign(label=classes[y], prediction=[" ".join(r) for r in classes[ranked]],
                             probability=pred[np.arange(len(pred)), ranked[:, 0]])
        return frame[missed].sort_values("probability", ascending=False, kind="stable").iloc[:top].assign(error="wrong answer")

    def describe_errors(self, decision: Decision) -> str:
        return f"out-of-fold top {self.k} answers"

    def describe_prediction(self, pred: np.ndarray, decision: Decision, names: list) -> tuple[str, str]:
        ranked = top_k(pred[None, :], self.k)[0]
        return " ".join(str(names[i]) for i in ranked), ", ".join(f"P({names[i]}) = {pred[i]:.3f}" for i in ranked)


def top_k(pred: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest values of each row, largest first (a stable sort: ties by column)."""
    return np.argsort(-pred, axis=1, kind="stable")[:, :k]


def get_shape(record: str | dict[str, Any]) -> TaskShape:
    """The shape a name or a manifest's record (``{"name": "ranked", "k": 3}``) stands for."""
    if isinstance(record, str):
        record = {"name": record}
    cls = SHAPES.get(str(record.get("name")))
    if cls is None:
        raise ConfigError(f"unknown task shape {record.get('name')!r}; kagglekit knows {', '.join(SHAPES)}")
    return cls(**{k: v for k, v in record.items() if k != "name"})  # type: ignore[call-arg]


def manifest_shape(manifest: dict[str, Any]) -> TaskShape:
    """The shape of a run: recorded as ``shape`` since shapes have parameters, as ``task`` before."""
    return get_shape(manifest.get("shape") or manifest.get("task", "binary"))


def shape_with_classes(n_classes: int) -> TaskShape:
    """Binary or multiclass, by the number of classes."""
    return Binary() if n_classes == 2 else Multiclass()



@register_shape
@dataclass(eq=False)
class MultipleChoice(Ranked):
    """A question with option columns (``A``..``E``) and the name of the right one, answered by K option names, best
    first (LLM Science Exam). Each (question, option) is scored as a text pair by a binary model trained on the
    right option against the others (``kagglekit.models.choice.OptionScorer``); a row's options are ranked by score,
    so every model of the zoo answers through the pair machinery, and the run looks like ranked answers whose
    classes are the option names."""

    options: tuple[str, ...] = ()
    name: ClassVar[str] = "multiple_choice"

    def __post_init__(self) -> None:
        self.options = tuple(self.options)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "options": list(self.options)}

    def accepts(self, metric: Metric) -> bool:
        return Ranked.name in metric.tasks

    @property
    def words(self) -> str:  # type: ignore[override]
        return f"multiple choice ({len(self.options)} options, {self.k} answers per row)"

    def wrap_model(self, model: Any) -> Any:
        from kagglekit.models.choice import OptionScorer

        return OptionScorer(model, list(self.options))

    answers_single_texts: ClassVar[bool] = False

"""Predict new texts with a run's saved full-data refit: the saved model takes raw strings, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kagglekit.errors import ConfigError, DataError
from kagglekit.metrics import predict_labels
from kagglekit.models import load_model
from kagglekit.runs import Run


@dataclass
class Prediction:
    """A text's label, and the probability behind it: of the positive class for binary tasks (compared with
    the tuned threshold), of the predicted class otherwise."""

    text: str
    label: object
    probability: float


@dataclass
class Predictions:
    model: str
    threshold: float
    scored_class: object | None  # the class whose probability is shown (binary), None for multiclass
    rows: list[Prediction]


def predict_texts(run: Run, texts: list[str], model: str | None = None) -> Predictions:
    """Label each text with a saved refit (default: the run's best single model) at the threshold tuned on its
    out-of-fold predictions."""
    name = model or run.best(single=True)
    if name not in run.model_names():
        raise ConfigError(f"run {run.name} has no trained model {name!r}; it has: {', '.join(run.model_names())}")
    proba = load_model(run.fold_model_dir(name, None)).predict_proba(texts)
    threshold = float(run.summary(name).get("threshold", 0.5))
    labels = predict_labels(proba, threshold)
    classes = run.manifest["classes"]
    binary = proba.shape[1] == 2
    rows = [Prediction(text, classes[label], float(proba[i, 1] if binary else proba[i, label]))
            for i, (text, label) in enumerate(zip(texts, labels))]
    return Predictions(name, threshold, classes[1] if binary else None, rows)


def read_texts(path: Path) -> list[str]:
    """One text per line, blank lines skipped."""
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: pass a file with one text per line")
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): re-save it as UTF-8") from None



"""Predict new texts with a run's saved full-data refit: the saved model takes raw strings, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from kagglekit.errors import ConfigError
from kagglekit.metrics import predict_labels
from kagglekit.models import load_model
from kagglekit.runs import Run


@dataclass
class Prediction:
    text: str
    label: object
    probability: float


def best_model(run: Run) -> str:
    """The run's best single model by CV score (ensembles have no saved model of their own)."""
    from kagglekit.metrics import greater_is_better

    names = run.model_names()
    if not names:
        raise ConfigError(f"run {run.name} has no trained model: train first with `kagglekit train`")
    sign = 1 if greater_is_better(run.manifest["metric"]) else -1
    return max(names, key=lambda name: sign * run.summary(name)["cv_score"])


def predict_texts(run: Run, texts: list[str], model: str | None = None) -> list[Prediction]:
    """Label and probability of the predicted label for each text, with the model's tuned threshold."""
    name = model or best_model(run)
    if name not in run.model_names():
        raise ConfigError(f"run {run.name} has no trained model {name!r}; it has: {', '.join(run.model_names())}")
    directory = run.model_dir(name) / "full"
    proba = load_model(directory).predict_proba(texts)
    labels = predict_labels(proba, run.summary(name).get("threshold", 0.5))
    classes = run.manifest["classes"]
    return [Prediction(text, classes[label], float(proba[i, label])) for i, (text, label) in enumerate(zip(texts, labels))]


def read_texts(path: Path) -> list[str]:
    """One text per line, blank lines skipped."""
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: pass a file with one text per line")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]



"""The most confidently wrong out-of-fold predictions (the notebook's "most wrong").

Out-of-fold predictions come from models that never saw the row, so their confident mistakes are what the
model gets wrong on new data: often label noise, sometimes a pattern the model cannot read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.data import Competition
from kagglekit.errors import ConfigError, DataError
from kagglekit.io import atomic_path
from kagglekit.runs import Run

COLUMNS = ["error", "id", "label", "prediction", "probability", "text"]


def trained_entry(run: Run, name: str) -> dict:
    """The summary of a model or ensemble that has predictions; an unknown or failed one lists those that do."""
    summary = run.summary(name)  # unknown names: ConfigError listing the run's models and ensembles
    if summary.get("status") != "ok":
        raise ConfigError(
            f"{name} failed in run {run.name} ({summary.get('error', 'no predictions')}); "
            f"trained: {', '.join(run.entries()) or 'none'}"
        )
    return summary


def most_wrong(run: Run, competition: Competition, name: str, top: int | None = 10) -> pd.DataFrame:
    """Wrong out-of-fold predictions, most confident first, at the threshold the submission uses.

    Binary tasks give false positives (by falling probability of the positive class) then false negatives
    (by rising probability), ``top`` of each; ``probability`` is the positive class's. Multiclass tasks
    give the ``top`` wrong rows by the probability of the predicted class. ``top=None`` keeps every error.
    """
    summary = trained_entry(run, name)
    proba, y = run.oof(name), run.y
    if len(y) != len(competition.train):
        raise DataError(f"run {run.name} has {len(y)} training rows but {competition.directory}/train.csv has {len(competition.train)}")
    classes = np.asarray(run.manifest["classes"], dtype=object)
    frame = pd.DataFrame({
        "id": competition.train[competition.id_column].to_numpy(),
        "label": classes[y],
        "text": competition.train_texts,
    })
    if proba.shape[1] == 2:
        positive = proba[:, 1]
        predicted = (positive >= float(summary.get("threshold", 0.5))).astype(np.int64)
        frame["prediction"], frame["probability"] = classes[predicted], positive
        false_positives = frame[(y == 0) & (predicted == 1)].sort_values("probability", ascending=False, kind="stable")
        false_negatives = frame[(y == 1) & (predicted == 0)].sort_values("probability", ascending=True, kind="stable")
        parts = [false_positives.iloc[:top].assign(error="false positive"), false_negatives.iloc[:top].assign(error="false negative")]
    else:
        predicted = proba.argmax(axis=1)
        frame["prediction"], frame["probability"] = classes[predicted], proba.max(axis=1)
        parts = [frame[predicted != y].sort_values("probability", ascending=False, kind="stable").iloc[:top].assign(error="wrong")]
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def write_most_wrong(run: Run, name: str, frame: pd.DataFrame) -> Path:
    """RUN/errors/NAME.csv, for a spreadsheet or pandas."""
    path = run.output_dir("errors") / f"{name}.csv"
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
    return path

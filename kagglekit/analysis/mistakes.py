"""The most confidently wrong out-of-fold predictions (the notebook's "most wrong").

Out-of-fold predictions come from models that never saw the row, so their confident mistakes are what the
model gets wrong on new data: often label noise, sometimes a pattern the model cannot read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kagglekit.data import Competition
from kagglekit.errors import ConfigError, DataError
from kagglekit.io import atomic_path
from kagglekit.predict import target_names
from kagglekit.runs import Run

FIRST = ["error", "id", "label", "prediction"]


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
    """Wrong out-of-fold predictions, most confident first, as the run's shape sees them, through the decision the
    submission uses (see ``TaskShape.most_wrong``): binary false positives then false negatives, ``top`` of each;
    the wrong rows of several classes; a label's false positives and negatives (multi-label); rows whose label is
    not among the K answers (ranked); the largest absolute residuals (regression, ordinal). ``top=None`` keeps
    every error. Columns: ``error``, ``id``, ``label``, ``prediction``, then the shape's figures, ``text`` last.
    """
    summary = trained_entry(run, name)
    pred, y = run.oof(name), run.y
    if len(y) != len(competition.train):
        raise DataError(f"run {run.name} has {len(y)} training rows but {competition.directory}/train.csv has {len(competition.train)}")
    frame = pd.DataFrame({"id": competition.train[competition.id_column].to_numpy(), "text": competition.train_texts})
    decision = summary.get("decision", {"threshold": summary.get("threshold", 0.5)})
    wrong = run.shape.most_wrong(frame, y, pred, decision, target_names(run.manifest), top).reset_index(drop=True)
    figures = [c for c in wrong.columns if c not in FIRST and c != "text"]
    return wrong.reindex(columns=[*FIRST, *figures, "text"])


def write_most_wrong(run: Run, name: str, frame: pd.DataFrame) -> Path:
    """RUN/errors/NAME.csv, for a spreadsheet or pandas."""
    path = run.output_dir("errors") / f"{name}.csv"
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
    return path

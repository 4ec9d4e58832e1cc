"""Write submissions in exactly the sample's format, and check any file against the sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.data import META_FILE, PROBABILITY_METRICS, Competition, read_csv
from kagglekit.errors import DataError
from kagglekit.io import atomic_path
from kagglekit.metrics import predict_labels


def submission_frame(competition: Competition, proba: np.ndarray, threshold: float = 0.5) -> pd.DataFrame:
    """The sample's columns, ids and row order, filled from test probabilities given in test.csv order."""
    if proba.shape != (len(competition.test), competition.n_classes):
        raise DataError(
            f"predictions have shape {proba.shape}, expected ({len(competition.test)}, {competition.n_classes}) for test.csv"
        )
    ids = competition.test[competition.id_column]
    position = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
    order = position.loc[competition.sample[competition.id_column].to_numpy()].to_numpy()
    proba = proba[order]
    frame = pd.DataFrame({competition.id_column: competition.sample[competition.id_column].to_numpy()})
    if competition.submission_format == "label":
        labels = np.asarray(competition.classes, dtype=object)[predict_labels(proba, threshold)]
        frame[competition.target_column] = pd.Series(labels).infer_objects().to_numpy()
    elif competition.submission_format == "probability":
        frame[competition.target_column] = proba[:, 1]
    else:
        for i, label in enumerate(competition.classes):
            frame[label] = proba[:, i]
        frame = frame[list(competition.sample.columns)]
    return frame


def write_submission(competition: Competition, proba: np.ndarray, path: Path | str, threshold: float = 0.5) -> Path:
    """Write atomically, then validate against the sample so a bad file never sits under submissions/."""
    path = Path(path)
    frame = submission_frame(competition, proba, threshold)
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
        validate_submission(tmp, competition.directory / "sample_submission.csv", shown_name=str(path),
                            probabilities=competition.submission_format != "label")
    return path


def validate_submission(path: Path | str, sample_path: Path | str, *, shown_name: str | None = None,
                        probabilities: bool | None = None) -> None:
    """Raise a DataError that lists every way ``path`` differs from what the sample requires.

    ``probabilities`` allows probabilities where the sample holds integer labels (a competition scored by
    ROC AUC or log loss); by default that follows the metric that fetch recorded beside the sample.
    """
    path, sample_path = Path(path), Path(sample_path)
    name = shown_name or str(path)
    sample = read_csv(sample_path)
    id_column = str(sample.columns[0])
    sample = read_csv(sample_path, id_column)
    if probabilities is None:
        probabilities = _recorded_metric(sample_path.parent) in PROBABILITY_METRICS
    try:
        submission = read_csv(path, id_column)
    except DataError as e:
        raise DataError(str(e).replace(str(path), name)) from None
    problems: list[str] = []
    if list(submission.columns) != list(sample.columns):
        problems.append(f"columns are {', '.join(map(str, submission.columns))}; expected {', '.join(map(str, sample.columns))}")
    if len(submission) != len(sample):
        problems.append(f"{len(submission)} rows; expected {len(sample)}")
    if id_column in submission.columns:
        given, wanted = submission[id_column], sample[id_column]
        missing = sorted(set(wanted) - set(given), key=str)
        extra = sorted(set(given) - set(wanted), key=str)
        duplicated = given[given.duplicated()].unique()
        if missing:
            problems.append(f"{len(missing)} missing id(s): {_few(missing)}")
        if extra:
            problems.append(f"{len(extra)} id(s) not in the sample: {_few(extra)}")
        if len(duplicated):
            problems.append(f"duplicate id(s): {_few(list(duplicated))}")
    for column in sample.columns[1:]:
        if column not in submission.columns:
            continue
        values = submission[column]
        if values.isna().any():
            problems.append(f"column '{column}' is empty (NaN) at {_lines(values.isna())}")
            continue
        expected = sample[column]
        if pd.api.types.is_integer_dtype(expected) and not probabilities:
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() | (np.mod(numeric.fillna(0), 1) != 0)
            if bad.any():
                problems.append(f"column '{column}' needs integer labels; found {values[bad].iloc[0]} at {_lines(bad)}")
        elif pd.api.types.is_numeric_dtype(expected):
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() | (numeric < 0) | (numeric > 1)
            if bad.any():
                problems.append(f"column '{column}' needs probabilities in [0, 1]; found {values[bad].iloc[0]} at {_lines(bad)}")
    if problems:
        raise DataError(f"{name} does not match {sample_path.name}:\n  - " + "\n  - ".join(problems))


def _recorded_metric(directory: Path) -> str | None:
    """The metric fetch recorded for the competition whose files are in ``directory``, if it is one we know."""
    from kagglekit.io import read_json
    from kagglekit.metrics import find_metric

    meta = directory / META_FILE
    recorded = str(read_json(meta).get("evaluation_metric") or "") if meta.is_file() else ""
    metric = find_metric(recorded) if recorded else None
    return metric.name if metric else None


def _few(values: list, limit: int = 5) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _lines(mask: pd.Series, limit: int = 5) -> str:
    positions = np.flatnonzero(mask.to_numpy())
    return "line(s) " + _few([p + 2 for p in positions], limit)

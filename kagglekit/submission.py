"""Write submissions in exactly the sample's format, and check any file against the sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.data import META_FILE, Competition, read_csv
from kagglekit.errors import DataError, KaggleKitError
from kagglekit.io import atomic_path
from kagglekit.metrics import Decision, Needs, decide


def submission_frame(competition: Competition, pred: np.ndarray, decision: Decision | float | None = None) -> pd.DataFrame:
    """The sample's columns, ids and row order, filled from test predictions given in test.csv order.

    ``pred`` is the (n_test, n_outputs) prediction matrix of the task. ``decision`` turns it into labels
    where the submission holds labels: a binary ``{"threshold": t}`` (a bare float is read as one), or an
    ordinal ``{"low", "high", "cuts"}`` (without cuts: rounding, within the training scores' range).
    Probabilities and regression values are written as they are, one column per class, label or target.
    """
    if not isinstance(decision, dict):
        decision = {} if decision is None else {"threshold": float(decision)}
    expected = (len(competition.test), competition.n_outputs)
    if pred.shape != expected:
        raise DataError(f"predictions have shape {pred.shape}, expected {expected} for test.csv ({competition.task} task)")
    ids = competition.test[competition.id_column]
    position = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
    order = position.loc[competition.sample[competition.id_column].to_numpy()].to_numpy()
    score_range = None
    if competition.submission_format == "scores":
        y = competition.y
        score_range = (int(y.min()), int(y.max()))
    frame = fill_submission(competition.sample[competition.id_column].to_numpy(), pred[order], competition.id_column,
                            [str(c) for c in competition.sample.columns], competition.submission_format, competition.task,
                            competition.classes, decision, score_range)
    return frame[list(competition.sample.columns)]


def fill_submission(ids: np.ndarray, pred: np.ndarray, id_column: str, columns: list[str], fmt: str, task: str,
                    classes: list, decision: Decision, score_range: tuple[int, int] | None = None) -> pd.DataFrame:
    """The submission's rows from predictions already in ``ids`` order: labels through the decision, probabilities or
    values as they are, integer scores cut within ``score_range``. ``columns``: the sample's, the id first."""
    frame = pd.DataFrame({id_column: ids})
    values = columns[1:]
    if fmt == "label":
        labels = np.asarray(classes, dtype=object)[decide(pred, decision, task)]
        frame[values[0]] = pd.Series(labels).infer_objects().to_numpy()
    elif fmt == "probability":
        frame[values[0]] = pred[:, 1]
    elif fmt == "class_probabilities":
        for i, label in enumerate(classes):
            frame[str(label)] = pred[:, i]
    elif fmt == "scores":
        low, high = score_range
        frame[values[0]] = decide(pred, {"low": int(low), "high": int(high), **decision}, "ordinal")
    else:  # label_probabilities, values: prediction column i is the sample's column i
        for i, column in enumerate(values):
            frame[column] = pred[:, i]
    return frame


def write_submission(competition: Competition, pred: np.ndarray, path: Path | str, decision: Decision | float | None = None) -> Path:
    """Write atomically, then validate against the sample so a bad file never sits under submissions/."""
    path = Path(path)
    frame = submission_frame(competition, pred, decision)
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
        validate_submission(tmp, competition.directory / "sample_submission.csv", shown_name=str(path), holds=competition.holds)
    return path


def validate_submission(path: Path | str, sample_path: Path | str, *, shown_name: str | None = None,
                        holds: Needs | None = None) -> None:
    """Raise a DataError that lists every way ``path`` differs from what the sample requires.

    ``holds`` is what the value columns hold: labels (integers where the sample has integers: class
    labels or ordinal scores), probabilities (numbers in [0, 1]) or values (any finite numbers). By
    default it follows the competition in the sample's folder (see ``expected_holds``).
    """
    path, sample_path = Path(path), Path(sample_path)
    name = shown_name or str(path)
    sample = read_csv(sample_path)
    id_column = str(sample.columns[0])
    sample = read_csv(sample_path, id_column)
    holds = holds or expected_holds(sample_path, sample)
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
        numeric = pd.to_numeric(values, errors="coerce")
        if holds == "labels" and pd.api.types.is_integer_dtype(sample[column]):
            bad = numeric.isna() | (np.mod(numeric.fillna(0), 1) != 0)
            if bad.any():
                problems.append(f"column '{column}' needs integer labels; found {values[bad].iloc[0]} at {_lines(bad)}")
        elif holds == "probabilities" or (holds == "labels" and pd.api.types.is_numeric_dtype(sample[column])):
            bad = numeric.isna() | (numeric < 0) | (numeric > 1)
            if bad.any():
                problems.append(f"column '{column}' needs probabilities in [0, 1]; found {values[bad].iloc[0]} at {_lines(bad)}")
        elif holds == "values":
            bad = numeric.isna() | ~np.isfinite(numeric.fillna(0).to_numpy(dtype=np.float64))
            if bad.any():
                problems.append(f"column '{column}' needs numbers; found {values[bad].iloc[0]} at {_lines(bad)}")
    if problems:
        raise DataError(f"{name} does not match {sample_path.name}:\n  - " + "\n  - ".join(problems))


def expected_holds(sample_path: Path, sample: pd.DataFrame) -> Needs:
    """What a submission for the competition in ``sample_path``'s folder holds.

    That competition's own inference when its train.csv and test.csv are beside the sample (which reads
    the metric fetch recorded); else the recorded metric's need; else the sample's types: integers are
    labels, other numbers probabilities.
    """
    from kagglekit.data import load_competition
    from kagglekit.io import read_json
    from kagglekit.metrics import find_metric

    directory = sample_path.parent
    if (directory / "train.csv").is_file() and (directory / "test.csv").is_file():
        try:
            return load_competition(directory).holds
        except KaggleKitError:
            pass  # the sample alone still says what its columns take
    meta = directory / META_FILE
    recorded = find_metric(str(read_json(meta).get("evaluation_metric") or "")) if meta.is_file() else None
    if recorded is not None:
        return recorded.needs
    integer = all(pd.api.types.is_integer_dtype(sample[c]) for c in sample.columns[1:])
    return "labels" if integer or not all(pd.api.types.is_numeric_dtype(sample[c]) for c in sample.columns[1:]) else "probabilities"


def _few(values: list, limit: int = 5) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _lines(mask: pd.Series, limit: int = 5) -> str:
    positions = np.flatnonzero(mask.to_numpy())
    return "line(s) " + _few([p + 2 for p in positions], limit)

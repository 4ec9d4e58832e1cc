"""Write submissions in exactly the sample's format, and check any file against the sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.data import META_FILE, Competition, read_csv
from kagglekit.errors import DataError, KaggleKitError
from kagglekit.io import atomic_path
from kagglekit.metrics import Decision, Needs
from kagglekit.shapes import MultiLabel, Multiclass, Ranked, Regression, TaskShape


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
                            [str(c) for c in competition.sample.columns], competition.submission_format, competition.shape,
                            competition.classes, decision, score_range)
    return frame[list(competition.sample.columns)]


def fill_submission(ids: np.ndarray, pred: np.ndarray, id_column: str, columns: list[str], fmt: str, shape: TaskShape,
                    classes: list, decision: Decision, score_range: tuple[int, int] | None = None) -> pd.DataFrame:
    """The submission's rows from predictions already in ``ids`` order, as the shape writes them: labels through the
    decision, probabilities or values as they are, integer scores cut within ``score_range``, the top K labels.
    ``columns``: the sample's, the id first."""
    frame = pd.DataFrame({id_column: ids})
    shape.fill(frame, pred, columns[1:], fmt, classes, decision, score_range)
    return frame


def write_submission(competition: Competition, pred: np.ndarray, path: Path | str, decision: Decision | float | None = None) -> Path:
    """Write atomically, then validate against the sample so a bad file never sits under submissions/."""
    path = Path(path)
    frame = submission_frame(competition, pred, decision)
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
        validate_submission(tmp, competition.directory / "sample_submission.csv", shown_name=str(path),
                            shape=competition.shape, holds=competition.holds, labels=competition.classes or None)
    return path


def validate_submission(path: Path | str, sample_path: Path | str, *, shown_name: str | None = None,
                        shape: TaskShape | None = None, holds: Needs | None = None, labels: list | None = None) -> None:
    """Raise a DataError that lists every way ``path`` differs from what the sample requires.

    ``shape`` checks what the value columns hold (``holds``: integer labels or scores, probabilities in [0, 1], finite
    numbers, K distinct known ``labels`` per row); by default the competition's in the sample's folder
    (see ``expected_shape``).
    """
    path, sample_path = Path(path), Path(sample_path)
    name = shown_name or str(path)
    sample = read_csv(sample_path)
    id_column = str(sample.columns[0])
    sample = read_csv(sample_path, id_column)
    if shape is None or holds is None:
        shape, holds, labels = expected_shape(sample_path, sample)
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
        problem = shape.check_submission(str(column), values, sample[column], holds, labels)
        if problem:
            problems.append(problem)
    if problems:
        raise DataError(f"{name} does not match {sample_path.name}:\n  - " + "\n  - ".join(problems))


def expected_shape(sample_path: Path, sample: pd.DataFrame) -> tuple[TaskShape, Needs, list | None]:
    """The shape of a submission for the competition in ``sample_path``'s folder, what it holds, and its labels where
    known.

    That competition's own inference when its train.csv and test.csv are beside the sample (which reads
    the metric fetch recorded); else what the sample and the recorded metric say: K labels per row are ranked
    answers; integers are labels, other numbers probabilities, a value metric's columns values.
    """
    from kagglekit.data import load_competition, ranked_k
    from kagglekit.io import read_json
    from kagglekit.metrics import find_metric

    directory = sample_path.parent
    if (directory / "train.csv").is_file() and (directory / "test.csv").is_file():
        try:
            competition = load_competition(directory)
            return competition.shape, competition.holds, competition.classes or None
        except KaggleKitError:
            pass  # the sample alone still says what its columns take
    k = ranked_k(sample)
    if k is not None:
        return Ranked(k=k), "ranking", None
    meta = directory / META_FILE
    recorded = find_metric(str(read_json(meta).get("evaluation_metric") or "")) if meta.is_file() else None
    if recorded is not None and recorded.needs == "values":
        return Regression(), "values", None
    integer = all(pd.api.types.is_integer_dtype(sample[c]) for c in sample.columns[1:])
    numeric = all(pd.api.types.is_numeric_dtype(sample[c]) for c in sample.columns[1:])
    if (recorded is not None and recorded.needs == "probabilities") or (numeric and not integer):
        return MultiLabel(), "probabilities", None
    return Multiclass(), "labels", None


def _few(values: list, limit: int = 5) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _lines(mask: pd.Series, limit: int = 5) -> str:
    positions = np.flatnonzero(mask.to_numpy())
    return "line(s) " + _few([p + 2 for p in positions], limit)

"""Competition data layer: load the CSVs, infer ids, targets, task and submission format, and refuse bad input."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from kagglekit.errors import DataError
from kagglekit.io import read_json

Task = Literal["binary", "multiclass"]
SubmissionFormat = Literal["label", "probability", "class_probabilities"]
FILES = ("train.csv", "test.csv", "sample_submission.csv")
META_FILE = "kagglekit.json"
MAX_CLASSES = 100
PROBABILITY_METRICS = ("roc_auc", "logloss")


@dataclass
class Competition:
    """A loaded competition: frames plus everything inferred from them."""

    name: str
    directory: Path
    train: pd.DataFrame
    test: pd.DataFrame
    sample: pd.DataFrame
    id_column: str
    target_column: str
    text_columns: list[str]
    task: Task
    classes: list
    submission_format: SubmissionFormat
    metric: str
    metric_source: str
    warnings: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def texts(self, frame: pd.DataFrame) -> np.ndarray:
        """The model input: the text columns joined by spaces (missing values are empty strings)."""
        parts = [frame[c].fillna("").astype(str) for c in self.text_columns]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + " " + part
        return joined.str.strip().to_numpy(dtype=object)

    @property
    def train_texts(self) -> np.ndarray:
        return self.texts(self.train)

    @property
    def test_texts(self) -> np.ndarray:
        return self.texts(self.test)

    @property
    def y(self) -> np.ndarray:
        """Targets as class indices 0..K-1, in the order of ``classes``."""
        index = {label: i for i, label in enumerate(self.classes)}
        return self.train[self.target_column].map(index).to_numpy(dtype=np.int64)

    def fingerprint(self) -> str:
        """A short hash of the training rows and targets: folds and caches are only valid for the same data."""
        return _digest(self.train[self.id_column], self.train[self.target_column], self.train_texts)

    def test_fingerprint(self) -> str:
        """A short hash of the test ids and texts, in order: stored test predictions are only valid for these."""
        return _digest(self.test[self.id_column], self.test_texts)


def _digest(*columns: pd.Series | np.ndarray) -> str:
    """A short hash of columns' values as text, so it does not depend on how pandas typed them."""
    digest = hashlib.sha256()
    for column in columns:
        digest.update("\x1f".join(map(str, column)).encode("utf-8") + b"\x1e")
    return digest.hexdigest()[:12]


def read_csv(path: Path, id_column: str | None = None) -> pd.DataFrame:
    """Read one competition CSV or raise a DataError that names the file and the fix.

    Ids are read as text (Kaggle matches them as text: ``001006`` must stay ``001006``), and only empty
    fields are missing values, so a tweet or label that reads "NA" or "None" stays what it is.
    """
    if not path.is_file():
        raise DataError(f"{path} does not exist: run `kagglekit fetch` or point --data-dir at the folder with the CSVs")
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): re-save it as UTF-8 CSV") from None
    if "\x00" in head or not head.strip():
        raise DataError(f"{path} is not a CSV file (empty or binary content)")
    try:
        frame = pd.read_csv(path, encoding="utf-8", dtype={id_column: str} if id_column else None,
                            keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): re-save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, csv.Error) as e:
        raise DataError(f"{path} is not a valid CSV file: {e}") from None
    if frame.shape[1] < 2:
        raise DataError(f"{path} has {frame.shape[1]} column; a competition CSV needs an id column and at least one more")
    return frame


def _rows(mask: pd.Series | np.ndarray, limit: int = 5) -> str:
    """File line numbers (header is line 1) of the first rows where mask holds."""
    positions = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(p + 2) for p in positions[:limit])
    more = f" and {len(positions) - limit} more" if len(positions) > limit else ""
    return f"line{'s' if len(positions) > 1 else ''} {shown}{more}"


def _require_columns(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path} has no column {', '.join(repr(c) for c in missing)}; its columns are {', '.join(map(str, frame.columns))}"
        )


def _check_ids(frame: pd.DataFrame, id_column: str, path: Path) -> None:
    ids = frame[id_column]
    if ids.isna().any():
        raise DataError(f"{path}: column '{id_column}' is empty at {_rows(ids.isna())}; every row needs an id")
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        examples = ", ".join(map(str, ids[duplicated].unique()[:5]))
        raise DataError(f"{path}: duplicate ids in column '{id_column}' ({examples}) at {_rows(duplicated)}")


def _is_integer_like(values: pd.Series) -> bool:
    numeric = pd.to_numeric(values, errors="coerce")
    return bool(numeric.notna().all() and np.all(np.mod(numeric, 1) == 0))


def infer_metric(directory: Path, task: Task, fmt: SubmissionFormat, metric: str | None) -> tuple[str, str]:
    """The competition metric: explicit option, then what fetch recorded from the API, then a guess from the format."""
    from kagglekit.metrics import find_metric, get_metric

    if metric:
        return get_metric(metric).name, "option"
    meta_path = directory / META_FILE
    unsupported = ""
    if meta_path.is_file():
        recorded = read_json(meta_path).get("evaluation_metric")
        if recorded and find_metric(recorded):
            return get_metric(recorded).name, f"Kaggle API ({recorded})"
        if recorded:
            unsupported = f"Kaggle's metric {recorded!r} is not supported; "
    if fmt != "label":
        return "logloss", f"{unsupported}guessed from the probability submission format (set --metric to change)"
    return ("f1" if task == "binary" else "accuracy"), f"{unsupported}guessed from the task (set --metric to change)"


def load_competition(
    directory: Path | str,
    *,
    name: str | None = None,
    text_columns: list[str] | None = None,
    metric: str | None = None,
) -> Competition:
    """Load and check train/test/sample_submission from a folder in Kaggle's layout."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"data folder {directory} does not exist: run `kagglekit fetch` or pass --data-dir")
    train_path, test_path, sample_path = (directory / f for f in FILES)
    id_column = str(read_csv(sample_path).columns[0])
    train, test, sample = (read_csv(path, id_column) for path in (train_path, test_path, sample_path))
    warnings: list[str] = []

    for frame, path in ((train, train_path), (test, test_path)):
        _require_columns(frame, [id_column], path)
    _check_ids(train, id_column, train_path)
    _check_ids(test, id_column, test_path)
    _check_ids(sample, id_column, sample_path)
    _check_same_ids(test, sample, id_column, test_path, sample_path)

    sample_targets = [str(c) for c in sample.columns[1:]]
    if len(sample_targets) == 1:
        target_column = sample_targets[0]
        _require_columns(train, [target_column], train_path)
        labels_in_sample = _is_integer_like(sample[target_column]) or not pd.api.types.is_numeric_dtype(sample[target_column])
        fmt: SubmissionFormat = "label" if labels_in_sample else "probability"
    else:
        target_column = _find_class_column(train, sample_targets, train_path, sample_path)
        fmt = "class_probabilities"

    text_columns = list(text_columns or ["text"])
    _require_columns(train, text_columns, train_path)
    _require_columns(test, text_columns, test_path)
    for frame, path in ((train, train_path), (test, test_path)):
        for column in text_columns:
            empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
            if column == text_columns[0] and empty.any():
                warnings.append(f"{path.name}: {int(empty.sum())} empty or missing '{column}' value(s) at {_rows(empty)}; kept as empty strings")

    classes = _check_labels(train, target_column, fmt, sample_targets, train_path)
    task: Task = "binary" if len(classes) == 2 else "multiclass"
    metric_name, metric_source = infer_metric(directory, task, fmt, metric)
    if fmt == "label" and task == "binary" and metric_name in PROBABILITY_METRICS:
        # Samples often hold placeholder zeros; a ranking or log-loss metric needs the probability itself.
        fmt = "probability"
        warnings.append(f"metric {metric_name} scores probabilities: submissions hold P({target_column}={classes[1]}), "
                        f"not the integer labels of {sample_path.name}")
    return Competition(
        name=name or directory.name,
        directory=directory,
        train=train,
        test=test,
        sample=sample,
        id_column=id_column,
        target_column=target_column,
        text_columns=text_columns,
        task=task,
        classes=classes,
        submission_format=fmt,
        metric=metric_name,
        metric_source=metric_source,
        warnings=warnings,
    )


def _check_same_ids(test: pd.DataFrame, sample: pd.DataFrame, id_column: str, test_path: Path, sample_path: Path) -> None:
    test_ids, sample_ids = set(test[id_column]), set(sample[id_column])
    if test_ids != sample_ids:
        missing = ", ".join(map(str, sorted(sample_ids - test_ids, key=str)[:5]))
        extra = ", ".join(map(str, sorted(test_ids - sample_ids, key=str)[:5]))
        raise DataError(
            f"{test_path.name} has {len(test_ids)} ids but {sample_path.name} has {len(sample_ids)}"
            + (f"; missing from test: {missing}" if missing else "")
            + (f"; not in the sample: {extra}" if extra else "")
            + ": re-download the competition files with `kagglekit fetch --force`"
        )


def _find_class_column(train: pd.DataFrame, class_names: list[str], train_path: Path, sample_path: Path) -> str:
    """For a one-column-per-class sample (id,EAP,HPL,MWS), the train column whose labels are those classes."""
    wanted = set(class_names)
    for column in train.columns:
        values = set(train[column].dropna().astype(str).unique())
        if values and values <= wanted and len(values) > 1:
            return str(column)
    if wanted <= set(map(str, train.columns)):
        raise DataError(
            f"{sample_path.name} has one column per target ({', '.join(class_names)}) and so does {train_path.name}: "
            "multi-label competitions are not supported yet"
        )
    raise DataError(
        f"{sample_path.name} has columns {', '.join(class_names)} but no column of {train_path.name} holds those labels"
    )


def _check_labels(train: pd.DataFrame, target_column: str, fmt: SubmissionFormat, class_names: list[str], path: Path) -> list:
    target = train[target_column]
    missing = target.isna()
    if missing.any():
        raise DataError(f"{path}: column '{target_column}' is empty at {_rows(missing)}; fix or drop those rows")
    if fmt == "class_probabilities":
        unknown = ~target.astype(str).isin(class_names)
        if unknown.any():
            raise DataError(f"{path}: column '{target_column}' has labels outside {class_names} at {_rows(unknown)}")
        train[target_column] = target.astype(str)
        absent = [c for c in class_names if c not in set(train[target_column])]
        if absent:
            raise DataError(f"{path}: class(es) {', '.join(absent)} of the sample have no training rows in column '{target_column}'")
    elif _is_integer_like(target):
        train[target_column] = pd.to_numeric(target).astype(np.int64)
    elif fmt == "probability":
        raise DataError(f"{path}: column '{target_column}' must hold class labels for a probability submission; found non-integer values at {_rows(pd.to_numeric(target, errors='coerce').isna())}")
    counts = train[target_column].value_counts()
    if len(counts) < 2:
        raise DataError(f"{path}: column '{target_column}' has a single label ({counts.index[0]}); there is nothing to learn")
    if len(counts) > MAX_CLASSES:
        raise DataError(f"{path}: column '{target_column}' has {len(counts)} distinct values; regression targets are not supported")
    if fmt == "probability" and len(counts) != 2:
        raise DataError(f"{path}: a one-column probability submission needs a binary target; '{target_column}' has labels {sorted(counts.index)}")
    rare = counts[counts < max(2, int(0.001 * len(train)))]
    if len(rare):
        label = rare.index[0].item() if hasattr(rare.index[0], "item") else rare.index[0]
        raise DataError(
            f"{path}: label {label!r} in column '{target_column}' appears only {int(rare.iloc[0])} time(s), at "
            f"{_rows(train[target_column] == label)}; the other labels are {sorted(counts.index.drop(rare.index).tolist())}: "
            "fix or drop those rows"
        )
    return list(class_names) if fmt == "class_probabilities" else sorted(counts.index.tolist())

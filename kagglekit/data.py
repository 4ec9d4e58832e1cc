"""Competition data layer: load the CSVs, infer ids, targets, task and submission format, and refuse bad input."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from kagglekit.catalogue import infer_catalogue
from kagglekit.errors import ConfigError, DataError
from kagglekit.inputs import Inputs, InputSchema, Roles, infer_schema, normalise
from kagglekit.io import read_json
from kagglekit.metrics import Metric, Needs, find_metric, get_metric, metrics_for
from kagglekit.models.base import TaskSpec
from kagglekit.shapes import MultiLabel, MultipleChoice, Ordinal, Ranked, Regression, TaskShape, shape_with_classes
from kagglekit.tables import CompetitionTables, read_csv_file, read_tables

# label: one class label per row; probability: P(positive) of a binary target; class_probabilities: one column per
# class; label_probabilities: one probability column per label (multi-label); values: one float column per
# regression target; scores: one integer column (ordinal); ranked_labels: K space-separated labels, best first.
SubmissionFormat = Literal["label", "probability", "class_probabilities", "label_probabilities", "values", "scores",
                           "ranked_labels"]
HOLDS: dict[str, Needs] = {
    "label": "labels", "scores": "labels", "probability": "probabilities", "class_probabilities": "probabilities",
    "label_probabilities": "probabilities", "values": "values", "ranked_labels": "ranking",
}
FILES = ("train.csv", "test.csv", "sample_submission.csv")
META_FILE = "kagglekit.json"
MAX_CLASSES = 100
MAX_RANKED_LABELS = 5000  # ranked answers rank many labels (MAP-2025: 65 Category:Misconception pairs; catalogues more)
MISSING_PART = "NA"  # how a joined target writes a missing part (Kaggle's MAP-2025: "True_Correct:NA")


@dataclass
class Competition:
    """A loaded competition: frames plus everything inferred from them.

    ``target_columns`` are the train.csv columns learnt from (the class column of a one-column-per-class
    sample); ``schema`` every input column and its role (``text_columns`` are its text fields);
    ``inferred`` says what was inferred and from what, for printing once and for the manifest.
    """

    name: str
    directory: Path
    train: pd.DataFrame
    test: pd.DataFrame
    sample: pd.DataFrame
    id_column: str
    target_columns: list[str]
    schema: InputSchema
    shape: TaskShape
    classes: list
    submission_format: SubmissionFormat
    metric: Metric
    metric_source: str
    group_column: str | None = None
    roles: Roles = field(default_factory=Roles)  # the input roles the user declared; the rest was inferred
    warnings: list[str] = field(default_factory=list)
    inferred: dict[str, str] = field(default_factory=dict)

    @property
    def task(self) -> str:
        """The shape's name, for messages and manifests; code asks ``shape``."""
        return self.shape.name

    @property
    def target_column(self) -> str:
        """The one target column (binary, multiclass, one-target regression, ordinal)."""
        if len(self.target_columns) != 1:
            raise DataError(f"{self.name} has {len(self.target_columns)} target columns ({', '.join(self.target_columns)}); use target_columns")
        return self.target_columns[0]

    @property
    def n_classes(self) -> int:
        """The class count of a classification task; 0 otherwise (see ``n_outputs``)."""
        return len(self.classes)

    @property
    def task_spec(self) -> TaskSpec:
        """What the models learn: one output per class, label or target (ordinal scores: one-output regression)."""
        return self.shape.spec(self.n_classes if self.shape.has_classes else len(self.target_columns))

    @property
    def n_outputs(self) -> int:
        """Columns of a prediction matrix: classes, labels or targets."""
        return self.task_spec.n_outputs

    @property
    def holds(self) -> Needs:
        """What the submission's value columns hold: labels (or integer scores), probabilities, or values."""
        return HOLDS[self.submission_format]

    @property
    def groups(self) -> np.ndarray | None:
        """The group of each training row (rows sharing one stay in one fold), or None."""
        return None if self.group_column is None else self.train[self.group_column].to_numpy()

    @property
    def text_columns(self) -> list[str]:
        return self.schema.text_fields

    def inputs(self, frame: pd.DataFrame) -> Inputs:
        """The model inputs of ``frame`` (train or test) under the competition's schema."""
        return Inputs(normalise(frame, self.schema), self.schema)

    @cached_property
    def train_inputs(self) -> Inputs:
        return self.inputs(self.train)

    @cached_property
    def test_inputs(self) -> Inputs:
        return self.inputs(self.test)

    @property
    def train_texts(self) -> np.ndarray:
        """Every input of each training row as one string (``text: ... | keyword: ...``), for display and analysis."""
        return self.train_inputs.joined()

    @property
    def test_texts(self) -> np.ndarray:
        return self.test_inputs.joined()

    @property
    def y(self) -> np.ndarray:
        """Targets in the task spec's canonical form: class indices (n,) in the order of ``classes``,
        0/1 (n, L) for multi-label, floats (n, T) for regression and ordinal scores."""
        return self.shape.encode(self.train, self.target_columns, self.classes)

    @property
    def target_names(self) -> list:
        """What each prediction column stands for: the classes, else the target columns."""
        return self.classes if self.shape.has_classes else self.target_columns

    def fingerprint(self) -> str:
        """A short hash of the training rows and targets: folds and caches are only valid for the same data."""
        return _digest(self.train[self.id_column], *(self.train[c] for c in self.target_columns), *self._input_columns(self.train_inputs))

    def test_fingerprint(self) -> str:
        """A short hash of the test ids and inputs, in order: stored test predictions are only valid for these."""
        return _digest(self.test[self.id_column], *self._input_columns(self.test_inputs))

    def _input_columns(self, inputs: Inputs) -> list[Any]:
        """The input columns with their names, so a column that changes role changes the hash; a lone text field
        hashes as its text alone, as before inputs had roles, so runs made then stay valid."""
        if self.schema.is_single_text:
            return [inputs.joined()]
        return [pd.Series([f"{name}:{kind}"]) for name, kind in ((f.name, f.kind) for f in self.schema.fields)] + \
            [inputs.frame[name] for name in self.schema.names]


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
    frame = read_csv_file(path, frozenset([id_column]) if id_column else frozenset())
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


def _known_metric(directory: Path, metric: str | None) -> tuple[Metric | None, str]:
    """The metric given as an option or recorded by fetch from the API, and where it came from.

    Without one: None and, when fetch recorded a metric kagglekit does not know, a note saying so.
    """
    if metric:
        return get_metric(metric), "option"
    meta_path = directory / META_FILE
    if meta_path.is_file():
        recorded = read_json(meta_path).get("evaluation_metric")
        if recorded and find_metric(recorded):
            return get_metric(recorded), f"Kaggle API ({recorded})"
        if recorded:
            return None, f"Kaggle's metric {recorded!r} is not supported; "
    return None, ""


def _guess_metric(shape: TaskShape, fmt: SubmissionFormat, n_targets: int) -> tuple[str, str]:
    if fmt == "class_probabilities" or (fmt == "probability" and shape.has_classes):
        return "logloss", "guessed from the probability submission format (set --metric to change)"
    if isinstance(shape, Regression) and n_targets > 1:
        return "mcrmse", "guessed from the task (set --metric to change)"
    return shape.guessed_metric, "guessed from the task (set --metric to change)"


def infer_metric(directory: Path, shape: TaskShape, fmt: SubmissionFormat, metric: str | None, n_targets: int = 1) -> tuple[str, str]:
    """The competition metric: explicit option, then what fetch recorded from the API, then a guess from the shape.

    An explicit metric that cannot score the shape is a ConfigError; a recorded one falls back to the guess.
    """
    known, note = _known_metric(directory, metric)
    if known is not None and shape.accepts(known):
        return known.name, note
    if known is not None and note == "option":
        raise ConfigError(f"metric {known.name} cannot score a {shape.name} task; use one of: {', '.join(metrics_for(shape.name))}")
    if known is not None:
        note = f"{note} scores no {shape.name} task; "
    name, guess = _guess_metric(shape, fmt, n_targets)
    return name, note + guess


def load_competition(
    directory: Path | str,
    *,
    name: str | None = None,
    text_columns: list[str] | None = None,
    target_columns: list[str] | None = None,
    metric: str | None = None,
    group_column: str | None = None,
    pairs: list[list[str]] | None = None,
    categorical_columns: list[str] | None = None,
    numeric_columns: list[str] | None = None,
    ignore_columns: list[str] | None = None,
    prepare: Path | str | None = None,
    catalogue: str | None = None,
) -> Competition:
    """Load and check train/test/sample_submission from a folder in Kaggle's layout; infer what is not given.

    Every column of both train.csv and test.csv besides the id, the targets and the group is a model input,
    in the role ``kagglekit.inputs.infer_schema`` gives it, unless a role is declared: ``text_columns`` (the
    text fields), ``pairs`` (text fields read together), ``categorical_columns``, ``numeric_columns``,
    ``ignore_columns``. ``target_columns`` None takes the sample's columns other than the id; the task follows
    from the targets' values (see ``infer_task``). Columns found only in train.csv (e.g. ``standard_error``)
    are never model inputs. The frames come from ``kagglekit.tables.read_tables``: every table of the folder, after
    its ``prepare.py`` (or ``prepare``), with side tables (``prompts_train.csv`` by ``prompt_id``) joined on.
    ``catalogue`` (``TABLE:ID_COLUMN:TEXT_COLUMN``) names the table whose ids the sample ranks, where that is not
    recognised from the files (``kagglekit.catalogue``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"data folder {directory} does not exist: run `kagglekit fetch` or pass --data-dir")
    tables = read_tables(directory, prepare)
    train, test, sample, id_column, (train_path, test_path, sample_path) = (
        tables.train, tables.test, tables.sample, tables.id_column, tables.paths)
    warnings: list[str] = list(tables.warnings)
    inferred: dict[str, str] = dict(tables.inferred)

    for frame, path in ((train, train_path), (test, test_path)):
        _require_columns(frame, [id_column], path)
    _check_ids(train, id_column, train_path)
    _check_ids(test, id_column, test_path)
    _check_ids(sample, id_column, sample_path)
    _check_same_ids(test, sample, id_column, test_path, sample_path)

    known_metric, _ = _known_metric(directory, metric)
    targets, shape, classes, fmt, why = infer_task(train, sample, target_columns, known_metric, train_path, sample_path,
                                                   tables=tables, catalogue=catalogue)
    inferred.pop("tables", None)
    inferred.update(tables.inferred)  # a catalogue is read, not joined: no longer a table left aside
    inferred["target_columns"] = f"{', '.join(targets)} ({'option' if target_columns else f'{sample_path.name} columns other than the id'})"
    inferred["task"] = f"{shape.name}: {why}"
    metric_name, metric_source = infer_metric(directory, shape, fmt, metric, len(targets))
    chosen_metric = get_metric(metric_name)
    if fmt == "label" and len(classes) == 2 and chosen_metric.needs == "probabilities":
        # Samples often hold placeholder zeros; a ranking or log-loss metric needs the probability itself.
        fmt = "probability"
        warnings.append(f"metric {metric_name} scores probabilities: submissions hold P({targets[0]}={classes[1]}), "
                        f"not the integer labels of {sample_path.name}")
    inferred["metric"] = f"{metric_name} ({metric_source})"
    inferred["submission"] = SUBMISSION_WORDS[fmt]

    if group_column:
        _require_columns(train, [group_column], train_path)
    roles = Roles(list(text_columns or []), [list(p) for p in pairs or []], list(categorical_columns or []),
                  list(numeric_columns or []), list(ignore_columns or []))
    schema = infer_schema(train, test, [id_column, *targets, *([group_column] if group_column else [])], roles, train_path,
                          test_path, tables.decided)
    inferred["inputs"] = schema.describe()
    inferred["text_columns"] = f"{', '.join(schema.text_fields) or 'none'} ({'option' if roles.text else 'inferred'})"
    train_only = [str(c) for c in train.columns if c not in test.columns and c not in targets and c != group_column]
    if train_only:
        inferred["train_only"] = f"{', '.join(train_only)} (in train.csv only: never a model input)"
    if group_column:
        _check_group_column(train, group_column, train_path)
        inferred["group_column"] = f"{group_column} ({train[group_column].nunique()} groups, option)"

    competition = Competition(
        name=name or directory.name,
        directory=directory,
        train=train,
        test=test,
        sample=sample,
        id_column=id_column,
        target_columns=targets,
        schema=schema,
        shape=shape,
        classes=classes,
        submission_format=fmt,
        metric=chosen_metric,
        metric_source=metric_source,
        group_column=group_column,
        roles=roles,
        warnings=warnings,
        inferred=inferred,
    )
    texts = schema.text_fields
    for inputs, path in ((competition.train_inputs, train_path), (competition.test_inputs, test_path)):
        empty = np.all([inputs.column(c) == "" for c in texts], axis=0) if texts else np.zeros(len(inputs), dtype=bool)
        if empty.any():
            shown = "', '".join(texts)
            warnings.append(f"{path.name}: {int(empty.sum())} empty or missing '{shown}' value(s) at {_rows(empty)}; kept as empty strings")
    return competition


SUBMISSION_WORDS: dict[str, str] = {
    "label": "one label per row",
    "probability": "P(positive) per row",
    "class_probabilities": "one probability column per class",
    "label_probabilities": "one probability column per label",
    "values": "one float column per target",
    "scores": "one integer score per row",
    "ranked_labels": "space-separated labels per row, best first",
}


def _check_group_column(train: pd.DataFrame, column: str, path: Path) -> None:
    _require_columns(train, [column], path)
    missing = train[column].isna()
    if missing.any():
        raise DataError(f"{path}: group column '{column}' is empty at {_rows(missing)}; every row needs a group")


def _numeric_target(train: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A target column as numbers, or a DataError naming the first empty or non-numeric row."""
    values = train[column]
    if values.isna().any():
        raise DataError(f"{path}: column '{column}' is empty at {_rows(values.isna())}; fix or drop those rows")
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any():
        bad = numeric.isna()
        raise DataError(f"{path}: target column '{column}' must hold numbers; found {values[bad].iloc[0]!r} at {_rows(bad)}")
    if not np.isfinite(numeric.to_numpy(dtype=np.float64)).all():
        bad = ~np.isfinite(numeric.to_numpy(dtype=np.float64))
        raise DataError(f"{path}: target column '{column}' holds infinite values at {_rows(bad)}")
    return numeric


def _looks_like_scores(values: pd.Series) -> bool:
    """Integer scores (1-6, 1-10, ...): every integer from the lowest to the highest occurs and the lowest is
    1 or more (class indices start at 0), or there are more distinct values than any set of classes."""
    distinct = np.unique(values.to_numpy())
    if len(distinct) > MAX_CLASSES:
        return True
    return len(distinct) >= 3 and distinct[0] >= 1 and len(distinct) == distinct[-1] - distinct[0] + 1


def infer_task(
    train: pd.DataFrame,
    sample: pd.DataFrame,
    target_columns: list[str] | None,
    metric: Metric | None,
    train_path: Path,
    sample_path: Path,
    *,
    tables: CompetitionTables | None = None,
    catalogue: str | None = None,
) -> tuple[list[str], TaskShape, list, SubmissionFormat, str]:
    """Targets, shape, classes, submission format and the reason, from the targets' values, the sample and the metric.

    A sample whose one prediction column holds K space-separated ids of a table among ``tables`` (or of the
    ``catalogue`` declared) answers from a catalogue (``kagglekit.catalogue``); K space-separated labels otherwise are
    a ranked-answer competition (``_infer_ranked``). Otherwise:

    Several target columns: multi-label when all hold integers (each must be 0 or 1) unless the metric
    scores values; regression otherwise. One column: text labels are classes; non-integer numbers are
    regression; integers are ordinal scores when the metric is QWK, or when the sample holds integers
    and the values look like scores (``_looks_like_scores``) under a value metric (RMSE, MAE) or no known
    metric; other integers are regression under a value metric, else binary when there are two of them,
    classes when the sample holds labels, and regression when it holds floats. A classification metric
    makes integers classes. Target columns are converted in place (labels, 0/1 or floats).
    """
    sample_columns = [str(c) for c in sample.columns[1:]]
    found = infer_catalogue(train, sample, tables, catalogue, ranked_k(sample), target_columns, train_path, sample_path) \
        if tables is not None else None
    ranked = found or _infer_multiple_choice(train, sample, target_columns, train_path, sample_path) or \
        _infer_ranked(train, sample, target_columns, train_path, sample_path)
    if ranked is not None:
        return ranked
    one_per_class = target_columns is None and len(sample_columns) > 1 and not any(c in train.columns for c in sample_columns)
    if one_per_class or (target_columns and len(target_columns) == 1 and len(sample_columns) > 1):
        column = target_columns[0] if target_columns else _find_class_column(train, sample_columns, train_path, sample_path)
        _require_columns(train, [column], train_path)
        classes = _check_labels(train, column, "class_probabilities", sample_columns, train_path)
        return [column], shape_with_classes(len(classes)), classes, "class_probabilities", f"labels of '{column}' are the columns of {sample_path.name}"
    targets = list(target_columns or sample_columns)
    if len(targets) != len(sample_columns):
        raise DataError(f"{sample_path.name} has {len(sample_columns)} prediction column(s) ({', '.join(sample_columns)}) "
                        f"but {len(targets)} target column(s) were given ({', '.join(targets)})")
    missing = [c for c in targets if c not in train.columns]
    if missing:
        source = "--target-column" if target_columns else f"{sample_path.name} column"
        raise DataError(f"{train_path} has no column {', '.join(repr(c) for c in missing)} (the {source} to predict); "
                        f"its columns are {', '.join(map(str, train.columns))}: pass --target-column")
    if set(targets) == set(sample_columns):
        targets = sample_columns  # prediction column i is the sample's column i
    values_metric = metric is not None and metric.needs == "values"
    if len(targets) > 1:
        numeric = {c: _numeric_target(train, c, train_path) for c in targets}
        if not values_metric and all(_is_integer_like(v) for v in numeric.values()):
            for column, values in numeric.items():
                bad = ~values.isin([0, 1])
                if bad.any():
                    raise DataError(f"{train_path}: multi-label column '{column}' must hold 0 or 1; found {values[bad].iloc[0]} "
                                    f"at {_rows(bad)} (for several numeric targets pass --metric mcrmse)")
                train[column] = values.astype(np.int64)
            return targets, MultiLabel(), [], "label_probabilities", f"{len(targets)} columns of 0/1 labels"
        for column, values in numeric.items():
            train[column] = values.astype(np.float64)
        return targets, Regression(), [], "values", f"{len(targets)} numeric target columns"

    column = targets[0]
    target = train[column]
    if target.isna().any():
        raise DataError(f"{train_path}: column '{column}' is empty at {_rows(target.isna())}; fix or drop those rows")
    numeric = pd.to_numeric(target, errors="coerce")
    sample_integers = pd.api.types.is_integer_dtype(sample[sample_columns[0]])
    sample_labels = sample_integers or not pd.api.types.is_numeric_dtype(sample[sample_columns[0]])
    class_metric = metric is not None and metric.needs != "values" and metric.name != "qwk"
    if numeric.isna().any() or (class_metric and _is_integer_like(numeric)):
        fmt: SubmissionFormat = "label" if sample_labels else "probability"
        classes = _check_labels(train, column, fmt, sample_columns, train_path)
        return [column], shape_with_classes(len(classes)), classes, fmt, f"{len(classes)} labels in '{column}'"
    numeric = _numeric_target(train, column, train_path)
    integers = _is_integer_like(numeric)
    if integers and (metric is not None and metric.name == "qwk"
                     or sample_integers and _looks_like_scores(numeric) and (values_metric or metric is None)):
        train[column] = numeric.astype(np.float64)
        low, high = int(numeric.min()), int(numeric.max())
        return [column], Ordinal(), [], "scores", f"integer scores {low}..{high} in '{column}'"
    if not integers or values_metric or (not sample_labels and numeric.nunique() > 2):
        train[column] = numeric.astype(np.float64)
        return [column], Regression(), [], "values", f"numeric values in '{column}'"
    fmt = "label" if sample_labels else "probability"
    classes = _check_labels(train, column, fmt, sample_columns, train_path)
    return [column], shape_with_classes(len(classes)), classes, fmt, f"{len(classes)} labels in '{column}'"


def ranked_k(sample: pd.DataFrame) -> int | None:
    """K when the sample's one prediction column holds K >= 2 space-separated tokens in every row (MAP@K answers)."""
    if sample.shape[1] != 2 or not len(sample):
        return None
    values = sample.iloc[:, 1]
    if values.isna().any() or pd.api.types.is_numeric_dtype(values):
        return None
    counts = values.astype(str).str.split().str.len()
    k = int(counts.iloc[0])
    return k if k >= 2 and bool((counts == k).all()) else None


def _infer_ranked(train: pd.DataFrame, sample: pd.DataFrame, target_columns: list[str] | None, train_path: Path,
                  sample_path: Path) -> tuple[list[str], TaskShape, list, SubmissionFormat, str] | None:
    """Ranked answers: the target column named as the sample's (or given), or ``A:B`` built from train's ``A`` and
    ``B`` (a missing part written NA), or the one train column that test.csv lacks; labels without spaces."""
    k = ranked_k(sample)
    if k is None:
        return None
    column = str(sample.columns[1])
    how = f"{k} space-separated labels per row in {sample_path.name}"
    if target_columns:
        if len(target_columns) != 1:
            raise DataError(f"{sample_path.name} ranks the labels of one target; {len(target_columns)} target columns were given")
        column = target_columns[0]
    if column not in train.columns and ":" in column and all(part in train.columns for part in column.split(":")):
        parts = column.split(":")
        train[column] = train[parts].astype("string").fillna(MISSING_PART).astype(str).agg(":".join, axis=1)
        how += f"; target '{column}' joins train.csv's {' and '.join(repr(p) for p in parts)} (a missing part is {MISSING_PART})"
    elif column not in train.columns and not target_columns:
        column = _find_ranked_column(train, sample, train_path, sample_path)
    _require_columns(train, [column], train_path)
    target = train[column]
    if target.isna().any():
        raise DataError(f"{train_path}: column '{column}' is empty at {_rows(target.isna())}; fix or drop those rows")
    labels = target.astype(str)
    spaced = labels.str.contains(r"\s", regex=True)
    if spaced.any():
        if not target_columns and column == str(sample.columns[1]):
            return None  # not labels: a text answer the sample happens to write with spaces
        raise DataError(f"{train_path}: label {labels[spaced].iloc[0]!r} of '{column}' at {_rows(spaced)} holds a space; "
                        f"{sample_path.name} separates ranked labels by spaces")
    train[column] = labels
    classes = sorted(labels.unique().tolist())
    if len(classes) < 2:
        raise DataError(f"{train_path}: column '{column}' has a single label ({classes[0]}); there is nothing to rank")
    if len(classes) > MAX_RANKED_LABELS:
        raise DataError(f"{train_path}: column '{column}' has {len(classes)} distinct labels, more than {MAX_RANKED_LABELS} to rank")
    return [column], Ranked(k=k), classes, "ranked_labels", f"{how}; {len(classes)} labels in '{column}'"


def _infer_multiple_choice(train: pd.DataFrame, sample: pd.DataFrame, target_columns: list[str] | None, train_path: Path,
                           sample_path: Path) -> tuple[list[str], TaskShape, list, SubmissionFormat, str] | None:
    """Multiple choice: a ranked sample whose labels name columns of train.csv (the options ``A``..``E``), and a train
    column (the answer) whose every value is one of those option columns' names."""
    k = ranked_k(sample)
    if k is None:
        return None
    columns = [str(c) for c in train.columns]
    candidates = [target_columns[0]] if target_columns and len(target_columns) == 1 else columns[1:]
    for column in candidates:
        values = train[column].dropna().astype(str) if column in train.columns else pd.Series(dtype=str)
        named = sorted(set(values))
        if len(values) < len(train) or len(named) < 2 or not set(named) <= set(columns) or column in named:
            continue
        options = [c for c in columns if c in set(named) | set(str(sample.iloc[0, 1]).split())]
        if not set(str(sample.iloc[0, 1]).split()) <= set(options):
            continue
        train[column] = values
        return [column], MultipleChoice(k=k, options=tuple(options)), options, "ranked_labels", (
            f"{k} ranked option names per row in {sample_path.name}; '{column}' names the right one of the option columns "
            f"{', '.join(options)}, each scored with the question as a text pair")
    return None


def _find_ranked_column(train: pd.DataFrame, sample: pd.DataFrame, train_path: Path, sample_path: Path) -> str:
    """The train column whose labels include every label of the sample's first row (its placeholder answer)."""
    tokens = set(str(sample.iloc[0, 1]).split())
    found = [str(c) for c in train.columns[1:] if tokens <= set(train[c].dropna().astype(str))]
    if len(found) == 1:
        return found[0]
    which = f"columns {', '.join(found)} of {train_path.name} all hold" if found else f"no column of {train_path.name} holds"
    raise DataError(f"{sample_path.name} ranks labels in '{sample.columns[1]}' ({' '.join(sorted(tokens))}), and {which} "
                    "those labels: pass --target-column")


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
    raise DataError(
        f"{sample_path.name} has columns {', '.join(class_names)}, none of them in {train_path.name}, and no column of "
        f"{train_path.name} holds those labels: pass --target-column"
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
        raise DataError(f"{path}: column '{target_column}' has {len(counts)} distinct labels, too many for classes: "
                        "for numeric targets pass --metric rmse (regression) or --metric qwk (integer scores)")
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

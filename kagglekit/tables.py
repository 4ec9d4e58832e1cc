"""Every table of a competition folder: read, prepared, and joined onto train and test.

Kaggle's text competitions often spread a row over several files. CommonLit - Evaluate Student Summaries has
``summaries_train.csv`` (a summary, its ``prompt_id``, the targets) and ``prompts_train.csv`` (the prompt's question,
title and text, one row per ``prompt_id``), with ``*_test.csv`` twins for the hidden test. :func:`read_tables` reads
every CSV, JSON, JSON-lines and Parquet file of the folder, runs ``prepare.py`` when there is one, finds train, test
and the sample, and joins each other table that has one row per value of a column shared with train and test onto
them: its columns become inputs, classified on the side table's own rows (a prompt's text is text, not a category
of four values repeated over 7,000 summaries).

``prepare.py`` (beside the data, or ``--prepare FILE``) defines ``prepare(tables) -> tables``: it gets every table
by file stem and returns at least ``train``, ``test`` and ``sample_submission``, for the layouts no rule reads (a wide
train.csv with one column per answer). Its hash is recorded with the run and it travels in model packs, so the
code-competition notebook runs the same lines on the hidden test set.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import traceback
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.errors import ConfigError, DataError
from kagglekit.inputs import Kind, classify_column

SAMPLE = "sample_submission"
PREPARE_FILE = "prepare.py"
NOT_TABLES = frozenset({"kagglekit.json"})  # fetch's record of the competition (data.META_FILE)
MIN_KEY_COVERAGE = 0.5  # a join key: at least this share of train rows, and of test rows, find their side row
SPLITS = ("train", "test")
SUFFIXES = (".csv", ".json", ".jsonl", ".parquet")


# -- reading one table --------------------------------------------------------------------------------


def read_table(path: Path, text_columns: frozenset[str] = frozenset()) -> pd.DataFrame:
    """One table by its suffix, or a DataError naming the file, where it breaks and the fix.

    ``text_columns`` (the id) are read as text, as Kaggle matches ids as text (``001006`` stays ``001006``); in a
    CSV only empty fields are missing values, so a text that reads "NA" or "None" stays what it is.
    """
    if not path.is_file():
        raise DataError(f"{path} does not exist: run `kagglekit fetch` or point --data-dir at the folder with the CSVs")
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        ".csv": lambda p: read_csv_file(p, text_columns), ".json": _read_json, ".jsonl": _read_jsonl, ".parquet": _read_parquet,
    }
    frame = readers[path.suffix.lower()](path)
    for column in text_columns & set(map(str, frame.columns)):
        frame[column] = as_text(frame[column])
    return frame


def read_csv_file(path: Path, text_columns: frozenset[str] = frozenset()) -> pd.DataFrame:
    """A CSV file that exists, ``text_columns`` as text and only empty fields missing, or a DataError naming the fix."""
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): re-save it as UTF-8 CSV") from None
    if "\x00" in head or not head.strip():
        raise DataError(f"{path} is not a CSV file (empty or binary content)")
    try:
        return pd.read_csv(path, encoding="utf-8", dtype={c: str for c in text_columns} or None,
                           keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): re-save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, csv.Error) as e:
        raise DataError(f"{path} is not a valid CSV file: {e}") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): re-save it as UTF-8") from None


class NotATable(DataError):
    """A valid JSON file that holds no table (a settings object): left aside unless its name says it is data."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path}: {why}: kagglekit reads a list of records ([{{\"id\": ..., \"text\": ...}}, ...]) or an "
                         "object of equal-length columns; move other files out of the folder")
        self.why = why


def _read_json(path: Path) -> pd.DataFrame:
    """A list of records (``[{"id": 1, "text": ...}, ...]``) or an object of equal-length columns."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}: fix the file or remove it "
                        "from the folder") from None
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return pd.DataFrame.from_records(data)
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lengths = {len(v) for v in data.values()}
        if len(lengths) == 1:
            return pd.DataFrame(data)
        raise NotATable(path, f"columns of different lengths ({', '.join(f'{k}: {len(v)}' for k, v in data.items())})")
    raise NotATable(path, f"a JSON {type(data).__name__} that is not a table")


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {number}: not valid JSON ({e.msg}, column {e.colno}): fix the line or remove it") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {number}: a JSON {type(row).__name__}, not a record: each line must be one "
                            "object ({\"id\": ..., \"text\": ...})")
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError as e:
        raise DataError(f"reading {path} needs pyarrow ({e}): pip install pyarrow") from None
    except Exception as e:  # pyarrow raises its own ArrowInvalid / OSError family for a damaged file
        raise DataError(f"{path} is not a valid Parquet file ({type(e).__name__}: {e}): download it again") from None


def as_text(values: pd.Series) -> pd.Series:
    """Ids and keys as text, missing values kept: 7 and 7.0 both read "7", so a JSON's numbers meet a CSV's text."""
    def text(value: object) -> object:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return str(int(value))
        return str(value)

    return values.map(text).astype(object)


# -- the prepare step -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrepareStep:
    """A ``prepare.py``: its path and the hash of its text, which the run records and the model pack checks."""

    path: Path
    digest: str

    @classmethod
    def of(cls, path: Path) -> "PrepareStep":
        if not path.is_file():
            raise DataError(f"{path} does not exist: pass --prepare the path of a Python file that defines prepare(tables)")
        return cls(path, hashlib.sha256(path.read_bytes()).hexdigest()[:16])

    def describe(self) -> str:
        """How the manifest records it (``inferred["prepare"]``); :meth:`from_record` reads it back."""
        return f"{self.path} (sha256 {self.digest})"

    @classmethod
    def from_record(cls, text: str) -> "PrepareStep":
        found = re.fullmatch(r"(?P<path>.+) \(sha256 (?P<digest>[0-9a-f]+)\)", text)
        if found is None:
            raise DataError(f"the run's record of its prepare step ({text!r}) is not 'PATH (sha256 HASH)': retrain the run")
        return cls(Path(found["path"]), found["digest"])

    def run(self, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """``prepare(tables)`` of the file, checked: a failure names the file, the line and what went wrong."""
        function = self._load()
        try:
            result = function(dict(tables))
        except Exception as e:
            raise DataError(f"{self._where(e)}: prepare(tables) raised {type(e).__name__}: {e} "
                            f"(it was given the tables {', '.join(tables)}): fix {self.path.name}") from None
        return self._checked(result)

    def _load(self) -> Callable[[dict[str, pd.DataFrame]], object]:
        source = _read_text(self.path)
        try:
            code = compile(source, str(self.path), "exec")
        except SyntaxError as e:
            raise DataError(f"{self.path}, line {e.lineno}: {e.msg}: fix the syntax of {self.path.name}") from None
        module = types.ModuleType("kagglekit_prepare")
        module.__file__ = str(self.path)
        try:
            exec(code, module.__dict__)
        except Exception as e:
            raise DataError(f"{self._where(e)}: {type(e).__name__}: {e} while loading {self.path.name}") from None
        function = module.__dict__.get("prepare")
        if not callable(function):
            raise DataError(f"{self.path} defines no function prepare(tables): add `def prepare(tables):` returning "
                            "{'train': ..., 'test': ..., 'sample_submission': ...}")
        return function

    def _where(self, error: BaseException) -> str:
        """``FILE, line N (`the line`)`` of the deepest frame of the traceback inside the prepare file."""
        frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == self.path]
        if not frames:
            return str(self.path)
        frame = frames[-1]
        return f"{self.path}, line {frame.lineno}" + (f" (`{frame.line.strip()}`)" if frame.line else "")

    def _checked(self, result: object) -> dict[str, pd.DataFrame]:
        fix = "return a dict of table name -> pandas DataFrame with at least train, test and sample_submission"
        if not isinstance(result, Mapping):
            raise DataError(f"{self.path}: prepare(tables) returned {type(result).__name__}, not a dict: {fix}")
        for name, table in result.items():
            if not isinstance(name, str):
                raise DataError(f"{self.path}: prepare(tables) returned the key {name!r} ({type(name).__name__}); table names "
                                f"are strings: {fix}")
            if not isinstance(table, pd.DataFrame):
                raise DataError(f"{self.path}: prepare(tables) returned {type(table).__name__} for {name!r}, not a DataFrame: {fix}")
        missing = [n for n in ("train", "test", SAMPLE) if n not in result]
        if missing:
            raise DataError(f"{self.path}: prepare(tables) returned no {', '.join(missing)} (it returned: "
                            f"{', '.join(result) or 'nothing'}): {fix}")
        return {name: table.reset_index(drop=True) for name, table in result.items()}


def find_prepare(directory: Path, prepare: Path | str | None = None) -> PrepareStep | None:
    """The prepare step: ``prepare`` when given, else ``prepare.py`` beside the data, else None."""
    if prepare is not None:
        return PrepareStep.of(Path(prepare))
    beside = Path(directory) / PREPARE_FILE
    return PrepareStep.of(beside) if beside.is_file() else None


# -- joins ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    """A side table joined onto train and test: one row per ``key``, its columns added under ``columns``' names."""

    train_table: str  # where train's rows find theirs (prompts_train.csv)
    test_table: str  # where test's rows find theirs (prompts_test.csv, or the same table)
    key: str
    columns: tuple[tuple[str, str], ...]  # (name in train/test, column of the side table)

    @property
    def source(self) -> str:
        """``from prompts_train.csv by prompt_id``: what the inputs line says of each joined column."""
        return f"from {self.train_table} by {self.key}"

    def describe(self) -> str:
        tables = self.train_table if self.test_table == self.train_table else f"{self.train_table} / {self.test_table}"
        return f"{', '.join(name for name, _ in self.columns)} from {tables} by {self.key}"


def split_of(name: str) -> tuple[str, str | None]:
    """(the name without its split, the split): prompts_train -> (prompts, train); train -> ("", train); prompts -> (prompts, None)."""
    tokens = re.split(r"[_\-.]", name)
    for split in SPLITS:
        if split in tokens:
            return "_".join(t for t in tokens if t != split), split
    return name, None


@dataclass
class CompetitionTables:
    """What a competition folder holds once read, prepared and joined.

    ``train``, ``test`` and ``sample`` are what kagglekit infers the competition from (side tables joined on);
    ``paths`` where each came from, for messages; ``tables`` every table by name (catalogues for ranked answers);
    ``decided`` the role of each joined column, classified on its side table's own rows, for ``infer_schema``.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    sample: pd.DataFrame
    id_column: str
    paths: tuple[Path, Path, Path]
    tables: dict[str, pd.DataFrame]
    prepare: PrepareStep | None = None
    joins: list[Join] = field(default_factory=list)
    decided: dict[str, tuple[Kind | None, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    not_joined: dict[str, str] = field(default_factory=dict)  # side table -> why it was not joined

    @property
    def inferred(self) -> dict[str, str]:
        """The lines the run's manifest records: the joins (and tables left aside), the prepare step and its hash."""
        lines = {}
        if self.joins or self.not_joined:
            lines["tables"] = "; ".join([f"joined {j.describe()}" for j in self.joins]
                                        + [f"not joined: {name} ({why})" for name, why in self.not_joined.items()])
        if self.prepare is not None:
            lines["prepare"] = self.prepare.describe()
        return lines


def read_tables(directory: Path | str, prepare: Path | str | None = None) -> CompetitionTables:
    """Read every table of ``directory``, run its prepare step, find train/test/sample and join the side tables."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"data folder {directory} does not exist: run `kagglekit fetch` or pass --data-dir")
    step = find_prepare(directory, prepare)
    files = _table_files(directory)
    sample_name = _find_sample(files, directory)
    id_column = str(read_table(files[sample_name]).columns[0])
    tables, aside = _read_all(files, id_column)
    labels = {name: path.name for name, path in files.items()}
    paths = {name: path for name, path in files.items()}
    if step is not None:
        tables = step.run(tables)
        sample_name = SAMPLE
        id_column = str(tables[SAMPLE].columns[0])
        paths = {name: Path(f"{step.path}:{name}") for name in tables}
        labels = {name: f"{step.path.name}:{name}" for name in tables}
        for table in tables.values():
            if id_column in table.columns:
                table[id_column] = as_text(table[id_column])
    train_name, test_name = _find_train_test(tables, id_column, sample_name, paths, directory)
    for name in (train_name, test_name, sample_name):
        if tables[name].shape[1] < 2:
            raise DataError(f"{paths[name]} has {tables[name].shape[1]} column; a competition table needs an id column "
                            "and at least one more")
    found = CompetitionTables(tables[train_name].copy(), tables[test_name].copy(), tables[sample_name], id_column,
                              (paths[train_name], paths[test_name], paths[sample_name]), tables, step)
    found.not_joined.update(aside)
    for base, sides in _side_tables(tables, {train_name, test_name, sample_name}).items():
        _join_side(found, base, sides, labels, (labels[train_name], labels[test_name]))
    return found


def _read_all(files: dict[str, Path], id_column: str) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every table, and the JSON files left aside as no table (why); one named as data (train, NAME_test) must be one."""
    tables, aside = {}, {}
    for name, path in files.items():
        try:
            tables[name] = read_table(path, frozenset({id_column}))
        except NotATable as e:
            if name in ("train", "test") or split_of(name)[1] is not None:
                raise
            aside[path.name] = e.why
    return tables, aside


def _table_files(directory: Path) -> dict[str, Path]:
    """The folder's tables by stem; two files of one stem (train.csv and train.parquet) are an error."""
    files: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name in NOT_TABLES or path.suffix.lower() not in SUFFIXES:
            continue
        if path.stem in files:
            raise DataError(f"{directory} has two tables named {path.stem!r} ({files[path.stem].name}, {path.name}): "
                            "keep one of them")
        files[path.stem] = path
    return files


def _find_sample(files: dict[str, Path], directory: Path) -> str:
    if SAMPLE in files:
        return SAMPLE
    candidates = [name for name in files if name.startswith(SAMPLE) or "sample" in re.split(r"[_\-.]", name)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise DataError(f"{directory} has several sample submissions ({', '.join(files[n].name for n in candidates)}): "
                        f"keep one, named {SAMPLE}.csv")
    raise DataError(f"{directory / (SAMPLE + '.csv')} does not exist: run `kagglekit fetch` or point --data-dir at the "
                    "folder with the CSVs")


def _find_train_test(tables: dict[str, pd.DataFrame], id_column: str, sample_name: str, paths: dict[str, Path],
                     directory: Path) -> tuple[str, str]:
    """train (or the NAME_train table holding the sample's id column) and its test twin."""
    candidates = [n for n in tables if n != sample_name and split_of(n)[1] == "train"]
    with_ids = [n for n in candidates if id_column in tables[n].columns]
    if "train" in with_ids or (not with_ids and "train" in tables):
        train = "train"
    elif len(with_ids) == 1:
        train = with_ids[0]
    elif with_ids:
        raise DataError(f"{', '.join(paths[n].name for n in with_ids)} all hold the id column {id_column!r} of the sample "
                        "submission, so which is the training table is not clear: name it train.csv, or write a prepare.py "
                        "that returns it as 'train'")
    else:
        raise DataError(f"{directory / 'train.csv'} does not exist (tables: {', '.join(tables)}): run `kagglekit fetch`, "
                        "or write a prepare.py that returns the training table as 'train'")
    test = _twin(train)
    if test not in tables:
        example = paths[train].with_name(_twin(paths[train].name))
        raise DataError(f"{example} does not exist: the test rows are the twin of {paths[train].name} (run `kagglekit fetch`, "
                        "or point --data-dir at the folder with the files)")
    return train, test


def _twin(name: str) -> str:
    """The test twin of a training table's name: summaries_train.csv -> summaries_test.csv."""
    return re.sub(r"(?<![A-Za-z0-9])train(?![A-Za-z0-9])", "test", name)


def _side_tables(tables: dict[str, pd.DataFrame], main: set[str]) -> dict[str, dict[str | None, str]]:
    """The other tables by base name: {split or None: table name}; prompts_train and prompts_test pair up."""
    sides: dict[str, dict[str | None, str]] = {}
    for name in tables:
        if name not in main:
            base, split = split_of(name)
            sides.setdefault(base or name, {})[split] = name
    return sides


def _join_side(found: CompetitionTables, base: str, sides: dict[str | None, str], labels: dict[str, str],
               main_labels: tuple[str, str]) -> None:
    """Join one side table (or train/test pair of them) onto train and test when one column is its key."""
    train_name, test_name = sides.get("train") or sides.get(None), sides.get("test") or sides.get(None)
    if train_name is None or test_name is None:
        only = sides.get("train") or sides.get("test")
        found.not_joined[labels[only]] = f"it has no twin for the {'test' if train_name else 'training'} rows"
        return
    side_train, side_test = found.tables[train_name], found.tables[test_name]
    label = labels[train_name]
    shared = [str(c) for c in side_train.columns
              if c in side_test.columns and c in found.train.columns and c in found.test.columns]
    if not shared:
        found.not_joined[label] = f"no column shared with {main_labels[0]} and {main_labels[1]}"
        return
    keys = [c for c in shared if _is_key(side_train[c], found.train[c]) and _is_key(side_test[c], found.test[c])]
    if len(keys) > 1:
        raise DataError(f"{label} could join onto {main_labels[0]} by {' or by '.join(repr(k) for k in keys)}: each has one "
                        f"row per value and matches the rows: write a prepare.py beside the data that joins it by the right one "
                        f"(or drops the other column)")
    if not keys:
        found.not_joined[label] = _why_no_key(side_train, found.train, shared)
        return
    key = keys[0]
    taken = set(map(str, found.train.columns)) | set(map(str, found.test.columns))
    columns = []
    for column in (str(c) for c in side_train.columns if c != key):
        name = column if column not in taken else f"{base}_{column}"
        if name not in taken:
            columns.append((name, column))
            taken.add(name)
    join = Join(label, labels[test_name], key, tuple(columns))
    found.train = _joined(found.train, side_train, join, main_labels[0], label, found.warnings)
    found.test = _joined(found.test, side_test, join, main_labels[1], labels[test_name], found.warnings)
    found.joins.append(join)
    for name, column in columns:
        if column in side_test.columns:
            kind, detail = classify_column(side_train[column], side_test[column])
        else:
            kind, detail = None, f"only in {label}, not in {labels[test_name]}"
        found.decided[name] = (kind, ", ".join(filter(None, [detail, join.source])) if kind else detail)


def _is_key(side: pd.Series, main: pd.Series) -> bool:
    """One side row per value, and most main rows find theirs."""
    values = as_text(side).dropna()
    if values.empty or values.duplicated().any():
        return False
    return bool(as_text(main).isin(set(values)).mean() >= MIN_KEY_COVERAGE)


def _why_no_key(side: pd.DataFrame, main: pd.DataFrame, shared: list[str]) -> str:
    reasons = []
    for column in shared:
        values = as_text(side[column]).dropna()
        if values.duplicated().any():
            reasons.append(f"{column!r} repeats in it (aggregate it to one row per {column} in a prepare.py)")
        else:
            share = as_text(main[column]).isin(set(values)).mean()
            reasons.append(f"{column!r} matches {share:.0%} of the rows")
    return "; ".join(reasons)


def _joined(main: pd.DataFrame, side: pd.DataFrame, join: Join, main_label: str, side_label: str,
            warnings: list[str]) -> pd.DataFrame:
    """``main`` with the side columns of each row's key (missing: empty), rows and order unchanged."""
    position = pd.Index(as_text(side[join.key])).get_indexer(as_text(main[join.key]))
    missing = position < 0
    if missing.any():
        lines = ", ".join(str(i + 2) for i in np.flatnonzero(missing)[:5])
        warnings.append(f"{main_label}: {int(missing.sum())} row(s) have a {join.key} not in {side_label} (lines "
                        f"{lines}{' ...' if missing.sum() > 5 else ''}): their {', '.join(n for n, _ in join.columns)} are empty")
    added = {}
    for name, column in join.columns:
        if column not in side.columns:
            added[name] = pd.Series(np.nan, index=main.index, dtype=object)
            continue
        values = side[column].to_numpy(dtype=object)[np.where(missing, 0, position)]
        added[name] = pd.Series(np.where(missing, None, values), index=main.index, dtype=object).infer_objects()
    return main.assign(**added)


# -- DataFrames as a competition folder ------------------------------------------------------------------


def write_frames(directory: Path, train: pd.DataFrame, test: pd.DataFrame, sample: pd.DataFrame | None = None,
                 target: str | Sequence[str] | None = None, tables: Mapping[str, pd.DataFrame] | None = None) -> Path:
    """Write a notebook's DataFrames as a competition folder (replaced), so they train exactly as Kaggle's files do.

    Without ``sample`` the submission is the test's id and the ``target`` columns: the id is the first column of test
    when its name ends in "id" (``id``, ``student_id``) and it is in train and distinct in both, else an ``id`` column
    of row numbers is added to both. ``tables`` are
    side tables (``{"prompts": frame}``), joined by key as a folder's are.
    """
    frames = {"train": train, "test": test, SAMPLE: sample, **dict(tables or {})}
    for name, frame in frames.items():
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise ConfigError(f"{name}= must be a pandas DataFrame, got {type(frame).__name__}")
    reserved = [n for n in (tables or {}) if n in ("train", "test", SAMPLE) or not re.fullmatch(r"[A-Za-z0-9_\-]+", str(n))]
    if reserved:
        raise ConfigError(f"side table name(s) {', '.join(map(repr, reserved))}: use names of letters, digits, _ and - other "
                          "than train, test and sample_submission")
    if train.empty or test.empty:
        raise ConfigError(f"train= has {len(train)} rows and test= {len(test)}: both need rows")
    targets = [target] if isinstance(target, str) else list(target or [])
    missing = [t for t in targets if t not in train.columns]
    if missing:
        raise ConfigError(f"train has no column {', '.join(map(repr, missing))} (target=); its columns: {', '.join(map(str, train.columns))}")
    if sample is None:
        if not targets:
            raise ConfigError("pass target='COLUMN' (the column of train to predict) or sample= (the sample submission)")
        first = str(test.columns[0]) if len(test.columns) else ""
        if (first.lower().endswith("id") and first in train.columns and first not in targets and train[first].is_unique
                and test[first].is_unique):
            id_column = first
        else:
            id_column = "id" if "id" not in train.columns and "id" not in test.columns else "row_id"
            train, test = train.assign(**{id_column: range(len(train))}), test.assign(**{id_column: range(len(test))})
        sample = test[[id_column]].assign(**{t: train[t].iloc[0] for t in targets})
        frames.update(train=train, test=test, sample_submission=sample)
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for name, frame in frames.items():
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory

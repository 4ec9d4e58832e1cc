"""Answers from a catalogue: each row gets the K most likely items of a table of (id, text), ranked (MAP@K).

Eedi - Mining Misconceptions in Mathematics ships ``misconception_mapping.csv`` (2,587 misconceptions, id and name);
each (question, wrong answer) row is answered with 25 misconception ids, best first. Most items never occur in train,
so a classifier over the labels seen in train cannot answer them: the catalogue's models (``kagglekit.models.retrieval``)
rank every item by how its text relates to the row's, and rerank the nearest with a pair model trained on train's
(row, right item) pairs. The shape is recognised when the sample's prediction column holds K space-separated ids of a
table's key column, or declared with ``--catalogue TABLE:ID_COLUMN:TEXT_COLUMN``; its classes are every item of the
catalogue, in the table's order, seen in train or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from kagglekit.errors import ConfigError, DataError
from kagglekit.metrics import Decision, Metric, answer_ranks
from kagglekit.models.base import CATALOGUE, TaskSpec
from kagglekit.shapes import Ranked, register_shape
from kagglekit.tables import SUFFIXES, CompetitionTables, as_text

CATALOGUE_FORM = "TABLE:ID_COLUMN:TEXT_COLUMN"
CATALOGUE_EXAMPLE = "misconception_mapping:MisconceptionId:MisconceptionName"
SHOWN_ANSWERS = 3  # of the K ranked ids, how many `predict` shows with their probabilities


@register_shape
@dataclass(eq=False)
class Catalogue(Ranked):
    """K ids of a catalogue table per row, best first (MAP@K). ``texts`` are the items' texts in class order: the
    catalogue's models read them (``wrap_model``); a shape read back from a manifest has none and needs none (it
    decides, writes and checks submissions)."""

    table: str = ""
    id_column: str = ""
    text_column: str = ""
    texts: tuple[str, ...] = field(default=(), repr=False)
    name: ClassVar[str] = "catalogue"
    words: ClassVar[str] = "answers from a catalogue"
    model_kind: ClassVar[str] = CATALOGUE
    meta_words: ClassVar[str] = "log-linear pool of the members' probabilities"

    def __post_init__(self) -> None:
        self.texts = tuple(self.texts)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "table": self.table, "id_column": self.id_column, "text_column": self.text_column}

    def spec(self, n_outputs: int) -> TaskSpec:
        return TaskSpec(CATALOGUE, n_outputs)  # type: ignore[arg-type]

    def accepts(self, metric: Metric) -> bool:
        return Ranked.name in metric.tasks

    def wrap_model(self, model: Any) -> Any:
        """A catalogue model with the items' texts it ranks; other models are refused by their own fit."""
        if not hasattr(model, "with_catalogue"):
            return model
        if not self.texts:
            raise ConfigError(f"the catalogue {self.table} is not loaded (a shape read from a manifest): reload the "
                              "competition to train on it")
        return model.with_catalogue(self.texts)

    def folds(self, y: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int, names: list) -> np.ndarray:
        """Grouped by the target item (or by ``--group-column``): a validation row's item never occurs in the training
        folds, as most of the test's items never occur in train, so CV scores what the test asks."""
        return grouped_folds(y if groups is None else groups, n_folds, seed,
                             "target items" if groups is None else "groups")

    def decide(self, pred: np.ndarray, decision: Decision | None) -> np.ndarray:
        return top_k_columns(pred, self.k)

    def evaluate(self, y: np.ndarray, pred: np.ndarray, decision: Decision | None) -> dict[str, float]:
        rank = answer_ranks(y, pred)
        return {"accuracy": float(np.mean(rank == 0)), "top_k_accuracy": float(np.mean(rank < self.k))}

    def fit_meta(self, stacked: np.ndarray, y: np.ndarray, seed: int) -> "LogLinearPool":
        return LogLinearPool.fit(stacked, y)

    def describe_prediction(self, pred: np.ndarray, decision: Decision, names: list) -> tuple[str, str]:
        ranked = top_k_columns(pred[None, :], self.k)[0]
        shown = ", ".join(f"P({names[i]}) = {pred[i]:.3f}" for i in ranked[:SHOWN_ANSWERS])
        return " ".join(str(names[i]) for i in ranked), f"{shown} (first {SHOWN_ANSWERS} of {self.k})"


def top_k_columns(pred: np.ndarray, k: int) -> np.ndarray:
    """``shapes.top_k`` (the k largest, ties by column) without sorting every row: only the columns at or above each
    row's k-th largest value are sorted (a catalogue row has thousands of columns and needs 25)."""
    k = min(k, pred.shape[1])
    kth = -np.partition(-pred, k - 1, axis=1)[:, k - 1]
    ranked = np.empty((len(pred), k), dtype=np.int64)
    for i, (row, bound) in enumerate(zip(pred, kth)):
        columns = np.flatnonzero(row >= bound)
        ranked[i] = columns[np.argsort(-row[columns], kind="stable")[:k]]
    return ranked


def grouped_folds(groups: np.ndarray, n_folds: int, seed: int, what: str) -> np.ndarray:
    """The fold of each row with whole groups in one fold: groups shuffled by ``seed``, then largest first onto the
    fold with the fewest rows, so folds are of about one size."""
    values, index, counts = np.unique(np.asarray(groups).astype(str), return_inverse=True, return_counts=True)
    if len(values) < n_folds:
        raise DataError(f"the training rows have {len(values)} distinct {what}, fewer than --folds {n_folds}: use fewer folds")
    order = np.random.default_rng(seed).permutation(len(values))
    order = order[np.argsort(-counts[order], kind="stable")]
    sizes = np.zeros(n_folds, dtype=np.int64)
    fold_of = np.empty(len(values), dtype=np.int64)
    for group in order:
        fold = int(np.argmin(sizes))
        fold_of[group] = fold
        sizes[fold] += counts[group]
    return fold_of[index.reshape(-1)]


# --- the stacking meta-model -----------------------------------------------------------------------------------

POOL_FLOOR = 1e-9  # probabilities are floored before the log: a member's 0 must not veto an item


@dataclass(frozen=True)
class LogLinearPool:
    """P(item) proportional to the product of the members' P(item) ** weight: one weight per member, fitted by the
    likelihood of the right items (a conditional logit over the whole catalogue). A meta-model per class, as stacking
    fits for classes, would need thousands of classes' worth of rows; this one learns how far to trust each member."""

    weights: tuple[float, ...]

    @classmethod
    def fit(cls, stacked: np.ndarray, y: np.ndarray) -> "LogLinearPool":
        logs = np.log(np.maximum(stacked, POOL_FLOOR))  # (M, n, K)
        y = np.asarray(y, dtype=np.int64).reshape(-1)
        rows = np.arange(len(y))

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = np.tensordot(w, logs, axes=1)
            norm = logsumexp(z, axis=1, keepdims=True)
            p = np.exp(z - norm)
            value = float(np.mean(norm[:, 0] - z[rows, y]))
            grad = np.array([np.mean((p * member).sum(axis=1) - member[rows, y]) for member in logs])
            return value, grad

        start = np.full(len(stacked), 1.0 / len(stacked))
        found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(stacked))
        return cls(tuple(float(w) for w in found.x))

    def predict_stacked(self, stacked: np.ndarray) -> np.ndarray:
        z = np.tensordot(np.asarray(self.weights), np.log(np.maximum(stacked, POOL_FLOOR)), axes=1)
        return np.exp(z - logsumexp(z, axis=1, keepdims=True))

    def to_json(self) -> dict[str, Any]:
        return {"type": "log_linear_pool", "weights": list(self.weights)}


# --- recognising a catalogue ---------------------------------------------------------------------------------


def parse_catalogue(text: str) -> tuple[str, str, str]:
    """``--catalogue TABLE:ID_COLUMN:TEXT_COLUMN`` -> its three parts (TABLE by file stem; a suffix is dropped)."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"--catalogue takes {CATALOGUE_FORM} (e.g. {CATALOGUE_EXAMPLE}), got {text!r}")
    table = parts[0]
    if Path(table).suffix.lower() in SUFFIXES:
        table = Path(table).stem
    return table, parts[1], parts[2]


def infer_catalogue(train: pd.DataFrame, sample: pd.DataFrame, found: CompetitionTables, declared: str | None, k: int | None,
                    target_columns: list[str] | None, train_path: Path, sample_path: Path) -> tuple[list[str], Catalogue, list, str, str] | None:
    """(targets, shape, classes, submission format, why) when the sample ranks a catalogue's ids, or None.

    ``declared`` (``--catalogue``) names the table and its columns; without it a catalogue is a table other than train,
    test and the sample with a column of distinct ids holding every id of the sample's first row. The target is the
    train column named as the sample's prediction column or the catalogue's id column, else the one train column (not
    in test) of catalogue ids; each training row's value must be an id of the catalogue.
    """
    column = str(sample.columns[1])
    if declared is None:
        if k is None:
            return None
        located = _find_catalogue(found, sample, sample_path)
        if located is None:
            return None
        name, id_column = located
        text_column = _text_column(found.tables[name], name, id_column, found)
    else:
        name, id_column, text_column = parse_catalogue(declared)
        _check_declared(found, name, id_column, text_column)
        if k is None:
            raise DataError(f"{sample_path.name}: --catalogue needs a sample whose '{column}' holds the K ranked ids of each "
                            f"row separated by spaces (e.g. '603 1287 1408'); it holds {str(sample.iloc[0, 1])!r} at line 2")
    label = table_label(found, name)
    ids, texts = _items(found.tables[name], id_column, text_column, label)
    found.not_joined.pop(label, None)
    _check_sample_ids(sample, set(ids), sample_path, label, id_column)
    target = _target_column(train, found, ids, column, id_column, target_columns, train_path, label)
    values = train[target]
    missing = values.isna()
    if missing.any():
        raise DataError(f"{train_path}: column '{target}' is empty at {_rows(missing)}: every training row needs the id of "
                        "its item; drop the rows without one (a prepare.py can, as it reshapes the table)")
    values = as_text(values)
    known = set(ids)
    unknown = ~values.isin(known)
    if unknown.any():
        raise DataError(f"{train_path}: column '{target}' holds {values[unknown].iloc[0]!r} at {_rows(unknown)}, not an id of "
                        f"{label}'s '{id_column}': fix the row or the catalogue")
    train[target] = values
    seen = values.nunique()
    shape = Catalogue(k=k, table=name, id_column=id_column, text_column=text_column, texts=tuple(texts))
    why = (f"{k} space-separated ids per row in {sample_path.name}, ranked from {label} ({len(ids):,} items: {id_column} -> "
           f"{text_column}{', option' if declared else ''}); target '{target}' ({seen:,} items in train, "
           f"{len(ids) - seen:,} never)")
    return [target], shape, ids, "ranked_labels", why


def table_label(found: CompetitionTables, name: str) -> str:
    """How messages name a table: its file (``misconception_mapping.csv``) or ``prepare.py:NAME`` after a prepare step."""
    if found.prepare is not None:
        return f"{found.prepare.path.name}:{name}"
    folder = Path(found.paths[0]).parent
    files = [p.name for p in sorted(folder.glob(f"{name}.*")) if p.suffix.lower() in SUFFIXES]
    return files[0] if files else name


def _main_tables(found: CompetitionTables) -> set[str]:
    """The names of train, test and the sample among ``found.tables`` (``prepare.py:train`` is train)."""
    return {str(p).rsplit(":", 1)[-1] if ":" in str(p) else Path(p).stem for p in found.paths}


def _find_catalogue(found: CompetitionTables, sample: pd.DataFrame, sample_path: Path) -> tuple[str, str] | None:
    tokens = set(str(sample.iloc[0, 1]).split())
    candidates = []
    for name, table in found.tables.items():
        if name in _main_tables(found):
            continue
        for column in map(str, table.columns):
            values = as_text(table[column])
            if values.notna().all() and values.is_unique and tokens <= set(values):
                candidates.append((name, column))
    if len(candidates) > 1:
        shown = ", ".join(f"{table_label(found, n)}'s '{c}'" for n, c in candidates)
        raise DataError(f"{sample_path.name} ranks ids that {shown} all hold: name the catalogue with --catalogue "
                        f"{CATALOGUE_FORM}")
    return candidates[0] if candidates else None


def _text_column(table: pd.DataFrame, name: str, id_column: str, found: CompetitionTables) -> str:
    """The catalogue's text: its string column of the longest values."""
    strings = [str(c) for c in table.columns if str(c) != id_column and not pd.api.types.is_numeric_dtype(table[c])]
    if not strings:
        raise DataError(f"{table_label(found, name)} holds the sample's ids in '{id_column}' but no text column to rank its "
                        f"items by: name it with --catalogue {name}:{id_column}:TEXT_COLUMN")
    return max(strings, key=lambda c: table[c].dropna().astype(str).str.len().mean() if table[c].notna().any() else 0.0)


def _check_declared(found: CompetitionTables, name: str, id_column: str, text_column: str) -> None:
    if name not in found.tables:
        others = ", ".join(n for n in found.tables if n not in _main_tables(found)) or "none besides train, test and the sample"
        raise DataError(f"--catalogue {name}:{id_column}:{text_column}: no table {name!r} in the competition's folder "
                        f"(other tables: {others}): name one of them, or return it from prepare.py")
    table = found.tables[name]
    for role, column in (("ID_COLUMN", id_column), ("TEXT_COLUMN", text_column)):
        if column not in map(str, table.columns):
            raise DataError(f"--catalogue {name}:{id_column}:{text_column}: {table_label(found, name)} has no column "
                            f"{column!r} ({role}); its columns are {', '.join(map(str, table.columns))}")


def _items(table: pd.DataFrame, id_column: str, text_column: str, label: str) -> tuple[list[str], list[str]]:
    """The catalogue's ids (as text) and texts, in the table's order; an empty id or text, or a repeated id, is an error."""
    ids = as_text(table[id_column])
    empty = ids.isna()
    if empty.any():
        raise DataError(f"{label}: id column '{id_column}' is empty at {_rows(empty)}; every catalogue item needs an id")
    repeated = ids.duplicated(keep=False)
    if repeated.any():
        raise DataError(f"{label}: id {ids[repeated].iloc[0]!r} of '{id_column}' repeats at {_rows(repeated)}; a catalogue "
                        "holds one row per id")
    texts = table[text_column].where(table[text_column].notna(), "").astype(str).str.strip()
    blank = texts == ""
    if blank.any():
        raise DataError(f"{label}: '{text_column}' is empty at {_rows(blank)} (id {ids[blank].iloc[0]}); each item is "
                        "ranked by its text: fill it, or drop the item")
    if ids.str.contains(r"\s", regex=True).any():
        spaced = ids.str.contains(r"\s", regex=True)
        raise DataError(f"{label}: id {ids[spaced].iloc[0]!r} of '{id_column}' at {_rows(spaced)} holds a space; the "
                        "submission separates ranked ids by spaces")
    return ids.tolist(), texts.tolist()


def _check_sample_ids(sample: pd.DataFrame, ids: set[str], sample_path: Path, label: str, id_column: str) -> None:
    column = str(sample.columns[1])
    for line, value in enumerate(sample[column].astype(str), start=2):
        unknown = [token for token in value.split() if token not in ids]
        if unknown:
            raise DataError(f"{sample_path.name}: '{column}' holds {unknown[0]!r} at line {line}, not an id of {label}'s "
                            f"'{id_column}': the sample must rank that catalogue's ids (name another with --catalogue)")


def _target_column(train: pd.DataFrame, found: CompetitionTables, ids: list[str], sample_column: str, id_column: str,
                   target_columns: list[str] | None, train_path: Path, label: str) -> str:
    if target_columns:
        if len(target_columns) != 1:
            raise DataError(f"a catalogue answer has one target column (the right item's id); {len(target_columns)} were given")
        if target_columns[0] not in train.columns:
            raise DataError(f"{train_path} has no column {target_columns[0]!r} (--target-column); its columns are "
                            f"{', '.join(map(str, train.columns))}")
        return target_columns[0]
    for column in (sample_column, id_column):
        if column in train.columns:
            return column
    known = set(ids)
    found_columns = [str(c) for c in train.columns if c not in found.test.columns
                     and train[c].notna().any() and set(as_text(train[c]).dropna()) <= known]
    if len(found_columns) == 1:
        return found_columns[0]
    which = f"columns {', '.join(found_columns)} all hold" if found_columns else "no column holds"
    raise DataError(f"{train_path}: {which} ids of {label}'s '{id_column}' (the right item of each row): pass --target-column")


def _rows(mask: pd.Series | np.ndarray, limit: int = 5) -> str:
    positions = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(p + 2) for p in positions[:limit])
    return f"line{'s' if len(positions) > 1 else ''} {shown}" + (f" and {len(positions) - limit} more" if len(positions) > limit else "")

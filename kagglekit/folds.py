"""Cross-validation folds by task shape (each shape in ``kagglekit.shapes`` chooses its strategy from the pieces
here): every model of a run, and every later run with the same seed, uses them.

- binary, multiclass: ``StratifiedKFold`` on the class indices (the assignment kagglekit always made);
- regression, ordinal: stratified on the target cut into quantile bins (ordinal: on the scores themselves
  when every score has enough rows), so each fold spans the whole range;
- ranked answers: stratified on the labels where their rows allow (a label rarer than the folds is spread thinly);
- multi-label: iterative stratification (Sechidis, Tsoumakas and Vlahavas, 2011), implemented here so
  the rarest labels are spread first and each fold holds its share of every label;
- with groups: no group is split across folds (``StratifiedGroupKFold`` on the classes or bins, the
  iterative stratification over whole groups for multi-label).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from kagglekit.data import Competition
from kagglekit.errors import DataError

MAX_BINS = 10


def make_folds(competition: Competition, n_folds: int, seed: int, group_column: str | None = None) -> pd.DataFrame:
    """The fold of every training row, by id: ``DataFrame(id, fold)`` in train.csv order.

    ``group_column`` (default: the competition's) keeps rows sharing a value in one fold. A class, a
    multi-label label's positives, or the groups fewer than ``n_folds`` is a DataError saying so.
    """
    column = group_column or competition.group_column
    groups = None
    if column is not None:
        if column not in competition.train.columns:
            raise DataError(f"train.csv has no group column '{column}'; its columns are {', '.join(map(str, competition.train.columns))}")
        groups = competition.train[column].to_numpy()
        n_groups = len(pd.unique(groups))
        if n_groups < n_folds:
            raise DataError(f"group column '{column}' has {n_groups} distinct value(s), fewer than --folds {n_folds}: use fewer folds")
    fold = competition.shape.folds(competition.y, groups, n_folds, seed, competition.target_names)
    return pd.DataFrame({competition.id_column: competition.train[competition.id_column].to_numpy(), "fold": fold})


def stratified(strata: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int) -> np.ndarray:
    """The fold of each row, stratified on ``strata`` (and grouped when ``groups`` is given)."""
    fold = np.zeros(len(strata), dtype=np.int64)
    if groups is None:
        splits = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(strata)), strata)
    else:
        splits = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(strata)), strata, groups)
    for k, (_, val) in enumerate(splits):
        fold[val] = k
    return fold


def target_bins(y: np.ndarray, n_folds: int) -> np.ndarray:
    """Strata of a numeric target: integer scores as they are when each has ``n_folds`` rows, else quantile bins.

    Several targets are binned on their standardised mean. There are at most ``MAX_BINS`` bins, each of
    at least ``2 * n_folds`` rows, so every fold gets rows from every bin.
    """
    values = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if values.shape[1] == 1 and np.all(np.mod(values, 1) == 0):
        _, strata, counts = np.unique(values[:, 0], return_inverse=True, return_counts=True)
        if counts.min() >= n_folds and len(counts) <= MAX_BINS:
            return strata
    scale = np.where(values.std(axis=0) > 0, values.std(axis=0), 1.0)
    summary = ((values - values.mean(axis=0)) / scale).mean(axis=1)
    n_bins = int(max(1, min(MAX_BINS, len(summary) // (2 * n_folds))))
    ranks = pd.Series(summary).rank(method="first").to_numpy()  # ties broken by order: bins of equal size
    return np.minimum((ranks - 1) * n_bins // len(summary), n_bins - 1).astype(np.int64)


def iterative_stratification(y: np.ndarray, n_folds: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Fold of each row for multi-label targets ``y`` (n, L) of 0/1, by iterative stratification.

    The label with the fewest unassigned positives goes first: each of its (shuffled) rows, or whole groups,
    goes to the fold that still wants most of that label, ties broken by the fold that wants most rows,
    then at random. Rows without any label fill the folds that want most rows. Seeded: the same call
    gives the same folds.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=np.int64)
    if groups is None:
        unit_of_row = np.arange(len(y))
    else:
        _, unit_of_row = np.unique(groups, return_inverse=True)
    n_units = int(unit_of_row.max()) + 1 if len(y) else 0
    unit_labels = np.zeros((n_units, y.shape[1]), dtype=np.int64)
    np.add.at(unit_labels, unit_of_row, y)
    unit_sizes = np.bincount(unit_of_row, minlength=n_units)

    wanted_rows = np.full(n_folds, len(y) / n_folds)
    wanted_labels = np.tile(y.sum(axis=0) / n_folds, (n_folds, 1))
    unit_fold = np.full(n_units, -1, dtype=np.int64)
    remaining = unit_labels.copy()
    while True:
        open_positives = remaining.sum(axis=0)
        if not open_positives.any():
            break
        label = int(np.argmin(np.where(open_positives > 0, open_positives, np.iinfo(np.int64).max)))
        for unit in rng.permutation(np.flatnonzero(remaining[:, label] > 0)):
            fold = _choose(rng, wanted_labels[:, label], wanted_rows)
            unit_fold[unit] = fold
            wanted_labels[fold] -= unit_labels[unit]
            wanted_rows[fold] -= unit_sizes[unit]
            remaining[unit] = 0
    for unit in rng.permutation(np.flatnonzero(unit_fold < 0)):
        fold = _choose(rng, wanted_rows, wanted_rows)
        unit_fold[unit] = fold
        wanted_rows[fold] -= unit_sizes[unit]
    return unit_fold[unit_of_row]


def _choose(rng: np.random.Generator, first: np.ndarray, second: np.ndarray) -> int:
    """The fold with the largest ``first``, ties by the largest ``second``, then at random."""
    best = np.flatnonzero(np.isclose(first, first.max()))
    best = best[np.isclose(second[best], second[best].max())]
    return int(rng.choice(best))

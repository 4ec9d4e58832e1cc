"""Folds by task: classification folds never move, numeric targets are spread by bins, multi-label labels by
iterative stratification, groups never split, and too few rows per class or group is a clear error."""

from __future__ import annotations

import dataclasses

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from kagglekit.data import Competition, load_competition
from kagglekit.demo import write_demo_competition, write_task_competition
from kagglekit.errors import DataError
from kagglekit.folds import iterative_stratification, make_folds, target_bins


def assignment_before_task_shapes(competition: Competition, n_folds: int, seed: int) -> np.ndarray:
    """The fold assignment training.make_folds made for every binary and multiclass run until now."""
    fold = np.zeros(len(competition.train), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, val) in enumerate(splitter.split(np.zeros(len(fold)), competition.y)):
        fold[val] = k
    return fold


@pytest.mark.parametrize("seed", [42, 7])
def test_binary_folds_do_not_move(tmp_path: Path, seed: int) -> None:
    comp = load_competition(write_demo_competition(tmp_path / "demo", rows=300, test_rows=20))
    folds = make_folds(comp, 5, seed)
    assert folds.columns.tolist() == ["id", "fold"] and folds["id"].tolist() == comp.train["id"].tolist()
    np.testing.assert_array_equal(folds["fold"].to_numpy(), assignment_before_task_shapes(comp, 5, seed))


def test_real_data_folds_do_not_move(real_data: Path) -> None:
    comp = load_competition(real_data)
    np.testing.assert_array_equal(make_folds(comp, 5, 42)["fold"].to_numpy(), assignment_before_task_shapes(comp, 5, 42))


def test_multiclass_folds_do_not_move(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": range(30), "text": [f"text {i}" for i in range(30)], "author": ["EAP", "HPL", "MWS"] * 10})
    test = pd.DataFrame({"id": [100], "text": ["x"]})
    directory = tmp_path / "spooky"
    directory.mkdir()
    train.to_csv(directory / "train.csv", index=False)
    test.to_csv(directory / "test.csv", index=False)
    pd.DataFrame({"id": [100], "EAP": 0.3, "HPL": 0.3, "MWS": 0.4}).to_csv(directory / "sample_submission.csv", index=False)
    comp = load_competition(directory)
    np.testing.assert_array_equal(make_folds(comp, 3, 42)["fold"].to_numpy(), assignment_before_task_shapes(comp, 3, 42))


def test_regression_folds_each_span_the_whole_target_range(tmp_path: Path) -> None:
    comp = load_competition(write_task_competition("regression", tmp_path / "read", rows=300, test_rows=10))
    fold = make_folds(comp, 5, 42)["fold"].to_numpy()
    y = comp.y[:, 0]
    deciles = np.digitize(y, np.quantile(y, np.linspace(0.1, 0.9, 9)))
    for k in range(5):
        assert np.bincount(deciles[fold == k], minlength=10).min() >= 5  # 30 rows a decile, about 6 in each fold
        assert abs(y[fold == k].mean() - y.mean()) < 0.15 * y.std()
    np.testing.assert_array_equal(fold, make_folds(comp, 5, 42)["fold"].to_numpy())  # seeded


def test_ordinal_folds_stratify_on_the_scores(tmp_path: Path) -> None:
    comp = load_competition(write_task_competition("ordinal", tmp_path / "essays", rows=300, test_rows=10))
    fold = make_folds(comp, 3, 42)["fold"].to_numpy()
    scores = comp.y[:, 0].astype(int)
    counts = np.array([np.bincount(scores[fold == k], minlength=7) for k in range(3)])
    assert np.all(counts.max(axis=0) - counts.min(axis=0) <= 1)  # each score split as evenly as it can be


def test_target_bins_are_equal_sized_quantiles() -> None:
    y = np.random.default_rng(0).lognormal(size=(200, 1))
    bins = target_bins(y, 5)
    assert np.bincount(bins).tolist() == [20] * 10
    assert np.all(np.diff([y[bins == b, 0].max() for b in range(10)]) > 0)  # ordered by value


def test_iterative_stratification_spreads_every_label(tmp_path: Path) -> None:
    comp = load_competition(write_task_competition("multilabel", tmp_path / "toxic", rows=400, test_rows=10))
    fold = make_folds(comp, 4, 42)["fold"].to_numpy()
    positives = np.array([comp.y[fold == k].sum(axis=0) for k in range(4)])
    ideal = comp.y.sum(axis=0) / 4
    assert np.all(np.abs(positives - ideal) <= 1.0)
    assert np.all(np.abs(np.bincount(fold) - 100) <= 2)
    rare = np.zeros((40, 2), dtype=int)
    rare[[3, 17, 29], 0] = 1  # three positives of a rare label over three folds: one each
    rare[::2, 1] = 1
    assert sorted(iterative_stratification(rare, 3, seed=1)[[3, 17, 29]].tolist()) == [0, 1, 2]


@pytest.mark.parametrize("kind", ["binary", "regression", "multilabel"])
def test_groups_never_span_two_folds(tmp_path: Path, kind: str) -> None:
    if kind == "binary":
        directory = write_demo_competition(tmp_path / "comp", rows=200, test_rows=10)
    else:
        directory = write_task_competition(kind, tmp_path / "comp", rows=200, test_rows=10)
    train = pd.read_csv(directory / "train.csv")
    train["author"] = [f"a{i % 37}" for i in range(len(train))]
    train.to_csv(directory / "train.csv", index=False)
    comp = load_competition(directory, group_column="author")
    fold = make_folds(comp, 4, 42)["fold"]
    assert fold.groupby(comp.train["author"]).nunique().max() == 1
    assert sorted(fold.unique()) == [0, 1, 2, 3] and fold.value_counts().min() >= 30


def test_too_few_rows_per_class_label_or_group(tmp_path: Path) -> None:
    comp = load_competition(write_task_competition("multilabel", tmp_path / "toxic", rows=60, test_rows=5))
    rare = comp.target_columns[int(comp.y.sum(axis=0).argmin())]
    with pytest.raises(DataError, match=f"label '{rare}' has \\d+ positive training rows, fewer than --folds 50"):
        make_folds(comp, 50, 42)
    train = comp.train.assign(author=["a", "b", "c"] * 20)
    with pytest.raises(DataError, match="group column 'author' has 3 distinct value\\(s\\), fewer than --folds 5"):
        make_folds(dataclasses.replace(comp, train=train), 5, 42, group_column="author")
    binary = load_competition(write_demo_competition(tmp_path / "demo", rows=40, test_rows=5))
    with pytest.raises(DataError, match="label 1 has \\d+ training rows, fewer than --folds 30"):
        make_folds(binary, 30, 42)

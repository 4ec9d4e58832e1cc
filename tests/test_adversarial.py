"""Adversarial validation: a train-vs-test classifier finds a planted shift, names it, and finds nothing in a random split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from kagglekit.analysis.adversarial import adversarial
from kagglekit.cli import app, console
from kagglekit.data import load_competition
from kagglekit.demo import generate, write_demo_competition
from kagglekit.errors import DataError
from tests.conftest import REAL_DATA, write_competition

runner = CliRunner()
SHIFT_WORD, SHIFT_KEYWORD = "sandstorm", "ablaze"


def write_shifted(directory: Path, *, seed: int = 7) -> Path:
    """Generated tweets where 40% of test rows say "sandstorm" and 40% have keyword "ablaze"; train has each twice."""
    train, test = generate(600, 300, seed=seed)
    rng = np.random.default_rng(seed)
    worded, keyed = rng.random(len(test)) < 0.4, rng.random(len(test)) < 0.4
    test.loc[worded, "text"] = test.loc[worded, "text"] + f" {SHIFT_WORD}"
    test.loc[keyed, "keyword"] = SHIFT_KEYWORD
    train.loc[[3, 4], "text"] = train.loc[[3, 4], "text"] + f" {SHIFT_WORD}"
    train.loc[[5, 6], "keyword"] = SHIFT_KEYWORD
    train["year"], test["year"] = rng.integers(2010, 2016, len(train)), rng.integers(2012, 2020, len(test))
    sample = pd.DataFrame({"id": test["id"], "target": 0})
    return write_competition(directory, train, test, sample)


@pytest.fixture
def shifted(tmp_path: Path) -> Path:
    return write_shifted(tmp_path / "data" / "shifted")


def test_a_shift_is_found_and_named(shifted: Path) -> None:
    found = adversarial(load_competition(shifted, name="shifted", numeric_columns=["year"]), folds=5, seed=1)
    assert found.auc > 0.75 and len(found.fold_aucs) == 5 and found.reading.startswith("train and test differ")
    towards_test = found.features[found.features["leans"] == "test"].set_index("feature")
    assert {f'text:"{SHIFT_WORD}"', f"keyword={SHIFT_KEYWORD}", "year"} <= set(towards_test.index[:6])
    towards_train = found.features[found.features["leans"] == "train"]
    assert towards_test["coef"].is_monotonic_decreasing and (towards_test["coef"] > 0).all()
    assert len(towards_train) and towards_train["coef"].is_monotonic_increasing and (towards_train["coef"] < 0).all()
    assert towards_test.loc[f'text:"{SHIFT_WORD}"', "train"] == pytest.approx(2 / 600)
    assert towards_test.loc["year", "test"] > towards_test.loc["year", "train"] > 2000  # numeric inputs: their means
    rows = found.train_rows
    assert len(rows) == 600 and rows["p_test"].is_monotonic_decreasing and list(rows.columns) == ["id", "p_test", "target", "text"]
    planted = rows["text"].str.contains(f"{SHIFT_WORD}|keyword: {SHIFT_KEYWORD}")  # training rows with what the test has
    assert planted.head(3).any() and rows.loc[planted, "p_test"].mean() > 2 * rows["p_test"].mean()
    assert found.p_test_test.mean() > found.p_test_train.mean()


def test_a_random_split_looks_alike(tmp_path: Path) -> None:
    competition = load_competition(write_demo_competition(tmp_path / "demo", rows=600, test_rows=300), name="demo")
    found = adversarial(competition, folds=5, seed=3)
    assert 0.4 < found.auc < 0.6 and found.reading.startswith("about 0.5")


def test_same_seed_same_result(shifted: Path) -> None:
    competition = load_competition(shifted, name="shifted")
    first, again, other = (adversarial(competition, folds=3, seed=s) for s in (5, 5, 6))
    assert first.fold_aucs == again.fold_aucs and np.array_equal(first.p_test_train, again.p_test_train)
    assert first.features.equals(again.features) and first.train_rows.equals(again.train_rows)
    assert first.fold_aucs != other.fold_aucs


def test_too_few_rows_is_a_clear_error(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": range(1, 7), "text": [f"tweet {i}" for i in range(6)], "target": [0, 1] * 3})
    test = pd.DataFrame({"id": [100], "text": ["tweet"]})
    data = write_competition(tmp_path / "one", train, test, pd.DataFrame({"id": [100], "target": 0}))
    with pytest.raises(DataError, match="at least 2 rows in train.csv and in test.csv; one has 6 and 1"):
        adversarial(load_competition(data, name="one"))


def test_explore_adversarial_prints_auc_and_writes_csv_and_plot(shifted: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 250)
    result = runner.invoke(app, ["explore", "shifted", "--data-dir", str(shifted), "--adversarial", "--folds", "3",
                                 "--numeric-column", "year"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "inputs: keyword (categorical" in output and "year (numeric, option)" in output
    assert "ROC AUC 0.9" in output or "ROC AUC 0.8" in output
    assert "train and test differ" in output and f'text:"{SHIFT_WORD}"' in output and "Training rows most like the test" in output
    out = tmp_path / "runs" / "shifted" / "explore"
    rows = pd.read_csv(out / "adversarial_train_rows.csv")
    assert sorted(rows["id"]) == sorted(pd.read_csv(shifted / "train.csv")["id"]) and rows["p_test"].is_monotonic_decreasing
    assert f"keyword={SHIFT_KEYWORD}" in set(pd.read_csv(out / "adversarial_features.csv")["feature"])
    with Image.open(out / "adversarial.png") as image:
        assert image.format == "PNG" and image.width > 200
    for name in ("adversarial_train_rows.csv", "adversarial_features.csv", "adversarial.png"):
        assert str(out / name) in output


def test_explore_takes_the_input_roles_of_train(shifted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 250)
    result = runner.invoke(app, ["explore", "shifted", "--data-dir", str(shifted), "--ignore-column", "location",
                                 "--categorical-column", "year", "--text-column", "text"])
    assert result.exit_code == 0, result.output
    assert "inputs: keyword (categorical, " in result.output
    assert "year (categorical, 10 values, option)" in result.output and "left out: location (--ignore-column)" in result.output
    bad = runner.invoke(app, ["explore", "shifted", "--data-dir", str(shifted), "--pair", "text"])
    assert bad.exit_code == 1 and "--pair takes two or more columns" in bad.output and "Traceback" not in bad.output


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"real data not at {REAL_DATA}")
def test_real_tweets_train_and_test_look_alike() -> None:
    found = adversarial(load_competition(REAL_DATA, name="nlp-getting-started"))
    assert found.auc < 0.6 and len(found.train_rows) == 7613

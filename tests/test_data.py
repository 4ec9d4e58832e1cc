"""The data layer: inference of ids, targets, task and format, and a clear error for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.data import load_competition
from kagglekit.errors import DataError
from kagglekit.io import write_json
from tests.conftest import write_competition


def test_infers_everything_from_the_files(tiny_competition: Path) -> None:
    comp = load_competition(tiny_competition)
    assert comp.id_column == "id" and comp.target_column == "target"
    assert comp.task == "binary" and comp.classes == [0, 1]
    assert comp.submission_format == "label"
    assert comp.metric == "f1" and "guessed" in comp.metric_source
    assert comp.y.tolist() == comp.train["target"].tolist()
    assert len(comp.test_texts) == 6


def test_metric_recorded_by_fetch_wins_over_the_guess(tiny_competition: Path) -> None:
    write_json(tiny_competition / "kagglekit.json", {"evaluation_metric": "CategorizationAccuracy"})
    comp = load_competition(tiny_competition)
    assert comp.metric == "accuracy" and "Kaggle API" in comp.metric_source
    assert load_competition(tiny_competition, metric="auc").metric == "roc_auc"


def test_extra_text_columns_are_joined_with_their_names(tiny_competition: Path) -> None:
    comp = load_competition(tiny_competition, text_columns=["keyword", "text"])
    assert comp.train_texts[0] == "keyword: fire | text: Forest fire near La Ronge Sask. Canada 0"
    assert comp.train_texts[6] == "text: I love fruits 6"  # a missing keyword adds nothing, not even its marker
    single = load_competition(tiny_competition)
    assert single.text_columns == ["text"] and single.train_texts[0] == "Forest fire near La Ronge Sask. Canada 0"


def test_multiclass_probability_columns(tmp_path: Path) -> None:
    authors = ["EAP", "HPL", "MWS"] * 4
    train = pd.DataFrame({"id": [f"id{i}" for i in range(12)], "text": [f"text {i}" for i in range(12)], "author": authors})
    test = pd.DataFrame({"id": ["t1", "t2"], "text": ["a", "b"]})
    sample = pd.DataFrame({"id": ["t1", "t2"], "EAP": 0.4, "HPL": 0.3, "MWS": 0.3})
    comp = load_competition(write_competition(tmp_path / "spooky", train, test, sample))
    assert comp.task == "multiclass" and comp.target_column == "author"
    assert comp.submission_format == "class_probabilities" and comp.classes == ["EAP", "HPL", "MWS"]
    assert comp.metric == "logloss"
    assert comp.y.tolist() == [0, 1, 2] * 4


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: (d / "test.csv").unlink(), "test.csv does not exist"),
        (lambda d: (d / "train.csv").write_bytes(b"id,text\n1,\xff\xfe bad\n"), "not UTF-8"),
        (lambda d: (d / "train.csv").write_bytes(b"\x00\x01\x02PK"), "not a CSV file"),
        (lambda d: _edit(d, "train.csv", lambda f: f.drop(columns="text")), "has no column 'text'"),
        (lambda d: _edit(d, "train.csv", lambda f: f.drop(columns="target")), "has no column 'target'"),
        (lambda d: _edit(d, "test.csv", lambda f: f.iloc[1:]), "missing from test: 100"),
        (lambda d: _edit(d, "train.csv", lambda f: f.assign(id=[1, 1] + list(f["id"][2:]))), "duplicate ids"),
        (lambda d: _edit(d, "train.csv", lambda f: f.assign(target=[np.nan] + list(f["target"][1:]))), "'target' is empty at line 2"),
        (lambda d: _edit(d, "train.csv", lambda f: f.assign(target=[7] + list(f["target"][1:]))), "label 7"),
    ],
    ids=["missing-file", "not-utf8", "binary", "no-text", "no-target", "test-ids", "duplicate-ids", "nan-label", "odd-label"],
)
def test_bad_input_names_the_file_and_the_problem(tiny_competition: Path, mutate, message: str) -> None:
    mutate(tiny_competition)
    with pytest.raises(DataError, match=message):
        load_competition(tiny_competition)


def test_empty_texts_are_kept_and_counted(tiny_competition: Path) -> None:
    _edit(tiny_competition, "train.csv", lambda f: f.assign(text=[None, "  "] + list(f["text"][2:])))
    comp = load_competition(tiny_competition)
    assert comp.train_texts[0] == "" and len(comp.train) == 36
    assert any("2 empty or missing 'text'" in w and "lines 2, 3" in w for w in comp.warnings)


def test_real_data_loads(real_data: Path) -> None:
    comp = load_competition(real_data, name="nlp-getting-started")
    assert (len(comp.train), len(comp.test)) == (7613, 3263)
    assert comp.task == "binary" and comp.submission_format == "label"
    assert 0.42 < comp.y.mean() < 0.44


def _edit(directory: Path, name: str, change) -> None:
    path = directory / name
    change(pd.read_csv(path)).to_csv(path, index=False)


def test_an_unsupported_recorded_metric_falls_back_to_the_guess(tiny_competition: Path) -> None:
    write_json(tiny_competition / "kagglekit.json", {"evaluation_metric": "MAP@3"})
    comp = load_competition(tiny_competition)
    assert comp.metric == "f1" and "'MAP@3' is not supported" in comp.metric_source

"""The data layer: inference of ids, targets, task and format, and a clear error for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.data import load_competition
from kagglekit.errors import DataError, KaggleKitError
from kagglekit.io import write_json
from kagglekit.models.base import TaskSpec
from tests.conftest import write_competition


def test_infers_everything_from_the_files(tiny_competition: Path) -> None:
    comp = load_competition(tiny_competition)
    assert comp.id_column == "id" and comp.target_column == "target"
    assert comp.task == "binary" and comp.classes == [0, 1]
    assert comp.submission_format == "label"
    assert comp.metric.name == "f1" and "guessed" in comp.metric_source
    assert comp.y.tolist() == comp.train["target"].tolist()
    assert len(comp.test_texts) == 6


def test_metric_recorded_by_fetch_wins_over_the_guess(tiny_competition: Path) -> None:
    write_json(tiny_competition / "kagglekit.json", {"evaluation_metric": "CategorizationAccuracy"})
    comp = load_competition(tiny_competition)
    assert comp.metric.name == "accuracy" and "Kaggle API" in comp.metric_source
    assert load_competition(tiny_competition, metric="auc").metric.name == "roc_auc"


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
    assert comp.metric.name == "logloss"
    assert comp.y.tolist() == [0, 1, 2] * 4


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: (d / "test.csv").unlink(), "test.csv does not exist"),
        (lambda d: (d / "train.csv").write_bytes(b"id,text\n1,\xff\xfe bad\n"), "not UTF-8"),
        (lambda d: (d / "train.csv").write_bytes(b"\x00\x01\x02PK"), "not a CSV file"),
        (lambda d: _edit(d, "train.csv", lambda f: f.drop(columns="text")), "no column can be a model input"),
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
    write_json(tiny_competition / "kagglekit.json", {"evaluation_metric": "BLEU"})
    comp = load_competition(tiny_competition)
    assert comp.metric.name == "f1" and "'BLEU' is not supported" in comp.metric_source


# --- every task shape ----------------------------------------------------------------------------------------

def _texts(n: int, offset: int = 0) -> list[str]:
    return [f"an example passage number {i} with several words in it" for i in range(offset, offset + n)]


def _shape(tmp_path: Path, targets: dict[str, list], sample_values: dict[str, object], **extra: list) -> Path:
    n = len(next(iter(targets.values())))
    train = pd.DataFrame({"id": [f"r{i}" for i in range(n)], **extra, "text": _texts(n), **targets})
    test = pd.DataFrame({"id": ["t0", "t1"], **{k: v[:2] for k, v in extra.items()}, "text": _texts(2, 100)})
    sample = pd.DataFrame({"id": ["t0", "t1"], **sample_values})
    return write_competition(tmp_path / "comp", train, test, sample)


def test_fingerprints_of_existing_binary_competitions_do_not_move(tiny_competition: Path) -> None:
    """Values computed with the code before task shapes existed: old runs stay valid."""
    comp = load_competition(tiny_competition)
    assert (comp.fingerprint(), comp.test_fingerprint()) == ("b5cb5eb107ce", "b7e21d6ff4cd")
    assert comp.task_spec == TaskSpec("binary", 2) and comp.target_columns == ["target"] and comp.n_outputs == 2


def test_readability_shape_infers_excerpt_regression_and_ignores_train_only_columns(tmp_path: Path) -> None:
    n = 12
    train = pd.DataFrame({
        "id": [f"r{i}" for i in range(n)], "url_legal": ["https://example.org/a/b/c/d"] * 3 + [None] * (n - 3),
        "license": ["CC BY"] * 3 + [None] * (n - 3), "excerpt": _texts(n),
        "target": np.linspace(-3.1, 1.2, n), "standard_error": np.linspace(0.4, 0.5, n),
    })
    test = train.drop(columns=["target", "standard_error"]).iloc[:2].assign(id=["t0", "t1"])
    comp = load_competition(write_competition(tmp_path / "read", train, test, pd.DataFrame({"id": ["t0", "t1"], "target": 0.0})))
    assert comp.text_columns == ["excerpt"] and comp.task == "regression" and comp.metric.name == "rmse"
    assert comp.task_spec == TaskSpec("regression", 1) and comp.y.shape == (n, 1) and comp.y[0, 0] == pytest.approx(-3.1)
    assert comp.classes == [] and comp.submission_format == "values" and comp.holds == "values"
    assert "standard_error" in comp.inferred["train_only"] and "excerpt" in comp.inferred["text_columns"]
    assert comp.target_column == "target"


def test_multilabel_and_multi_target_regression(tmp_path: Path) -> None:
    labels = {"toxic": [0, 1] * 6, "insult": [1, 0, 0] * 4}
    comp = load_competition(_shape(tmp_path / "a", labels, {"toxic": 0.5, "insult": 0.5}))
    assert comp.task == "multilabel" and comp.task_spec == TaskSpec("multilabel", 2) and comp.metric.name == "column_auc"
    assert comp.y.shape == (12, 2) and comp.y[:, 1].tolist() == labels["insult"] and comp.submission_format == "label_probabilities"
    assert comp.n_classes == 0 and comp.classes == []
    scores = {"cohesion": list(np.linspace(1, 5, 12)), "syntax": list(np.linspace(2, 4, 12))}
    comp = load_competition(_shape(tmp_path / "b", scores, {"cohesion": 3.0, "syntax": 3.0}))
    assert comp.task == "regression" and comp.metric.name == "mcrmse" and comp.task_spec == TaskSpec("regression", 2)
    with pytest.raises(DataError, match="use target_columns"):
        _ = comp.target_column


def test_ordinal_scores_and_integer_classes(tmp_path: Path) -> None:
    scores = [1, 2, 3, 4, 5, 6] * 2
    comp = load_competition(_shape(tmp_path / "a", {"score": scores}, {"score": 3}))
    assert comp.task == "ordinal" and comp.metric.name == "qwk" and comp.submission_format == "scores"
    assert comp.task_spec == TaskSpec("regression", 1) and comp.y[:, 0].tolist() == scores
    assert load_competition(tmp_path / "a" / "comp", metric="rmse").task == "ordinal"  # integer sample, score-like values
    assert load_competition(tmp_path / "a" / "comp", metric="accuracy").task == "multiclass"
    classes = load_competition(_shape(tmp_path / "b", {"label": [0, 1, 2, 3] * 3}, {"label": 0}))  # class indices start at 0
    assert classes.task == "multiclass" and classes.classes == [0, 1, 2, 3]
    floats = load_competition(_shape(tmp_path / "c", {"score": scores}, {"score": 0.0}))  # a float sample: regression
    assert floats.task == "regression"
    write_json(tmp_path / "b" / "comp" / "kagglekit.json", {"evaluation_metric": "Quadratic Weighted Kappa"})
    assert load_competition(tmp_path / "b" / "comp").task == "ordinal"


def test_text_columns_are_inferred_or_named_and_joined(tmp_path: Path) -> None:
    directory = _shape(tmp_path / "a", {"target": [0, 1] * 6}, {"target": 0}, title=_texts(12, 50))
    inferred = load_competition(directory)
    assert inferred.text_columns == ["title", "text"] and inferred.schema.groups == (("title", "text"),)
    assert inferred.inferred["inputs"].startswith("title + text (text pair)")
    comp = load_competition(tmp_path / "a" / "comp", text_columns=["title", "text"])
    assert comp.train_texts[0].startswith("title: an example passage number 50") and " | text: an example" in comp.train_texts[0]
    assert comp.fingerprint() != load_competition(tmp_path / "a" / "comp", text_columns=["text"]).fingerprint()


def test_target_and_group_columns_can_be_named(tmp_path: Path) -> None:
    directory = _shape(tmp_path, {"label": [0, 1] * 6, "other": [1, 0, 0] * 4}, {"prediction": 0}, author=list("aabbccddeeff"))
    comp = load_competition(directory, target_columns=["other"], text_columns=["text"], group_column="author")
    assert comp.target_columns == ["other"] and comp.y.tolist() == [1, 0, 0] * 4
    assert comp.groups.tolist() == list("aabbccddeeff") and "6 groups" in comp.inferred["group_column"]
    with pytest.raises(DataError, match="has no column 'prediction'"):
        load_competition(directory, text_columns=["text"])


@pytest.mark.parametrize(
    ("targets", "sample", "options", "message"),
    [
        ({"target": [0.5, np.nan] + [1.0] * 10}, {"target": 0.0}, {}, "train.csv: column 'target' is empty at line 3"),
        ({"toxic": [0, 1] * 6, "insult": [0, 2] + [1] * 10}, {"toxic": 0.5, "insult": 0.5}, {},
         "train.csv: multi-label column 'insult' must hold 0 or 1; found 2 at line 3"),
        ({"toxic": [0, 1] * 6}, {"toxic": 0.5, "threat": 0.5}, {}, "train.csv has no column 'threat'"),
        ({"target": [0, 1] * 6}, {"target": 0}, {"text_columns": ["number"]}, "train.csv: text column 'number' is numeric \\(0 at line 2\\)"),
        ({"target": [0, 1] * 6}, {"target": 0}, {"text_columns": ["target"]}, "'target' is the id, a target or the group column"),
        ({"target": [0, 1] * 6}, {"target": 0}, {"text_columns": ["hint"]}, "'hint' is only in train.csv, not in test.csv"),
        ({"target": [0, 1] * 6}, {"target": 0}, {"group_column": "nothing"}, "has no column 'nothing'"),
        ({"target": np.linspace(0, 1, 12)}, {"target": 0.0}, {"metric": "f1"}, "metric f1 cannot score a regression task; use one of: rmse"),
    ],
    ids=["nan-target", "multilabel-value", "sample-column-not-in-train", "numeric-text", "target-as-text", "train-only-text",
         "group-column", "metric-task"],
)
def test_bad_task_input_names_file_column_and_row(tmp_path: Path, targets: dict, sample: dict, options: dict, message: str) -> None:
    directory = _shape(tmp_path, targets, sample, number=list(range(12)))
    train = pd.read_csv(directory / "train.csv").assign(hint=_texts(12, 300))
    train.to_csv(directory / "train.csv", index=False)
    with pytest.raises(KaggleKitError, match=message):
        load_competition(directory, **{"text_columns": ["text"], **options})


def test_real_data_infers_text_and_keeps_its_fingerprint(real_data: Path) -> None:
    comp = load_competition(real_data, name="nlp-getting-started")
    assert comp.text_columns == ["text"] and comp.schema.categorical == ["keyword"]
    assert comp.inferred["inputs"].startswith("keyword (categorical, 221 values), text (text); left out: location (free-form")
    assert comp.schema.main_group == ["text"] and comp.train_texts[0].startswith("text: Our Deeds")
    single = load_competition(real_data, name="nlp-getting-started", text_columns=["text"], ignore_columns=["keyword", "location"])
    assert (single.fingerprint(), single.test_fingerprint()) == ("9a80f4134240", "8f767384a305")

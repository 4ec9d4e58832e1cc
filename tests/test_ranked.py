"""Ranked answers and multiple choice: recognition from the files, MAP@K, the top-K decision and the written file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.data import load_competition
from kagglekit.errors import ConfigError, DataError
from kagglekit.metrics import find_metric, get_metric
from kagglekit.shapes import MultipleChoice, Ranked, get_shape, manifest_shape, top_k
from kagglekit.submission import submission_frame, validate_submission
from tests.conftest import write_competition


def _ranked(tmp_path: Path, labels: list, sample_value: str = "a b c", **train_columns: list) -> Path:
    rows = len(labels) or len(next(iter(train_columns.values())))
    texts = [f"text {i} about {row}" for i, row in enumerate(labels or zip(*train_columns.values()))]
    assert len(texts) == rows
    train = pd.DataFrame({"id": range(rows), "text": texts, **train_columns, **({"label": labels} if labels else {})})
    test = pd.DataFrame({"id": [100, 101], "text": ["new a", "new b"]})
    sample = pd.DataFrame({"id": [100, 101], list(train_columns)[0] + ":" + list(train_columns)[1] if len(train_columns) == 2
                           else "label": sample_value})
    return write_competition(tmp_path / "data" / "r", train, test, sample)


@pytest.mark.parametrize("name,k", [("MAP@3", 3), ("Mean Average Precision @ 25", 25), ("map@5", 5), ("MAP 12", 12)])
def test_map_at_k_is_found_under_kaggle_names(name: str, k: int) -> None:
    metric = get_metric(name)
    assert metric.name == f"map@{k}" and metric.greater_is_better and metric.tasks == ("ranked",)


def test_map_at_k_scores_one_over_the_rank_of_the_true_label() -> None:
    proba = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
    y = np.array([0, 2, 3, 1])  # ranks 1, 2, beyond 3, 2 (ties by class order)
    assert get_metric("map@3").score(y, proba) == pytest.approx((1 + 1 / 2 + 0 + 1 / 2) / 4)
    assert get_metric("map@1").score(y, proba) == pytest.approx(1 / 4)
    assert top_k(proba, 3).tolist() == [[0, 1, 2], [3, 2, 1], [0, 1, 2], [0, 1, 2]]
    assert find_metric("map@0") is None and find_metric("mapping") is None


def test_a_sample_of_k_labels_per_row_is_ranked_answers(tmp_path: Path) -> None:
    labels = ["a", "b", "c", "d"] * 6
    comp = load_competition(_ranked(tmp_path, labels, "a b c"))
    assert comp.shape == Ranked(k=3) and comp.metric.name == "map@3" and comp.classes == ["a", "b", "c", "d"]
    assert comp.submission_format == "ranked_labels" and "3 space-separated labels" in comp.inferred["task"]
    pred = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    frame = submission_frame(comp, pred)
    assert frame["label"].tolist() == ["d c b", "a b c"]


def test_a_joined_column_name_builds_the_target_with_na_for_missing_parts(tmp_path: Path) -> None:
    category = ["True_Correct", "False_Misconception", "False_Neither"] * 8
    misconception = [None, "Incomplete", None] * 8
    directory = _ranked(tmp_path, [], "True_Correct:NA False_Neither:NA False_Misconception:Incomplete",
                        Category=category, Misconception=misconception)
    comp = load_competition(directory)
    assert comp.target_columns == ["Category:Misconception"]
    assert comp.classes == ["False_Misconception:Incomplete", "False_Neither:NA", "True_Correct:NA"]
    assert "joins train.csv's 'Category' and 'Misconception'" in comp.inferred["task"]
    # a reloaded run names the joined target: the join happens again
    again = load_competition(directory, target_columns=["Category:Misconception"])
    assert again.classes == comp.classes and (again.y == comp.y).all()


def test_labels_with_spaces_cannot_be_ranked(tmp_path: Path) -> None:
    directory = _ranked(tmp_path, ["a b", "c", "d"] * 6, "c d a")
    with pytest.raises(DataError, match=r"label 'a b' of 'label' at lines 2, 5, 8, 11, 14 and 1 more holds a space"):
        load_competition(directory, target_columns=["label"])


def test_validate_checks_k_distinct_known_labels(tmp_path: Path) -> None:
    directory = _ranked(tmp_path, ["a", "b", "c", "d"] * 6, "a b c")
    for content, message in [("id,label\n100,a b c\n101,a b\n", "needs 3 space-separated labels per row; line 3 has 2"),
                             ("id,label\n100,a a b\n101,a b c\n", "repeats a label at line 2"),
                             ("id,label\n100,a b z\n101,a b c\n", "holds 'z' at line 2, not a label of the target")]:
        (tmp_path / "bad.csv").write_text(content)
        with pytest.raises(DataError, match=message):
            validate_submission(tmp_path / "bad.csv", directory / "sample_submission.csv")
    (tmp_path / "good.csv").write_text("id,label\n100,d c b\n101,a b c\n")
    validate_submission(tmp_path / "good.csv", directory / "sample_submission.csv")


def test_an_explicit_metric_that_cannot_rank_is_refused(tmp_path: Path) -> None:
    directory = _ranked(tmp_path, ["a", "b", "c", "d"] * 6, "a b c")
    with pytest.raises(ConfigError, match="metric f1 cannot score a ranked task; use one of: map@K"):
        load_competition(directory, metric="f1")
    assert load_competition(directory, metric="map@2").metric.name == "map@2"


def test_option_columns_named_by_the_answer_make_multiple_choice(tmp_path: Path) -> None:
    rows = 20
    train = pd.DataFrame({"id": range(rows), "prompt": [f"question {i}" for i in range(rows)],
                          **{o: [f"option {o} {i}" for i in range(rows)] for o in "ABCD"},
                          "answer": list("ABCD") * (rows // 4)})
    test = train.drop(columns="answer").head(3).assign(id=[100, 101, 102])
    sample = pd.DataFrame({"id": [100, 101, 102], "prediction": "A B C"})
    comp = load_competition(write_competition(tmp_path / "data" / "mc", train, test, sample))
    assert comp.shape == MultipleChoice(k=3, options=("A", "B", "C", "D")) and comp.classes == list("ABCD")
    assert comp.metric.name == "map@3" and comp.y.tolist()[:4] == [0, 1, 2, 3]


def test_shapes_round_trip_through_the_manifest() -> None:
    for shape in (Ranked(k=5), MultipleChoice(k=3, options=("A", "B")), get_shape("binary"), get_shape("ordinal")):
        assert manifest_shape({"shape": shape.to_json()}) == shape and hash(manifest_shape({"shape": shape.to_json()})) == hash(shape)
    assert manifest_shape({"task": "regression"}) == get_shape("regression")  # runs recorded before shapes had a home
    with pytest.raises(ConfigError, match="unknown task shape 'tokens'"):
        get_shape("tokens")

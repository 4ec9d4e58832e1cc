"""Submission files follow the sample exactly; the validator names every problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.data import load_competition
from kagglekit.errors import DataError
from kagglekit.metrics import get_metric


def score(metric: str, y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> float:
    return get_metric(metric).score(y, proba, {"threshold": threshold})


def tune_threshold(y: np.ndarray, proba: np.ndarray, metric: str) -> tuple[float, float]:
    decision, tuned = get_metric(metric).tune(y, proba)
    return decision.get("threshold", 0.5), tuned
from kagglekit.submission import validate_submission, write_submission
from tests.conftest import write_competition


def test_label_submission_follows_the_sample_order_and_threshold(tiny_competition: Path, tmp_path: Path) -> None:
    comp = load_competition(tiny_competition)
    positive = np.array([0.9, 0.1, 0.6, 0.2, 0.4, 0.3])  # test.csv order: ids 100..105
    proba = np.column_stack([1 - positive, positive])
    path = write_submission(comp, proba, tmp_path / "out" / "s.csv")
    frame = pd.read_csv(path)
    assert frame.columns.tolist() == ["id", "target"]
    assert frame.set_index("id")["target"].to_dict() == {103: 0, 100: 1, 101: 0, 102: 1, 104: 0, 105: 0}
    lowered = pd.read_csv(write_submission(comp, proba, tmp_path / "out" / "t.csv", decision={"threshold": 0.35}))
    assert lowered.set_index("id").loc[104, "target"] == 1
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind


def test_class_probability_submission(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": [f"i{i}" for i in range(9)], "text": list("abcdefghi"), "author": ["EAP", "HPL", "MWS"] * 3})
    test = pd.DataFrame({"id": ["t1", "t2"], "text": ["x", "y"]})
    sample = pd.DataFrame({"id": ["t2", "t1"], "EAP": 0.4, "HPL": 0.3, "MWS": 0.3})
    comp = load_competition(write_competition(tmp_path / "spooky", train, test, sample))
    frame = pd.read_csv(write_submission(comp, np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]), tmp_path / "s.csv"))
    assert frame.columns.tolist() == ["id", "EAP", "HPL", "MWS"]
    assert frame.iloc[0].tolist() == ["t2", 0.1, 0.1, 0.8]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,target\n103,0\n100,1\n101,0\n102,1\n104,0\n", "5 rows; expected 6"),
        ("id,target\n103,0\n100,1\n101,0\n102,1\n104,0\n999,1\n", "(?s)1 missing id\\(s\\): 105.*not in the sample: 999"),
        ("id,label\n103,0\n100,1\n101,0\n102,1\n104,0\n105,1\n", "columns are id, label; expected id, target"),
        ("id,target\n103,0\n100,\n101,0\n102,1\n104,0\n105,1\n", "'target' is empty \\(NaN\\) at line\\(s\\) 3"),
        ("id,target\n103,0\n100,0.7\n101,0\n102,1\n104,0\n105,1\n", "needs integer labels; found 0.7"),
        ("id,target\n103,0\n103,1\n101,0\n102,1\n104,0\n105,1\n", "duplicate id\\(s\\): 103"),
    ],
    ids=["rows", "ids", "columns", "nan", "non-integer", "duplicates"],
)
def test_validate_names_what_is_wrong(tiny_competition: Path, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        validate_submission(path, tiny_competition / "sample_submission.csv")


def test_tuned_threshold_never_scores_below_half() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 200)
        positive = np.clip(y * rng.uniform(0.2, 0.6) + rng.normal(0.3, 0.2, 200), 0, 1)
        proba = np.column_stack([1 - positive, positive])
        threshold, tuned = tune_threshold(y, proba, "f1")
        assert tuned >= score("f1", y, proba) and tuned == pytest.approx(score("f1", y, proba, threshold))
    assert tune_threshold(y, proba, "logloss")[0] == 0.5


def test_fast_binary_f1_matches_sklearn() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    for _ in range(50):
        y, positive, threshold = rng.integers(0, 2, 40), rng.random(40), rng.random()
        expected = f1_score(y, (positive >= threshold).astype(int), zero_division=0)
        assert score("f1", y, np.column_stack([1 - positive, positive]), threshold) == pytest.approx(expected)
    assert score("f1", np.zeros(5, dtype=int), np.tile([1.0, 0.0], (5, 1))) == 0.0  # no positives at all


def test_ids_are_text_and_probability_metrics_get_probabilities(tmp_path: Path) -> None:
    """Kaggle matches ids as text (001 is not 1); ROC AUC needs P(positive) even when the sample holds 0s."""
    train = pd.DataFrame({"id": [f"{i:03d}" for i in range(12)], "text": ["NA", "fire", "calm", "flood"] * 3, "target": [0, 1, 0, 1] * 3})
    test = pd.DataFrame({"id": ["007", "010"], "text": ["fire", "None"]})
    sample = pd.DataFrame({"id": ["010", "007"], "target": 0})
    directory = write_competition(tmp_path / "ids", train, test, sample)
    comp = load_competition(directory, metric="roc_auc")
    assert comp.train["id"].iloc[0] == "000" and comp.train_texts[0] == "NA" and comp.test_texts[1] == "None"
    assert comp.submission_format == "probability" and any("scores probabilities" in w for w in comp.warnings)
    frame = pd.read_csv(write_submission(comp, np.array([[0.2, 0.8], [0.6, 0.4]]), tmp_path / "s.csv"), dtype={"id": str})
    assert frame.to_dict("list") == {"id": ["010", "007"], "target": [0.4, 0.8]}
    labels = load_competition(directory)  # F1: integer labels as the sample has them
    assert pd.read_csv(write_submission(labels, np.array([[0.2, 0.8], [0.6, 0.4]]), tmp_path / "l.csv"))["target"].tolist() == [0, 1]
    (tmp_path / "one.csv").write_text("id,target\n10,0\n7,1\n")
    with pytest.raises(DataError, match="missing id.*010"):
        validate_submission(tmp_path / "one.csv", directory / "sample_submission.csv")


def test_single_column_string_labels(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": range(9), "text": list("abcdefghi"), "author": ["EAP", "HPL", "MWS"] * 3})
    test = pd.DataFrame({"id": [20, 21], "text": ["x", "y"]})
    sample = pd.DataFrame({"id": [20, 21], "author": "EAP"})
    comp = load_competition(write_competition(tmp_path / "authors", train, test, sample))
    assert comp.submission_format == "label" and comp.classes == ["EAP", "HPL", "MWS"] and comp.task == "multiclass"
    frame = pd.read_csv(write_submission(comp, np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]), tmp_path / "s.csv"))
    assert frame["author"].tolist() == ["MWS", "EAP"]


def _competition(tmp_path: Path, targets: dict[str, list], sample: dict[str, object], **options: object):
    n = len(next(iter(targets.values())))
    train = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": [f"passage number {i} with words" for i in range(n)], **targets})
    test = pd.DataFrame({"id": ["t0", "t1", "t2"], "text": ["one more text", "and another one", "the last text"]})
    frame = pd.DataFrame({"id": ["t2", "t0", "t1"], **sample})  # the sample's order differs from test.csv's
    return load_competition(write_competition(tmp_path / "comp", train, test, frame), **options)


def test_regression_submission_holds_values_in_the_samples_columns(tmp_path: Path) -> None:
    comp = _competition(tmp_path, {"cohesion": list(np.linspace(1, 5, 12)), "syntax": list(np.linspace(2, 4, 12))},
                        {"syntax": 3.0, "cohesion": 3.0})
    pred = np.array([[1.5, 2.5], [-0.5, 7.25], [3.0, 3.5]])  # columns: target_columns, which follow the sample
    assert comp.target_columns == ["syntax", "cohesion"]
    frame = pd.read_csv(write_submission(comp, pred, tmp_path / "s.csv"))
    assert frame.columns.tolist() == ["id", "syntax", "cohesion"]
    assert frame.iloc[0].tolist() == ["t2", 3.0, 3.5] and frame.iloc[1].tolist() == ["t0", 1.5, 2.5]
    assert frame.iloc[2].tolist() == ["t1", -0.5, 7.25]  # values outside [0, 1] are valid regression values


def test_multilabel_submission_holds_one_probability_per_label(tmp_path: Path) -> None:
    comp = _competition(tmp_path, {"toxic": [0, 1] * 6, "insult": [1, 0, 0] * 4}, {"toxic": 0.5, "insult": 0.5})
    frame = pd.read_csv(write_submission(comp, np.array([[0.9, 0.1], [0.2, 0.7], [0.4, 0.4]]), tmp_path / "s.csv"))
    assert frame.to_dict("list") == {"id": ["t2", "t0", "t1"], "toxic": [0.4, 0.9, 0.2], "insult": [0.4, 0.1, 0.7]}
    with pytest.raises(DataError, match="shape \\(3, 3\\), expected \\(3, 2\\)"):
        write_submission(comp, np.full((3, 3), 0.5), tmp_path / "bad.csv")


def test_ordinal_submission_cuts_values_into_integer_scores(tmp_path: Path) -> None:
    comp = _competition(tmp_path, {"score": [1, 2, 3, 4, 5, 6] * 2}, {"score": 3})
    pred = np.array([[2.6], [0.2], [9.0]])
    rounded = pd.read_csv(write_submission(comp, pred, tmp_path / "r.csv"))  # no decision: rounding within 1..6
    assert rounded["score"].tolist() == [6, 3, 1]
    decision = {"low": 1, "high": 6, "cuts": [1.5, 2.7, 3.5, 4.5, 5.5]}  # as tuned on OOF predictions
    frame = pd.read_csv(write_submission(comp, pred, tmp_path / "s.csv", decision=decision))
    assert frame["score"].tolist() == [6, 2, 1] and pd.api.types.is_integer_dtype(frame["score"])


@pytest.mark.parametrize(
    ("targets", "sample", "content", "message"),
    [
        ({"target": list(np.linspace(0, 3, 12))}, {"target": 0.0}, "id,target\nt2,1.5\nt0,x\nt1,2\n", "'target' needs numbers; found x at line\\(s\\) 3"),
        ({"toxic": [0, 1] * 6, "insult": [1, 0, 0] * 4}, {"toxic": 0.5, "insult": 0.5}, "id,toxic,insult\nt2,0.5,1.2\nt0,0,0\nt1,1,1\n",
         "'insult' needs probabilities in \\[0, 1\\]; found 1.2 at line\\(s\\) 2"),
        ({"score": [1, 2, 3, 4, 5, 6] * 2}, {"score": 3}, "id,score\nt2,3.4\nt0,1\nt1,6\n", "'score' needs integer scores; found 3.4"),
    ],
    ids=["regression", "multilabel", "ordinal"],
)
def test_validate_knows_each_shape_from_the_competition_beside_the_sample(tmp_path: Path, targets: dict, sample: dict,
                                                                         content: str, message: str) -> None:
    comp = _competition(tmp_path, targets, sample)
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        validate_submission(tmp_path / "bad.csv", comp.directory / "sample_submission.csv")
    good = content.replace(",x", ",2").replace("1.2", "0.2").replace("3.4", "3")
    (tmp_path / "good.csv").write_text(good)
    validate_submission(tmp_path / "good.csv", comp.directory / "sample_submission.csv")

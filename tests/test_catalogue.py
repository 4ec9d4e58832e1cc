"""Answers from a catalogue (the Eedi layout): recognised from the sample or declared, ranked by retrievers and a
reranker, CV grouped by the target item, 25 distinct catalogue ids per row, and a model pack that carries prepare.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kagglekit.catalogue import Catalogue, LogLinearPool, grouped_folds, top_k_columns
from kagglekit.cli import app
from kagglekit.data import load_competition
from kagglekit.demo import CATALOGUE_DEMO, write_catalogue_competition
from kagglekit.errors import KaggleKitError
from kagglekit.folds import make_folds
from kagglekit.kaggle import inference
from kagglekit.models import get_model, load_model
from kagglekit.predict import predict_submission
from kagglekit.runs import find_run
from kagglekit.shapes import get_shape, top_k
from kagglekit.tables import PREPARE_FILE, read_tables

runner = CliRunner()
ITEMS = 90


def write_tiny(directory: Path, **options: float) -> Path:
    write_catalogue_competition(directory, questions=40, test_questions=6, items=ITEMS, **options)
    return directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the tiny Eedi layout trained by the TF-IDF retriever and the reranker, every ensemble built."""
    root = tmp_path_factory.mktemp("eedi")
    write_tiny(root / "data" / CATALOGUE_DEMO)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = runner.invoke(app, ["train", CATALOGUE_DEMO, "-m", "tfidf_retriever", "-m", "reranker", "--folds", "2",
                                     "--jobs", "1"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return root


def test_a_catalogue_is_recognised_from_the_sample_with_every_item_a_class(tmp_path: Path) -> None:
    competition = load_competition(write_tiny(tmp_path / "eedi"))
    shape = competition.shape
    assert isinstance(shape, Catalogue) and shape.k == 25 and competition.metric.name == "map@25"
    assert (shape.table, shape.id_column, shape.text_column) == ("misconception_mapping", "MisconceptionId", "MisconceptionName")
    assert competition.classes == [str(i) for i in range(ITEMS)] and len(shape.texts) == ITEMS
    assert competition.target_columns == ["MisconceptionId"] and competition.task_spec.n_outputs == ITEMS
    seen = set(competition.train["MisconceptionId"])
    assert len(seen) < ITEMS / 2  # most items never occur in train, and are classes all the same
    assert "tables" not in competition.inferred  # the catalogue is read, not reported as a table left aside
    assert re.search(r"ranked from prepare.py:misconception_mapping \(90 items.*never\)", competition.inferred["task"])
    assert get_shape(shape.to_json()) == shape and get_shape(shape.to_json()).texts == ()  # a manifest keeps no texts


def test_a_catalogue_declared_with_the_option_settles_an_ambiguous_table(tmp_path: Path) -> None:
    data = write_tiny(tmp_path / "eedi")
    mapping = pd.read_csv(data / "misconception_mapping.csv")
    mapping.insert(1, "LegacyId", mapping["MisconceptionId"])
    mapping.to_csv(data / "misconception_mapping.csv", index=False)
    with pytest.raises(KaggleKitError, match=r"'MisconceptionId', prepare.py:misconception_mapping's 'LegacyId' all hold.*"
                                             r"--catalogue TABLE:ID_COLUMN:TEXT_COLUMN"):
        load_competition(data)
    competition = load_competition(data, catalogue="misconception_mapping.csv:MisconceptionId:MisconceptionName")
    assert competition.inferred["task"].count("option") == 1 and competition.n_classes == ITEMS


@pytest.mark.parametrize(("catalogue", "message"), [
    ("mapping:MisconceptionId:MisconceptionName", r"no table 'mapping' in the competition's folder \(other tables: "
                                                  r"misconception_mapping\)"),
    ("misconception_mapping:Id:MisconceptionName", r"prepare.py:misconception_mapping has no column 'Id' \(ID_COLUMN\); "
                                                   r"its columns are MisconceptionId, MisconceptionName"),
    ("misconception_mapping:MisconceptionId", r"--catalogue takes TABLE:ID_COLUMN:TEXT_COLUMN"),
])
def test_a_bad_catalogue_option_is_one_line_naming_the_fix(tmp_path: Path, catalogue: str, message: str) -> None:
    with pytest.raises(KaggleKitError, match=message) as caught:
        load_competition(write_tiny(tmp_path / "eedi"), catalogue=catalogue)
    assert "\n" not in str(caught.value)


def test_bad_catalogue_data_names_the_file_the_row_and_the_fix(tmp_path: Path) -> None:
    data = write_tiny(tmp_path / "eedi")
    mapping = pd.read_csv(data / "misconception_mapping.csv")
    mapping.loc[3, "MisconceptionName"] = None
    mapping.to_csv(data / "misconception_mapping.csv", index=False)
    with pytest.raises(KaggleKitError, match=r"prepare.py:misconception_mapping: 'MisconceptionName' is empty at line 5 "
                                             r"\(id 3\); each item is ranked by its text: fill it, or drop the item"):
        load_competition(data)
    declared = "misconception_mapping:MisconceptionId:MisconceptionName"
    write_tiny(data)
    sample = pd.read_csv(data / "sample_submission.csv")
    sample.loc[2, "MisconceptionId"] = "9999 " + " ".join(map(str, range(24)))
    sample.to_csv(data / "sample_submission.csv", index=False)
    with pytest.raises(KaggleKitError, match=r"'MisconceptionId' holds '9999' at line 4, not an id of "
                                             r"prepare.py:misconception_mapping's 'MisconceptionId'"):
        load_competition(data, catalogue=declared)


def test_cv_keeps_each_target_item_in_one_fold(tmp_path: Path) -> None:
    competition = load_competition(write_tiny(tmp_path / "eedi"))
    folds = make_folds(competition, 3, 42)
    per_item = pd.DataFrame({"item": competition.y, "fold": folds["fold"]}).groupby("item")["fold"].nunique()
    assert (per_item == 1).all() and folds["fold"].nunique() == 3
    sizes = np.bincount(grouped_folds(np.repeat(np.arange(30), 4), 3, 0, "groups"))
    assert sizes.tolist() == [40, 40, 40]


def test_an_item_never_seen_in_train_can_be_ranked_first(tmp_path: Path) -> None:
    competition = load_competition(write_tiny(tmp_path / "eedi"))
    unseen = next(i for i in range(ITEMS) if i not in set(competition.y))
    name = competition.shape.texts[unseen]
    row = competition.test_inputs[:1].frame.assign(QuestionText="", AnswerText=f"12, because the student {name.lower()}")
    for model_name in ("tfidf_retriever", "reranker"):
        model = competition.shape.wrap_model(get_model(model_name))
        model.fit(competition.train_inputs, competition.y, task=competition.task_spec)
        pred = model.predict(row)
        assert pred.dtype == np.float32 and pred.shape == (1, ITEMS) and abs(float(pred.sum()) - 1) < 1e-4
        assert top_k_columns(pred, 25)[0, 0] == unseen, model_name


def test_top_k_columns_and_the_pool_match_their_slow_forms() -> None:
    rng = np.random.default_rng(0)
    pred = np.round(rng.random((50, 300)), 2)  # many ties: they go to the lower column, as a stable sort puts them
    np.testing.assert_array_equal(top_k_columns(pred, 25), top_k(pred, 25))
    y = rng.integers(0, 300, 50)
    sharp = np.full((50, 300), 0.1 / 299)
    sharp[np.arange(50), y] = 0.9
    flat = np.full((50, 300), 1 / 300)
    pool = LogLinearPool.fit(np.stack([flat, sharp]), y)
    assert pool.weights[1] > 1.0 and abs(pool.predict_stacked(np.stack([flat, sharp])).sum(axis=1) - 1).max() < 1e-9


def test_train_writes_25_distinct_catalogue_ids_per_row_that_validate(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(trained)
    data = trained / "data" / CATALOGUE_DEMO
    ids = set(pd.read_csv(data / "misconception_mapping.csv")["MisconceptionId"].astype(str))
    sample = pd.read_csv(data / "sample_submission.csv")
    submissions = trained / "submissions" / CATALOGUE_DEMO
    assert {p.stem for p in submissions.glob("*.csv")} >= {"tfidf_retriever", "reranker", "ensemble_mean", "ensemble_weighted",
                                                           "ensemble_stack", "ensemble"}
    for path in submissions.glob("*.csv"):
        frame = pd.read_csv(path)
        assert frame["QuestionId_Answer"].tolist() == sample["QuestionId_Answer"].tolist()
        rows = frame["MisconceptionId"].astype(str).str.split()
        assert all(len(r) == 25 == len(set(r)) and set(r) <= ids for r in rows), path.name
        checked = runner.invoke(app, ["validate", str(path), "--competition", CATALOGUE_DEMO])
        assert checked.exit_code == 0, checked.output
    run = find_run(trained / "runs" / CATALOGUE_DEMO)
    assert run.oof("reranker").dtype == np.float32 and run.summary("ensemble_stack")["meta_model"]["type"].startswith("log-linear")
    bad = pd.read_csv(submissions / "ensemble.csv")
    bad.loc[0, "MisconceptionId"] = "9999 " + " ".join(bad.loc[0, "MisconceptionId"].split()[1:])
    bad.to_csv(trained / "bad.csv", index=False)
    refused = runner.invoke(app, ["validate", str(trained / "bad.csv"), "--competition", CATALOGUE_DEMO])
    assert refused.exit_code == 1 and "holds '9999' at line 2, not a label of the target" in " ".join(refused.output.split())


def test_predict_ranks_the_catalogue_for_a_lone_text(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(trained)
    result = runner.invoke(app, ["predict", CATALOGUE_DEMO, "-m", "reranker", "the student sums the bottom numbers"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "first 3 of 25" in line)
    assert len(re.findall(r"\b\d+\b", line.split("P(")[0])) == 25


def test_the_model_pack_carries_prepare_py_and_remakes_the_submission(trained: Path, tmp_path: Path) -> None:
    run = find_run(trained / "runs" / CATALOGUE_DEMO)
    pack = inference.build_pack(run, tmp_path / "pack", entry="ensemble_stack")
    unpacked = inference.unpack(pack.directory, tmp_path / "unpacked")
    prepare = unpacked / PREPARE_FILE
    assert prepare.read_text() == (trained / "data" / CATALOGUE_DEMO / "prepare.py").read_text()
    # the inference notebook's lines: the hidden test set read as training read it, with the pack's prepare.py
    tables = read_tables(trained / "data" / CATALOGUE_DEMO, prepare=prepare)
    frame = predict_submission(unpacked, tables.test, sample=tables.sample)
    pd.testing.assert_frame_equal(frame, pd.read_csv(run.submission_path("ensemble_stack")))
    assert load_model(run.fold_model_dir("reranker", None)).predict(tables.test).shape == (len(tables.test), ITEMS)


def test_train_refuses_a_bad_catalogue_in_one_line_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tiny(tmp_path / "data" / CATALOGUE_DEMO)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", CATALOGUE_DEMO, "-m", "tfidf_retriever", "--catalogue", "mapping:Id:Name"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: --catalogue mapping:Id:Name: no table 'mapping'" in " ".join(result.output.split())  # no 🆔 emoji
    refused = runner.invoke(app, ["train", CATALOGUE_DEMO, "-m", "baseline"])
    assert refused.exit_code == 1 and "baseline cannot learn a catalogue task; models that can: tfidf_retriever" in refused.output

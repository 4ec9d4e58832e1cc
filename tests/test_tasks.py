"""Each task shape end to end through the real engine: the generated competition of that shape, trained with no
option but the metric the issue names, every model beats the constant prediction on the competition metric,
and every submission validates against the sample and holds what the shape needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.config import Workspace
from kagglekit.data import load_competition
from kagglekit.demo import TASK_DEMOS, write_task_competition
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.trainer import run
from kagglekit.metrics import cv_scores
from kagglekit.submission import validate_submission

# The metric each shape is trained with (None: inferred), and what inference must find.
SHAPES = {
    "regression": ("rmse", "regression", ["target"]),
    "multilabel": (None, "multilabel", ["toxic", "obscene", "insult"]),
    "ordinal": (None, "ordinal", ["score"]),
}


def constant_prediction(y: np.ndarray) -> np.ndarray:
    """What a model that ignores the text predicts: the training mean (label prevalence, mean score or value)."""
    return np.tile(y.mean(axis=0), (len(y), 1)).astype(np.float64)


def train_shape(kind: str, tmp_path: Path, models: list[str], all_models: bool = False, **options: object):
    metric, task, targets = SHAPES[kind]
    directory = write_task_competition(kind, tmp_path / "data" / TASK_DEMOS[kind], rows=240, test_rows=60)
    config = TrainConfig.resolve(TASK_DEMOS[kind], models, all_models, data_dir=directory, workspace=Workspace(tmp_path),
                                 folds=3, metric=metric, **options)
    result = run(config)
    assert not result.failed, result.failed
    comp = result.competition
    assert (comp.task, comp.target_columns) == (task, targets)
    return result, directory


def check_models_and_submissions(result, directory: Path, kind: str) -> None:
    comp, run_ = result.competition, result.run
    y, fold_index, scorer = comp.y, run_.fold_index, comp.metric
    constant = cv_scores(comp.metric, y, constant_prediction(y), fold_index, comp.shape)["cv_score"]
    names = run_.model_names()
    assert names, "no model trained"
    for name in names:
        score = run_.summary(name)["cv_score"]
        assert scorer.better(score, constant), f"{name}: CV {comp.metric} {score:.4f} does not beat the constant's {constant:.4f}"
    sample = pd.read_csv(directory / "sample_submission.csv")
    for name, path in result.submissions.items():
        validate_submission(path, directory / "sample_submission.csv")
        frame = pd.read_csv(path)
        assert frame.columns.tolist() == sample.columns.tolist() and frame["id"].tolist() == sample["id"].tolist()
        values = frame.iloc[:, 1:].to_numpy()
        if kind == "regression":
            # The test predictions spread like the out-of-fold ones (not a constant): a fold models' mean shrinks a weak
            # model's spread (gru: 0.08 against 0.14 out of fold), so at least half of it. ensemble.csv copies another.
            spread = run_.oof(name).std() if name != "ensemble" else 0.1
            assert values.std() > 0.5 * spread > 0, f"{name}: predictions barely vary"
        elif kind == "multilabel":
            assert ((values >= 0) & (values <= 1)).all() and values.std() > 0.05
        else:
            assert pd.api.types.is_integer_dtype(frame["score"]) and set(frame["score"]) <= set(range(1, 7))
            assert frame["score"].nunique() >= 3, f"{name}: submitted scores collapse to {sorted(set(frame['score']))}"


@pytest.mark.parametrize("kind", list(SHAPES))
def test_fast_models_learn_every_shape(kind: str, tmp_path: Path) -> None:
    result, directory = train_shape(kind, tmp_path, ["baseline", "tfidf_lr"], ensemble=False)
    check_models_and_submissions(result, directory, kind)
    assert load_competition(directory).inferred["task"].startswith(kind)
    manifest = result.run.manifest
    assert manifest["task"] == kind and manifest["inferred"]["text_columns"].startswith(("excerpt", "comment_text", "full_text"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SHAPES))
def test_train_all_on_every_shape(kind: str, tmp_path: Path) -> None:
    """`train --all`: every registered model that runs on a CPU, and the ensembles, on each shape (in two worker
    processes, so the local backend runs every shape too)."""
    result, directory = train_shape(kind, tmp_path, [], all_models=True, model_params={"encoder": "usem3"}, jobs=2)
    check_models_and_submissions(result, directory, kind)
    assert {"dense", "lstm", "use"} <= set(result.run.model_names())

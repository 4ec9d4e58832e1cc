"""--pseudo-label: a second round NAME+pl whose folds train on confident test predictions, with honest OOF scores."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from kagglekit import demo, models
from kagglekit.config import Workspace
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.pseudo import cutoff, fold_test_predictions
from kagglekit.engine.trainer import run
from kagglekit.models.sklearn_models import TfidfNaiveBayes
from kagglekit.shapes import Binary
from kagglekit.submission import validate_submission


class Recording(TfidfNaiveBayes):
    """The baseline, recording what every fit trains on and validates on."""

    fits: ClassVar[list[dict]] = []

    def _fit(self, texts, y, val) -> None:
        type(self).fits.append({"texts": _strings(texts), "y": np.asarray(y).tolist(), "val": None if val is None else _strings(val[0])})
        super()._fit(texts, y, val)


def _strings(texts) -> list[str]:
    """The rows a model reads, as one string each (sklearn models read ``Inputs``, others joined strings)."""
    return list(texts.joined()) if hasattr(texts, "joined") else list(texts)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Recording, "name", "recording")
    monkeypatch.setitem(models._REGISTRY, "recording", Recording)
    Recording.fits = []


def test_no_validation_row_is_trained_on_and_labels_come_from_the_fold_models(tiny_competition: Path, tmp_path: Path,
                                                                             recording) -> None:
    cfg = TrainConfig.resolve("tiny", ["recording"], False, data_dir=tiny_competition, workspace=Workspace(tmp_path),
                              folds=3, ensemble=False, pseudo_label=True)
    result = run(cfg)
    r, competition = result.run, result.competition
    assert result.failed == {} and set(r.model_names()) == {"recording", "recording+pl"}
    texts, test_texts = list(competition.train_inputs.joined()), list(competition.test_inputs.joined())
    second = Recording.fits[4:]  # the first round: 3 folds + refit; then the pseudo-label round
    assert len(second) == 4
    pseudo_rounds = [fit for fit in second if fit["val"] is not None]
    assert len(pseudo_rounds) == 3
    for fit in pseudo_rounds:
        fold = next(k for k in range(3) if sorted(fit["val"]) == sorted(t for t, f in zip(texts, r.fold_index) if f == k))
        val = {t for t, f in zip(texts, r.fold_index) if f == fold}
        assert not val & set(fit["texts"])  # no validation row of fold k in a fold-k job's training data
        rows, targets = r.pseudo_labels(fold)
        assert len(rows) > 0
        n_train = int((r.fold_index != fold).sum())
        assert fit["texts"][n_train:] == [test_texts[i] for i in rows]  # the added rows are test rows ...
        assert fit["y"][n_train:] == targets.tolist()  # ... with their pseudo-labels
        # the pseudo-labels of fold k are what the fold-k models predicted, on rows past the cut-off
        fold_pred = r.fold_test("recording", fold)
        np.testing.assert_array_equal(fold_test_predictions(r, "recording", fold), fold_pred)
        np.testing.assert_array_equal(targets, fold_pred[rows].argmax(axis=1))
        others = r.fold_index != fold
        oof = r.oof("recording")
        shape = Binary()
        level, _ = cutoff(shape.confidence(oof[others]), shape.hard_labels(oof[others]) == r.y[others])
        assert set(rows) == set(np.flatnonzero(fold_pred.max(axis=1) >= level))
    record = r.manifest["pseudo_labels"]
    assert record["source"] == "recording" and len(record["folds"]) == 3 and record["full"]["rows"] > 0
    summary = r.summary("recording+pl")
    assert summary["base_model"] == "recording" and summary["n_pseudo"] == [f["rows"] for f in record["folds"]]
    assert list(r.leaderboard()["model"]).count("recording+pl") == 1
    Recording.fits = []
    run(cfg)  # a rerun resumes both rounds: the same labels, nothing retrains
    assert Recording.fits == []


def test_the_cutoff_is_the_lowest_confidence_that_keeps_oof_accuracy_at_the_bar() -> None:
    conf = np.array([0.99, 0.98, 0.97, 0.9, 0.8, 0.7, 0.6, 0.55] * 5)
    correct = np.array([1, 1, 1, 1, 1, 0, 0, 1] * 5, dtype=bool)
    level, accuracy = cutoff(conf, correct)
    assert level == 0.8 and accuracy == 1.0
    assert cutoff(conf, np.zeros(len(conf), dtype=bool))[0] is None


@pytest.mark.parametrize("kind", ["regression", "multilabel"])
def test_pseudo_labels_for_regression_and_multilabel(kind: str, tmp_path: Path) -> None:
    data = demo.write_task_competition(kind, tmp_path / "data" / kind, rows=150, test_rows=40)
    cfg = TrainConfig.resolve(kind, ["baseline", "tfidf_lr"], False, data_dir=data, workspace=Workspace(tmp_path),
                              folds=3, pseudo_label=True)
    result = run(cfg)
    r = result.run
    assert result.failed == {} and {"baseline+pl", "tfidf_lr+pl"} <= set(r.model_names())
    rows, targets = r.pseudo_labels(0)
    if kind == "regression":  # every test row, soft values: what fold 0's models predicted
        assert len(rows) == 40 and targets.dtype == np.float64 and targets.shape == (40, 1)
    else:
        assert set(np.unique(targets)) <= {0, 1} and targets.shape[1] == 3
    validate_submission(result.submissions["ensemble"], data / "sample_submission.csv")

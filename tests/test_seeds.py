"""--seeds N: (model, seed, fold) jobs, seed-averaged predictions, the spread across seeds, and one-seed runs as before."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from kagglekit import models
from kagglekit.config import Workspace
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import Note, Recorder, RunStarted
from kagglekit.engine.trainer import run
from kagglekit.errors import ConfigError
from kagglekit.models.sklearn_models import TfidfNaiveBayes


class NoisySeeds(TfidfNaiveBayes):
    """The baseline with seed-dependent noise on its predictions (so seeds differ), recording each fit's seed."""

    tags = dataclasses.replace(TfidfNaiveBayes.tags, seeded=True)
    seeds: ClassVar[list[int]] = []

    def _fit(self, texts, y, val) -> None:
        type(self).seeds.append(self.seed)
        super()._fit(texts, y, val)

    def _predict_proba(self, texts) -> np.ndarray:
        proba = super()._predict_proba(texts)
        noise = np.random.default_rng(self.seed).uniform(-0.2, 0.2, size=len(proba))
        positive = np.clip(proba[:, 1] + noise, 0.0, 1.0)
        return np.column_stack([1 - positive, positive])


@pytest.fixture
def noisy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NoisySeeds, "name", "noisy")
    monkeypatch.setitem(models._REGISTRY, "noisy", NoisySeeds)
    NoisySeeds.seeds = []


def config(data: Path, root: Path, names: list[str], **options) -> TrainConfig:
    return TrainConfig.resolve("tiny", names, False, data_dir=data, workspace=Workspace(root), **{"folds": 3, **options})


def test_each_seed_trains_every_fold_and_predictions_are_averaged(tiny_competition: Path, tmp_path: Path, noisy) -> None:
    recorder = Recorder()
    result = run(config(tiny_competition, tmp_path, ["noisy"], seeds=3, ensemble=False), listeners=[recorder])
    r = result.run
    assert recorder.of(RunStarted)[0].total_jobs == 12  # 3 seeds x (3 folds + refit)
    # seed s of fold k trains with 42 + 1000 s + k; the refit of seed s with 42 + 1000 s
    assert sorted(NoisySeeds.seeds) == sorted([42 + 1000 * s + k for s in range(3) for k in range(3)] + [42, 1042, 2042])
    summary = r.summary("noisy")
    assert summary["seeds"] == 3 and summary["model_seeds"] == [[42 + 1000 * s + k for k in range(3)] for s in range(3)]
    per_seed = []
    for s in range(3):
        oof = np.zeros((36, 2))
        for k in range(3):
            oof[r.fold_index == k] = r.fold_val("noisy", k, s)
        per_seed.append(oof)
    assert not np.allclose(per_seed[0], per_seed[1])
    np.testing.assert_allclose(r.oof("noisy"), np.mean(per_seed, axis=0))
    np.testing.assert_allclose(r.test_proba("noisy"), np.mean([r.refit_test("noisy", s) for s in range(3)], axis=0))
    assert len(summary["seed_scores"]) == 3
    assert summary["cv_score_seed_std"] == pytest.approx(np.std(summary["seed_scores"], ddof=1))
    board = r.leaderboard()
    assert {"seeds", "cv_f1_seed_std"} <= set(board.columns) and board.loc[0, "seeds"] == 3
    assert r.manifest["seeds"] == 3 and r.manifest["config"]["seeds"] == 3
    assert (r.model_dir("noisy") / "seed2" / "fold1.json").is_file()


def test_one_seed_keeps_the_layout_and_more_seeds_resume_it(tiny_competition: Path, tmp_path: Path, noisy) -> None:
    one = run(config(tiny_competition, tmp_path, ["noisy"], ensemble=False))
    r = one.run
    assert not (r.model_dir("noisy") / "seed1").exists() and "seeds" not in r.summary("noisy")
    assert "cv_f1_seed_std" not in r.leaderboard().columns
    first_oof = r.oof("noisy")
    NoisySeeds.seeds = []
    two = run(config(tiny_competition, tmp_path, ["noisy"], seeds=2, ensemble=False))
    assert sorted(NoisySeeds.seeds) == [1042, 1042, 1043, 1044]  # only seed 1 trains: seed 0 resumes as it was
    np.testing.assert_allclose(two.run.fold_val("noisy", 0, 0), first_oof[r.fold_index == 0])
    NoisySeeds.seeds = []
    again = run(config(tiny_competition, tmp_path, ["noisy"], ensemble=False))  # back to one seed: nothing trains
    assert NoisySeeds.seeds == []
    np.testing.assert_allclose(again.run.oof("noisy"), first_oof)
    np.testing.assert_allclose(again.run.test_proba("noisy"), again.run.refit_test("noisy", 0))


def test_seeds_must_be_positive(tiny_competition: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--seeds must be at least 1"):
        config(tiny_competition, tmp_path, ["baseline"], seeds=0)


@pytest.mark.slow
def test_seeds_give_the_same_run_on_every_backend(tiny_competition: Path, tmp_path: Path) -> None:
    names = ["baseline", "dense"]
    sequential = run(config(tiny_competition, tmp_path / "a", names, seeds=2))
    parallel = run(config(tiny_competition, tmp_path / "b", names, seeds=2, jobs=2))
    assert parallel.failed == {} and sequential.failed == {}
    for name in names:
        np.testing.assert_allclose(parallel.run.oof(name), sequential.run.oof(name), atol=1e-6, err_msg=name)
        np.testing.assert_allclose(parallel.run.test_proba(name), sequential.run.test_proba(name), atol=1e-6, err_msg=name)
    assert parallel.run.summary("dense")["model_seeds"] == sequential.run.summary("dense")["model_seeds"] == [[42, 43, 44], [1042, 1043, 1044]]
    assert pd.read_csv(sequential.submissions["ensemble"]).equals(pd.read_csv(parallel.submissions["ensemble"]))


def test_a_model_whose_fit_ignores_the_seed_trains_once(tiny_competition: Path, tmp_path: Path, noisy) -> None:
    """The baseline and tfidf_lr give the same predictions for every seed: --seeds trains them once, says so, and the
    leaderboard shows 1 beside the seeded model's 3."""
    recorder = Recorder()
    r = run(config(tiny_competition, tmp_path, ["noisy", "baseline", "tfidf_lr"], seeds=3, ensemble=False), listeners=[recorder]).run
    assert recorder.of(RunStarted)[0].total_jobs == 3 * 4 + 4 + 4
    assert "--seeds 3: baseline, tfidf_lr train once (the seed does not change their fits)" in [n.text for n in recorder.of(Note)]
    assert not (r.model_dir("baseline") / "seed1").exists() and (r.model_dir("noisy") / "seed2").is_dir()
    board = r.leaderboard().set_index("model")
    assert board.loc["noisy", "seeds"] == 3 and board.loc["baseline", "seeds"] == board.loc["tfidf_lr", "seeds"] == 1


def test_the_cli_and_the_notebook_take_seeds_pseudo_labels_and_a_time_limit(tiny_competition: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kagglekit import api
    from kagglekit.cli import app
    from kagglekit.engine import trainer

    seen: list[TrainConfig] = []

    def record(config: TrainConfig, **_: object) -> None:
        seen.append(config)
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(trainer, "run", record)
    result = CliRunner().invoke(app, ["train", "tiny", "-m", "baseline", "--seeds", "3", "--pseudo-label", "--time-limit", "20m"])
    assert "stopped by the test" in result.output
    assert (seen[0].seeds, seen[0].pseudo_label, seen[0].time_limit) == (3, True, 1200.0)
    bad = CliRunner().invoke(app, ["train", "tiny", "-m", "baseline", "--time-limit", "soon"])
    assert bad.exit_code == 1 and "--time-limit takes a duration such as 9h, 20m" in bad.output
    with pytest.raises(ConfigError, match="stopped by the test"):
        api.train("tiny", ["baseline"], data_dir=tiny_competition, seeds=2, pseudo_label=True, time_limit="1.5h", progress=False)
    assert (seen[1].seeds, seen[1].pseudo_label, seen[1].time_limit) == (2, True, 5400.0)


def test_predicting_again_averages_every_seeds_models_as_the_run_did(tiny_competition: Path, tmp_path: Path, noisy) -> None:
    """`kagglekit predict`, a code competition's notebook and its model pack use every seed's models, so they give
    the run's own seed-averaged predictions (seed 0's models alone would not)."""
    from kagglekit.kaggle import inference
    from kagglekit.predict import predict_entry, predict_submission, predict_texts

    r = run(config(tiny_competition, tmp_path, ["noisy", "baseline"], seeds=3)).run
    test = pd.read_csv(tiny_competition / "test.csv")
    assert not np.allclose(r.refit_test("noisy", 0), r.test_proba("noisy"))
    for entry in r.entries():
        np.testing.assert_allclose(predict_entry(r, entry, test), r.test_proba(entry), atol=1e-12, err_msg=entry)
    texts = test["text"].tolist()
    assert [p.probability for p in predict_texts(r, texts, "noisy").rows] == pytest.approx(r.test_proba("noisy")[:, 1].tolist())
    pack = inference.build_pack(r, tmp_path / "pack")
    assert len(pack.members[0].directories) == 3
    unpacked = inference.unpack(pack.directory, tmp_path / "unpacked")
    pd.testing.assert_frame_equal(predict_submission(unpacked, test), predict_submission(r.directory, test))

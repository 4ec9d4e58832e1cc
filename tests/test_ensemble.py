"""Ensembles: each method on synthetic OOF matrices with known answers, then on a tiny real run and via the CLI."""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from kagglekit import models as registry
from kagglekit.cli import app
from kagglekit.config import Workspace
from kagglekit.data import Competition, load_competition
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.trainer import run as train_run
from kagglekit.ensemble import (
    LOG_FLOOR,
    METHODS,
    _meta_to_json,
    apply_combiner,
    build_ensembles,
    check_same_folds,
    fit_weights,
    mean_ensemble,
    resolve_members,
    stack_features,
    stack_oof,
    stack_predict,
    vote_ensemble,
    weighted_ensemble,
    weighted_oof,
)
from kagglekit.errors import ConfigError, DataError
from kagglekit.io import read_json, write_json
from kagglekit.metrics import get_metric


def score(metric: str, y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> float:
    return get_metric(metric).score(y, proba, {"threshold": threshold})


def tune_threshold(y: np.ndarray, proba: np.ndarray, metric: str) -> tuple[float, float]:
    decision, tuned = get_metric(metric).tune(y, proba)
    return decision.get("threshold", 0.5), tuned
from kagglekit.models.base import TextModel
from kagglekit.runs import Run

COMPETITION = "tiny-tweets"


def binary(positive: np.ndarray) -> np.ndarray:
    positive = np.asarray(positive, dtype=np.float64)
    return np.column_stack([1 - positive, positive])


def folds_of(n: int, k: int = 3) -> np.ndarray:
    return np.arange(n) % k


# --- mean and vote ----------------------------------------------------------------------------------------------


def test_mean_of_identical_members_is_the_member() -> None:
    member = np.random.default_rng(0).dirichlet(np.ones(3), size=20)
    np.testing.assert_allclose(mean_ensemble([member, member, member]), member)


def test_mean_averages_class_probabilities() -> None:
    np.testing.assert_allclose(mean_ensemble([binary([0.2, 0.9]), binary([0.6, 0.5])]), binary([0.4, 0.7]))


def test_vote_is_the_majority_label() -> None:
    members = [binary([0.9, 0.1, 0.6]), binary([0.8, 0.2, 0.1]), binary([0.1, 0.3, 0.2])]
    voted = vote_ensemble(members)
    assert voted.shape == (3, 2)
    np.testing.assert_allclose(voted.sum(axis=1), 1)
    assert (voted[:, 1] >= 0.5).tolist() == [True, False, False]
    assert score("f1", np.array([1, 0, 0]), voted) == 1.0


def test_vote_ties_are_broken_by_mean_probability() -> None:
    # Row 0: one vote each, mean positive 0.55 -> positive; row 1: one vote each, mean positive 0.45 -> negative.
    voted = vote_ensemble([binary([0.51, 0.59]), binary([0.59, 0.31])])
    assert (voted[:, 1] >= 0.5).tolist() == [True, False]
    # Multiclass: classes 0 and 2 get one vote each, class 2 has the higher mean probability.
    members = [np.array([[0.5, 0.1, 0.4]]), np.array([[0.0, 0.3, 0.7]])]
    assert vote_ensemble(members).argmax(axis=1).tolist() == [2]


def test_vote_nudge_never_outweighs_a_vote() -> None:
    # Two of three vote negative with confidence barely over the line; one votes positive with certainty.
    voted = vote_ensemble([binary([0.49]), binary([0.49]), binary([1.0])])
    assert voted[0, 1] < 0.5
    # A tuned threshold means "at least k of M votes": 1 of 3 votes clears 0.3.
    assert voted[0, 1] >= 0.3


# --- fitted weights ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["f1", "accuracy", "logloss", "roc_auc"])
def test_a_perfect_member_gets_all_the_weight(metric: str) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    perfect = binary(np.where(y == 1, 0.9, 0.1))
    noisy = [binary(np.clip(y * 0.3 + rng.uniform(0, 0.7, 200), 0, 1)) for _ in range(3)]
    weights = fit_weights([noisy[0], perfect, noisy[1], noisy[2]], y, get_metric(metric))
    assert weights[1] >= 0.9
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1)


def test_complementary_members_share_the_weight() -> None:
    # a has false positives, b false negatives; only their equal average separates the classes at 0.5.
    y = np.array([1, 1, 1, 0, 0, 0])
    a = binary(np.where(y == 1, 0.9, 0.6))
    b = binary(np.where(y == 1, 0.4, 0.1))
    weights = fit_weights([a, b], y, get_metric("f1"))
    np.testing.assert_allclose(weights, [0.5, 0.5])
    assert score("f1", y, weighted_ensemble([a, b], weights)) == 1.0


def test_fit_weights_is_deterministic() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 90)
    members = [rng.dirichlet(np.ones(3), size=90) for _ in range(4)]
    np.testing.assert_array_equal(fit_weights(members, y, get_metric("logloss")), fit_weights(members, y, get_metric("logloss")))


def test_weighted_oof_fits_each_folds_weights_without_its_rows() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 90)
    fold_index = folds_of(90)
    members = [binary(rng.uniform(size=90)) for _ in range(3)]
    oof, fold_weights = weighted_oof(members, y, fold_index, get_metric("f1"), iterations=20)
    for fold, weights in enumerate(fold_weights):
        rows = fold_index != fold
        np.testing.assert_array_equal(weights, fit_weights([m[rows] for m in members], y[rows], get_metric("f1"), iterations=20))
        np.testing.assert_allclose(oof[~rows], weighted_ensemble([m[~rows] for m in members], weights))
    # Noise members: weights fitted on all rows flatter themselves; per-fold weights do not.
    in_sample = score("f1", y, weighted_ensemble(members, fit_weights(members, y, get_metric("f1"), iterations=20)))
    assert score("f1", y, oof) < in_sample


# --- stacking ---------------------------------------------------------------------------------------------------


def test_stack_oof_rows_come_from_meta_models_that_never_saw_them() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 90)
    fold_index = folds_of(90)
    members = [binary(np.clip(0.3 * y + rng.uniform(0, 0.7, 90), 0, 1)) for _ in range(3)]
    oof, full = stack_oof(members, y, fold_index, seed=0)
    features = stack_features(members)
    for fold in range(3):
        val = fold_index == fold
        alone = LogisticRegression(C=1.0, max_iter=1000, random_state=0).fit(features[~val], y[~val])
        np.testing.assert_allclose(oof[val], alone.predict_proba(features[val]))
    refit = LogisticRegression(C=1.0, max_iter=1000, random_state=0).fit(features, y)
    np.testing.assert_allclose(full.predict_proba(features), refit.predict_proba(features))


def test_stack_cannot_score_on_noise_it_has_memorised() -> None:
    # 30 pure-noise members on 60 rows: a meta-model scored on its own training rows fits the noise;
    # the cross-validated OOF prediction stays near chance (AUC 0.5).
    rng = np.random.default_rng(5)
    y = np.tile([0, 1], 30)
    fold_index = folds_of(60)
    members = [binary(rng.uniform(size=60)) for _ in range(30)]
    oof, full = stack_oof(members, y, fold_index)
    in_sample = full.predict_proba(stack_features(members))
    assert score("roc_auc", y, in_sample) > 0.8
    assert score("roc_auc", y, oof) < 0.6


def test_stack_learns_from_a_perfect_member_and_handles_multiclass() -> None:
    y = np.tile([0, 1, 2], 20)
    fold_index = folds_of(60, 4)
    perfect = np.eye(3)[y] * 0.8 + 0.2 / 3
    noise = np.random.default_rng(6).dirichlet(np.ones(3), size=60)
    oof, _ = stack_oof([noise, perfect], y, fold_index)
    assert oof.shape == (60, 3)
    np.testing.assert_allclose(oof.sum(axis=1), 1)
    assert score("accuracy", y, oof) == 1.0


def test_multiclass_stack_reads_log_probabilities_and_its_combiner_replays_them() -> None:
    # A member sure of its classes (near-0 probabilities elsewhere): the meta-model's inputs are the logs, and the
    # saved combiner re-applies exactly that model; one saved before the flag existed keeps reading probabilities.
    rng = np.random.default_rng(7)
    y = np.tile([0, 1, 2, 2, 1, 0], 15)  # every class in every fold
    fold_index = folds_of(90)
    members = [rng.dirichlet(np.ones(3) * 0.3, size=90) for _ in range(2)]
    oof, full = stack_oof(members, y, fold_index, seed=0)
    logs = np.hstack([np.log(np.clip(m, LOG_FLOOR, 1)) for m in members])
    val = fold_index == 0
    alone = LogisticRegression(C=1.0, max_iter=1000, random_state=0).fit(logs[~val], y[~val])
    np.testing.assert_allclose(oof[val], alone.predict_proba(logs[val]), rtol=1e-6)
    combiner = {"method": "stack", "members": ["a", "b"], "meta_model": _meta_to_json(full)}
    np.testing.assert_array_equal(apply_combiner(combiner, members), stack_predict(full, members))
    old = {**combiner, "meta_model": {k: v for k, v in combiner["meta_model"].items() if k != "log_inputs"}}
    assert not np.allclose(apply_combiner(old, members), stack_predict(full, members))


# --- thresholds -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_tuned_threshold_never_scores_below_half(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 150
    y = (rng.uniform(size=n) < rng.uniform(0.1, 0.5)).astype(np.int64)
    fold_index = folds_of(n)
    members = [binary(np.clip(rng.uniform(0.2, 0.6) * y + rng.uniform(0, 0.8, n), 0, 1)) for _ in range(3)]
    candidates = [mean_ensemble(members), vote_ensemble(members), weighted_oof(members, y, fold_index, get_metric("f1"), iterations=10)[0],
                  stack_oof(members, y, fold_index)[0]]
    for proba in candidates:
        threshold, tuned = tune_threshold(y, proba, "f1")
        assert tuned >= score("f1", y, proba, 0.5)
        assert tuned == pytest.approx(score("f1", y, proba, threshold))


# --- a tiny real run --------------------------------------------------------------------------------------------


class KeywordRule(TextModel):
    """Test-only model: positive when a text holds a word seen more often in positive training texts."""

    name = "keywords_test"
    description = "test-only keyword rule"

    def __init__(self, *, seed: int = 42):
        self.seed = seed

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        counts = {label: Counter(w for t in texts[y == label] for w in t.lower().split()) for label in (0, 1)}
        self.keywords_ = sorted(w for w in counts[1] if counts[1][w] > counts[0][w])

    def _predict_proba(self, texts: np.ndarray) -> np.ndarray:
        keywords = set(self.keywords_)
        hits = np.array([len(keywords & set(t.lower().split())) for t in texts])
        return binary(np.clip(0.25 + 0.2 * hits, 0, 0.95))

    def _save(self, directory: Path) -> None:
        write_json(directory / "keywords.json", self.keywords_)

    def _load(self, directory: Path) -> None:
        self.keywords_ = read_json(directory / "keywords.json")


def write_competition(directory: Path, seed: int = 0) -> Path:
    """Disaster-tweet-like CSVs: class words with some crossover, 10% flipped labels."""
    rng = np.random.default_rng(seed)
    words = {1: ["fire", "flood", "storm", "crash", "quake", "evacuate"], 0: ["love", "movie", "happy", "song", "pizza", "game"]}
    filler = ["today", "people", "just", "my", "the", "so"]

    def texts(labels: np.ndarray) -> list[str]:
        out = []
        for label in labels:
            own = list(rng.choice(words[label], 2))
            if rng.uniform() < 0.3:
                own[0] = rng.choice(words[1 - label])
            out.append(" ".join([*own, *rng.choice(filler, 2)]))
        return out

    y = np.tile([0, 0, 1], 30)
    noisy = np.where(rng.uniform(size=len(y)) < 0.1, 1 - y, y)
    directory.mkdir(parents=True)
    pd.DataFrame({"id": np.arange(len(y)), "text": texts(noisy), "target": y}).to_csv(directory / "train.csv", index=False)
    test_ids = np.arange(1000, 1024)
    pd.DataFrame({"id": test_ids, "text": texts(rng.integers(0, 2, len(test_ids)))}).to_csv(directory / "test.csv", index=False)
    pd.DataFrame({"id": test_ids, "target": 0}).to_csv(directory / "sample_submission.csv", index=False)
    return directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with one run of two models (no ensembles yet), trained once for the module."""
    root = tmp_path_factory.mktemp("workspace")
    data_dir = write_competition(root / "data" / COMPETITION)
    registry.available_models()  # the zoo registers first, so the test model comes last in registry order
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry._REGISTRY, KeywordRule.name, KeywordRule)
        config = TrainConfig(competition=COMPETITION, models=["baseline", KeywordRule.name], data_dir=data_dir, folds=3, seed=0,
                             run_name="main", ensemble=False, workspace=Workspace(root))
        train_run(config)
    return root


@pytest.fixture
def workspace(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the trained workspace as the current directory, so each test may write into it."""
    root = tmp_path / "ws"
    shutil.copytree(trained, root)
    monkeypatch.chdir(root)
    return root


def open_run(root: Path, name: str = "main") -> tuple[Run, Competition]:
    run = Run(root / "runs" / COMPETITION / name)
    return run, load_competition(root / "data" / COMPETITION, name=COMPETITION, metric="f1")


def test_build_ensembles_writes_scored_ensembles_and_submissions(workspace: Path) -> None:
    run, competition = open_run(workspace)
    submissions_dir = workspace / "submissions" / COMPETITION
    paths = build_ensembles(run, competition, submissions_dir)

    names = [f"ensemble_{m}" for m in METHODS]
    assert set(paths) == {*names, "ensemble"}
    assert run.ensemble_names() == names
    for name in names:
        summary = run.summary(name)
        assert summary["kind"] == "ensemble" and summary["status"] == "ok" and summary["metric"] == "f1"
        assert summary["members"] == ["baseline", KeywordRule.name] and summary["test_from"] == "refit"
        assert summary["oof_score_tuned"] >= summary["oof_score"]
        assert summary["oof_score"] == pytest.approx(score("f1", run.y, run.oof(name)))
        assert summary["fit_s"] >= summary["fit_s_marginal"]
        assert run.test_proba(name).shape == (24, 2)
        submission = pd.read_csv(paths[name])
        assert len(submission) == 24 and set(submission["target"]) <= {0, 1}
    weighted = run.summary("ensemble_weighted")
    assert sum(weighted["weights"].values()) == pytest.approx(1)
    assert len(weighted["fold_weights"]) == 3 and "oof_score_in_sample" in weighted
    assert run.summary("ensemble_stack")["meta_model"]["features"] == ["baseline", KeywordRule.name]

    best = max(names, key=lambda n: run.summary(n)["oof_score_tuned"])
    assert paths["ensemble"] == submissions_dir / "ensemble.csv"
    assert pd.read_csv(paths["ensemble"]).equals(pd.read_csv(paths[best]))
    board = run.leaderboard()
    assert board[board["kind"] == "ensemble"]["model"].tolist() != []
    assert set(board["model"]) == {"baseline", KeywordRule.name, *names}


def test_members_and_methods_can_be_chosen_and_test_from_is_recorded(workspace: Path) -> None:
    run, competition = open_run(workspace)
    paths = build_ensembles(run, competition, workspace / "sub", models=[KeywordRule.name, "baseline"], methods=["mean"],
                            test_from="folds")
    assert set(paths) == {"ensemble_mean", "ensemble"}
    summary = run.summary("ensemble_mean")
    assert summary["test_from"] == "folds" and summary["members"] == [KeywordRule.name, "baseline"]
    folds_mean = np.mean([run.test_proba(m, "folds") for m in ("baseline", KeywordRule.name)], axis=0)
    np.testing.assert_allclose(run.test_proba("ensemble_mean"), folds_mean)


@pytest.mark.parametrize(("options", "message"), [
    ({"models": ["baseline", "bert"]}, "no trained model 'bert'; its models: baseline, keywords_test"),
    ({"models": ["baseline"]}, "at least 2 models"),
    ({"methods": ["median"]}, "unknown ensemble method 'median'"),
    ({"test_from": "best"}, "unknown test source 'best'"),
])
def test_bad_choices_are_refused_clearly(workspace: Path, options: dict, message: str) -> None:
    run, competition = open_run(workspace)
    with pytest.raises(ConfigError, match=message):
        build_ensembles(run, competition, workspace / "sub", **options)


def test_vote_is_skipped_for_a_probability_metric(workspace: Path) -> None:
    run, competition = open_run(workspace)
    logloss = dataclasses.replace(competition, metric=get_metric("logloss"))
    paths = build_ensembles(run, logloss, workspace / "sub")
    assert "ensemble_vote" not in paths and "ensemble_stack" in paths
    assert run.summary("ensemble_weighted")["metric"] == "logloss"
    with pytest.raises(ConfigError, match="vote gives labels, and logloss scores probabilities"):
        build_ensembles(run, logloss, workspace / "sub", methods=["vote"])


def copy_run(root: Path, name: str) -> Run:
    shutil.copytree(root / "runs" / COMPETITION / "main", root / "runs" / COMPETITION / name)
    return Run(root / "runs" / COMPETITION / name)


def test_a_model_from_another_run_with_the_same_folds_can_join(workspace: Path) -> None:
    copy_run(workspace, "other")
    run, competition = open_run(workspace)
    build_ensembles(run, competition, workspace / "sub", models=["baseline", f"other:{KeywordRule.name}"], methods=["mean"])
    assert run.summary("ensemble_mean")["members"] == ["baseline", f"other:{KeywordRule.name}"]


def test_runs_with_other_folds_or_rows_are_refused(workspace: Path) -> None:
    run, competition = open_run(workspace)
    shuffled = copy_run(workspace, "shuffled")
    folds = shuffled.folds()
    first0, first1 = folds.index[folds["fold"] == 0][0], folds.index[folds["fold"] == 1][0]
    folds.loc[[first0, first1], "fold"] = [1, 0]
    folds.to_csv(shuffled.directory / "folds.csv", index=False)
    with pytest.raises(ConfigError, match="runs main and shuffled use different fold assignments"):
        check_same_folds([run, shuffled])
    with pytest.raises(ConfigError, match="different fold assignments"):
        build_ensembles(run, competition, workspace / "sub", models=["baseline", f"shuffled:{KeywordRule.name}"])

    fewer = copy_run(workspace, "fewer")
    fewer.folds().iloc[1:].to_csv(fewer.directory / "folds.csv", index=False)
    with pytest.raises(DataError, match="runs main and fewer were trained on different rows"):
        check_same_folds([run, fewer])


def test_changed_training_data_is_refused(workspace: Path) -> None:
    run, competition = open_run(workspace)
    manifest = run.manifest
    manifest["data_fingerprint"] = "0" * 12
    write_json(run.directory / "manifest.json", manifest)
    with pytest.raises(DataError, match="train.csv changed since run main"):
        build_ensembles(run, competition, workspace / "sub")


def test_resolve_members_defaults_to_the_runs_models(workspace: Path) -> None:
    run, _ = open_run(workspace)
    assert [m.label for m in resolve_members(run)] == ["baseline", KeywordRule.name]


def test_train_builds_ensembles_into_the_leaderboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(registry._REGISTRY, KeywordRule.name, KeywordRule)
    data_dir = write_competition(tmp_path / "data" / COMPETITION)
    config = TrainConfig(competition=COMPETITION, models=["baseline", KeywordRule.name], data_dir=data_dir, folds=3, seed=0,
                         workspace=Workspace(tmp_path))
    result = train_run(config)
    assert (tmp_path / "submissions" / COMPETITION / "ensemble.csv").is_file()
    assert result.submissions["ensemble"] == tmp_path / "submissions" / COMPETITION / "ensemble.csv"
    ensembles = result.leaderboard[result.leaderboard["kind"] == "ensemble"]
    assert sorted(ensembles["model"]) == sorted(f"ensemble_{m}" for m in METHODS)
    assert ensembles["cv_f1"].notna().all() and ensembles["oof_f1_tuned"].notna().all()


def test_cli_ensemble_builds_and_prints_the_leaderboard(workspace: Path) -> None:
    result = CliRunner().invoke(app, ["ensemble", COMPETITION, "-m", f"baseline,{KeywordRule.name}",
                                      "--method", "mean", "--method", "weighted", "--test-from", "folds"])
    assert result.exit_code == 0, result.output
    assert "ensemble_weighted" in result.output and "weights" in result.output
    assert "submission ensemble:" in result.output
    run, _ = open_run(workspace)
    assert run.ensemble_names() == ["ensemble_mean", "ensemble_weighted"]
    assert run.summary("ensemble_weighted")["test_from"] == "folds"
    assert (workspace / "submissions" / COMPETITION / "ensemble.csv").is_file()
    assert "ensemble_weighted" in (run.directory / "leaderboard.csv").read_text()


def test_cli_ensemble_reports_errors_without_a_traceback(workspace: Path) -> None:
    result = CliRunner().invoke(app, ["ensemble", COMPETITION, "-m", "baseline,bert"])
    assert result.exit_code == 1
    assert "no trained model 'bert'" in result.output and "Traceback" not in result.output

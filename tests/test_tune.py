"""kagglekit tune: search spaces beside the defaults, a study that beats a bad default, resume after kill -9, pruning
after the first fold, two processes on one study, and train using (or, with --defaults, ignoring) the best trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError
from typer.testing import CliRunner

from kagglekit import demo, models
from kagglekit.analysis.report import build_report
from kagglekit.cli import app
from kagglekit.config import Workspace
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import Note, Recorder
from kagglekit.engine.trainer import run as train
from kagglekit.ensemble import stack_oof
from kagglekit.errors import ConfigError
from kagglekit.models import available_models, get_model, get_model_class
from kagglekit.models.base import ALL_TASKS, TaskSpec, floats, one_of
from kagglekit.models.sklearn_models import TfidfLogisticRegression
from kagglekit.runs import Run
from kagglekit.metrics import get_metric
from kagglekit.tuning import TuneOptions, summarize, tune

FOLDS = 3


class Sabotaged(TfidfLogisticRegression):
    """tfidf_lr with a deliberately bad default (C=1e-4: every row gets the majority class, F1 0) and a switch that
    makes a fit useless (its labels flipped), to test the search and the pruner."""

    def __init__(self, *, C: float = 1e-4, flip: bool = False, **params):
        super().__init__(C=C, **params)
        self.flip = flip

    @classmethod
    def search_space(cls, task: TaskSpec):
        return {"C": floats(1e-4, 100.0, log=True), "flip": one_of(False, True)}

    def _fit(self, texts, y, val) -> None:
        super()._fit(texts, 1 - y if self.flip else y, val)


@pytest.fixture
def sabotaged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sabotaged, "name", "sabotaged")
    monkeypatch.setitem(models._REGISTRY, "sabotaged", Sabotaged)


@pytest.fixture
def small_demo(tmp_path: Path) -> Path:
    return demo.write_demo_competition(tmp_path / "data" / demo.NAME, rows=240, test_rows=60)


def config(data: Path, root: Path, names: list[str], **options) -> TrainConfig:
    return TrainConfig.resolve(demo.NAME, names, False, data_dir=data, workspace=Workspace(root), metric="f1",
                               folds=FOLDS, jobs=1, **options)


def study(root: Path, name: str) -> optuna.Study:
    path = Run(root / "runs" / demo.NAME / f"k{FOLDS}-seed42").study_path(name)
    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")


@pytest.mark.parametrize("name", available_models())
def test_every_search_space_holds_the_models_defaults(name: str) -> None:
    """Trial 0 of every study is the defaults: each range must hold them, for every task the model learns."""
    cls = get_model_class(name)
    defaults = get_model(name).get_params()
    for task in sorted(cls.tags.supported_tasks & ALL_TASKS):
        for key, tunable in cls.search_space(TaskSpec(task, 2)).items():
            assert key in cls.param_names(), f"{name} searches {key}, which it does not take"
            assert defaults[key] in tunable, f"{name}: default {key}={defaults[key]} outside {tunable.describe()} ({task})"


def test_a_study_beats_a_bad_default_and_says_by_how_much(small_demo: Path, tmp_path: Path, sabotaged) -> None:
    recorder = Recorder()
    [summary] = tune(config(small_demo, tmp_path, ["sabotaged"]), TuneOptions(trials=8, pruner="none"), [recorder])
    assert summary.default_value == 0.0 and summary.default_params == {"C": 1e-4, "flip": False}
    assert summary.best_value > 0.6 and summary.best_params["C"] > 1e-2 and not summary.best_params["flip"]
    assert summary.finished == 8 and summary.gain == summary.best_value
    assert all(p.is_file() for p in summary.plots) and {p.name for p in summary.plots} == {
        "sabotaged-history.png", "sabotaged-importance.png"}
    lines = [n.text for n in recorder.of(Note)]
    assert any(f"vs 0.0000 ± 0.0000 with defaults (+{summary.gain:.4f})" in line for line in lines), lines
    assert any("optuna-dashboard sqlite:///" in line for line in lines)


def test_train_uses_the_best_trial_then_defaults_ignores_it(small_demo: Path, tmp_path: Path, sabotaged) -> None:
    [summary] = tune(config(small_demo, tmp_path, ["sabotaged"]), TuneOptions(trials=6, pruner="none"))
    recorder = Recorder()
    result = train(config(small_demo, tmp_path, ["sabotaged", "baseline"]), [recorder])
    tuned = result.run.summary("sabotaged")
    assert tuned["cv_score"] == pytest.approx(summary.best_value)  # the same folds, seeds and parameters as the trial
    assert tuned["params"]["C"] == summary.best_params["C"] and tuned["tuned"]["best_trial"] == summary.best_trial
    assert result.run.manifest["tuned"]["sabotaged"]["study"] == "studies/sabotaged.db"
    board = result.run.leaderboard().set_index("model")
    assert board.loc["sabotaged", "study"] == "6 trials" and board.loc["baseline", "study"] == ""
    assert any(n.text.startswith("sabotaged: tuned (study of 6 trials): C=") and "vs 0.0000 with defaults" in n.text
               for n in recorder.of(Note))

    page = build_report(result.run).read_text(encoding="utf-8")
    assert "Optuna study of sabotaged: history" in page and "Optuna study of sabotaged: importance" in page

    again = train(config(small_demo, tmp_path, ["sabotaged"], defaults=True))
    assert again.run.summary("sabotaged")["cv_score"] == 0.0 and "tuned" not in again.run.summary("sabotaged")
    assert again.run.manifest["tuned"] == {}


def test_a_trial_the_time_limit_stopped_is_not_counted_as_run(small_demo: Path, tmp_path: Path, sabotaged) -> None:
    """A trial cut by --time-limit is kept as pruned (the study's target counts it), but the summary and train's
    line say how many trials ran, not 3 for 2."""
    tune(config(small_demo, tmp_path, ["sabotaged"]), TuneOptions(trials=2, pruner="none"))
    cut = optuna.trial.create_trial(params={"C": 1.0, "flip": False}, distributions=study(tmp_path, "sabotaged").trials[1].distributions,
                                    state=TrialState.PRUNED, intermediate_values={0: 0.5}, user_attrs={"stopped": "time limit"})
    study(tmp_path, "sabotaged").add_trial(cut)
    summary = summarize(Run(tmp_path / "runs" / demo.NAME / f"k{FOLDS}-seed42"), "sabotaged", get_metric("f1"))
    assert (summary.finished, summary.pruned, summary.stopped) == (3, 0, 1)
    assert summary.lines()[0][1].startswith("sabotaged: 2 trials (0 pruned; 1 more stopped by the time limit)")
    recorder = Recorder()
    train(config(small_demo, tmp_path, ["sabotaged"]), [recorder])
    assert any(n.text.startswith("sabotaged: tuned (study of 2 trials)") for n in recorder.of(Note))


def test_pruning_stops_a_clearly_worse_trial_after_its_first_fold(small_demo: Path, tmp_path: Path, sabotaged) -> None:
    """Once five trials are done (the median pruner's start-up), one with flipped labels scores far below their median
    on fold 1 and stops there."""
    tune(config(small_demo, tmp_path, ["sabotaged"]), TuneOptions(trials=1))  # the study, with its defaults trial
    for c in (1.0, 2.0, 4.0, 8.0):
        study(tmp_path, "sabotaged").enqueue_trial({"C": c, "flip": False})
    study(tmp_path, "sabotaged").enqueue_trial({"C": 2.0, "flip": True})
    tune(config(small_demo, tmp_path, ["sabotaged"]), TuneOptions(trials=6))
    trials = study(tmp_path, "sabotaged").trials
    flipped = trials[5]
    assert flipped.params["flip"] and flipped.state == TrialState.PRUNED and list(flipped.intermediate_values) == [0]
    assert all(t.state == TrialState.COMPLETE and len(t.intermediate_values) == FOLDS for t in trials[1:5])


def test_an_ensemble_study_scores_each_trial_by_the_stack_it_makes(small_demo: Path, tmp_path: Path, sabotaged) -> None:
    """--stack: a trial's out-of-fold predictions join the run's other trained models' in a cross-validated stack,
    whose CV is the trial's value; the defaults' trial is worthless alone (F1 0) but not in the stack."""
    with pytest.raises(ConfigError, match="train them first"):
        tune(config(small_demo, tmp_path, ["sabotaged"]), TuneOptions(trials=1, stack=True))
    train(config(small_demo, tmp_path, ["baseline"]))
    [summary] = tune(config(small_demo, tmp_path, ["sabotaged"]), TuneOptions(trials=4, stack=True))
    trials = study(tmp_path, "sabotaged").trials
    assert study(tmp_path, "sabotaged").user_attrs["objective"] == "stack with baseline"
    assert all(t.state == TrialState.COMPLETE for t in trials)  # not pruned for their own score
    assert trials[0].user_attrs["model_fold_scores"] == [0.0] * FOLDS and trials[0].value > 0.5

    recorder = Recorder()
    run = train(config(small_demo, tmp_path, ["sabotaged", "baseline"]), [recorder]).run  # the best trial's parameters
    assert any("CV of the stack with baseline" in n.text for n in recorder.of(Note))
    y, fold_index = run.y, run.fold_index
    stacked, _ = stack_oof([run.oof("baseline"), run.oof("sabotaged")], y, fold_index, 42, run.shape)
    f1 = [run.metric.score(y[fold_index == f], stacked[fold_index == f]) for f in range(FOLDS)]
    assert summary.best_value == pytest.approx(np.mean(f1))
    with pytest.raises(ConfigError, match="scores its trials by stack with baseline, not by model"):
        tune(config(small_demo, tmp_path, ["sabotaged"]), TuneOptions(trials=5))


KILLABLE = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from kagglekit import models
    from kagglekit.config import Workspace
    from kagglekit.engine.config import TrainConfig
    from kagglekit.models.sklearn_models import TfidfLogisticRegression
    from kagglekit.tuning import TuneOptions, tune

    @models.register("slow_lr")
    class SlowLR(TfidfLogisticRegression):
        def _fit(self, texts, y, val):
            time.sleep(0.3)
            super()._fit(texts, y, val)

    data, root = Path(sys.argv[1]), Path(sys.argv[2])
    config = TrainConfig.resolve("demo-disaster-tweets", ["slow_lr"], False, data_dir=data, workspace=Workspace(root),
                                 metric="f1", folds=3)
    tune(config, TuneOptions(trials=50, pruner="none", heartbeat_s=1))
''')


class SlowLR(TfidfLogisticRegression):
    """The killed subprocess's model, registered here too so the study resumes in this process."""


def test_a_killed_study_resumes_from_sqlite_without_repeating_finished_trials(small_demo: Path, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SlowLR, "name", "slow_lr")
    monkeypatch.setitem(models._REGISTRY, "slow_lr", SlowLR)
    process = subprocess.Popen([sys.executable, "-c", KILLABLE, str(small_demo), str(tmp_path)],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                trials = study(tmp_path, "slow_lr").trials
            except (KeyError, SQLAlchemyError):  # not created yet, or its tables are being created
                continue
            running = [t for t in trials if t.state == TrialState.RUNNING]
            # a trial well under way: Optuna fails a dead trial by its heartbeat, which starts just after the trial
            if sum(t.state == TrialState.COMPLETE for t in trials) >= 2 and running and (
                    datetime.now() - running[0].datetime_start).total_seconds() > 0.5:
                break
        else:
            pytest.fail("the subprocess finished no trial in 120 s")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    before = study(tmp_path, "slow_lr").trials
    done = {t.number: (t.params, t.value) for t in before if t.state == TrialState.COMPLETE}
    in_flight = [t.number for t in before if t.state == TrialState.RUNNING]
    assert len(done) >= 2 and in_flight, "killed between trials: nothing was in flight"

    time.sleep(2.5)  # the killed trial's heartbeat is now older than the grace period
    finished = len(done) + 2
    tune(config(small_demo, tmp_path, ["slow_lr"]), TuneOptions(trials=finished, pruner="none", heartbeat_s=1))
    after = study(tmp_path, "slow_lr").trials
    assert {t.number: (t.params, t.value) for t in after if t.number in done} == done  # kept, not redone
    assert all(after[n].state == TrialState.FAIL for n in in_flight)
    retried = [t for t in after if t.system_attrs.get("failed_trial") in in_flight]
    assert retried and retried[0].params == before[in_flight[0]].params  # the killed trial, tried again
    assert sum(t.state == TrialState.COMPLETE for t in after) == finished  # only the missing trials ran


def test_two_processes_share_a_study(small_demo: Path, tmp_path: Path) -> None:
    [summary] = tune(config(small_demo, tmp_path, ["baseline"]), TuneOptions(trials=8, jobs=2))
    trials = study(tmp_path, "baseline").trials
    assert summary.finished >= 8 and len({t.number for t in trials}) == len(trials)
    assert {t.user_attrs.get("worker") for t in trials if t.state.is_finished()} == {0, 1}
    assert not [t for t in trials if t.state == TrialState.FAIL]


def test_tune_command_and_its_errors(small_demo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["tune", demo.NAME, "--data-dir", str(small_demo), "--folds", "3", "--metric", "f1"]
    result = runner.invoke(app, [*base, "-m", "baseline", "--trials", "3", "--param", "min_df=1"])
    assert result.exit_code == 0, result.output
    assert "baseline: 3 trials" in result.output and "fixed: min_df=1" in result.output
    result = runner.invoke(app, [*base, "-m", "baseline", "--trials", "3"])  # the study was made with min_df fixed
    assert result.exit_code == 1 and "made with metric f1 and fixed parameters min_df=1" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, [*base, "-m", "baseline", "--param", "alpha=1", "--param", "ngram_max=1", "--param", "min_df=1"])
    assert result.exit_code == 1 and "--param fixes every parameter it searches" in result.output
    result = runner.invoke(app, [*base, "-m", "nope"])
    assert result.exit_code == 1 and "No model 'nope'" in result.output
    assert runner.invoke(app, [*base]).exit_code == 2  # no -m: a usage error


def test_train_tune_spends_its_budget_on_the_weighted_ensembles_heaviest_members(small_demo: Path, tmp_path: Path) -> None:
    first = train(config(small_demo, tmp_path, ["baseline", "tfidf_lr"]))
    weights = first.run.summary("ensemble_weighted")["weights"]
    heaviest = max(weights, key=weights.get)
    recorder = Recorder()
    second = train(config(small_demo, tmp_path, ["baseline", "tfidf_lr"], tune="6s"), [recorder])
    lines = [n.text for n in recorder.of(Note)]
    assert any(line.startswith(f"--tune 6.0s: tuning {heaviest}") and "heaviest members of ensemble_weighted" in line
               for line in lines), lines
    assert second.run.summary(heaviest)["tuned"]["trials"] >= 1
    with pytest.raises(ConfigError, match="--tune makes studies .* --defaults ignores them"):
        config(small_demo, tmp_path, ["baseline"], tune="1m", defaults=True)
    assert np.isfinite(second.run.summary(heaviest)["cv_score"])


def test_a_multiple_choice_trial_scores_the_model_the_engine_fits(tmp_path: Path) -> None:
    """Trials wrap each model as the engine does (the option scorer), so a trial's CV is train's for its parameters."""
    data = demo.write_task_competition("multiple_choice", tmp_path / "data" / "exam", rows=120, test_rows=20)
    options = dict(data_dir=data, workspace=Workspace(tmp_path), folds=FOLDS, jobs=1)
    [summary] = tune(TrainConfig.resolve("exam", ["baseline"], False, **options), TuneOptions(trials=2, pruner="none"))
    result = train(TrainConfig.resolve("exam", ["baseline"], False, **options))
    assert result.run.summary("baseline")["cv_score"] == pytest.approx(summary.best_value)
    assert summary.best_value > 0.5  # the pair scorer; a classifier of option letters scores about chance (0.37)

"""--time-limit: durations, a plan that fits the limit (cheap models first, slow ones left out), a consistent run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kagglekit import demo, models
from kagglekit.config import Workspace
from kagglekit.engine import plan as plan_module
from kagglekit.engine.config import TrainConfig, parse_duration
from kagglekit.engine.events import JobStarted, Note, Recorder
from kagglekit.engine.trainer import run
from kagglekit.errors import ConfigError
from kagglekit.models.sklearn_models import TfidfNaiveBayes
from kagglekit.submission import validate_submission

MARGIN_S = 3.0


class Slow(TfidfNaiveBayes):
    """The baseline, 10 ms slower per training row: a model that would not fit a short limit."""

    def _fit(self, texts, y, val) -> None:
        time.sleep(0.01 * len(y))
        super()._fit(texts, y, val)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Slow, "name", "slow")
    monkeypatch.setitem(models._REGISTRY, "slow", Slow)


@pytest.fixture
def small_demo(tmp_path: Path) -> Path:
    return demo.write_demo_competition(tmp_path / "data" / demo.NAME, rows=240, test_rows=60)


def config(data: Path, root: Path, names: list[str], **options) -> TrainConfig:
    return TrainConfig.resolve(demo.NAME, names, False, data_dir=data, workspace=Workspace(root), metric="f1",
                               **{"folds": 3, **options})


def test_durations_take_suffixes_and_seconds() -> None:
    assert [parse_duration(v) for v in ("20m", "1.5h", "90s", "90", 12.5)] == [1200, 5400, 90, 90, 12.5]
    with pytest.raises(ConfigError, match="--time-limit takes a duration such as 9h, 20m"):
        parse_duration("twenty minutes")
    with pytest.raises(ConfigError, match="--time-limit must be above 0"):
        TrainConfig.resolve("tiny", ["baseline"], False, time_limit="0s")


def test_a_time_limited_run_ends_in_time_and_leaves_a_valid_ensemble(small_demo: Path, tmp_path: Path, slow) -> None:
    """The slow model's probes say over 1 s per job: its 4 jobs cannot fit what the cheap ones leave of 10 s."""
    recorder = Recorder()
    start = time.monotonic()
    result = run(config(small_demo, tmp_path, ["slow", "tfidf_lr", "baseline"], time_limit="10s"), listeners=[recorder])
    took = time.monotonic() - start
    assert took < 10 + MARGIN_S
    assert list(result.not_run) == ["slow"] and result.failed == {}
    assert "--time-limit leaves slow out" in result.not_run["slow"]
    started = [e.job.name for e in recorder.of(JobStarted)]
    assert started[0] == "baseline" and "slow" not in started  # cheap and strong first
    board = result.run.leaderboard().set_index("model")
    assert board.loc["slow", "status"].startswith("not run") and board.loc["baseline", "status"] == "ok"
    assert {"baseline", "tfidf_lr"} <= set(result.run.model_names())
    validate_submission(result.submissions["ensemble"], small_demo / "sample_submission.csv")
    assert result.run.manifest["time_limit"]["not_run"] == {"slow": result.not_run["slow"]}
    assert any("probes on 10% and 20% of a fold" in n.text for n in recorder.of(Note))
    again = Recorder()
    run(config(small_demo, tmp_path, ["tfidf_lr"], time_limit="60s", run_name="second"), listeners=[again])
    assert any("tfidf_lr: about" in n.text and "earlier runs on this machine" in n.text for n in again.of(Note))


def test_a_refit_that_would_not_fit_gives_fold_averaged_test_predictions(small_demo: Path, tmp_path: Path, slow,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Estimates of 3 s per slow job: its 3 folds fit the 20 s limit (less a 5 s reserve and the cheap models), its refit not."""
    monkeypatch.setattr(plan_module, "job_seconds", lambda config, competition, run, model, params, emit:
                        3.0 if model == "slow" else 0.5)
    result = run(config(small_demo, tmp_path, ["baseline", "tfidf_lr", "slow"], time_limit=20))
    assert result.not_run == {} and result.failed == {}
    summary = result.run.summary("slow")
    assert summary["test_from"] == "folds" and not result.run.refit_done("slow")
    assert result.run.summary("baseline")["test_from"] == "refit"
    validate_submission(result.submissions["slow"], small_demo / "sample_submission.csv")
    validate_submission(result.submissions["ensemble"], small_demo / "sample_submission.csv")


def test_half_the_time_all_needs_still_writes_a_valid_ensemble(small_demo: Path, tmp_path: Path, slow,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Costs are given, not measured, so the plan is the same on a loaded machine: the 12 jobs need 56 s, the limit is
    half of it, the cheap models' 16 s fit and the slow one's 40 s do not (bench/time_limit.py measures real data)."""
    costs = {"baseline": 2.0, "tfidf_lr": 2.0, "slow": 10.0}
    monkeypatch.setattr(plan_module, "job_seconds", lambda config, competition, run, model, params, emit: costs[model])
    needed = 4 * sum(costs.values())  # 3 folds and a refit per model
    result = run(config(small_demo, tmp_path, ["baseline", "tfidf_lr", "slow"], time_limit=needed / 2))
    assert result.failed == {} and list(result.not_run) == ["slow"]
    assert sorted(result.run.model_names()) == ["baseline", "tfidf_lr"]
    assert result.run.manifest["time_limit"]["took_s"] < needed / 2
    validate_submission(result.submissions["ensemble"], small_demo / "sample_submission.csv")


def test_measuring_costs_stops_at_its_share_of_the_limit_and_a_run_left_with_nothing_exits_1(
        small_demo: Path, tmp_path: Path, slow, monkeypatch: pytest.MonkeyPatch) -> None:
    """Probes may use PROBE_SHARE of the limit; a model not measured by then does not run, and when no model is left the
    CLI says so and exits 1 instead of reporting an empty run as a success."""
    from typer.testing import CliRunner

    from kagglekit.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plan_module, "PROBE_SHARE", 0.0)
    result = CliRunner().invoke(app, ["train", demo.NAME, "-m", "baseline", "-m", "slow", "--time-limit", "60",
                                      "--folds", "3", "--data-dir", str(small_demo)])
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert "--time-limit leaves baseline out: no time was left to measure its cost" in text
    assert "--time-limit left no time to train any model" in text


@pytest.mark.slow
def test_a_probe_stops_early_as_a_job_does(small_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fit of a Keras model under a time limit, the cost probes included, early-stops on validation rows as a
    job does, so a probe does not train (and count) every epoch."""
    from kagglekit.models import keras_models

    fits: list[bool] = []
    original = keras_models.KerasModel._fit

    def record(self, texts, y, val):
        fits.append(val is not None)
        original(self, texts, y, val)

    monkeypatch.setattr(keras_models.KerasModel, "_fit", record)
    recorder = Recorder()
    result = run(config(small_demo, tmp_path, ["dense"], time_limit=600, ensemble=False), listeners=[recorder])
    assert result.run.model_names() == ["dense"]
    assert any("dense: about" in n.text and "probes" in n.text for n in recorder.of(Note))
    assert fits == [True] * (3 + 3)  # 3 probe fits, 3 folds, all with validation rows (no refit: fold-averaged)

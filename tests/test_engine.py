"""The engine as jobs: events, backends that equal the sequential run, a killed worker, a run's lock, crash and resume."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.config import Workspace
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import JobFailed, JobFinished, JobStarted, Note, Recorder, RunStarted
from kagglekit.engine.jobs import Job
from kagglekit.engine.trainer import run
from kagglekit import models
from kagglekit.errors import RunLockedError
from kagglekit.models.sklearn_models import TfidfNaiveBayes
from kagglekit.runs import Run

REPO = Path(__file__).resolve().parents[1]


def config(data: Path, root: Path, names: list[str], **options) -> TrainConfig:
    return TrainConfig.resolve("tiny", names, False, data_dir=data, workspace=Workspace(root),
                               **{"folds": 3, **options})


def test_a_run_reports_its_jobs_as_events_and_a_rerun_resumes(tiny_competition: Path, tmp_path: Path) -> None:
    recorder = Recorder()
    run(config(tiny_competition, tmp_path, ["baseline"], ensemble=False), listeners=[recorder])
    kinds = recorder.kinds()
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("JobStarted") == kinds.count("JobFinished") == 4  # 3 folds + the refit
    [started] = recorder.of(RunStarted)
    assert (started.total_jobs, started.done_jobs) == (4, 0)
    assert any("3-fold CV" in note.text for note in recorder.of(Note))  # the engine's lines are events, not prints
    jobs = [e.job for e in recorder.events if isinstance(e, JobFinished)]
    assert [j.fold for j in jobs] == [0, 1, 2, None]  # the refit only after its folds
    assert kinds.index("ModelFinished") > max(i for i, k in enumerate(kinds) if k == "JobFinished")

    again = Recorder()
    run(config(tiny_competition, tmp_path, ["baseline"], ensemble=False), listeners=[again])
    assert again.of(RunStarted)[0].done_jobs == 4 and "JobStarted" not in again.kinds()
    assert "ModelFinished" in again.kinds()


class CacheFilling(TfidfNaiveBayes):
    """The baseline, tagged as a model whose first job fills a cache its other jobs read (as the frozen encoders)."""

    tags = dataclasses.replace(TfidfNaiveBayes.tags, fills_cache=True)


def test_a_cache_filling_models_first_job_runs_first_and_its_others_after_it(tiny_competition: Path, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CacheFilling, "name", "filling")
    monkeypatch.setitem(models._REGISTRY, "filling", CacheFilling)
    recorder = Recorder()
    run(config(tiny_competition, tmp_path, ["baseline", "filling"], ensemble=False), listeners=[recorder])
    order = [(e.job.name, e.job.fold) for e in recorder.events if isinstance(e, JobStarted)]
    assert order[0] == ("filling", 0)  # before the baseline, though registered after it
    assert order[1:3] == [("filling", 1), ("filling", 2)]  # released once fold 1 was done, ahead of the rest
    assert sorted(order[3:], key=str) == sorted([("baseline", 0), ("baseline", 1), ("baseline", 2), ("baseline", None),
                                                 ("filling", None)], key=str)


def test_the_engine_never_prints(tiny_competition: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its lines (the run's header, ensemble scores) are Note events: without listeners, nothing is shown."""
    recorder = Recorder()
    run(config(tiny_competition, tmp_path, ["baseline", "tfidf_lr"]), listeners=[recorder])
    assert capsys.readouterr() == ("", "")
    assert any(note.text.startswith("best ensemble by OOF f1") for note in recorder.of(Note))


def test_jobs_are_picklable_descriptions(tiny_competition: Path, tmp_path: Path) -> None:
    import pickle

    job = Job(str(tmp_path / "runs" / "tiny" / "r"), "baseline", 1, {"seed": 43}, {"directory": str(tiny_competition)}, {"cpus": 1})
    assert pickle.loads(pickle.dumps(job)) == job and job.label == "baseline fold 2"


def _oofs(result, names: list[str]) -> dict[str, np.ndarray]:
    return {name: result.run.oof(name) for name in names}


@pytest.mark.slow
def test_two_worker_processes_give_the_sequential_run(tiny_competition: Path, tmp_path: Path) -> None:
    names = ["baseline", "tfidf_lr", "dense"]
    sequential = run(config(tiny_competition, tmp_path / "a", names, model_params={"epochs": 2}))
    recorder = Recorder()
    parallel = run(config(tiny_competition, tmp_path / "b", names, model_params={"epochs": 2}, jobs=2), listeners=[recorder])
    assert parallel.failed == {} and recorder.of(RunStarted)[0].backend == "local"
    for name, oof in _oofs(sequential, names).items():
        np.testing.assert_allclose(parallel.run.oof(name), oof, atol=1e-6, err_msg=name)
    pd.testing.assert_frame_equal(sequential.leaderboard[["model"]], parallel.leaderboard[["model"]])
    assert pd.read_csv(sequential.submissions["ensemble"]).equals(pd.read_csv(parallel.submissions["ensemble"]))


def worker_pids() -> list[int]:
    """This process's kagglekit worker processes (``python -m kagglekit.engine.worker``), from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        if parent == os.getpid() and b"kagglekit.engine.worker" in command:
            pids.append(int(stat.parent.name))
    return sorted(pids)


@pytest.mark.slow
def test_a_killed_worker_fails_only_its_job_and_a_rerun_resumes(tiny_competition: Path, tmp_path: Path) -> None:
    """Kill a worker process in the middle of its first job: that model fails, the rest of the run goes on."""
    recorder = Recorder()

    def kill_first_worker(event) -> None:
        recorder(event)
        if isinstance(event, JobStarted) and recorder.kinds().count("JobStarted") == 1:
            def kill() -> None:
                time.sleep(0.5)  # the worker is importing TensorFlow and training: mid-job
                os.kill(worker_pids()[0], signal.SIGKILL)
            threading.Thread(target=kill, daemon=True).start()

    names = ["baseline", "dense"]
    options = {"model_params": {"epochs": 2}, "jobs": 2, "ensemble": False}
    result = run(config(tiny_competition, tmp_path, names, **options), listeners=[kill_first_worker])
    died = [e for e in recorder.events if isinstance(e, JobFailed)]
    assert len(died) == 1 and "worker process died" in died[0].error
    assert list(result.failed) == [died[0].job.model]
    survivor = next(n for n in names if n != died[0].job.model)
    assert result.run.summary(survivor)["status"] == "ok"
    records = {k: os.stat(result.run.model_dir(survivor) / f"fold{k}.json").st_mtime_ns for k in range(3)}

    again = run(config(tiny_competition, tmp_path, names, **options))
    assert again.failed == {} and all(again.run.summary(n)["status"] == "ok" for n in names)
    assert {k: os.stat(again.run.model_dir(survivor) / f"fold{k}.json").st_mtime_ns for k in range(3)} == records


def test_a_second_train_on_a_held_run_is_refused(tiny_competition: Path, tmp_path: Path) -> None:
    cfg = config(tiny_competition, tmp_path, ["baseline"])
    held = Run(tmp_path / "runs" / "tiny" / cfg.resolved_run_name)
    with held.lock():
        with pytest.raises(RunLockedError, match=r"run k3-seed42 is in use by kagglekit pid \d+ .*--run NAME"):
            run(cfg)
    assert run(cfg).failed == {}  # released


def test_a_killed_holder_does_not_leave_the_run_locked(tiny_competition: Path, tmp_path: Path) -> None:
    directory = tmp_path / "runs" / "tiny" / "k3-seed42"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from kagglekit.runs import Run\n"
        f"with Run({str(directory)!r}).lock():\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError):
            with Run(directory).lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    with Run(directory).lock():  # the kernel released the killed holder's lock
        pass


# --- crash and resume through the CLI --------------------------------------------------------------------------


def _train_command(data: Path) -> list[str]:
    return [sys.executable, "-m", "kagglekit", "train", "tiny", "-m", "baseline", "-m", "dense", "--folds", "3",
            "--epochs", "2", "--data-dir", str(data), "--no-ensemble"]


@pytest.mark.slow
def test_sigkill_mid_fold_then_rerun_equals_an_uninterrupted_run(tiny_competition: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    for folder in (reference, crashed):
        folder.mkdir()
    subprocess.run(_train_command(tiny_competition), cwd=reference, env=env, check=True, capture_output=True)

    process = subprocess.Popen(_train_command(tiny_competition), cwd=crashed, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dense = crashed / "runs" / "tiny" / "k3-seed42" / "models" / "dense"
    deadline = time.monotonic() + 180
    while not (dense / "fold0.json").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # dense fold 0 is done; fold 1 is in flight
    process.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in dense.glob("fold*.json")}
    assert "fold0.json" in done_before and "refit.json" not in {p.name for p in dense.iterdir()}

    rerun = subprocess.run(_train_command(tiny_competition), cwd=crashed, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert {name: (dense / name).stat().st_mtime_ns for name in done_before} == done_before  # nothing done was redone
    for name in ("baseline", "dense"):
        a = Run(reference / "runs" / "tiny" / "k3-seed42")
        b = Run(crashed / "runs" / "tiny" / "k3-seed42")
        np.testing.assert_allclose(b.oof(name), a.oof(name), atol=1e-6, err_msg=name)
        assert (crashed / "submissions" / "tiny" / f"{name}.csv").read_text() == \
            (reference / "submissions" / "tiny" / f"{name}.csv").read_text()
    partial = [p for p in (crashed / "runs" / "tiny" / "k3-seed42" / "models").rglob(".*")]
    assert partial == []  # the killed process's half-written temporary files were cleared, never read


# --- a real local Ray cluster ------------------------------------------------------------------------------------


@pytest.fixture
def ray_cluster(tmp_path: Path) -> Iterator[str]:
    """`ray start --head` on loopback plus one worker node, stopped again after the test."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray is None:
        pytest.skip("ray is not installed")
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    port = "6390"
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--disable-usage-stats"]
    subprocess.run([ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                    *common], check=True, capture_output=True, env=env, cwd=tmp_path, timeout=120)
    try:
        subprocess.run([ray, "start", f"--address={address}", "--node-ip-address=127.0.0.1", *common],
                       check=True, capture_output=True, env=env, cwd=tmp_path, timeout=120)
        yield address
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)


@pytest.mark.slow
def test_the_ray_backend_on_a_local_cluster_gives_the_sequential_run(tiny_competition: Path, tmp_path: Path,
                                                                    ray_cluster: str) -> None:
    names = ["baseline", "tfidf_lr"]
    sequential = run(config(tiny_competition, tmp_path / "a", names))
    recorder = Recorder()
    on_ray = run(config(tiny_competition, tmp_path / "b", names, backend="ray", ray_address=ray_cluster), listeners=[recorder])
    assert on_ray.failed == {} and recorder.of(RunStarted)[0].backend == "ray"
    for name, oof in _oofs(sequential, names).items():
        np.testing.assert_array_equal(on_ray.run.oof(name), oof)
    assert list(sequential.leaderboard["model"]) == list(on_ray.leaderboard["model"])

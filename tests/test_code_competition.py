"""Code competitions end to end: predict with exactly a run's ensemble, the model pack, will-it-fit, `kernel run`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.fake_kaggle import USERNAME, FakeKaggle, fake_kaggle, kaggle_env, zip_bytes  # noqa: F401
from tests.fake_kaggle_kernels import FakeKernels, isolate_pip, make_wheel, notebook_python
from tests.test_kernels import BUNDLE_REF, COMP, competition_files
from kagglekit.durations import parse_duration
from kagglekit.cli import app
from kagglekit.errors import ConfigError
from kagglekit.kaggle import bundle, inference, kernels
from kagglekit.kaggle.ledger import read_ledger
from kagglekit.predict import predict_entry, predict_submission, submission_entry
from kagglekit.runs import find_run

runner = CliRunner()
KERNEL = f"{USERNAME}/{COMP}-inference"
MODELS_REF = f"{USERNAME}/{COMP}-models"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the competition's files and one finished run (two sklearn models, every ensemble)."""
    root = tmp_path_factory.mktemp("trained")
    data = root / "data" / COMP
    data.mkdir(parents=True)
    for name, text in competition_files().items():
        (data / name).write_text(text)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = runner.invoke(app, ["train", COMP, "-m", "baseline", "-m", "tfidf_lr", "--folds", "2"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def work(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the trained workspace as the working directory (runs keep pointing at the module's data)."""
    folder = tmp_path / "work"
    shutil.copytree(trained, folder, symlinks=True)
    monkeypatch.chdir(folder)
    return folder


def run_dir(work: Path) -> Path:
    return find_run(work / "runs" / COMP).directory


# -- predicting a test set with exactly the run's ensemble ------------------------------------------


def test_every_entry_predicts_its_own_submission_again(work: Path) -> None:
    run = find_run(work / "runs" / COMP)
    test = pd.read_csv(work / "data" / COMP / "test.csv")
    sample = pd.read_csv(work / "data" / COMP / "sample_submission.csv")
    for entry in run.entries():
        np.testing.assert_array_equal(predict_entry(run, entry, test), run.test_proba(entry), err_msg=entry)
        frame = predict_submission(run.directory, test, sample=sample, entry=entry)
        pd.testing.assert_frame_equal(frame, pd.read_csv(run.submission_path(entry)), obj=entry)
    assert submission_entry(run) == json.loads(run.submission_path("ensemble").with_suffix(".json").read_text())["model"]


def test_a_pack_holds_what_predict_needs_and_stores_identical_files_once(work: Path, tmp_path: Path) -> None:
    run = find_run(work / "runs" / COMP)
    runner.invoke(app, ["ensemble", COMP, "--method", "mean", "--test-from", "folds"])  # members' fold models
    test = pd.read_csv(work / "data" / COMP / "test.csv")
    pack = inference.build_pack(run, tmp_path / "pack", entry="ensemble_mean")
    assert [m.source for m in pack.members] == ["folds", "folds"] and pack.duplicates == 0
    assert all(p.parent == pack.directory for p in pack.directory.iterdir())  # flat: a dataset upload skips folders
    unpacked = inference.unpack(pack.directory, tmp_path / "unpacked")
    frame = predict_submission(unpacked, test.iloc[::-1].reset_index(drop=True))  # rows follow the test set given
    expected = pd.read_csv(run.submission_path("ensemble_mean")).set_index("id").loc[frame["id"]].reset_index()
    pd.testing.assert_frame_equal(frame, expected)

    # Folds sharing a file (as fold checkpoints of one pretrained transformer do) store it once.
    shutil.rmtree(run.fold_model_dir("baseline", 1))
    shutil.copytree(run.fold_model_dir("baseline", 0), run.fold_model_dir("baseline", 1))
    shared = inference.build_pack(run, tmp_path / "pack", entry="ensemble_mean")
    assert shared.duplicates == 2 and shared.stored_bytes < shared.total_bytes and shared.files == pack.files
    unpacked = inference.unpack(shared.directory, tmp_path / "unpacked-shared")
    pd.testing.assert_frame_equal(predict_submission(unpacked, test), predict_submission(run.directory, test))


def test_a_pack_refuses_a_model_that_was_not_kept(work: Path, tmp_path: Path) -> None:
    run = find_run(work / "runs" / COMP)
    shutil.rmtree(run.fold_model_dir("baseline", None))
    with pytest.raises(ConfigError, match="baseline in run .* has no saved model"):
        inference.build_pack(run, tmp_path / "pack", entry="baseline")


@pytest.mark.parametrize(("text", "seconds"), [("32400", 32400), ("9h", 32400), ("30m", 1800), ("1h30m", 5400), ("2.5s", 2.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "9 hours", "-1", "0", "h"])
def test_bad_durations_say_the_forms(text: str) -> None:
    with pytest.raises(ConfigError, match="--time-limit (takes a duration such as 9h|must be above 0)"):
        parse_duration(text)


# -- kernel init --predict-from: size, will it fit, publish ---------------------------------------------


@pytest.fixture
def service(fake_kaggle: FakeKaggle, kaggle_env: Path, work: Path, tmp_path: Path) -> FakeKernels:
    fake_kaggle.add_competition(COMP, zip_bytes(competition_files()))
    service = FakeKernels(fake_kaggle, tmp_path / "kaggle")
    service.add_dataset(BUNDLE_REF, {"kagglekit-0.1.0-py3-none-any.whl": b"wheel"})
    return service


def test_init_predict_from_publishes_the_pack_and_estimates_the_time(service: FakeKernels, work: Path) -> None:
    code, out = invoke("kernel", "init", COMP, "--predict-from", "latest", "--test-rows", "100000")
    assert code == 0, out
    assert "model pack kernels/nlp-getting-started/model-pack:" in out and "KB in" in out
    assert "estimated predict time on 100,000 test rows:" in out and "of the 9h 0m limit" in out
    assert f"created dataset {MODELS_REF}" in out and f"next: kagglekit kernel run {COMP} --submit -m MESSAGE" in out
    pack = service.datasets[MODELS_REF]
    assert inference.PACK_FILE in pack.files and len(pack.files) > 5
    metadata = json.loads((work / "kernels" / COMP / "kernel-metadata.json").read_text())
    assert metadata["dataset_sources"] == [BUNDLE_REF, MODELS_REF] and metadata["enable_internet"] is False
    code, out = invoke("kernel", "init", COMP, "--predict-from", run_dir(work).name)
    assert code == 0 and f"new version of dataset {MODELS_REF}" in out, out
    assert service.datasets[MODELS_REF].versions == 2


def test_a_predict_that_cannot_finish_is_named_before_anything_is_pushed(service: FakeKernels, fake_kaggle: FakeKaggle,
                                                                           work: Path) -> None:
    code, out = invoke("kernel", "init", COMP, "--predict-from", "latest", "--test-rows", "10000000", "--time-limit", "1m")
    assert code == 1 and "over the 1m 0s limit" in out and "tfidf_lr" in out and "--force" in out, out
    assert fake_kaggle.count("CreateDataset") == 0 and not (work / "kernels" / COMP / "kernel-metadata.json").exists()
    code, out = invoke("kernel", "init", COMP, "--predict-from", "latest", "--test-rows", "10000000", "--time-limit", "1m", "--force")
    assert code == 0 and "warning: the predict would take" in out, out
    code, out = invoke("kernel", "init", COMP, "--predict-from", "latest", "--time-limit", "9 hours")
    assert code == 1 and "takes a duration" in out
    code, out = invoke("kernel", "init", COMP, "--predict-from", "latest", "-m", "baseline")
    assert code == 2 and "--predict-from trains nothing" in out


# -- kernel run ------------------------------------------------------------------------------------------


def test_kernel_run_of_a_failing_kernel_exits_1_with_the_log_tail(service: FakeKernels, work: Path) -> None:
    service.outcome, service.failure_message = "ERROR", "Your notebook tried to run a cell that raised an exception"
    service.scripted_log = json.dumps([{"stream_name": "stderr", "time": 2.0, "data": "Traceback\nMemoryError: out of memory\n"}])
    assert invoke("kernel", "init", COMP, "--predict-from", "latest")[0] == 0
    code, out = invoke("kernel", "run", COMP, "--submit", "--poll", "0.01")
    assert code == 1 and "version 1: running" in out and "ended with status error" in out and "MemoryError: out of memory" in out
    assert service.code_submissions == []


def test_ctrl_c_leaves_the_kernel_running_and_says_how_to_follow_it(service: FakeKernels, work: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(kernels, "wait_for_kernel", interrupted)
    invoke("kernel", "init", COMP, "--predict-from", "latest")
    code, out = invoke("kernel", "run", COMP)
    assert code == 130 and "keeps running on Kaggle" in out and f"kagglekit kernel status {COMP} --wait" in out, out
    assert "version 1" in out


def test_init_and_run_submit_a_code_competition_that_equals_the_runs_ensemble(
    fake_kaggle: FakeKaggle, kaggle_env: Path, work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bundle -> kernel init --predict-from -> kernel run --submit, with the notebook really run offline."""
    isolate_pip(monkeypatch)
    monkeypatch.setattr(bundle, "KAGGLE_IMAGE_LACKS", ("kk-probe",))
    make_wheel(tmp_path / "wheels", "kk-probe", "1.2")
    fake_kaggle.add_competition(COMP, zip_bytes(competition_files()))
    service = FakeKernels(fake_kaggle, tmp_path / "kaggle", python=notebook_python(tmp_path / "image"))

    assert invoke("bundle", "--offline", "--find-links", str(tmp_path / "wheels"))[0] == 0
    code, out = invoke("kernel", "init", COMP, "--predict-from", "latest")
    assert code == 0, out
    code, out = invoke("kernel", "run", COMP, "--submit", "-m", "inference of the run's ensemble", "--poll", "0.5",
                       "--timeout", "300")
    service.join()
    assert code == 0, f"{out}\n{service.latest(KERNEL).log}"
    assert f"pushed {KERNEL} version 1" in out and "version 1: complete" in out
    assert f"submitted {KERNEL} version 1 to {COMP}" in out and "public score: 0.78455" in out
    expected = (run_dir(work) / "submissions" / "ensemble.csv").read_bytes()
    assert service.code_submissions[0]["content"] == expected
    assert (work / "runs" / COMP / "kernel-1" / "submission.csv").read_bytes() == expected
    ledger = read_ledger(COMP)
    entry = submission_entry(find_run(work / "runs" / COMP))
    assert ledger[["kind", "kernel", "kernel_version", "run", "model"]].values.tolist() == [
        ["kernel", KERNEL, 1, run_dir(work).name, entry]]

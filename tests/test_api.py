"""The notebook API: the README's notebook example runs as written, over the same run folders as the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TWEETS, write_competition
from kagglekit import api
from kagglekit.engine.events import JobFinished, ModelFailed, Note, RunFinished, RunStarted
from kagglekit.errors import ConfigError
from kagglekit.submission import validate_submission

README = Path(__file__).resolve().parents[1] / "README.md"
# The "Kaggle notebooks" section's example, exactly as the README shows it (a test below checks they agree).
EXAMPLE = '''\
import kagglekit

run = kagglekit.train("nlp-getting-started", models=["baseline", "tfidf_lr"], folds=3)
run.leaderboard()                  # a DataFrame: one row per model and ensemble, best first
run.plot("confusion")              # shown inline; the PNG is kept in the run's plots/
run.predict(["Forest fire near La Ronge Sask. Canada"])
run.write_submission()             # /kaggle/working/submission.csv in a notebook, else ./submission.csv
'''


@pytest.fixture
def competition(tmp_path: Path) -> Path:
    """nlp-getting-started where a notebook outside Kaggle looks for it: data/nlp-getting-started (cwd is tmp_path)."""
    rows = TWEETS * 3
    train = pd.DataFrame({"id": range(1, len(rows) + 1), "keyword": "", "location": "",
                          "text": [f"{t} {i}" for i, (t, _) in enumerate(rows)], "target": [y for _, y in rows]})
    test = pd.DataFrame({"id": [100, 101, 102], "keyword": "", "location": "", "text": ["forest fire", "summer fun", "flood"]})
    sample = pd.DataFrame({"id": [100, 101, 102], "target": 0})
    return write_competition(tmp_path / "data" / "nlp-getting-started", train, test, sample)


def test_the_readme_notebook_example_runs_as_written(competition: Path, tmp_path: Path) -> None:
    namespace: dict = {}
    exec(compile(EXAMPLE, "README example", "exec"), namespace)
    run = namespace["run"]
    board = run.leaderboard()
    assert {"baseline", "tfidf_lr"} <= set(board["model"]) and board["status"].eq("ok").all()
    assert (run.directory / "plots" / f"confusion_matrix_{run.best()}.png").is_file()
    validate_submission(tmp_path / "submission.csv", competition / "sample_submission.csv")
    predictions = run.predict(["Forest fire near La Ronge Sask. Canada", "I love fruits"])
    assert list(predictions.columns) == ["text", "label", "probability", "model"] and len(predictions) == 2
    assert "<table" in run._repr_html_()


def test_the_readme_shows_the_example_that_is_tested() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert EXAMPLE in blocks, "README.md lacks the notebook example of tests/test_api.py: paste issue 9's 'Kaggle notebooks' section"


def test_progress_events_reach_the_notebook_bar_and_options_are_checked(competition: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    progress = api.NotebookProgress()
    progress(RunStarted("k3-seed42", ["baseline"], total_jobs=4, done_jobs=1, backend="sequential"))
    assert (progress.bar.total, progress.bar.n) == (4, 1)
    api.print_notes(Note("train.csv: 2 empty 'text' value(s)", "warning"))
    api.print_notes(ModelFailed("dense", "MemoryError: out of memory", "dense fold 2"))
    assert capsys.readouterr().out.splitlines() == ["warning: train.csv: 2 empty 'text' value(s)",
                                                    "dense failed (dense fold 2): MemoryError: out of memory"]
    with pytest.raises(ConfigError, match="unknown option.*folz"):
        api.train("nlp-getting-started", models=["baseline"], folz=3)
    with pytest.raises(ConfigError, match="unknown plot 'roc'"):
        api.train("nlp-getting-started", models=["baseline"], folds=3, progress=False).plot("roc")
    assert isinstance(JobFinished, type) and isinstance(RunFinished, type)

"""The CV-vs-leaderboard ledger: submit records each submission; `submissions` joins it with the fake server's scores."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fake_kaggle import FakeKaggle, fake_kaggle, kaggle_env, zip_bytes  # noqa: F401
from tests.test_kaggle_api import COMP, CSVS
from kagglekit.cli import app
from kagglekit.kaggle import competitions, ledger

runner = CliRunner()
# (model, CV F1, public score, private score): bert ranks first by CV but third on the public board.
SUBMITTED = [("baseline", 0.70, "0.7010", "0.6990"), ("lstm", 0.75, "0.7600", "0.7480"), ("bert", 0.82, "0.7400", "0.8150")]


@pytest.fixture
def kaggle(fake_kaggle: FakeKaggle, kaggle_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKaggle:
    monkeypatch.chdir(tmp_path)
    fake_kaggle.add_competition(COMP, zip_bytes(CSVS), pending_reads=0)
    return fake_kaggle


def submit_all(kaggle: FakeKaggle, tmp_path: Path) -> None:
    """Three run files (each with the provenance record a run writes beside it) submitted and scored."""
    folder = tmp_path / "submissions" / COMP
    folder.mkdir(parents=True, exist_ok=True)
    for i, (model, cv, public, private) in enumerate(SUBMITTED):
        path = folder / f"{model}.csv"
        path.write_text(CSVS["sample_submission.csv"])
        path.with_suffix(".json").write_text(json.dumps({"run": "k5-seed42", "model": model, "metric": "f1",
                                                         "cv_score": cv, "cv_score_std": 0.01}))
        competitions.submit(path, COMP, f"kagglekit {model}")
        kaggle.submissions[i].public_score, kaggle.submissions[i].private_score = public, private


def test_every_submit_is_recorded_with_its_run_model_and_cv(kaggle: FakeKaggle, tmp_path: Path) -> None:
    submit_all(kaggle, tmp_path)
    recorded = ledger.read_ledger(COMP)
    assert recorded[["ref", "kind", "file", "run", "model", "metric", "cv_score"]].values.tolist() == [
        [1001, "file", "baseline.csv", "k5-seed42", "baseline", "f1", 0.70],
        [1002, "file", "lstm.csv", "k5-seed42", "lstm", "f1", 0.75],
        [1003, "file", "bert.csv", "k5-seed42", "bert", "f1", 0.82],
    ]
    assert not list((tmp_path / "submissions" / COMP).glob(".ledger.csv*"))  # atomic: no temporary file left


def test_a_file_made_elsewhere_is_recorded_without_a_cv(kaggle: FakeKaggle, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(CSVS["sample_submission.csv"])
    competitions.submit(path, COMP, "by hand")
    row = ledger.read_ledger(COMP).iloc[0]
    assert (row["file"], row["model"], row["description"]) == ("mine.csv", "", "by hand") and row["cv_score"] != row["cv_score"]


def test_submissions_show_cv_beside_the_scores_and_plot_names_the_disagreements(kaggle: FakeKaggle, tmp_path: Path) -> None:
    submit_all(kaggle, tmp_path)
    result = runner.invoke(app, ["submissions", COMP, "--plot"])
    out = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert re.search(r"bert\.csv bert complete 0\.82 0\.74 0\.815 ", out), out
    assert re.search(r"baseline\.csv baseline complete 0\.7 0\.701 0\.699 ", out), out
    plot = tmp_path / "submissions" / COMP / ledger.PLOT_FILE
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = ledger.correlation(ledger.leaderboard_table(ledger.read_ledger(COMP), competitions.list_submissions(COMP)))
    assert r is not None and f"(correlation {r:.2f})" in out
    assert "ref 1003 (bert): CV rank 1, public rank 2" in out and "ref 1002 (lstm): CV rank 2, public rank 1" in out
    assert "ref 1001" not in out.split("CV rank")[0].split("correlation")[-1]  # baseline agrees: third by both
    assert "trust the CV" in out


def test_plot_without_scores_is_a_clear_error(kaggle: FakeKaggle, tmp_path: Path) -> None:
    kaggle.competitions[COMP].pending_reads = 100
    path = tmp_path / "mine.csv"
    path.write_text(CSVS["sample_submission.csv"])
    competitions.submit(path, COMP, "pending")
    result = runner.invoke(app, ["submissions", COMP, "--plot"])
    assert result.exit_code == 1 and "no submission has both a CV score and a public score yet" in " ".join(result.output.split())


def test_an_unreadable_ledger_names_the_file(tmp_path: Path) -> None:
    path = ledger.ledger_path(COMP)
    path.parent.mkdir(parents=True)
    path.write_text("ref,time\nnot-a-number,x\n")
    with pytest.raises(Exception, match="ledger.csv is not a readable ledger"):
        ledger.read_ledger(COMP)

"""What the default run prints fits its place: tables with complete figures at any width, one line per fact, the
words "skipped (time limit)" for a model --time-limit left out, and a log's width for output that is not a terminal."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from rich.console import Console

from kagglekit.cli import common
from kagglekit.cli.common import LOG_WIDTH, Column, make_console, print_leaderboard, print_table
from kagglekit.runs import NOT_RUN

LONG_PATH = "/kaggle/working/runs/nlp-getting-started/k5-seed42-a-long-run-name/models/ensemble_weighted/fold0.json"


def board() -> pd.DataFrame:
    """A binary run's leaderboard: two models, an ensemble, one failed model and one --time-limit left out."""
    return pd.DataFrame({
        "model": ["tfidf_lr", "baseline", "ensemble_weighted", "dense", "transformer"],
        "kind": ["model", "model", "ensemble", "model", "model"],
        "cv_f1": [0.7913, 0.7551, 0.7998, None, None], "cv_f1_std": [0.0124, 0.0101, 0.0093, None, None],
        "oof_f1_tuned": [0.7951, 0.7602, 0.8012, None, None], "threshold": [0.41, 0.38, 0.44, None, None],
        "accuracy": [0.8211, 0.8003, 0.8302, None, None], "precision": [0.8101, 0.7712, 0.8244, None, None],
        "recall": [0.7489, 0.7398, 0.7799, None, None], "f1_weighted": [0.8197, 0.7991, 0.8288, None, None],
        "test_from": "refit", "fit_s": [12.31, 0.42, 12.73, None, None], "predict_ms_per_row": [0.052, 0.011, 0.063, None, None],
        "status": ["ok", "ok", "ok", "ValueError: out of memory",
                   f"{NOT_RUN}: --time-limit leaves transformer out: its 6 job(s) need about 900s, and 120s of the limit are left"],
    })


def printed(width: int, monkeypatch: pytest.MonkeyPatch, show=lambda: print_leaderboard(board(), "tweets · k5-seed42 · metric f1")) -> str:
    out = Console(file=io.StringIO(), width=width, soft_wrap=True, color_system=None)
    monkeypatch.setattr(common, "console", out)
    show()
    return out.file.getvalue()


@pytest.mark.parametrize("width", [200, 120, 80, 60, 40, 24])
def test_the_leaderboard_shows_complete_figures_at_any_width(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = printed(width, monkeypatch)
    assert "…" not in text
    for score, tuned in (("0.791", "0.795@0.41"), ("0.755", "0.760@0.38"), ("0.800", "0.801@0.44")):
        assert re.search(rf"(?<![\d.]){re.escape(score)}(?![\d])", text), (score, text)
        if width >= 40:  # the tuned score is the last figure a narrow table gives up
            assert tuned in text, text
    assert "ensemble_weighted" in text and "0.8302" not in text  # names whole; figures rounded, never cut
    if width >= 120:
        assert "not shown" not in text and "0.830" in text and "0.063" in text
    elif width >= 40:
        assert re.search(rf"not shown at {width} columns: .*leaderboard\.csv has them all", text), text
        assert all(len(line.rstrip()) <= width for line in text.splitlines() if "0.791" in line), text
    else:  # narrower than model and score: one line per model with every figure, for the terminal to fold
        assert len([line for line in text.splitlines() if "cv f1 0.791  ±0.012  tuned@thr 0.795@0.41" in line]) == 1, text


def test_a_model_left_out_by_the_time_limit_is_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    text = printed(120, monkeypatch)
    transformer = [line for line in text.splitlines() if line.lstrip().startswith("transformer")]
    assert transformer and all("failed" not in line for line in transformer), text
    assert "transformer skipped (time limit): --time-limit leaves transformer out: its 6 job(s) need about 900s" in text
    assert "dense failed: ValueError: out of memory" in text


def test_a_table_keeps_wrapping_text_and_drops_the_least_important_column_first(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = [Column("file", "left"), Column("status", "left", wrap=True), Column("CV"), Column("date", "left", drop=1),
               Column("private", drop=2)]
    rows = [["ensemble_weighted.csv", "error: the file has 3262 rows but the sample has 3263", "0.8012", "2026-12-01 10:00", "0.79"]]
    text = printed(60, monkeypatch, lambda: print_table(columns, rows, title="subs", full="ledger.csv"))
    assert "ensemble_weighted.csv" in text and "0.8012" in text and "3263" in text and "…" not in text
    assert "not shown at 60 columns: private; ledger.csv has them all" in text  # date kept: it fitted once private went


def test_a_console_that_is_not_a_terminal_is_a_log_s_width_and_keeps_lines_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    made = make_console()
    assert not made.is_terminal and made.width == LOG_WIDTH
    made.file = io.StringIO()
    made.print(f"best ensemble by OOF f1: ensemble_weighted, written as {LONG_PATH}" + " and a long note" * 20, highlight=False)
    lines = made.file.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("and a long note") and LONG_PATH in lines[0]
    monkeypatch.setenv("COLUMNS", "100")
    assert make_console().width == 100  # the user's COLUMNS still wins

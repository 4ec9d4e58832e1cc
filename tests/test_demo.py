"""The embedded default: a generated competition with real signal, run through the same path as a real one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from kagglekit.cli import app
from kagglekit.data import load_competition
from kagglekit.demo import generate, write_demo_competition


def test_generated_competition_has_kaggles_layout_and_learnable_signal(tmp_path: Path) -> None:
    comp = load_competition(write_demo_competition(tmp_path / "demo", rows=300, test_rows=50))
    assert comp.task == "binary" and comp.submission_format == "label"
    assert list(comp.train.columns) == ["id", "keyword", "location", "text", "target"]
    train, _ = generate(rows=300, test_rows=50)
    assert 0.3 < train["target"].mean() < 0.55
    assert train["text"].str.contains("fire").groupby(train["target"]).mean().min() > 0  # ambiguous words in both classes


def test_demo_command_trains_and_validates(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "-m", "baseline", "--rows", "300", "--folds", "3"])
    assert result.exit_code == 0, result.output
    submission = pd.read_csv(tmp_path / "submissions" / "demo-disaster-tweets" / "baseline.csv")
    assert len(submission) == 400 and set(submission["target"]) == {0, 1}
    board = pd.read_csv(next((tmp_path / "runs" / "demo-disaster-tweets").iterdir()) / "leaderboard.csv")
    assert board.loc[0, "cv_f1"] > 0.7  # the generated texts carry signal a baseline finds


def test_each_task_shape_has_a_generated_competition_with_signal(tmp_path: Path) -> None:
    from kagglekit.demo import TASK_DEMOS, write_task_competition

    expected = {"regression": ("excerpt", "rmse", (300, 1)), "multilabel": ("comment_text", "column_auc", (300, 3)),
                "ordinal": ("full_text", "qwk", (300, 1))}
    for kind, (text, metric, shape) in expected.items():
        comp = load_competition(write_task_competition(kind, tmp_path / TASK_DEMOS[kind], rows=300, test_rows=20))
        assert (comp.task, comp.text_columns, comp.metric.name, comp.y.shape) == (kind, [text], metric, shape)
        lengths = pd.Series(comp.train_texts).str.split().str.len().to_numpy()
        if kind == "multilabel":  # each label has its own trigger words
            assert all(comp.y[:, j].mean() > 0.1 for j in range(3))
        else:  # longer, harder texts move the target: length alone correlates with it
            assert abs(np.corrcoef(lengths, comp.y[:, 0])[0, 1]) > 0.3

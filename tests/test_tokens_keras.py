"""The Keras BiLSTM tagger on a tiny PII-layout competition: it fits in a run, gives probabilities per token, and its
saved refit reloads to the same predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kagglekit.tokens import TokenRun, predict, train
from kagglekit.tokens.demo import write_pii_competition
from kagglekit.tokens.run import split

pytestmark = pytest.mark.slow
TINY = {"epochs": 1, "window": 16, "units": 8, "word_dim": 8, "char_dim": 4, "batch_size": 8}


def test_bilstm_tags_tokens_and_its_saved_refit_reloads_the_same(tmp_path: Path) -> None:
    directory, _ = write_pii_competition(tmp_path / "data" / "demo-pii", documents=12, test_documents=3)
    result = train(directory, ["bilstm"], folds=2, output=tmp_path, params={"bilstm": TINY})
    assert result.leaderboard["status"].tolist() == ["ok"]
    run = TokenRun(result.run.directory)
    test = run.test_proba("bilstm")
    assert test.shape == (sum(len(s.tokens) for s in result.data.test), len(result.data.labels))
    assert np.allclose(test.sum(axis=1), 1.0, atol=1e-4)  # overlapping windows are averaged: rows still sum to 1
    model = run.load_model("bilstm")
    again = np.concatenate(model.predict_proba(model.featurize(result.data.test)))
    assert np.allclose(again, test, atol=1e-5)
    assert [len(p) for p in split(test, result.data.test)] == [len(s.tokens) for s in result.data.test]
    assert predict(run, "My name is Maria Chen.").model == "bilstm"

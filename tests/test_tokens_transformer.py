"""The KerasHub transformer as a token tagger: sub-word alignment, overlapping windows merged back to one row per
token, and a whole token run on the tiny PII-layout demo with a tiny BERT preset (tests/test_transformer.py's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras_hub", reason="keras-hub is a kagglekit dependency: pip install 'keras-hub>=0.29,<0.30'")

from kagglekit.models import checkpoints
from kagglekit.tokens import TokenRun, load, predict, train, validate
from kagglekit.tokens.demo import write_pii_competition
from kagglekit.tokens.layout import Sequence
from kagglekit.tokens.models import get_model
from kagglekit.tokens.run import split
from kagglekit.tokens.transformer_tagger import SubWords, merge, subwords, window_starts, window_targets
from tests.test_transformer import VOCAB, tiny_bert, write_tiny_bert_preset

pytestmark = pytest.mark.slow
LABELS = ["O", "B-PER", "I-PER"]


def sequence(tokens: list[str], labels: list[str] | None = None) -> Sequence:
    return Sequence("d", "d", tokens, np.zeros((len(tokens), 2), dtype=np.int64), " ".join(tokens), labels=labels)


def one_per_word(n: int) -> SubWords:
    return SubWords(np.arange(n, dtype=np.int32), np.arange(n), n, np.zeros(0, np.int32))


def test_a_word_of_several_sub_words_is_trained_and_read_on_its_first() -> None:
    from kagglekit.models.kerashub import token_lists

    _, tokenizer = tiny_bert()
    tokens, labels = ["Fires", "near", "\n\n", "forest"], ["B-PER", "I-PER", "O", "O"]
    [sub] = subwords([sequence(tokens, labels)], lambda texts: token_lists(tokenizer, np.asarray(texts, dtype=object)))
    ids = [VOCAB.index(w) for w in ("fire", "##s", "near", "forest")]
    assert sub.ids.tolist() == ids and sub.word.tolist() == [0, 0, 1, 3] and sub.n_words == 4
    assert sub.first.tolist() == [0, 2, -1, 3]  # the whitespace token has no sub-word

    place = np.array([[-1, 0, 1, 2, 3, -1, -1]])  # [CLS] fire ##s near forest [SEP] [PAD]
    y, weight = window_targets([sub], [labels], LABELS, place, [(0, 0)])
    assert weight.tolist() == [[0, 1, 0, 1, 1, 0, 0]]  # ##s, the special tokens and the padding are out of the loss
    assert y[0, [1, 3, 4]].tolist() == [1, 2, 0]

    proba = np.array([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.2, 0.1, 0.7], [0.6, 0.3, 0.1]], dtype=np.float32)
    rows = merge(sub, [(0, proba)], len(LABELS))
    assert rows.shape == (4, 3)  # one row per competition token
    np.testing.assert_allclose(rows, [proba[0], proba[2], [1, 0, 0], proba[3]])  # "Fires" read on "fire", not "##s"


def test_a_long_document_is_cut_into_overlapping_windows_and_each_token_takes_its_most_central_one() -> None:
    sub = one_per_word(10)
    assert window_starts(sub, 6, 0.5) == [0, 3, 4]  # half a window apart, the last flush with the end
    assert window_starts(sub, 10, 0.5) == [0] and window_starts(sub, 12, 0.5) == [0]
    # a window starts on a word's first sub-word: words of 2 sub-words, a cut at sub-word 3 moves back to 2
    pairs = SubWords(np.arange(12, dtype=np.int32), np.repeat(np.arange(6), 2), 6, np.zeros(0, np.int32))
    assert window_starts(pairs, 6, 0.5) == [0, 2, 4, 6]

    windows = [(start, np.eye(3, dtype=np.float32)[[r] * 6]) for r, start in enumerate([0, 3, 4])]  # window r says label r
    rows = merge(sub, windows, 3)
    # farthest from a cut edge (a window edge at the document's start or end is no cut); a tie keeps the earlier window
    assert rows.argmax(axis=1).tolist() == [0, 0, 0, 0, 0, 1, 1, 2, 2, 2]
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)

    shuffled = merge(pairs, [(s, np.full((6, 3), s, np.float32)) for s in [0, 2, 4, 6]], 3)
    assert shuffled.shape == (6, 3) and shuffled[:, 0].tolist() == [0, 0, 2, 4, 6, 6]  # each word read on its first sub-word


@pytest.fixture
def tiny_default_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny BERT as the default checkpoint, as a machine with the offline wheel has all-MiniLM-L6-v2."""
    preset = write_tiny_bert_preset(tmp_path / "tiny_bert")
    monkeypatch.setattr(checkpoints, "_FOUND", {})
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, str(preset))
    return preset


def test_a_token_run_with_the_transformer_gives_every_token_a_probability_and_a_valid_submission(
        tiny_default_checkpoint: Path, tmp_path: Path) -> None:
    directory, _ = write_pii_competition(tmp_path / "data" / "demo-pii", documents=12, test_documents=3)
    # windows of 32 positions: the essays (100+ sub-words) are cut into overlapping windows in training and prediction
    params = {"sequence_length": 32, "epochs": 3, "batch_size": 8, "learning_rate": 1e-3}
    result = train(directory, ["transformer"], folds=2, output=tmp_path, params={"transformer": params})
    assert result.leaderboard["status"].tolist() == ["ok"] and not result.left_out
    run = TokenRun(result.run.directory)
    n_tokens = sum(len(s.tokens) for s in result.data.train)
    oof = run.oof("transformer")
    assert oof.shape == (n_tokens, len(result.data.labels)) and np.allclose(oof.sum(axis=1), 1.0, atol=1e-4)
    submission = pd.read_csv(result.submissions["ensemble"])
    assert list(submission.columns) == ["row_id", "document", "token", "label"]
    assert validate(result.submissions["ensemble"], directory) == len(submission)  # a row per predicted token

    model = run.load_model("transformer")
    assert model.sequence_length_ == 32 and model.precision_ == "float32" and model.jit_compile_ is False  # the CPU's
    assert model.history_["loss"][-1] < model.history_["loss"][0]  # it learnt
    assert max(len(s.ids) for s in model.featurize(result.data.train)) > 3 * 32  # so documents were windowed
    again = np.concatenate(model.predict_proba(model.featurize(result.data.test)))
    np.testing.assert_allclose(again, run.test_proba("transformer"), atol=1e-5)  # the saved refit predicts the same
    assert [len(p) for p in split(again, result.data.test)] == [len(s.tokens) for s in result.data.test]
    assert predict(run, "My name is Maria Chen.").model == "transformer"


def test_without_a_preset_or_the_default_checkpoint_it_is_left_out_with_the_reason(tmp_path: Path,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoints, "_FOUND", {})
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, "hf://test/tiny-bert")  # conftest's hub is a closed port
    directory, _ = write_pii_competition(tmp_path / "data" / "demo-pii", documents=6, test_documents=2)
    data = load(directory)
    assert get_model("transformer").left_out(data).startswith("no checkpoint hf://test/tiny-bert: cannot reach")
    assert get_model("transformer", preset=str(tmp_path / "given")).left_out(data) is None  # a named preset is tried
    result = train(directory, ["lookup", "transformer"], folds=2, output=tmp_path)
    assert "cannot reach" in result.left_out["transformer"] and not result.failed
    assert result.leaderboard["model"].tolist() == ["lookup"]
    named = train(directory, ["transformer"], folds=2, output=tmp_path, run="named",
                  params={"transformer": {"preset": str(tmp_path / "given")}})
    assert not named.left_out and list(named.failed) == ["transformer"]  # the named preset was tried: not there


def test_all_leaves_the_transformer_out_without_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the row transformer: fine-tuning is hours on a CPU, so --all says so and how to run it anyway."""
    from kagglekit.tokens import pipeline

    monkeypatch.setattr(pipeline, "available_models", lambda kind=None: ["lookup", "transformer"])
    monkeypatch.setattr(pipeline, "visible_gpus", lambda: [])
    directory, _ = write_pii_competition(tmp_path / "data" / "demo-pii", documents=6, test_documents=2)
    result = train(directory, None, folds=2, output=tmp_path)
    assert result.left_out == {"transformer": "it fine-tunes a transformer, hours on a CPU; "
                                              "name it with -m transformer to train it anyway"}
    assert result.leaderboard["model"].tolist() == ["lookup"]


def test_a_span_competitions_query_is_packed_before_every_window(tmp_path: Path) -> None:
    """NBME's layout: the feature asked about is the first segment, ``[CLS] query [SEP] window [SEP]``, in each window."""
    preset = write_tiny_bert_preset(tmp_path / "tiny_bert")
    words = "fire near the forest is so lovely tonight my car is fast".split()
    rows = [Sequence(i, "note", words, np.zeros((12, 2), np.int64), " ".join(words), query=query,
                     labels=["B-SPAN" if w in answer else "O" for w in words])
            for i, (query, answer) in enumerate([("flood warning", {"fire", "forest"}), ("new album", {"car"})])]
    import tensorflow as tf

    model = get_model("transformer", preset=str(preset), sequence_length=12)
    features = model.featurize(rows)
    model._prepare(features, ["O", "B-SPAN"], tf.distribute.get_strategy())  # what fit builds before it trains
    x, place, owners = model._windows(features[:1])
    assert owners == [(0, 0), (0, 3), (0, 5)]  # 12 words in windows of 12 - 3 special tokens - 2 query words
    cls, sep, flood, warning = (VOCAB.index(w) for w in ("[CLS]", "[SEP]", "flood", "warning"))
    assert x["token_ids"][1].tolist() == [cls, flood, warning, sep, *(VOCAB.index(w) for w in words[3:10]), sep]
    assert x["segment_ids"][1].tolist() == [0] * 4 + [1] * 8 and place[1].tolist() == [-1] * 4 + list(range(7)) + [-1]
    proba = model.predict_proba(features)  # an untrained head, still one row per word
    assert [p.shape for p in proba] == [(12, 2), (12, 2)] and np.allclose(np.concatenate(proba).sum(axis=1), 1.0)

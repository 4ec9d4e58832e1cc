"""The work a Keras text model shares within a fit: the texts are vectorised once per fit (not once per epoch or per
batch), the training network reads token ids (no string op in its steps), and the saved model still reads raw strings.
The sparse character n-grams are bounded and computed once per distinct word."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kagglekit.models import get_model, load_model
from kagglekit.models import keras_models
from kagglekit.models import features
from kagglekit.models.sklearn_models import CHAR_MAX_FEATURES, word_char_tfidf

TEXTS = np.array([f"{w} fire near the {p}" if i % 2 else f"{w} coffee with {p} friends"
                  for i, (w, p) in enumerate(zip(["big", "small", "new", "old"] * 10, ["town", "river", "city", "coast", "hill"] * 8))],
                 dtype=object)
LABELS = np.arange(len(TEXTS)) % 2


def test_texts_are_vectorised_once_per_fit_not_per_epoch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[int] = []
    vectorize = keras_models._vectorize

    def counted(layer: object, strings: np.ndarray) -> np.ndarray:
        calls.append(len(strings))
        return vectorize(layer, strings)

    monkeypatch.setattr(keras_models, "_vectorize", counted)
    model = get_model("dense", epochs=4, patience=10, batch_size=8).fit(TEXTS[:30], LABELS[:30], val=(TEXTS[30:], LABELS[30:]))
    assert len(model.history_["loss"]) == 4
    assert calls == [30, 10]  # the training texts once, the validation texts once, for all 4 epochs
    network = model._network()
    assert not any(isinstance(layer, keras.layers.TextVectorization) for layer in network._flatten_layers())
    assert network.inputs[0].dtype == "int64"
    calls.clear()
    model.predict(TEXTS)
    assert calls == [len(TEXTS)]
    model.save(tmp_path / "dense")  # ...and the saved model is the vectorizer in front of the same network
    saved = keras.models.load_model(tmp_path / "dense" / keras_models.KERAS_FILE)
    raw = saved.predict(tf.constant([[t] for t in TEXTS]), verbose=0)[:, 0]
    np.testing.assert_allclose(raw, model.predict(TEXTS)[:, 1], rtol=1e-5)
    np.testing.assert_allclose(load_model(tmp_path / "dense").predict(TEXTS), model.predict(TEXTS), rtol=1e-5)


def test_char_ngrams_are_cut_once_per_distinct_word_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    essays = [" ".join(["students", "should", "phones", f"word{i % 50}"] * 100) for i in range(60)]  # 400 words each
    cut: list[str] = []
    char_wb_ngrams = features.char_wb_ngrams

    def counted(word: str, low: int, high: int) -> list[str]:
        cut.append(word)
        return char_wb_ngrams(word, low, high)

    monkeypatch.setattr(features, "char_wb_ngrams", counted)
    chars = features.CharTfidf((2, 5), max_features=40)
    assert chars.fit_transform(essays).shape == (60, 40) and len(chars.vocabulary_) == 40
    assert sorted(cut) == sorted({w for e in essays for w in e.split()})  # 53 words cut, not 24,000
    assert chars.transform(essays[:2]).shape == (2, 40)
    union = dict(word_char_tfidf(min_df=2, char_ngram_max=5).transformer_list)
    assert union["chars"].max_features == CHAR_MAX_FEATURES

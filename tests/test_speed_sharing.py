"""The work a Keras text model shares within a fit: the texts are vectorised once per fit (not once per epoch or per
batch), the training network reads token ids (no string op in its steps), and the saved model still reads raw strings.
Across fits, a released compiled network serves the next fit of its shape (no tracing again) with the predictions a
fresh network gives. The sparse character n-grams are bounded and computed once per distinct word."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from kagglekit.engine.trainer import run
from kagglekit.inputs import Inputs
from kagglekit.models import get_model, load_model
from kagglekit.models import keras_models
from kagglekit.models.compiled import NETWORKS
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


SIZES = {"max_tokens": 40, "sequence_length": 8}  # pinned, as a run pins them, so every fold's network has one shape


def _frame(rows: slice) -> Inputs:
    """Texts with a categorical side column: the siamese network (encoder, category embedding, head)."""
    frame = pd.DataFrame({"text": TEXTS, "keyword": ["fire" if i % 2 else "coffee" for i in range(len(TEXTS))]})
    inputs = Inputs.of(frame)
    assert inputs.schema.categorical == ["keyword"]
    return inputs[np.arange(len(TEXTS))[rows]]


@pytest.mark.parametrize("name", ["dense", "gru"])
def test_a_released_network_serves_the_next_fit_with_a_fresh_networks_predictions(name: str, tmp_path: Path) -> None:
    NETWORKS.clear()

    def fit(train: slice, val: slice, seed: int) -> object:
        return get_model(name, epochs=3, batch_size=8, seed=seed, **SIZES).fit(_frame(train), LABELS[train], val=(_frame(val), LABELS[val]))

    fresh = fit(slice(10, 40), slice(0, 10), seed=43).predict(_frame(slice(None)))
    NETWORKS.clear()
    first = fit(slice(0, 30), slice(30, 40), seed=42)
    first.release()
    reused_before = NETWORKS.reused
    second = fit(slice(10, 40), slice(0, 10), seed=43)  # another fold, another seed: the same network shape
    assert NETWORKS.reused == reused_before + 1
    np.testing.assert_allclose(second.predict(_frame(slice(None))), fresh, atol=1e-6)  # not the first fold's training
    second.save(tmp_path / name)
    np.testing.assert_allclose(load_model(tmp_path / name).predict(_frame(slice(None))), fresh, atol=1e-6)


def test_a_model_that_is_not_released_never_shares_its_network() -> None:
    NETWORKS.clear()
    kept = get_model("dense", epochs=2, batch_size=8, **SIZES).fit(TEXTS[:30], LABELS[:30])
    before = kept.predict(TEXTS)
    get_model("dense", epochs=2, batch_size=8, seed=7, **SIZES).fit(TEXTS[10:], LABELS[10:])
    np.testing.assert_array_equal(kept.predict(TEXTS), before)


def test_the_engine_reuses_each_models_network_across_its_folds(tiny_competition: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The folds after the first take the released network; the run equals one that builds every network afresh
    (nothing kept)."""
    from tests.test_engine import config

    NETWORKS.clear()
    reused_before = NETWORKS.reused
    shared = run(config(tiny_competition, tmp_path / "shared", ["dense"], ensemble=False)).run
    assert NETWORKS.reused - reused_before == 2  # folds 2 and 3
    monkeypatch.setattr(NETWORKS, "max_kept", 0)
    NETWORKS.clear()
    afresh = run(config(tiny_competition, tmp_path / "afresh", ["dense"], ensemble=False)).run
    assert NETWORKS.reused - reused_before == 2
    np.testing.assert_allclose(shared.oof("dense"), afresh.oof("dense"), atol=1e-6)
    np.testing.assert_allclose(shared.test_proba("dense"), afresh.test_proba("dense"), atol=1e-6)


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

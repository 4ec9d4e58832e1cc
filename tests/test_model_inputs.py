"""Every scikit-learn and Keras text model reads every input: on a generated pair competition whose score depends on
both sides, a model that reads one side scores about 0 and a pair-aware one clearly more; a categorical side column
with signal lifts the score; a saved model keeps its schema and predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.errors import ModelError
from kagglekit.inputs import InputField, Inputs, InputSchema, normalise
from kagglekit.models import get_model, get_model_class, load_model
from kagglekit.models.base import TaskSpec
from kagglekit.models.features import CharTfidf

KEYS = [f"{a}{b}" for a in ("bo", "ka", "li", "mu", "ne") for b in ("rex", "tal", "vin", "zor", "pud", "gam")]
MODIFIERS = ["upper", "lower", "rotary", "thermal", "hollow", "compact", "sealed", "digital"]
CODES = [f"{c}{n:02d}" for c in "ABCD" for n in range(1, 6)]
HOT = set(CODES[::2])  # the contexts where a pair scores higher
PAIR = InputSchema((InputField("anchor", "phrase"), InputField("target", "phrase")), (("anchor", "target"),))
WITH_CONTEXT = InputSchema((*PAIR.fields, InputField("context", "categorical")), PAIR.groups)
ONE_SIDE = InputSchema((InputField("target", "phrase"),), (("target",),))
REGRESSION = TaskSpec("regression", 1)
SKLEARN = ["baseline", "tfidf_lr", "count_nb"]
KERAS = ["dense", "lstm", "gru", "bilstm", "conv1d"]


def pairs(rows: int, seed: int) -> pd.DataFrame:
    """Phrase pairs: the score is 0.6 when the target names the anchor's key word (with other modifiers), plus 0.4 in
    a "hot" context. Each side alone, and the context alone, is drawn independently of whether the pair matches."""
    rng = np.random.default_rng(seed)
    anchor_keys = rng.choice(KEYS, rows)
    match = rng.random(rows) < 0.5
    target_keys = np.where(match, anchor_keys, rng.choice(KEYS, rows))
    match = target_keys == anchor_keys
    context = rng.choice(CODES, rows)

    def phrase(key: str) -> str:
        return f"{rng.choice(MODIFIERS)} {key}" if rng.random() < 0.7 else str(key)

    return pd.DataFrame({
        "anchor": [phrase(k) for k in anchor_keys], "target": [phrase(k) for k in target_keys], "context": context,
        "score": 0.6 * match + 0.4 * np.isin(context, list(HOT)) + rng.normal(0.0, 0.05, rows),
    })


TRAIN, TEST = pairs(900, 0), pairs(400, 1)


def inputs(frame: pd.DataFrame, schema: InputSchema) -> Inputs:
    return Inputs(normalise(frame, schema), schema)


def fit(name: str, schema: InputSchema, **params: object) -> tuple[object, float]:
    """Fit ``name`` on TRAIN read under ``schema``; the model and its Pearson correlation on TEST."""
    train = inputs(TRAIN, schema)
    cls = get_model_class(name)
    keras_params = {"epochs": 12, "patience": 3} if "epochs" in cls.param_names() else {}
    model = get_model(name, **cls.prepare_params({**keras_params, **params}, train))
    model.fit(train, TRAIN.score.to_numpy(), task=REGRESSION, val=(inputs(TEST, schema), TEST.score.to_numpy()))
    return model, float(np.corrcoef(model.predict(inputs(TEST, schema))[:, 0], TEST.score)[0, 1])


def _cases(names: list[str], fast: set[str]) -> list:
    return [pytest.param(n, id=n, marks=[] if n in fast else [pytest.mark.slow]) for n in names]


@pytest.mark.parametrize("name", _cases(SKLEARN, set(SKLEARN)))
def test_sklearn_models_read_both_sides_and_the_context(name: str, tmp_path: Path) -> None:
    _, one_side = fit(name, ONE_SIDE)
    _, pair = fit(name, PAIR)
    model, everything = fit(name, WITH_CONTEXT)
    assert abs(one_side) < 0.15  # one side alone says nothing about the score
    assert pair > one_side + 0.5 and pair > 0.6
    assert everything > pair + 0.1  # the context carries the rest of the score
    model.save(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert loaded.schema_ == WITH_CONTEXT
    np.testing.assert_allclose(loaded.predict(inputs(TEST, WITH_CONTEXT)), model.predict(inputs(TEST, WITH_CONTEXT)))


def test_naive_bayes_reads_the_pair_features_of_a_classification_task() -> None:
    """The pair block is non-negative, so multinomial naive Bayes takes it; matching pairs are told apart."""
    train, test = inputs(TRAIN, PAIR), inputs(TEST, PAIR)
    labels = (TRAIN.score.to_numpy() > 0.5).astype(int), (TEST.score.to_numpy() > 0.5).astype(int)
    pair = get_model("baseline").fit(train, labels[0]).predict_proba(test)[:, 1]
    side = get_model("baseline").fit(inputs(TRAIN, ONE_SIDE), labels[0]).predict_proba(inputs(TEST, ONE_SIDE))[:, 1]
    assert np.corrcoef(pair, labels[1])[0, 1] > np.corrcoef(side, labels[1])[0, 1] + 0.15


@pytest.mark.parametrize("name", _cases(KERAS, set()))
def test_siamese_keras_models_read_both_sides_and_the_context(name: str, tmp_path: Path) -> None:
    _, one_side = fit(name, ONE_SIDE, input_mode="siamese")
    model, everything = fit(name, WITH_CONTEXT, input_mode="siamese")
    assert abs(one_side) < 0.15
    assert everything > one_side + 0.5 and everything > 0.6
    model.save(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert loaded.schema_ == WITH_CONTEXT and loaded.get_params()["input_mode"] == "siamese"
    np.testing.assert_allclose(loaded.predict(inputs(TEST, WITH_CONTEXT)), model.predict(inputs(TEST, WITH_CONTEXT)), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_categorical_column_with_signal_lifts_the_siamese_score() -> None:
    _, pair = fit("dense", PAIR, input_mode="siamese")
    _, everything = fit("dense", WITH_CONTEXT, input_mode="siamese")
    assert everything > pair + 0.1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dense", "conv1d"])
def test_joined_keras_models_read_the_marked_fields(name: str, tmp_path: Path) -> None:
    """One joined sequence with field markers also sees every field (weaker on pairs: the siamese default wins)."""
    model, joined = fit(name, WITH_CONTEXT, input_mode="joined")
    _, one_side = fit(name, ONE_SIDE, input_mode="joined")
    assert joined > one_side + 0.2
    model.save(tmp_path / name)
    np.testing.assert_allclose(load_model(tmp_path / name).predict(inputs(TEST, WITH_CONTEXT)),
                               model.predict(inputs(TEST, WITH_CONTEXT)), rtol=1e-5, atol=1e-6)


def test_siamese_numerics_are_imputed_scaled_and_saved(tmp_path: Path) -> None:
    schema = InputSchema((*WITH_CONTEXT.fields, InputField("size", "numeric")), PAIR.groups)
    frame = TRAIN.assign(size=np.where(np.arange(len(TRAIN)) % 7 == 0, np.nan, TRAIN.score * 10))
    model = get_model("dense", epochs=2, input_mode="siamese").fit(inputs(frame, schema), TRAIN.score.to_numpy(), task=REGRESSION)
    scaled = model._features(inputs(frame, schema))["numeric_inputs"]
    assert np.isfinite(scaled).all() and abs(scaled.mean()) < 0.05
    model.save(tmp_path / "dense")
    np.testing.assert_allclose(load_model(tmp_path / "dense").predict(inputs(frame, schema)), model.predict(inputs(frame, schema)), rtol=1e-5, atol=1e-6)


def test_a_lone_text_field_reads_the_same_in_every_mode() -> None:
    texts = np.array(["fire in the forest", "i love summer", "flood warning now", "my car is fast"] * 6, dtype=object)
    y = np.array([1, 0, 1, 0] * 6)
    joined, siamese = (get_model("dense", epochs=2, input_mode=mode).fit(texts, y) for mode in ("joined", "siamese"))
    np.testing.assert_allclose(joined.predict(texts), siamese.predict(texts), rtol=1e-6)
    with pytest.raises(ModelError, match="input_mode must be one of joined, siamese"):
        get_model("dense", input_mode="tuple").fit(texts, y)


def test_char_ngrams_counted_per_word_equal_char_wb_tfidf() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    train = ["Forest fire near La Ronge", "a b  c", "supercalifragilistic word", "", "fire fire FIRE"]
    test = ["unseen forest words", "ab"]
    for kwargs in ({"min_df": 1}, {"min_df": 2}, {"min_df": 1, "max_features": 15}):
        ours = CharTfidf((2, 5), **kwargs)
        theirs = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, **kwargs)
        np.testing.assert_allclose(ours.fit_transform(train).toarray(), theirs.fit_transform(train).toarray(), atol=1e-12)
        np.testing.assert_allclose(ours.transform(test).toarray(), theirs.transform(test).toarray(), atol=1e-12)
        assert ours.vocabulary_ == theirs.vocabulary_


def test_count_naive_bayes_reads_punctuation_and_case_as_style() -> None:
    """Two authors with the same words, told apart only by ";" against "," and "I" against "i": scikit-learn's default
    tokens (lower-cased words of two or more letters) see no difference; count_nb's tokens do."""
    rng = np.random.default_rng(0)
    words = np.array("the night was dark and the house stood silent upon the hill".split())

    def sentences(n: int, mark: str, me: str) -> list[str]:
        return [f"{' '.join(rng.choice(words, 6))}{mark} {me} saw {' '.join(rng.choice(words, 4))}" for _ in range(n)]

    texts = np.array(sentences(60, ";", "I") + sentences(60, ",", "i"))
    labels = np.repeat([0, 1], 60)
    test = np.array(sentences(20, ";", "I") + sentences(20, ",", "i"))
    truth = np.repeat([0, 1], 20)
    accuracy = (get_model("count_nb").fit(texts, labels).predict_proba(test).argmax(1) == truth).mean()
    blind = (get_model("count_nb", lowercase=True).fit(np.char.replace(np.char.replace(texts, ";", ""), ",", ""), labels)
             .predict_proba(test).argmax(1) == truth).mean()
    assert accuracy == 1.0 and blind < 0.75

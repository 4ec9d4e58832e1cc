"""The CRF's token features: shapes, document-level casing, word classes learned from the competition's own text, and
a saved CRF that featurises new text with the classes it was trained with. Tiny texts: seconds."""

from __future__ import annotations

import numpy as np
import pytest

from kagglekit.tokens.features import WordClusters, long_shape, token_features, word_shape
from kagglekit.tokens.layout import Sequence, tokenize
from kagglekit.tokens.models import get_model, load_model


def sequence(text: str, key: int = 0, labels: list[str] | None = None) -> Sequence:
    tokens, offsets = tokenize(text, kind="tokens")
    return Sequence(key=key, group=str(key), tokens=tokens, offsets=offsets, text=text, labels=labels)


def test_shapes_collapse_runs_or_keep_the_length() -> None:
    assert word_shape("McDonald42") == "XxXxd"
    assert long_shape("McDonald42") == "XxXxxxxxdd"
    assert word_shape("U.S.") == "X.X."


def test_a_capitalised_word_is_described_by_its_other_occurrences_in_the_document() -> None:
    text = "BLAIR WINS . Voters backed Blair on Monday and Blair said so . Markets fell ."
    features = token_features(sequence(text))
    tokens = [f["word"] for f in features]
    headline = features[tokens.index("BLAIR")]
    assert headline["doc:title"] is True and "doc:lower" not in headline  # title case mid-sentence elsewhere
    last = features[len(tokens) - 1 - tokens[::-1].index("Blair")]
    assert last["doc:first_prev"] == "<s>" and last["doc:first_start"] is True  # its first occurrence: the headline
    assert "doc:first_prev" not in headline  # the first occurrence has no earlier one
    again = token_features(sequence("Voters backed Smith . Smith won ."))[4]
    assert (again["word"], again["doc:first_prev"], again["doc:first_next"], again["doc:first_start"]) == ("Smith", "backed", ".", False)
    assert not any(key.startswith("doc:") for key in features[tokens.index("fell")])  # lower-case words: none
    # every other occurrence's words at +-1 and +-2: the headline learns "backed", "said" and "Monday" from the mentions
    assert {"doc:-1:backed", "doc:+1:said", "doc:+2:monday", "doc:start:False"} <= set(headline)
    assert "doc:-1:<s>" in last and "doc:+1:wins" in last and "doc:+1:said" not in last  # not its own context


def test_word_classes_group_words_used_alike_and_place_unseen_words_from_their_contexts() -> None:
    animals = [f"the {w} ran away ." for w in ("cat", "dog", "cow", "fox") for _ in range(3)]
    numbers = [f"he has {w} apples now ." for w in ("one", "two", "six", "ten") for _ in range(3)]
    train = [sequence(text, key) for key, text in enumerate(animals + numbers)]
    clusters = WordClusters(sizes=(2,), dims=4).fit(train)
    table = {w: c[0] for w, c in clusters.table_.items()}
    assert table["cat"] == table["dog"] == table["fox"] != table["one"] == table["six"]
    unseen = clusters.assign([sequence("the horse ran away . he has nine apples now .")])[0]
    tokens = "the horse ran away . he has nine apples now .".split()
    assert unseen[tokens.index("horse")] == (table["cat"],) and unseen[tokens.index("nine")] == (table["one"],)


def test_a_saved_crf_featurises_new_text_with_the_word_classes_it_was_fitted_with(tmp_path) -> None:
    texts = [f"{name} met {other} in Paris ." for name, other in (("Anna", "Ben"), ("Carl", "Dana"), ("Eva", "Finn"))] * 4
    labels = ["B-NAME", "O", "B-NAME", "O", "O", "O"]
    train = [sequence(text, key, labels) for key, text in enumerate(texts)]
    prototype = get_model("crf", max_iterations=20)
    features = prototype.featurize(train)
    model = get_model("crf", max_iterations=20).fit(features, [s.labels for s in train], ["O", "B-NAME"])
    assert model.clusters_ is prototype.clusters_  # a fresh fold or refit model keeps the classes it was fed
    model.save(tmp_path)
    loaded = load_model(tmp_path)
    new = [sequence("Gus met Anna in Paris .", 99)]
    assert loaded.featurize(new)[0].classes == prototype.featurize(new)[0].classes
    proba = loaded.predict_proba(loaded.featurize(new))[0]
    assert proba.shape == (6, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert proba[2, 1] > 0.5  # "Anna", seen as a name in training


def test_a_text_too_small_for_word_classes_gives_its_tokens_none() -> None:
    clusters = WordClusters().fit([sequence("just three words")])  # every word seen once: below min_count
    assert clusters.table_ == {} and clusters.assign([sequence("two words")]) == [[(), ()]]
    assert not any(key.startswith("class") for key in token_features(sequence("two words"), [(), ()])[0])

"""Input schema inference: every column of train and test is used in a role, or named with the reason it is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kagglekit.errors import DataError
from kagglekit.inputs import Inputs, InputSchema, Roles, classify_column, infer_schema, normalise

PHRASES = ["rotary valve", "hollow shaft", "optical lens", "coated blade", "porous filter", "magnetic ring", "sealed tank"]


def _patents(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The layout of us-patent-phrase-to-phrase-matching: hex ids, repeated anchors, varied targets, CPC codes."""
    rng = np.random.default_rng(seed)
    anchors = [f"{rng.choice(PHRASES)} {k}" for k in rng.integers(0, 60, n)]  # repeated, as the real anchors are
    targets = [f"{rng.choice(PHRASES)} {w}" for w in rng.integers(0, 10_000, n)]
    frame = pd.DataFrame({
        "id": [f"{i:016x}" for i in rng.integers(0, 2**62, n)],
        "anchor": anchors, "target": targets,
        "context": rng.choice([f"{c}{k:02d}" for c in "ABCDEFGH" for k in range(1, 6)], n),
        "score": rng.choice([0, 0.25, 0.5, 0.75, 1.0], n),
    })
    return frame.iloc[: n * 3 // 4].reset_index(drop=True), frame.iloc[n * 3 // 4:].drop(columns="score").reset_index(drop=True)


def test_a_phrase_pair_with_a_code_column_is_read_as_pair_plus_categorical() -> None:
    train, test = _patents()
    schema = infer_schema(train, test, ["id", "score"])
    assert schema.groups == (("anchor", "target"),) and schema.pairs == [("anchor", "target")]
    assert schema.categorical == ["context"] and schema.kind("anchor") == schema.kind("target") == "phrase"
    assert schema.describe() == "anchor + target (phrase pair), context (categorical, 40 values)"
    assert InputSchema.from_dict(schema.to_dict()) == schema


def test_columns_left_out_are_named_with_the_reason() -> None:
    n = 120
    rng = np.random.default_rng(1)
    train = pd.DataFrame({
        "id": range(n), "row_code": [f"x{i:05d}" for i in range(n)], "serial": np.arange(n) * 7,
        "url": [f"https://example.org/{i}" for i in range(n)], "constant": "same", "sparse": [None] * (n - 2) + ["a", "b"],
        "text": [f"a sentence with words number {i} and more" for i in range(n)], "train_only": rng.random(n),
        "label": rng.integers(0, 2, n),
    })
    test = train.drop(columns=["label", "train_only"]).assign(id=range(n, 2 * n), test_only="x")
    schema = infer_schema(train, test, ["id", "label"])
    reasons = dict(schema.left_out)
    assert schema.names == ["text"]
    assert reasons["row_code"].startswith("id-like") and reasons["serial"].startswith("id-like")
    assert reasons["url"] == "URLs" and reasons["constant"].startswith("one value")
    assert reasons["sparse"].startswith("empty in") and reasons["train_only"].startswith("only in train.csv")
    assert reasons["test_only"] == "only in test.csv"
    assert "left out: row_code (id-like" in schema.describe()


def test_a_categorical_whose_test_values_are_new_is_left_out() -> None:
    train = pd.DataFrame({"prompt": ["p1", "p2"] * 30, "text": [f"essay text number {i} here" for i in range(60)]})
    test = pd.DataFrame({"prompt": ["p3", "p4"] * 10, "text": [f"another essay {i} here" for i in range(20)]})
    kind, why = classify_column(train["prompt"], test["prompt"])
    assert kind is None and "test values never occur in train" in why


def test_numbers_are_numeric_inputs_and_tweets_keep_their_keyword() -> None:
    train = pd.DataFrame({"keyword": ["fire", "flood", "storm"] * 40, "location": [f"Town {i % 60} Street" for i in range(120)],
                          "text": [f"tweet {i} about something that happened" for i in range(120)], "likes": np.arange(120) % 17 * 1.5})
    schema = infer_schema(train, train, [])
    assert schema.categorical == ["keyword"] and schema.numeric == ["likes"]
    assert schema.kind("location") == "phrase" and schema.kind("text") == "text" and schema.main_group == ["text"]
    assert schema.groups == (("location",), ("text",))


def test_a_lone_free_form_short_text_beside_the_text_is_left_out_with_the_way_back() -> None:
    """A tweet's location: 1.5 rows per value, too varied to learn from; naming a role brings it back."""
    train = pd.DataFrame({"location": [f"Town {i % 80} Street" for i in range(120)],
                          "text": [f"tweet {i} about something that happened" for i in range(120)]})
    schema = infer_schema(train, train, [])
    assert schema.names == ["text"]
    assert dict(schema.left_out)["location"] == ("free-form short text, 1.5 rows per value: too varied to learn from beside the "
                                                 "text; use it with --categorical-column location, or --text-column text "
                                                 "--text-column location")
    assert infer_schema(train, train, [], Roles(categorical=["location"])).categorical == ["location"]
    assert infer_schema(train, train, [], Roles(text=["text", "location"])).groups == (("text", "location"),)


def test_declared_roles_override_the_inference() -> None:
    train, test = _patents()
    roles = Roles(pairs=[["target", "anchor"]], numeric=[], ignore=["context"])
    schema = infer_schema(train, test, ["id", "score"], roles)
    assert schema.groups == (("target", "anchor"),) and dict(schema.left_out) == {"context": "--ignore-column"}
    named = infer_schema(train, test, ["id", "score"], Roles(text=["anchor"], categorical=["target"]))
    assert named.text_fields == ["anchor"] and named.categorical == ["target", "context"]


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (Roles(text=["anchr"]), "has no column 'anchr'; columns of both files: anchor, target, context"),
        (Roles(pairs=[["anchor"]]), "--pair takes two or more columns"),
        (Roles(text=["anchor"], categorical=["anchor"]), "'anchor' is given two roles"),
        (Roles(categorical=["score"]), "'score' is the id, a target or the group column"),
        (Roles(numeric=["anchor"]), "train.csv: --numeric-column 'anchor' holds '[a-z 0-9]+' at line 2; declare it --categorical-column"),
    ],
)
def test_a_wrong_role_is_a_clear_error(roles: Roles, message: str) -> None:
    train, test = _patents()
    with pytest.raises(DataError, match=message):
        infer_schema(train, test, ["id", "score"], roles)


def test_inputs_slice_join_and_segment_like_the_models_read_them() -> None:
    train, test = _patents(400)
    schema = infer_schema(train, test, ["id", "score"])
    inputs = Inputs(normalise(train, schema), schema)
    part = inputs[np.arange(len(inputs)) % 2 == 0]
    assert len(part) == 150 and part.column("anchor")[1] == train["anchor"][2]
    row = train.iloc[0]
    assert inputs.joined()[0] == f"anchor: {row.anchor} | target: {row.target} | context: {row.context}"
    first, second = inputs.segments()
    assert first[0] == row.anchor and second[0] == f"{row.target} | context: {row.context}"
    single = Inputs.of(["only text", None])
    assert single.joined().tolist() == ["only text", ""] and single.schema == InputSchema.single()
    filled = Inputs.of(["a lone string"], schema)
    assert filled.column("anchor").tolist() == ["a lone string"] and filled.column("target").tolist() == [""]

"""Model inputs: which columns of a competition are fed to the models, in what role, and the rows themselves.

Every column of both train.csv and test.csv that is not the id, a target or the group is classified as long
text, a short phrase, a categorical or a numeric input and used by default (``infer_schema``); a column left
out is named with the reason. Text fields of the same kind form a group read together (a pair such as
``anchor + target``, or a tuple such as ``prompt + response_a + response_b``). ``Inputs`` carries the rows
under that schema to the models, each of which reads them in its own way: one joined sequence with field
markers, one block of features per field, or segments for a cross-encoder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from kagglekit.errors import DataError

Kind = Literal["text", "phrase", "categorical", "numeric"]
TEXT_KINDS: tuple[str, ...] = ("text", "phrase")
# The field a model reads when it is handed bare strings (a notebook, `kagglekit predict`, the tests).
DEFAULT_FIELD = "text"
# A phrase is short: fewer characters than this on average (patent phrases, locations, titles of a few words).
PHRASE_MAX_CHARS = 30
# A string column is categorical when it holds at most this many values, each used twice or more on average, or
# when its values are codes (one token each) repeated on average at least CODE_MIN_REPEATS times (keywords, CPC
# codes, discourse types, languages).
CATEGORICAL_MAX_VALUES = 50
CODE_MIN_REPEATS = 5
CODE_TOKEN_SHARE = 0.9
MOSTLY_EMPTY = 0.95
# A lone short-text column beside the main text is used when its values repeat at least this often on average.
SIDE_PHRASE_MIN_REPEATS = 2.0
URL = re.compile(r"^\s*(https?://|www\.)\S+\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class InputField:
    """One input column and how the models read it; ``detail`` is what the printed schema says about it."""

    name: str
    kind: Kind
    detail: str = ""


@dataclass(frozen=True)
class InputSchema:
    """The model inputs of a competition: fields in the files' column order, text groups and the columns left out.

    ``groups`` lists the text fields read together: two or more fields of the same kind (a pair or a tuple) or
    one field alone. ``left_out`` maps every other non-id, non-target column to the reason it is not an input.
    """

    fields: tuple[InputField, ...]
    groups: tuple[tuple[str, ...], ...] = ()
    left_out: tuple[tuple[str, str], ...] = ()

    @classmethod
    def single(cls, name: str = DEFAULT_FIELD) -> "InputSchema":
        """One text field: what bare strings are."""
        return cls((InputField(name, "text"),), ((name,),))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def of_kind(self, *kinds: str) -> list[str]:
        return [f.name for f in self.fields if f.kind in kinds]

    @property
    def text_fields(self) -> list[str]:
        return self.of_kind(*TEXT_KINDS)

    @property
    def categorical(self) -> list[str]:
        return self.of_kind("categorical")

    @property
    def numeric(self) -> list[str]:
        return self.of_kind("numeric")

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every two sides of a text group, in order: the pairs whose similarity is a feature."""
        return [(a, b) for group in self.groups for i, a in enumerate(group) for b in group[i + 1:]]

    @property
    def is_single_text(self) -> bool:
        return len(self.fields) == 1 and self.fields[0].kind in TEXT_KINDS

    @property
    def main_group(self) -> list[str]:
        """The text fields a model reads first: the group holding long text, else the first group, else the first field."""
        for kind in TEXT_KINDS:
            for group in self.groups:
                if any(self.kind(name) == kind for name in group):
                    return list(group)
        return [self.fields[0].name]

    @property
    def primary(self) -> str:
        """The field a lone string fills (`kagglekit predict "..."`): the first field of the main group."""
        return self.main_group[0]

    def kind(self, name: str) -> Kind:
        return next(f.kind for f in self.fields if f.name == name)

    def describe(self, left_out: bool = True) -> str:
        """One line for the console and the manifest: ``anchor + target (phrase pair), context (categorical, 106 values)``."""
        parts, grouped = [], {name for group in self.groups if len(group) > 1 for name in group}
        for group in self.groups:
            if len(group) > 1:
                kind = "text" if any(self.kind(n) == "text" for n in group) else "phrase"
                shape = "pair" if len(group) == 2 else f"{len(group)}-tuple"
                parts.append(f"{' + '.join(group)} ({kind} {shape})")
        for f in self.fields:
            if f.name not in grouped:
                parts.append(f"{f.name} ({f.kind}{', ' + f.detail if f.detail else ''})")
        text = ", ".join(parts)
        if self.left_out and left_out:
            text += "; left out: " + "; ".join(f"{name} ({why})" for name, why in self.left_out)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [{"name": f.name, "kind": f.kind, "detail": f.detail} for f in self.fields],
            "groups": [list(g) for g in self.groups],
            "left_out": {name: why for name, why in self.left_out},
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> "InputSchema":
        return cls(
            tuple(InputField(f["name"], f["kind"], f.get("detail", "")) for f in record["fields"]),
            tuple(tuple(g) for g in record.get("groups", [])),
            tuple(record.get("left_out", {}).items()),
        )


class Inputs:
    """Rows of model inputs under a schema: indexable like an array, so folds slice it as they slice targets.

    Text and categorical values are strings (missing: empty), numerics floats (missing: the column's training
    mean is the model's business; here NaN).
    """

    def __init__(self, frame: pd.DataFrame, schema: InputSchema):
        self.frame = frame.reset_index(drop=True)
        self.schema = schema

    @classmethod
    def of(cls, data: Any, schema: InputSchema | None = None) -> "Inputs":
        """Inputs from Inputs, a DataFrame with the schema's columns, or bare strings (the schema's primary field)."""
        if isinstance(data, Inputs):
            return data
        if isinstance(data, pd.DataFrame):
            schema = schema or infer_frame_schema(data)
            missing = [n for n in schema.names if n not in data.columns]
            if missing:
                raise DataError(f"the inputs lack column(s) {', '.join(map(repr, missing))}; they need {', '.join(schema.names)}")
            return cls(normalise(data, schema), schema)
        schema = schema or InputSchema.single()
        texts = as_strings(data)
        frame = pd.DataFrame({name: ([""] * len(texts) if schema.kind(name) != "numeric" else np.nan) for name in schema.names})
        frame[schema.primary] = texts
        return cls(frame, schema)

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index: Any) -> "Inputs":
        return Inputs(self.frame.iloc[np.asarray(index) if not isinstance(index, slice) else index], self.schema)

    def column(self, name: str) -> np.ndarray:
        """One text or categorical field as a 1-d object array of strings."""
        return self.frame[name].to_numpy(dtype=object)

    def numbers(self) -> np.ndarray:
        """The numeric fields as an (n, k) float matrix, NaN where missing."""
        return self.frame[self.schema.numeric].to_numpy(dtype=np.float64)

    def joined(self) -> np.ndarray:
        """One string per row for the models that read one sequence.

        A lone text field is the text as it is (so single-text competitions read exactly as before); otherwise
        every field as ``name: value``, the main text group first, joined by `` | ``; empty fields are left out
        so a marker never stands alone.
        """
        if self.schema.is_single_text:
            return self.column(self.schema.fields[0].name)
        return self._marked(self.schema.main_group + [n for n in self.schema.names if n not in self.schema.main_group])

    def segments(self) -> list[np.ndarray]:
        """Segments for a cross-encoder: one per field of the main text group, every other field appended to the
        last as ``name: value`` (``[CLS] anchor [SEP] target | context: A47 [SEP]``)."""
        main = self.schema.main_group
        side = [n for n in self.schema.names if n not in main]
        segments = [self.column(n) for n in main]
        if side:
            extra = self._marked(side)
            segments[-1] = np.array([f"{t} | {e}" if t and e else (t or e) for t, e in zip(segments[-1], extra)], dtype=object)
        return segments

    def _marked(self, names: list[str]) -> np.ndarray:
        columns = [self.frame[n].astype(str).tolist() if self.schema.kind(n) != "numeric"
                   else [("" if np.isnan(v) else f"{v:g}") for v in self.frame[n]] for n in names]
        return np.array([" | ".join(f"{n}: {v}" for n, v in zip(names, row) if v) for row in zip(*columns)], dtype=object)


def as_strings(values: Any) -> np.ndarray:
    """Raw strings as a 1-d object array; None and NaN become empty strings."""
    array = np.asarray(values, dtype=object).reshape(-1)
    return np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in array], dtype=object)


def normalise(frame: pd.DataFrame, schema: InputSchema) -> pd.DataFrame:
    """The schema's columns of ``frame``: stripped strings (missing: empty) and floats (missing: NaN)."""
    out = {}
    for f in schema.fields:
        values = frame[f.name]
        if f.kind == "numeric":
            out[f.name] = pd.to_numeric(values, errors="coerce").astype(np.float64).to_numpy()
        else:
            out[f.name] = values.where(values.notna(), "").astype(str).str.strip().to_numpy(dtype=object)
    return pd.DataFrame(out)


@dataclass
class Roles:
    """Roles declared by the user; each overrides the inference for the columns it names."""

    text: list[str] = field(default_factory=list)
    pairs: list[list[str]] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)

    @property
    def declared(self) -> list[str]:
        return [*self.text, *(c for p in self.pairs for c in p), *self.categorical, *self.numeric, *self.ignore]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("text_columns", self.text), ("pairs", self.pairs), ("categorical_columns", self.categorical),
                                  ("numeric_columns", self.numeric), ("ignore_columns", self.ignore)) if v}


def infer_schema(train: pd.DataFrame, test: pd.DataFrame, reserved: Sequence[str], roles: Roles | None = None,
                 train_path: Path = Path("train.csv"), test_path: Path = Path("test.csv"),
                 decided: Mapping[str, tuple[Kind | None, str]] | None = None) -> InputSchema:
    """Classify every column of train.csv and test.csv that is not reserved (id, targets, group).

    Declared roles win; ``--text-column`` names the text fields (other text columns are then left out, said so).
    ``decided`` gives the (kind, detail) of columns classified elsewhere: a joined side table's columns, judged on
    that table's own rows (``kagglekit.tables``), where a prompt's text is text, not four values repeated.
    Raises a DataError naming the columns that exist when a declared column is missing or reserved, and when
    no column can be an input.
    """
    roles = roles or Roles()
    reserved = [str(c) for c in reserved]
    _check_declared(train, test, roles, reserved, train_path, test_path)
    fields: dict[str, InputField] = {}
    left_out: dict[str, str] = {}
    declared_pairs = {c for p in roles.pairs for c in p}
    for column in [str(c) for c in train.columns] + [str(c) for c in test.columns if c not in train.columns]:
        if column in reserved or column in fields or column in left_out:
            continue
        if column in roles.ignore:
            left_out[column] = "--ignore-column"
        elif column not in test.columns:
            left_out[column] = f"only in {train_path.name}: never a model input"
        elif column not in train.columns:
            left_out[column] = f"only in {test_path.name}"
        elif column in roles.categorical:
            fields[column] = InputField(column, "categorical", _values_detail(train[column], test[column]) + ", option")
        elif column in roles.numeric:
            _check_numeric(train, test, column, train_path, test_path)
            fields[column] = InputField(column, "numeric", "option")
        elif column in roles.text or column in declared_pairs:
            fields[column] = InputField(column, _text_kind(train[column]), "option")
        else:
            kind, detail = (decided or {}).get(column) or classify_column(train[column], test[column])
            if kind in TEXT_KINDS and roles.text:
                left_out[column] = "text, but --text-column names the text fields"
            elif kind is None:
                left_out[column] = detail
            else:
                fields[column] = InputField(column, kind, detail)
    for column, why in _sparse_side_phrases(fields, train, roles).items():
        del fields[column]
        left_out[column] = why
    promoted = _promote_to_text(fields, train, roles)
    if promoted:
        fields[promoted] = InputField(promoted, _text_kind(train[promoted]), "no other column holds text")
    ordered = tuple(fields[c] for c in [str(c) for c in train.columns] if c in fields)
    if not ordered:
        described = ", ".join(f"{name} ({why})" for name, why in left_out.items()) or "none"
        raise DataError(f"{train_path}: no column can be a model input (columns besides the id and targets: {described}); "
                        "name the text with --text-column")
    schema = InputSchema(ordered, _groups(ordered, roles), tuple(left_out.items()))
    return schema


def _sparse_side_phrases(fields: dict[str, InputField], train: pd.DataFrame, roles: Roles) -> dict[str, str]:
    """A lone inferred phrase column beside long text, whose values rarely repeat (a tweet's free-form location), and
    why it is left out: too short to read as text, too varied to learn as a category; on the tweets it cost the
    linear models a point of CV F1 and the ensemble a point of held-out F1. Naming a role brings it back."""
    phrases = [f.name for f in fields.values() if f.kind == "phrase"]
    if len(phrases) != 1 or not any(f.kind == "text" for f in fields.values()) or phrases[0] in roles.declared:
        return {}
    values = train[phrases[0]].dropna().astype(str).str.strip()
    repeats = len(values) / max(1, values.nunique())
    if repeats >= SIDE_PHRASE_MIN_REPEATS:
        return {}
    texts = " ".join(f"--text-column {f.name}" for f in fields.values() if f.kind == "text")
    return {phrases[0]: f"free-form short text, {repeats:.1f} rows per value: too varied to learn from beside the text; "
                        f"use it with --categorical-column {phrases[0]}, or {texts} --text-column {phrases[0]}"}


def _promote_to_text(fields: dict[str, InputField], train: pd.DataFrame, roles: Roles) -> str | None:
    """With no text field at all, the inferred categorical string column of most values is read as text: short
    labels such as a tiny competition's words are text to a text model."""
    if any(f.kind in TEXT_KINDS for f in fields.values()):
        return None
    candidates = [f.name for f in fields.values() if f.kind == "categorical" and f.name not in roles.categorical
                  and not pd.api.types.is_numeric_dtype(train[f.name])]
    return max(candidates, key=lambda c: train[c].nunique(), default=None)


def infer_frame_schema(frame: pd.DataFrame) -> InputSchema:
    """The schema of a bare DataFrame of inputs (a notebook's own frame): its columns classified on themselves."""
    return infer_schema(frame, frame, [])


def classify_column(train: pd.Series, test: pd.Series) -> tuple[Kind | None, str]:
    """A column's kind and the detail printed beside it, or (None, why it is left out)."""
    both = pd.concat([train, test], ignore_index=True)
    present = both.dropna()
    if present.empty or len(present) < (1 - MOSTLY_EMPTY) * len(both):
        return None, f"empty in {100 * (1 - len(present) / max(1, len(both))):.0f}% of rows"
    if test.notna().mean() < 1 - MOSTLY_EMPTY:
        return None, f"empty in {100 * test.isna().mean():.0f}% of test rows"
    if present.nunique() < 2:
        return None, f"one value ({present.iloc[0]!r}) in every row"
    if pd.api.types.is_numeric_dtype(both) or pd.api.types.is_bool_dtype(both):
        if _id_like(train) and pd.api.types.is_integer_dtype(train.dropna()):
            return None, "id-like: a distinct integer on every row"
        return "numeric", ""
    strings = present.astype(str).str.strip()
    if (strings.str.match(URL)).mean() >= 0.5:
        return None, "URLs"
    one_token = (~strings.str.contains(r"\s")).mean()
    if _id_like(train) and one_token >= CODE_TOKEN_SHARE:
        return None, "id-like: a distinct code on every row"
    n_values = strings.nunique()
    train_values = set(train.dropna().astype(str).str.strip())
    test_values = set(test.dropna().astype(str).str.strip())
    codes = one_token >= CODE_TOKEN_SHARE and len(strings) >= CODE_MIN_REPEATS * n_values
    few = n_values <= CATEGORICAL_MAX_VALUES and len(strings) >= 2 * n_values
    if few or codes:
        seen = np.mean([v in train_values for v in test.dropna().astype(str).str.strip()]) if test_values else 1.0
        if seen < 0.5:
            return None, f"categorical, but {100 * (1 - seen):.0f}% of its test values never occur in train"
        return "categorical", _values_detail(train, test)
    return _text_kind(strings), ""


def _text_kind(values: pd.Series) -> Kind:
    chars = values.dropna().astype(str).str.len().mean()
    return "phrase" if chars < PHRASE_MAX_CHARS else "text"


def _values_detail(train: pd.Series, test: pd.Series) -> str:
    return f"{pd.concat([train, test]).dropna().astype(str).str.strip().nunique()} values"


def _id_like(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > CATEGORICAL_MAX_VALUES and present.nunique() == len(values)


def _groups(fields: tuple[InputField, ...], roles: Roles) -> tuple[tuple[str, ...], ...]:
    """Declared pairs first; text columns named with --text-column are one group, in the order given; the other
    text fields are grouped by kind (two or more of a kind are read together)."""
    groups = [tuple(p) for p in roles.pairs]
    taken = {c for p in roles.pairs for c in p}
    if roles.text:
        groups.append(tuple(c for c in roles.text if c not in taken))
        taken.update(roles.text)
    for kind in TEXT_KINDS:
        members = tuple(f.name for f in fields if f.kind == kind and f.name not in taken)
        if len(members) > 1:
            groups.append(members)
        else:
            groups.extend((m,) for m in members)
    order = {f.name: i for i, f in enumerate(fields)}
    return tuple(sorted((g for g in groups if g), key=lambda g: min(order[c] for c in g)))


def _check_declared(train: pd.DataFrame, test: pd.DataFrame, roles: Roles, reserved: list[str],
                    train_path: Path, test_path: Path) -> None:
    """A declared column exists in both files, is declared once and is not the id, a target or the group."""
    usable = [str(c) for c in train.columns if c in test.columns and str(c) not in reserved]
    seen: set[str] = set()
    for pair in roles.pairs:
        if len(pair) < 2:
            raise DataError(f"--pair takes two or more columns separated by commas (e.g. --pair anchor,target), got {','.join(pair)!r}")
    for column in roles.declared:
        if column in seen:
            raise DataError(f"column {column!r} is given two roles; give each column one of --text-column, --pair, "
                            "--categorical-column, --numeric-column, --ignore-column")
        seen.add(column)
        if column in reserved:
            raise DataError(f"'{column}' is the id, a target or the group column; it cannot be a model input")
        if column in roles.ignore and (column in train.columns or column in test.columns):
            continue
        if column in train.columns and column not in test.columns:
            raise DataError(f"'{column}' is only in {train_path.name}, not in {test_path.name}: a model input must be in both "
                            f"(columns of both files: {', '.join(usable) or 'none'})")
        if column not in train.columns or column not in test.columns:
            where = test_path.name if column in train.columns else train_path.name
            raise DataError(f"{where} has no column {column!r}; columns of both files: {', '.join(usable) or 'none'}")
    for column in [*roles.text, *(c for p in roles.pairs for c in p)]:
        for frame, path in ((train, train_path), (test, test_path)):
            values = frame[column]
            if pd.api.types.is_numeric_dtype(values) and values.notna().any():
                first = int(values.notna().to_numpy().argmax())
                raise DataError(f"{path}: text column '{column}' is numeric ({values.iloc[first]} at line {first + 2}); "
                                "choose the column that holds the text with --text-column, or declare it --numeric-column")


def _check_numeric(train: pd.DataFrame, test: pd.DataFrame, column: str, train_path: Path, test_path: Path) -> None:
    for frame, path in ((train, train_path), (test, test_path)):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            first = int(bad.to_numpy().argmax())
            raise DataError(f"{path}: --numeric-column '{column}' holds {frame[column].iloc[first]!r} at line {first + 2}; "
                            "declare it --categorical-column or fix the value")

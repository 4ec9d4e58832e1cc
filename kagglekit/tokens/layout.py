"""Reading token and span competitions: which files, which columns, and the sequences the models tag.

Three layouts are recognised from the files alone:

- **tokens** (PII Data Detection): ``train.json``/``test.json`` (records, or JSON lines, or a CSV whose list columns
  hold JSON lists), one document per record with a list of tokens and, in train, a list of labels of the same
  length; the sample has one row per predicted token (``row_id, document, token, label``).
- **segments** (Feedback Prize - Evaluating Student Writing): ``train.csv`` with one row per labelled segment
  (``id, discourse_type, predictionstring``: the segment's word indices, words being the essay split on
  whitespace), the essays in ``train/{id}.txt`` and ``test/{id}.txt``; each essay becomes a token sequence of its
  words with BIO labels per discourse type (``B-Claim``, ``I-Claim``, ..., ``O`` outside every segment), and the
  sample has one row per predicted segment (``id, class, predictionstring``). Its kind is ``tokens`` (every token
  model takes it); ``TokenLayout.segments`` tells the metric and the submission apart.
- **spans** (NBME): a CSV whose target column holds character spans (``"696 724;733 739"`` or
  ``"['696 724', '733 739']"``), its text either in the row or in another CSV joined on a shared key
  (``patient_notes.csv`` on ``pn_num``), and any other short text joined the same way (``features.csv``'s
  ``feature_text``) as the row's query; the sample has one span string per row.

Either way the models see :class:`Sequence` objects: tokens with character offsets into the text, an optional
query, the CV group (every token of a document, or every row of a note, in one fold) and BIO labels.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from kagglekit.errors import DataError

OUTSIDE = "O"
SPAN_LABEL = "SPAN"  # the one entity type of a span competition: inside an answer span or not
META_FILE = "kagglekit.json"  # what `kagglekit fetch` records, e.g. the evaluation metric
TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")  # how span competitions' texts are split into tokens
# how a new text is split for a token competition: spaCy-like, whitespace-separated words with leading and trailing
# punctuation split off, so an e-mail or URL stays one token as in PII's data
WORD_PATTERN = re.compile(r"[(\[\"']|[^\s(\[\"']+?(?=[.,;:!?)\]\"']*(?:\s|$))|[.,;:!?)\]\"']")
WORDS = re.compile(r"\S+")  # a Feedback essay's words: its predictionstring indices count them
SPANS = re.compile(r"^\s*(\d+\s+\d+\s*(;\s*\d+\s+\d+\s*)*)?$")
SPAN_CHECK_ROWS = 200  # rows read to recognise a span column
SEGMENT_COLUMNS = ("id", "discourse_type", "predictionstring")  # what marks a train.csv as Feedback's
OVERLAP_METRIC = "overlap_f1"  # Feedback's score: the metric a segments layout is run with unless told otherwise
DETECT_ROWS = 5000  # rows of a CSV read to recognise its layout (a shared key's most specific column among them)


def entity_type(label: str) -> str:
    """The entity type a label tags: "B-NAME" and "I-NAME" are "NAME"; a label of a plain scheme is its own type."""
    return label[2:] if label[:2] in ("B-", "I-") else label


def segment_classes(labels: list[str]) -> list[str]:
    """The segment classes of a BIO (or plain) label set: B-Claim and I-Claim are Claim."""
    return sorted({entity_type(label) for label in labels if label != OUTSIDE})


@dataclass(frozen=True)
class TokenLayout:
    """What was recognised in a competition folder: the shape, its files and columns, and the submission layout."""

    kind: Literal["tokens", "spans"]
    directory: Path
    train_file: Path
    test_file: Path
    sample_file: Path | None
    id_column: str  # tokens: the document column; spans: the row id
    text_column: str | None  # tokens: the document text, if any; spans: the text the spans index
    tokens_column: str | None = None
    labels_column: str | None = None
    whitespace_column: str | None = None
    location_column: str | None = None
    group_column: str | None = None  # spans: the key of the joined text (a note), so its rows share a fold
    query_columns: tuple[str, ...] = ()
    joins: tuple[tuple[str, str], ...] = ()  # (file name, key column) joined onto train and test
    submission_columns: tuple[str, ...] = ()
    metric: str | None = None  # Kaggle's metric name from kagglekit.json, when fetch recorded it
    essay_folders: tuple[str, ...] = ()  # segments: the folders of {id}.txt essays, train's then test's

    @property
    def segments(self) -> bool:
        """Feedback's layout: word-index segments of essays, a row per predicted segment in the submission."""
        return bool(self.essay_folders)

    def files(self) -> list[Path]:
        """Every file the sequences are read from (a run's fingerprint hashes them): the essays of a segments layout."""
        files = [self.train_file, *(self.directory / name for name, _ in self.joins)]
        if not self.segments:
            return [files[0], self.test_file, *files[1:]]
        return files + [path for folder in self.essay_folders for path in sorted((self.directory / folder).glob("*.txt"))]

    def describe(self) -> str:
        """One line for the user, as the inputs line of a row-per-answer competition."""
        if self.segments:
            parts = [f"segments: essays of {'/ and '.join(self.essay_folders)}/ as whitespace-separated words, BIO labels per "
                     f"{self.labels_column!r} from the word indices in {self.location_column!r}, essays by {self.id_column!r}"]
        elif self.kind == "tokens":
            parts = [f"tokens: one label per token of {self.tokens_column!r} (labels {self.labels_column!r}), "
                     f"documents by {self.id_column!r}"]
            if self.whitespace_column:
                parts.append(f"whitespace {self.whitespace_column!r}")
        else:
            parts = [f"spans: character spans of {self.location_column!r} in {self.text_column!r}, rows by {self.id_column!r}"]
            if self.query_columns:
                parts.append(f"query {' + '.join(self.query_columns)}")
            if self.joins:
                parts.append("joined " + ", ".join(f"{name} on {key}" for name, key in self.joins))
            if self.group_column:
                parts.append(f"CV groups by {self.group_column!r}")
        parts.append(f"submission {', '.join(self.submission_columns)}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {key: (str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value)
                for key, value in self.__dict__.items()}


@dataclass
class Sequence:
    """One tagged unit: a document (tokens) or a (text, query) row (spans)."""

    key: str | int  # the document id or row id the submission names, as the file has it
    group: str  # rows of one group stay in one CV fold
    tokens: list[str]
    offsets: np.ndarray  # (n_tokens, 2) character start and end of each token in ``text``
    text: str
    query: str = ""
    labels: list[str] | None = None  # BIO labels, one per token (train only)
    spans: list[tuple[int, int]] = field(default_factory=list)  # spans layout: the true character spans
    segments: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # segments layout: (class, word indices)


@dataclass
class TokenData:
    """A loaded token or span competition: its layout, the training and test sequences and the label set."""

    name: str
    layout: TokenLayout
    train: list[Sequence]
    test: list[Sequence]
    labels: list[str]  # "O" first, then the entity labels sorted
    sample: pd.DataFrame | None

    @property
    def kind(self) -> str:
        return self.layout.kind

    def describe(self) -> str:
        n_tokens = sum(len(s.tokens) for s in self.train)
        entities = segment_classes(self.labels)
        unit = "essays" if self.layout.segments else "documents" if self.kind == "tokens" else "rows"
        return (f"{self.layout.describe()}\n{len(self.train)} training and {len(self.test)} test "
                f"{unit}, {n_tokens} training tokens, "
                f"{len(entities)} entity types: {', '.join(entities)}")


# --- reading files -----------------------------------------------------------------------------------------------


def read_table(path: Path, rows: int | None = None, as_text: tuple[str, ...] = ()) -> pd.DataFrame:
    """A JSON (records or lines), JSON-lines or CSV file as a DataFrame; a bad file is one error naming it.

    ``rows`` reads only the first rows of a CSV (recognising a layout need not read a large train.csv twice);
    ``as_text`` names CSV columns read as strings (an essay id "012345678901" must keep its leading zero).
    """
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, nrows=rows, dtype=dict.fromkeys(as_text, str))
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl" or (text.lstrip()[:1] == "{" and "\n{" in text.strip()):
            return pd.DataFrame([json.loads(line) for line in text.splitlines() if line.strip()])
        records = json.loads(text)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"cannot read {path}: {str(e).splitlines()[0]}; fix or replace the file") from None
    if isinstance(records, dict):  # {"column": [values...]} or {"data": [records...]}
        lists = [v for v in records.values() if isinstance(v, list)]
        records = lists[0] if len(lists) == 1 and lists[0] and isinstance(lists[0][0], dict) else records
    try:
        return pd.DataFrame(records)
    except ValueError as e:
        raise DataError(f"{path} is JSON but not a table of records ({e}); expected a list of objects") from None


def _find(directory: Path, stem: str) -> Path | None:
    for suffix in (".json", ".jsonl", ".csv"):
        if (directory / f"{stem}{suffix}").is_file():
            return directory / f"{stem}{suffix}"
    return None


def _as_list(value: Any) -> list | None:
    """A list cell: a JSON list, or a CSV string holding one (JSON or a Python literal)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(value)
    if isinstance(value, str) and value.startswith("["):
        try:
            return list(json.loads(value))
        except ValueError:
            try:
                parsed = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return None
            return list(parsed) if isinstance(parsed, (list, tuple)) else None
    return None


def parse_spans(value: Any) -> list[tuple[int, int]]:
    """``"696 724;733 739"``, ``"['696 724', '733 739;740 745']"`` or empty -> [(696, 724), (733, 739), ...]."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    items = _as_list(value)
    parts = [str(v) for v in items] if items is not None else [str(value)]
    spans = []
    for part in parts:
        for piece in part.split(";"):
            if piece.strip():
                start, end = piece.split()
                spans.append((int(start), int(end)))
    return spans


def format_spans(spans: list[tuple[int, int]]) -> str:
    return ";".join(f"{start} {end}" for start, end in spans)


def _is_span_column(values: pd.Series) -> bool:
    """Every checked cell is a span string (or a list of them) and some are not empty."""
    seen = False
    for value in values.dropna().head(SPAN_CHECK_ROWS):
        items = _as_list(value)
        parts = [str(v) for v in items] if items is not None else [str(value)]
        if not all(SPANS.match(part) for part in parts):
            return False
        seen = seen or any(part.strip() for part in parts)
    return seen


def _is_text(values: pd.Series) -> bool:
    """A column of strings (object dtype in pandas 2, str in pandas 3)."""
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


def _metric_name(directory: Path) -> str | None:
    path = directory / META_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("evaluation_metric")
    except (OSError, ValueError):
        return None


# --- recognising the layout --------------------------------------------------------------------------------------


def detect(directory: Path | str) -> TokenLayout | None:
    """The token or span layout of a competition folder, or None for a row-per-answer competition.

    Cheap enough to call on every folder before the row-per-answer loader: it reads the training file's first
    records only once it has found a file named like a token or span competition's.
    """
    directory = Path(directory)
    segments = _detect_segments(directory)
    if segments is not None:
        return segments
    train_file, test_file = _find(directory, "train"), _find(directory, "test")
    if train_file is None or test_file is None:
        return None
    sample_file = next((p for p in sorted(directory.glob("sample_submission.*")) if p.suffix in (".csv", ".json", ".jsonl")), None)
    train = read_table(train_file, rows=DETECT_ROWS)
    sample = read_table(sample_file, rows=DETECT_ROWS) if sample_file else None
    metric = _metric_name(directory)
    token_layout = _detect_tokens(directory, train, train_file, test_file, sample_file, sample, metric)
    if token_layout is not None:
        return token_layout
    if train_file.suffix == ".csv":
        return _detect_spans(directory, train, train_file, test_file, sample_file, sample, metric)
    return None


def _detect_segments(directory: Path) -> TokenLayout | None:
    """Feedback's layout: train.csv with id, discourse_type and predictionstring beside a train/ folder of essays."""
    train_file = directory / "train.csv"
    if not train_file.is_file() or not (directory / "train").is_dir():
        return None
    columns = read_table(train_file, rows=1).columns
    if not all(c in columns for c in SEGMENT_COLUMNS):
        return None
    sample_file = directory / "sample_submission.csv"
    submission = tuple(read_table(sample_file, rows=1).columns) if sample_file.is_file() else ("id", "class", "predictionstring")
    return TokenLayout("tokens", directory, train_file, directory / "test", sample_file if sample_file.is_file() else None,
                       "id", None, labels_column="discourse_type", location_column="predictionstring",
                       submission_columns=submission, metric=OVERLAP_METRIC, essay_folders=("train", "test"))


def _detect_tokens(directory: Path, train: pd.DataFrame, train_file: Path, test_file: Path, sample_file: Path | None,
                   sample: pd.DataFrame | None, metric: str | None) -> TokenLayout | None:
    """A column of token lists and a column of label lists of the same lengths."""
    head = train.head(20)
    lists = {c: [_as_list(v) for v in head[c]] for c in head.columns}
    lists = {c: v for c, v in lists.items() if v and all(item is not None for item in v)}
    string_lists = [c for c, v in lists.items() if all(all(isinstance(x, str) for x in item) for item in v)]
    bool_lists = [c for c, v in lists.items() if all(all(isinstance(x, bool) for x in item) for item in v) and c not in string_lists]
    for tokens_column in string_lists:
        for labels_column in string_lists:
            if labels_column == tokens_column:
                continue
            # most records, not all: a bad record is reported by load with its row, not left unrecognised
            same_lengths = np.mean([len(a) == len(b) for a, b in zip(lists[tokens_column], lists[labels_column])]) >= 0.5
            few_values = len({x for item in lists[labels_column] for x in item}) <= max(50, len(lists[tokens_column]) // 10)
            if same_lengths and few_values and _looks_like_labels(lists[labels_column]):
                whitespace = next((c for c in bool_lists if all(len(a) == len(b) for a, b in zip(lists[tokens_column], lists[c]))), None)
                document = next((c for c in ("document", "doc_id", "id") if c in train.columns), None)
                if document is None:
                    raise DataError(f"{train_file.name} has tokens in {tokens_column!r} and labels in {labels_column!r} but no "
                                    f"document column (document, doc_id or id): add one naming each record")
                texts = [c for c in train.columns if c not in lists and _is_text(train[c])]
                text_column = "full_text" if "full_text" in train.columns else (texts[0] if texts else None)
                columns = tuple(sample.columns) if sample is not None else ("row_id", "document", "token", "label")
                return TokenLayout("tokens", directory, train_file, test_file, sample_file, document, text_column,
                                   tokens_column=tokens_column, labels_column=labels_column, whitespace_column=whitespace,
                                   submission_columns=columns, metric=metric)
    return None


def _looks_like_labels(items: list[list]) -> bool:
    """Label lists repeat a few values, and O (or BIO tags) among them: not a second list of words."""
    values = [x for item in items for x in item]
    if not values:
        return False
    tagged = sum(x == OUTSIDE or x[:2] in ("B-", "I-") for x in values) / len(values)
    return tagged > 0.5 or len(set(values)) <= 0.05 * len(values)


def _detect_spans(directory: Path, train: pd.DataFrame, train_file: Path, test_file: Path, sample_file: Path | None,
                  sample: pd.DataFrame | None, metric: str | None) -> TokenLayout | None:
    """A span column in train (and in the sample), the text in the row or in a CSV joined on a shared key."""
    span_columns = [c for c in train.columns if _is_text(train[c]) and _is_span_column(train[c])]
    if not span_columns:
        return None
    location = next((c for c in span_columns if sample is not None and c in sample.columns), span_columns[0])
    test = pd.read_csv(test_file, nrows=5)
    id_column = next((c for c in (sample.columns if sample is not None else []) if c != location and c in test.columns), None)
    if id_column is None:
        id_column = "id" if "id" in train.columns else train.columns[0]
    joins, group = [], None
    frames = {"": train}
    for other in sorted(directory.glob("*.csv")):
        if other in (train_file, test_file, sample_file):
            continue
        head = pd.read_csv(other, nrows=5)
        keys = [c for c in head.columns if c in train.columns and c in test.columns and c != id_column]
        if keys:
            # the most specific shared key: features.csv shares both case_num and feature_num; feature_num names a feature
            key = max(keys, key=lambda c: train[c].nunique())
            joins.append((other.name, key))
            frames[other.name] = pd.read_csv(other)
    texts = {}
    for name, frame in frames.items():
        for column in frame.columns:
            in_both = column in test.columns if not name else column not in train.columns  # an answer column is in train only
            if _is_text(frame[column]) and column not in span_columns and column != id_column and in_both:
                lengths = frame[column].dropna().astype(str).str.len()
                if len(lengths):
                    texts[column] = (float(lengths.mean()), name)
    if not texts:
        raise DataError(f"{train_file.name} has character spans in {location!r} but no text they index: add the text as a "
                        "column, or a CSV sharing a key column with train and test (as patient_notes.csv on pn_num)")
    text_column = max(texts, key=lambda c: texts[c][0])
    text_source = texts[text_column][1]
    if text_source:
        group = dict(joins)[text_source]
    # the query: the other texts beside the one the spans index (a feature's description)
    queries = tuple(c for c in texts if c != text_column)
    columns = tuple(sample.columns) if sample is not None else (id_column, location)
    return TokenLayout("spans", directory, train_file, test_file, sample_file, id_column, text_column,
                       location_column=location, group_column=group, query_columns=queries, joins=tuple(joins),
                       submission_columns=columns, metric=metric)


# --- loading sequences ---------------------------------------------------------------------------------------------


def load(directory: Path | str, name: str | None = None, layout: TokenLayout | None = None) -> TokenData:
    """The competition in ``directory`` as sequences; raises DataError naming the file, row and fix when one is bad."""
    directory = Path(directory)
    layout = layout or detect(directory)
    if layout is None:
        raise DataError(f"{directory} holds no token or span competition: expected train.json/test.json with token and "
                        "label lists per document, or a CSV with a character-span column (\"696 724;733 739\")")
    sample = read_table(layout.sample_file) if layout.sample_file else None
    if layout.segments:
        train, test = _segment_sequences(layout), _essay_sequences(layout, layout.test_file)
        found = sorted({kind for s in train for kind, _ in s.segments})
        labels = [OUTSIDE] + sorted(f"{prefix}-{kind}" for kind in found for prefix in "BI")
    elif layout.kind == "tokens":
        train = _token_sequences(read_table(layout.train_file), layout, layout.train_file.name, labelled=True)
        test = _token_sequences(read_table(layout.test_file), layout, layout.test_file.name, labelled=False)
        found = {label for s in train for label in s.labels or []}
        labels = [OUTSIDE] + sorted(found - {OUTSIDE})
    else:
        train = _span_sequences(layout, layout.train_file, labelled=True)
        test = _span_sequences(layout, layout.test_file, labelled=False)
        labels = [OUTSIDE, f"B-{SPAN_LABEL}", f"I-{SPAN_LABEL}"]
    if not train:
        raise DataError(f"{layout.train_file} has no rows")
    return TokenData(name or directory.name, layout, train, test, labels, sample)


def _token_sequences(frame: pd.DataFrame, layout: TokenLayout, file: str, *, labelled: bool) -> list[Sequence]:
    required = [layout.id_column, layout.tokens_column] + ([layout.labels_column] if labelled else [])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{file} has no column {', '.join(map(repr, missing))} (columns: {', '.join(map(str, frame.columns))}): "
                        f"every record needs {', '.join(map(repr, required))}")
    if frame[layout.id_column].duplicated().any():
        dup = frame[layout.id_column][frame[layout.id_column].duplicated()].iloc[0]
        raise DataError(f"{file}: document {dup!r} appears twice in {layout.id_column!r}; give each document one record")
    sequences = []
    for row, record in enumerate(frame.to_dict("records")):
        key = _plain(record[layout.id_column])
        tokens = _as_list(record[layout.tokens_column])
        if tokens is None or not all(isinstance(t, str) for t in tokens):
            raise DataError(f"{file} row {row} (document {key}): {layout.tokens_column!r} is not a list of strings")
        labels = None
        if labelled:
            labels = _as_list(record[layout.labels_column])
            if labels is None or len(labels) != len(tokens):
                raise DataError(f"{file} row {row} (document {key}): {layout.tokens_column!r} has {len(tokens)} items but "
                                f"{layout.labels_column!r} has {len(labels) if labels is not None else 'no list of'} labels; "
                                "give one label per token")
            labels = [str(label) for label in labels]
        whitespace = _as_list(record.get(layout.whitespace_column)) if layout.whitespace_column else None
        if whitespace is not None and len(whitespace) != len(tokens):
            raise DataError(f"{file} row {row} (document {key}): {layout.whitespace_column!r} has {len(whitespace)} items "
                            f"for {len(tokens)} tokens; give one flag per token")
        text, offsets = _join_tokens(tokens, whitespace)
        sequences.append(Sequence(key, str(key), tokens, offsets, text, labels=labels))
    return sequences


def _join_tokens(tokens: list[str], whitespace: list | None) -> tuple[str, np.ndarray]:
    """The document text rebuilt from its tokens and trailing-whitespace flags (one space when there are none)."""
    offsets = np.zeros((len(tokens), 2), dtype=np.int64)
    pieces, position = [], 0
    for i, token in enumerate(tokens):
        offsets[i] = (position, position + len(token))
        pieces.append(token)
        position += len(token)
        if whitespace is None or whitespace[i]:
            pieces.append(" ")
            position += 1
    return "".join(pieces), offsets


def _plain(value: Any) -> str | int:
    """An id as the submission writes it: numpy integers become int, everything else its text."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return str(value)


def tokenize(text: str, kind: str = "spans") -> tuple[list[str], np.ndarray]:
    """Tokens with their character offsets: words and punctuation marks for a span competition's texts,
    whitespace-separated words with their punctuation split off for a token competition's new texts, or the
    whitespace-separated words themselves for a segments (Feedback) competition's."""
    pattern = TOKEN_PATTERN if kind == "spans" else WORDS if kind == "segments" else WORD_PATTERN
    matches = list(pattern.finditer(text))
    offsets = np.array([m.span() for m in matches], dtype=np.int64).reshape(-1, 2)
    return [m.group() for m in matches], offsets


def spans_to_labels(offsets: np.ndarray, spans: list[tuple[int, int]]) -> list[str]:
    """BIO labels of tokens that overlap the spans: B at a span's first token, I after it."""
    labels = [OUTSIDE] * len(offsets)
    for start, end in sorted(spans):
        inside = np.flatnonzero((offsets[:, 0] < end) & (offsets[:, 1] > start))
        for rank, i in enumerate(inside):
            labels[i] = f"{'B' if rank == 0 else 'I'}-{SPAN_LABEL}" if labels[i] == OUTSIDE else labels[i]
    return labels


def _span_sequences(layout: TokenLayout, path: Path, *, labelled: bool) -> list[Sequence]:
    frame = read_table(path)
    for name, key in layout.joins:
        other = pd.read_csv(layout.directory / name)
        extra = [c for c in other.columns if c not in frame.columns or c == key]
        if other[key].duplicated().any():
            dup = other[key][other[key].duplicated()].iloc[0]
            raise DataError(f"{name}: {key} {dup!r} appears twice; the file joined onto {path.name} needs one row per {key}")
        frame = frame.merge(other[extra], on=key, how="left")
    needed = [layout.id_column, layout.text_column] + ([layout.location_column] if labelled else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name} has no column {', '.join(map(repr, missing))} (columns: {', '.join(map(str, frame.columns))})")
    sequences = []
    for row, record in enumerate(frame.to_dict("records")):
        key = _plain(record[layout.id_column])
        text = record[layout.text_column]
        if not isinstance(text, str):
            raise DataError(f"{path.name} row {row} (id {key}): no text in {layout.text_column!r}"
                            + (f"; check that its key is in {', '.join(n for n, _ in layout.joins)}" if layout.joins else ""))
        query = " | ".join(str(record[c]) for c in layout.query_columns if isinstance(record.get(c), str))
        tokens, offsets = tokenize(text)
        spans: list[tuple[int, int]] = []
        labels = None
        if labelled:
            try:
                spans = parse_spans(record[layout.location_column])
            except ValueError:
                raise DataError(f"{path.name} row {row} (id {key}): {layout.location_column!r} is {record[layout.location_column]!r}, "
                                "not spans like \"696 724;733 739\"") from None
            bad = [s for s in spans if not 0 <= s[0] < s[1] <= len(text)]
            if bad:
                raise DataError(f"{path.name} row {row} (id {key}): span {bad[0][0]} {bad[0][1]} is outside its text of "
                                f"{len(text)} characters; spans are 0-based [start, end) character offsets")
            labels = spans_to_labels(offsets, spans)
        group = str(record[layout.group_column]) if layout.group_column else text
        sequences.append(Sequence(key, group, tokens, offsets, text, query, labels, spans))
    return sequences


def _essay(path: Path, key: str) -> Sequence:
    """An essay as its whitespace-separated words (Feedback's predictionstring indices count these)."""
    text = path.read_text(encoding="utf-8")
    matches = list(WORDS.finditer(text))
    offsets = np.array([m.span() for m in matches], dtype=np.int64).reshape(-1, 2)
    return Sequence(key, key, [m.group() for m in matches], offsets, text)


def _essay_sequences(layout: TokenLayout, folder: Path) -> list[Sequence]:
    """Every {id}.txt of a folder, in id order (the test essays: the submission names them)."""
    if not folder.is_dir():
        raise DataError(f"{layout.directory} has train.csv and train/ but no {folder.name}/ folder of essays: put the test "
                        f"essays there as {folder.name}/ID.txt")
    return [_essay(path, path.stem) for path in sorted(folder.glob("*.txt"))]


def _segment_sequences(layout: TokenLayout) -> list[Sequence]:
    """The training essays with their segments (one train.csv row each) and BIO labels per word."""
    frame = read_table(layout.train_file, as_text=(layout.id_column, layout.location_column))
    file, ids, kinds, words = layout.train_file.name, layout.id_column, layout.labels_column, layout.location_column
    folder = layout.directory / layout.essay_folders[0]
    essays: dict[str, Sequence] = {}
    for row, record in enumerate(frame.to_dict("records")):
        key = str(record[ids])
        where = f"{file} row {row} (id {key}" + (f", discourse_id {record['discourse_id']}" if "discourse_id" in record else "") + ")"
        if key not in essays:
            path = folder / f"{key}.txt"
            if not path.is_file():
                raise DataError(f"{where}: no essay {folder.name}/{key}.txt; add the essay's text there or drop its rows")
            essays[key] = _essay(path, key)
        essay = essays[key]
        try:
            indices = tuple(sorted({int(w) for w in str(record[words]).split()}))
        except ValueError:
            raise DataError(f"{where}: {words} {record[words]!r} is not word indices like \"0 1 2\"; fix the row") from None
        if not indices or indices[0] < 0:
            raise DataError(f"{where}: {words} {record[words]!r} names no word (indices count from 0); fix or drop the row")
        if indices[-1] >= len(essay.tokens):
            raise DataError(f"{where}: {words} index {indices[-1]} is past the end of {folder.name}/{key}.txt "
                            f"({len(essay.tokens)} words, 0 to {len(essay.tokens) - 1}); the indices count the essay's "
                            "whitespace-separated words: fix the row or replace the essay with the one it was labelled on")
        if not isinstance(record[kinds], str) or not record[kinds].strip():
            raise DataError(f"{where}: no {kinds}; give each segment its class (Claim, Evidence, ...) or drop the row")
        essay.segments.append((record[kinds].strip(), indices))
    for essay in essays.values():
        essay.labels = [OUTSIDE] * len(essay.tokens)
        for kind, indices in essay.segments:
            for rank, i in enumerate(indices):  # a word in two segments keeps the first one's label
                if essay.labels[i] == OUTSIDE:
                    essay.labels[i] = f"{'B' if rank == 0 else 'I'}-{kind}"
    return list(essays.values())

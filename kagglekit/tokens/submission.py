"""Token and span submissions: written in the sample's layout, and checked against it.

Tokens (PII): one row per token predicted as an entity, ``row_id, document, token, label`` (in the sample's
column order). Spans (NBME): one row per sample id, ``location`` holding ``"start end;start end"`` or nothing.
Segments (Feedback): one row per predicted segment, ``id, class, predictionstring`` (its word indices).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.errors import DataError
from kagglekit.io import atomic_path
from kagglekit.tokens.layout import OUTSIDE, TokenData, format_spans, load, parse_spans, segment_classes
from kagglekit.tokens.metrics import decode_segments, token_spans

ROW_ID, TOKEN, LABEL = "row_id", "token", "label"
CLASS, WORDS = "class", "predictionstring"  # Feedback's submission columns beside the essay id


def submission_frame(data: TokenData, decided: list[np.ndarray], decision: dict | None = None) -> pd.DataFrame:
    """The submission of decided label indices (one array per test sequence) in the sample's layout.

    ``decision`` carries what a segments layout needs beyond the labels: each class's minimum segment length.
    """
    columns = list(data.layout.submission_columns)
    if data.layout.segments:
        expected = [data.layout.id_column, CLASS, WORDS]
        if sorted(columns) != sorted(expected):
            raise DataError(f"sample_submission has columns {', '.join(columns)}; a segment submission fills "
                            f"{', '.join(expected)}")
        minimum = (decision or {}).get("min_words", {})
        rows = [(s.key, kind, " ".join(map(str, words))) for s, labels in zip(data.test, decided, strict=True)
                for kind, words in decode_segments(labels, data.labels, minimum)]
        return pd.DataFrame(rows, columns=expected)[columns]
    if data.kind == "tokens":
        known = {ROW_ID, data.layout.id_column, TOKEN, LABEL}
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise DataError(f"sample_submission has column(s) {', '.join(unknown)} that a token submission cannot fill; "
                            f"expected {ROW_ID}, {data.layout.id_column}, {TOKEN}, {LABEL}")
        rows = [(s.key, int(t), data.labels[label]) for s, labels in zip(data.test, decided, strict=True)
                for t, label in enumerate(labels) if label != 0]
        frame = pd.DataFrame(rows, columns=[data.layout.id_column, TOKEN, LABEL])
        frame.insert(0, ROW_ID, np.arange(len(frame)))
        return frame[columns]
    ids, location = data.layout.id_column, data.layout.location_column
    spans = {s.key: format_spans(token_spans(s, labels != 0)) for s, labels in zip(data.test, decided, strict=True)}
    order = list(data.sample[ids]) if data.sample is not None else list(spans)
    missing = [i for i in order if i not in spans]
    if missing:
        raise DataError(f"sample_submission.csv names id {missing[0]!r} ({len(missing)} in all) that is not in "
                        f"{data.layout.test_file.name}: use the sample that came with the test file")
    return pd.DataFrame({ids: order, location: [spans[i] for i in order]})[columns]


def write_submission(data: TokenData, decided: list[np.ndarray], path: Path | str, decision: dict | None = None) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".csv") as tmp:
        submission_frame(data, decided, decision).to_csv(tmp, index=False)
    return path


def validate(path: Path | str, directory: Path | str | None = None, data: TokenData | None = None) -> int:
    """Check a token or span submission against the competition's sample and test file; returns its row count.

    ``directory`` defaults to data/COMPETITION beside submissions/COMPETITION/FILE. The first problem is raised as a
    DataError naming the row, the column and the fix.
    """
    path = Path(path)
    if data is None:
        data = load(Path(directory) if directory else path.resolve().parents[2] / "data" / path.resolve().parent.name)
    try:
        frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"cannot read {path}: {str(e).splitlines()[0]}") from None
    expected = list(data.layout.submission_columns)
    if list(frame.columns) != expected:
        raise DataError(f"{path.name} has columns {', '.join(frame.columns)}; the sample's are {', '.join(expected)} "
                        "(same names, same order)")
    if data.layout.segments:
        _validate_segments(path.name, frame, data)
    elif data.kind == "tokens":
        _validate_tokens(path.name, frame, data)
    else:
        _validate_spans(path.name, frame, data)
    return len(frame)


def _validate_tokens(name: str, frame: pd.DataFrame, data: TokenData) -> None:
    document = data.layout.id_column
    lengths = {str(s.key): len(s.tokens) for s in data.test}
    entity_labels = set(data.labels) - {OUTSIDE}
    seen_ids: set[str] = set()
    seen_tokens: set[tuple[str, str]] = set()
    for row, record in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
        where = f"{name} line {row}"
        if not record[ROW_ID].isdigit() or record[ROW_ID] in seen_ids:
            raise DataError(f"{where}: {ROW_ID} {record[ROW_ID]!r} is not a new non-negative integer; number the rows 0, 1, 2, ...")
        seen_ids.add(record[ROW_ID])
        if record[document] not in lengths:
            raise DataError(f"{where}: {document} {record[document]!r} is not a document of {data.layout.test_file.name}")
        token = record[TOKEN]
        if not token.isdigit() or int(token) >= lengths[record[document]]:
            raise DataError(f"{where}: {TOKEN} {token!r} is not a token index of document {record[document]} "
                            f"(0 to {lengths[record[document]] - 1})")
        if record[LABEL] not in entity_labels:
            raise DataError(f"{where}: {LABEL} {record[LABEL]!r} is not an entity label of the training data "
                            f"({', '.join(sorted(entity_labels))}); leave O tokens out")
        if (record[document], token) in seen_tokens:
            raise DataError(f"{where}: token {token} of document {record[document]} is already labelled; one row per token")
        seen_tokens.add((record[document], token))


def _validate_segments(name: str, frame: pd.DataFrame, data: TokenData) -> None:
    essay = data.layout.id_column
    folder = data.layout.essay_folders[-1]
    lengths = {str(s.key): len(s.tokens) for s in data.test}
    classes = segment_classes(data.labels)
    seen: set[tuple[str, str, frozenset[int]]] = set()
    for row, record in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
        where = f"{name} line {row}"
        if record[essay] not in lengths:
            raise DataError(f"{where}: {essay} {record[essay]!r} is not an essay of {folder}/ (no {folder}/{record[essay]}.txt); "
                            "predict the test essays only")
        if record[CLASS] not in classes:
            raise DataError(f"{where}: {CLASS} {record[CLASS]!r} is not a discourse type of the training data "
                            f"({', '.join(classes)})")
        pieces = record[WORDS].split()
        if not pieces or not all(p.isdigit() for p in pieces):
            raise DataError(f"{where}: {WORDS} {record[WORDS]!r} is not word indices like \"0 1 2\"; one row per "
                            "predicted segment, with at least one word")
        indices, last = [int(p) for p in pieces], lengths[record[essay]] - 1
        if max(indices) > last:
            raise DataError(f"{where}: {WORDS} index {max(indices)} is past the end of {folder}/{record[essay]}.txt "
                            f"(words 0 to {last}, counted on whitespace)")
        key = (record[essay], record[CLASS], frozenset(indices))
        if key in seen:
            raise DataError(f"{where}: the same {record[CLASS]} segment of {record[essay]} is already listed; a repeat "
                            "counts as a false positive, so give each segment once")
        seen.add(key)


def _validate_spans(name: str, frame: pd.DataFrame, data: TokenData) -> None:
    ids, location = data.layout.id_column, data.layout.location_column
    lengths = {str(s.key): len(s.text) for s in data.test}
    expected = [str(i) for i in data.sample[ids]] if data.sample is not None else list(lengths)
    if frame[ids].duplicated().any():
        raise DataError(f"{name}: {ids} {frame[ids][frame[ids].duplicated()].iloc[0]!r} appears twice; one row per {ids}")
    missing, extra = sorted(set(expected) - set(frame[ids])), sorted(set(frame[ids]) - set(expected))
    if missing or extra:
        raise DataError(f"{name} has {len(frame)} ids but the sample has {len(expected)}"
                        + (f"; missing: {', '.join(missing[:5])}" if missing else "") + (f"; not in the sample: {', '.join(extra[:5])}" if extra else ""))
    for row, record in enumerate(frame.to_dict("records"), start=2):
        try:
            spans = parse_spans(record[location])
        except ValueError:
            raise DataError(f"{name} line {row}: {location} {record[location]!r} is not spans like \"696 724;733 739\" (or empty)") from None
        length = lengths.get(record[ids])
        bad = [s for s in spans if not 0 <= s[0] < s[1] <= (length if length is not None else s[1])]
        if bad:
            raise DataError(f"{name} line {row}: span {bad[0][0]} {bad[0][1]} is not inside the text of {record[ids]} "
                            f"({length} characters); spans are 0-based [start, end) offsets")

"""Property-based tests of the data layer and the submission validator on generated, often hostile, CSV files.

Whatever the bytes, loading either works (and keeps ids exactly as written) or raises kagglekit's own error
naming the file; never another exception.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kagglekit.data import load_competition
from kagglekit.errors import KaggleKitError
from kagglekit.submission import validate_submission

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids_numeric = st.integers(min_value=0, max_value=10**9).map(str)
ids_zero_padded = st.integers(min_value=0, max_value=99999).map(lambda i: f"{i:06d}")
ids_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)
id_strategy = st.one_of(ids_numeric, ids_zero_padded, ids_text)
# Tweets with what real ones hold: quotes, commas, newlines, emoji, "NA"-like words, blanks.
text_strategy = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00\r"), max_size=40),
    st.sampled_from(["NA", "None", "nan", "", " ", 'say "hi", then\nleave', "🔥 fire 🔥", "a,b,c"]),
)


@st.composite
def competitions(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]], list[list[str]], list[str]]:
    """Rows of train.csv, test.csv and sample_submission.csv (header first), and the mutations applied."""
    n_train = draw(st.integers(min_value=4, max_value=14))
    ids = draw(st.lists(id_strategy, min_size=n_train + 3, max_size=n_train + 3, unique_by=lambda s: s.strip().lower()))
    train_ids, test_ids = ids[:n_train], ids[n_train:]
    labels = [str(i % 2) for i in range(n_train)]
    train = [["id", "text", "target"]] + [[i, draw(text_strategy) + f" w{k}", y] for k, (i, y) in enumerate(zip(train_ids, labels))]
    test = [["id", "text"]] + [[i, draw(text_strategy)] for i in test_ids]
    sample = [["id", "target"]] + [[i, "0"] for i in test_ids]
    mutations = draw(st.lists(st.sampled_from(
        ["shuffle", "duplicate_row", "drop_column", "extra_column", "empty_field", "nan_target", "missing_sample_id"]),
        max_size=2, unique=True))
    frames = {"train": train, "test": test, "sample": sample}
    for mutation in mutations:
        name = draw(st.sampled_from(list(frames)))
        rows = frames[name]
        if mutation == "shuffle":
            body = rows[1:]
            rows[1:] = draw(st.permutations(body))
        elif mutation == "duplicate_row":
            rows.append(list(rows[1]))
        elif mutation == "drop_column":
            column = draw(st.integers(min_value=0, max_value=len(rows[0]) - 1))
            for row in rows:
                del row[column]
        elif mutation == "extra_column":
            for k, row in enumerate(rows):
                row.append("extra" if k == 0 else str(k))
        elif mutation == "empty_field" and len(rows) > 1:
            rows[1][draw(st.integers(min_value=0, max_value=len(rows[1]) - 1))] = ""
        elif mutation == "nan_target" and name == "train":
            rows[1][-1] = "NaN"
        elif mutation == "missing_sample_id" and name == "sample" and len(rows) > 2:
            del rows[-1]
    return train, test, sample, mutations


def write_rows(path: Path, rows: list[list[str]], *, bom: bool, crlf: bool, quote_all: bool) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + buffer.getvalue().encode("utf-8"))


# Mutations after which the files are still a well-formed competition: loading must succeed.
HARMLESS = {"shuffle"}


@PROPERTY_SETTINGS
@given(competitions(), st.booleans(), st.booleans(), st.booleans())
def test_loading_any_generated_competition_succeeds_or_names_the_file(generated, bom: bool, crlf: bool, quote_all: bool) -> None:
    train, test, sample, mutations = generated
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        for name, rows in (("train.csv", train), ("test.csv", test), ("sample_submission.csv", sample)):
            write_rows(directory / name, rows, bom=bom, crlf=crlf, quote_all=quote_all)
        try:
            competition = load_competition(directory, text_columns=["text"], metric="f1")
        except KaggleKitError as e:
            assert set(mutations) - HARMLESS, f"a well-formed competition was refused: {e}"
            assert any(name in str(e) for name in ("train.csv", "test.csv", "sample_submission.csv", str(directory))), str(e)
            return
        # Loaded: ids are exactly the strings written, in file order, and every sample id is a test id.
        id_column = competition.id_column
        assert competition.train[id_column].tolist() == [row[0] for row in train[1:]]
        assert set(competition.sample[id_column]) == set(competition.test[id_column])
        assert len(competition.y) == len(train) - 1


@st.composite
def submissions(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]], str]:
    """A sample and a submission made from it, with some of the ways a hand-made file goes wrong."""
    n = draw(st.integers(min_value=1, max_value=12))
    ids = draw(st.lists(id_strategy, min_size=n, max_size=n, unique_by=lambda s: s.strip().lower()))
    sample = [["id", "target"]] + [[i, "0"] for i in ids]
    submission = [["id", "target"]] + [[i, draw(st.sampled_from(["0", "1"]))] for i in ids]
    mutation = draw(st.sampled_from(["none", "shuffle", "duplicate", "missing", "extra_column", "missing_column", "empty",
                                     "not_a_label", "renamed_column"]))
    if mutation == "shuffle":
        submission[1:] = draw(st.permutations(submission[1:]))
    elif mutation == "duplicate":
        submission.append(list(submission[1]))
    elif mutation == "missing" and n > 1:
        del submission[-1]
    elif mutation == "extra_column":
        for k, row in enumerate(submission):
            row.append("x" if k == 0 else "1")
    elif mutation == "missing_column":
        for row in submission:
            del row[1]
    elif mutation == "empty":
        submission[1][1] = ""
    elif mutation == "not_a_label":
        submission[1][1] = draw(st.sampled_from(["2", "yes", "0.5", "NaN", "-1"]))
    elif mutation == "renamed_column":
        submission[0][1] = "label"
    return sample, submission, mutation


@PROPERTY_SETTINGS
@given(submissions(), st.booleans(), st.booleans())
def test_validating_any_generated_submission_passes_or_names_the_file(generated, bom: bool, crlf: bool) -> None:
    sample, submission, mutation = generated
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        write_rows(directory / "sample_submission.csv", sample, bom=False, crlf=False, quote_all=False)
        write_rows(directory / "submission.csv", submission, bom=bom, crlf=crlf, quote_all=False)
        try:
            validate_submission(directory / "submission.csv", directory / "sample_submission.csv")
        except KaggleKitError as e:
            assert mutation not in ("none", "shuffle"), f"a valid submission was refused: {e}"
            assert "submission.csv" in str(e), str(e)
            return
        written = pd.read_csv(directory / "submission.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert sorted(written["id"]) == sorted(row[0] for row in sample[1:])


@pytest.mark.parametrize("bom,crlf", [(True, False), (False, True), (True, True)])
def test_a_valid_submission_passes_whatever_its_encoding_details(tmp_path: Path, bom: bool, crlf: bool) -> None:
    write_rows(tmp_path / "sample_submission.csv", [["id", "target"], ["001", "0"], ["002", "0"]], bom=False, crlf=False, quote_all=False)
    write_rows(tmp_path / "submission.csv", [["id", "target"], ["002", "1"], ["001", "0"]], bom=bom, crlf=crlf, quote_all=True)
    validate_submission(tmp_path / "submission.csv", tmp_path / "sample_submission.csv")

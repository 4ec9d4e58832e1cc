"""Token and span competitions: layouts recognised from the files, metrics, grouped folds, the pipeline end to end on
small generated PII-, NBME- and Feedback-layout competitions, submissions and their validation, errors, report and
predict."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.errors import ConfigError, DataError
from kagglekit.tokens import TokenRun, detect, errors, is_token_run, load, predict, report_data, train, validate, write_report
from kagglekit.tokens.demo import FEATURES, nbme_notes, write_feedback_competition, write_nbme_competition, write_pii_competition
from kagglekit.tokens.layout import Sequence, parse_spans, spans_to_labels, tokenize
from kagglekit.tokens.metrics import (
    char_scores,
    decide,
    entity_f1,
    fbeta,
    decode_segments,
    get_metric,
    overlap_counts,
    overlap_f1,
    parse_beta,
    segment_scores,
    token_spans,
    tune_segments,
    tune_span_threshold,
    tune_threshold,
)
from kagglekit.tokens.pipeline import make_folds
from tests.conftest import write_competition


@pytest.fixture(scope="module")
def pii(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    return write_pii_competition(tmp_path_factory.mktemp("pii") / "data" / "demo-pii", documents=60, test_documents=20)


@pytest.fixture(scope="module")
def nbme(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    return write_nbme_competition(tmp_path_factory.mktemp("nbme") / "data" / "demo-nbme", notes=40, test_notes=12)


@pytest.fixture(scope="module")
def feedback(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    return write_feedback_competition(tmp_path_factory.mktemp("feedback") / "data" / "demo-feedback", essays=30, test_essays=8)


@pytest.fixture(scope="module")
def pii_run(pii: tuple[Path, list[dict]], tmp_path_factory: pytest.TempPathFactory):
    return train(pii[0], ["lookup", "crf", "rules"], folds=3, output=tmp_path_factory.mktemp("pii-out"))


@pytest.fixture(scope="module")
def nbme_run(nbme: tuple[Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory):
    return train(nbme[0], ["lookup", "crf"], folds=3, output=tmp_path_factory.mktemp("nbme-out"))


# --- layouts -------------------------------------------------------------------------------------------------------


def test_detect_recognises_the_pii_layout(pii: tuple[Path, list[dict]]) -> None:
    layout = detect(pii[0])
    assert layout is not None and layout.kind == "tokens"
    assert (layout.id_column, layout.tokens_column, layout.labels_column, layout.whitespace_column) == (
        "document", "tokens", "labels", "trailing_whitespace")
    assert layout.submission_columns == ("row_id", "document", "token", "label")
    assert layout.metric == "PII Detection Micro F-beta (beta=5)"
    data = load(pii[0])
    assert data.labels[0] == "O" and "B-NAME_STUDENT" in data.labels
    first = data.train[0]
    assert first.text == json.loads((pii[0] / "train.json").read_text())[0]["full_text"]  # offsets rebuild the text
    assert [first.text[a:b] for a, b in first.offsets] == first.tokens


def test_detect_recognises_the_nbme_layout(nbme: tuple[Path, pd.DataFrame]) -> None:
    layout = detect(nbme[0])
    assert layout is not None and layout.kind == "spans"
    assert (layout.id_column, layout.text_column, layout.location_column, layout.group_column) == (
        "id", "pn_history", "location", "pn_num")
    assert layout.query_columns == ("feature_text",)
    assert dict(layout.joins) == {"features.csv": "feature_num", "patient_notes.csv": "pn_num"}
    data = load(nbme[0])
    row = next(s for s in data.train if s.spans)
    assert row.query and all(row.text[a:b].strip() for a, b in row.spans)
    assert "B-SPAN" in row.labels  # the tokens under a span are tagged


def test_detect_recognises_the_feedback_layout(feedback: tuple[Path, pd.DataFrame]) -> None:
    layout = detect(feedback[0])
    assert layout is not None and layout.segments and layout.kind == "tokens"  # every token model takes it
    assert layout.submission_columns == ("id", "class", "predictionstring") and layout.metric == "overlap_f1"
    assert layout.describe().startswith("segments: essays of train/ and test/ as whitespace-separated words")
    data = load(feedback[0])
    assert "B-Concluding Statement" in data.labels and "I-Claim" in data.labels and data.labels[0] == "O"
    rows = pd.read_csv(feedback[0] / "train.csv")
    essay = data.train[0]
    first = rows[rows["id"] == essay.key].iloc[0]
    words = [int(i) for i in first["predictionstring"].split()]
    assert " ".join(essay.tokens[i] for i in words) == first["discourse_text"]  # indices count whitespace words
    assert essay.labels[words[0]] == f"B-{first['discourse_type']}" and essay.labels[words[-1]] == f"I-{first['discourse_type']}"
    assert sorted(s.key for s in data.test) == sorted(p.stem for p in (feedback[0] / "test").glob("*.txt"))


def test_bad_feedback_rows_name_the_file_row_and_fix(feedback: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    folder = tmp_path / "fb"
    shutil.copytree(feedback[0], folder)
    rows = pd.read_csv(folder / "train.csv")
    essay = rows["id"].iloc[3]
    words = len((folder / "train" / f"{essay}.txt").read_text().split())
    rows.loc[3, "predictionstring"] = f"{words - 1} {words}"
    rows.to_csv(folder / "train.csv", index=False)
    with pytest.raises(DataError, match=rf"train.csv row 3 \(id {essay}, discourse_id \d+\): predictionstring index {words} "
                                        rf"is past the end of train/{essay}.txt \({words} words"):
        load(folder)
    rows.loc[3, "predictionstring"] = "0 1"
    rows.to_csv(folder / "train.csv", index=False)
    (folder / "train" / f"{essay}.txt").unlink()
    first = int(np.flatnonzero(rows["id"] == essay)[0])
    with pytest.raises(DataError, match=rf"train.csv row {first} .*no essay train/{essay}.txt; add the essay's text"):
        load(folder)


def test_detect_reads_json_lines_and_leaves_row_competitions_alone(tmp_path: Path) -> None:
    records = [{"document": i, "tokens": ["I", "am", "Ann", "."], "labels": ["O", "O", "B-NAME", "O"]} for i in range(3)]
    folder = tmp_path / "jsonl"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    (folder / "test.jsonl").write_text(json.dumps({"document": 9, "tokens": ["Bob", "."]}))
    layout = detect(folder)
    assert layout is not None and layout.kind == "tokens" and layout.whitespace_column is None
    assert load(folder).test[0].text == "Bob . "
    tweets = write_competition(tmp_path / "tweets", pd.DataFrame({"id": [1, 2], "text": ["a b", "c d"], "target": [0, 1]}),
                               pd.DataFrame({"id": [3], "text": ["e"]}), pd.DataFrame({"id": [3], "target": [0]}))
    assert detect(tweets) is None


def test_bad_token_records_name_the_file_row_and_fix(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "train.json").write_text(json.dumps([
        {"document": 1, "tokens": ["a", "b"], "labels": ["O", "O"]},
        {"document": 2, "tokens": ["Ann", "b", "c"], "labels": ["B-NAME", "O"]},
    ]))
    (folder / "test.json").write_text(json.dumps([{"document": 3, "tokens": ["x"]}]))
    with pytest.raises(DataError, match=r"train.json row 1 \(document 2\): 'tokens' has 3 items but 'labels' has 2 labels"):
        load(folder)
    (folder / "train.json").write_text("[{")
    with pytest.raises(DataError, match="cannot read .*train.json"):
        load(folder)


def test_spans_parse_in_both_nbme_forms() -> None:
    assert parse_spans("696 724;733 739") == [(696, 724), (733, 739)]
    assert parse_spans("['696 724', '733 739;740 745']") == [(696, 724), (733, 739), (740, 745)]
    assert parse_spans("[]") == parse_spans("") == parse_spans(float("nan")) == []
    tokens, offsets = tokenize("no chest pain today")
    assert spans_to_labels(offsets, [(3, 13)]) == ["O", "B-SPAN", "I-SPAN", "O"]


def test_a_new_text_keeps_emails_and_urls_whole_for_a_token_competition() -> None:
    tokens, _ = tokenize("mail (me) at ann.lee@mail.org, or https://x.io/ann.", "tokens")
    assert tokens == ["mail", "(", "me", ")", "at", "ann.lee@mail.org", ",", "or", "https://x.io/ann", "."]


# --- metrics --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "beta"), [("f5", 5.0), ("micro_f5", 5.0), ("PII Detection Micro F-beta (beta=5)", 5.0),
                                            ("fbeta:2", 2.0), ("F1", 1.0), ("accuracy", None)])
def test_beta_is_read_from_kaggle_metric_names(name: str, beta: float | None) -> None:
    assert parse_beta(name) == beta


def test_metric_choice() -> None:
    assert get_metric("tokens").name == "f5"
    assert get_metric("tokens", "Micro F1").beta == 1.0
    assert get_metric("spans", "Micro F1").name == "char_f1"
    with pytest.raises(ConfigError, match="without its beta"):
        get_metric("tokens", "F-beta")
    with pytest.raises(ConfigError, match="cannot score token labels"):
        get_metric("tokens", "rmse")


def test_fbeta_weights_recall() -> None:
    assert fbeta(8, 0, 2, 1.0) == pytest.approx(2 * 8 / (2 * 8 + 2))
    assert fbeta(8, 100, 0, 5.0) > fbeta(8, 0, 8, 5.0)  # F5 forgives false positives far more than misses
    assert fbeta(0, 0, 0, 5.0) == 0.0


def test_the_threshold_is_tuned_on_non_o_probability() -> None:
    proba = np.array([[0.85, 0.15, 0.0], [0.7, 0.2, 0.1], [0.2, 0.8, 0.0], [0.95, 0.0, 0.05]])
    y = np.array([0, 1, 1, 0])
    assert list(decide(proba, 0.25)) == [0, 1, 1, 0]
    threshold, score = tune_threshold(proba, y, 5.0)
    assert 0.15 < threshold <= 0.3 and score == 1.0


def test_entity_f1_is_seqeval_conll() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert entity_f1(true, true) == 1.0
    assert entity_f1(true, [["B-PER", "O", "O", "B-LOC"]]) == pytest.approx(0.5)  # a cut entity is wrong


def test_character_f1_and_span_merging() -> None:
    text = "Reports chest pain, no fever."
    tokens, offsets = tokenize(text)
    sequence = Sequence("r", "g", tokens, offsets, text, spans=[(8, 18)])
    positive = np.array([t in ("chest", "pain") for t in tokens])
    assert token_spans(sequence, positive) == [(8, 18)]  # two tokens across a space: one span
    assert char_scores([[(8, 18)]], [[(8, 13)]]) == pytest.approx({"precision": 1.0, "recall": 0.5, "char_f1": 2 / 3})
    proba = np.stack([1 - positive * 0.8, positive * 0.5, positive * 0.3], axis=1)
    threshold, score = tune_span_threshold([sequence], [proba])
    assert threshold <= 0.8 and score == pytest.approx(18 / 19)  # tuned on token characters: the space between is not counted


def test_feedback_overlap_f1_matches_at_half_of_each_side() -> None:
    true = [("e1", "Claim", "0 1 2 3"), ("e1", "Lead", "10 11"), ("e2", "Claim", "5 6")]
    assert overlap_f1(true, true) == 1.0
    pred = [("e1", "Claim", "1 2 3 4 5"), ("e1", "Lead", "11 12 13"), ("e2", "Claim", "5 6")]
    # Claim: "1 2 3 4 5" covers 3/4 of the truth and 3/5 of itself (a match); Lead: 1/3 of itself (no match)
    assert overlap_f1(true, pred) == pytest.approx((1.0 + 0.0) / 2)


def test_overlap_f1_follows_the_hosts_matching_rule() -> None:
    """Kaggle's notebook: each true segment with a potential match is a TP and takes the prediction of largest
    overlap; predictions it leaves are FPs, even where they also overlap it by half; the macro is over true classes."""
    true = [("e1", "Claim", "0 1 2 3"), ("e1", "Claim", "0 1 2 3")]  # a repeated true segment counts once
    pred = [("e1", "Claim", "0 1 2"), ("e1", "Claim", "1 2 3 4 5"), ("e1", "Lead", "0 1")]  # Lead: no true Lead
    assert overlap_counts(true, pred) == {"Claim": (1, 1, 0)}
    assert overlap_f1(true, pred) == pytest.approx(1 / (1 + 0.5))
    # one prediction half inside each of two true segments is the best match of both: two TPs
    two = [("e1", "Claim", "0 1"), ("e1", "Claim", "2 3")]
    assert overlap_counts(two, [("e1", "Claim", "1 2")]) == {"Claim": (2, 0, 0)}
    assert overlap_counts(two, [("e2", "Claim", "0 1")]) == {"Claim": (0, 1, 2)}  # another essay's words never match


def test_segments_are_decoded_and_scored_as_feedback_does() -> None:
    labels = ["O", "B-Claim", "B-Lead", "I-Claim", "I-Lead"]
    decided = np.array([2, 4, 4, 0, 1, 3, 1, 3, 3, 0, 3])
    assert decode_segments(decided, labels) == [("Lead", (0, 1, 2)), ("Claim", (4, 5)), ("Claim", (6, 7, 8)), ("Claim", (10,))]
    assert decode_segments(decided, labels, {"Claim": 2}) == [("Lead", (0, 1, 2)), ("Claim", (4, 5)), ("Claim", (6, 7, 8))]
    essay = Sequence("e", "e", ["w"] * 11, np.zeros((11, 2), dtype=np.int64), "",
                     segments=[("Lead", (0, 1, 2)), ("Claim", (4, 5)), ("Claim", (6, 7, 8))])
    proba = np.eye(len(labels))[decided] * 0.9 + 0.02
    # the one-word Claim at the end is a false positive unless the tuned minimum length drops it
    assert segment_scores([essay], [proba], labels, {"threshold": 0.5, "min_words": {}})["overlap_f1"] == pytest.approx(
        (1.0 + 2 / (2 + 0.5)) / 2)
    decision, score = tune_segments([essay], [proba], labels)
    assert score == 1.0 and decision["min_words"]["Claim"] == 2


def test_folds_keep_a_note_s_rows_together(nbme: tuple[Path, pd.DataFrame]) -> None:
    data = load(nbme[0])
    folds = make_folds(data.train, 3, 42)
    by_group: dict[str, set[int]] = {}
    for s, k in zip(data.train, folds):
        by_group.setdefault(s.group, set()).add(int(k))
    assert all(len(k) == 1 for k in by_group.values()) and set(folds) == {0, 1, 2}
    with pytest.raises(ConfigError, match="cannot fill 100 folds"):
        make_folds(data.train, 100, 42)


# --- the pipeline ---------------------------------------------------------------------------------------------------


def test_pii_run_trains_every_model_and_writes_valid_submissions(pii_run, pii: tuple[Path, list[dict]]) -> None:
    board = pii_run.leaderboard.set_index("model")
    assert set(board.index) == {"lookup", "crf", "rules", "ensemble_mean", "ensemble_weighted"}
    # ensemble.csv is the ensemble with the better honest CV (the weighted blend's weights are fitted on other folds)
    best = max(["ensemble_mean", "ensemble_weighted"], key=lambda e: board.loc[e, "cv_f5"])
    assert (board["status"] == "ok").all()
    assert board.loc["crf", "cv_f5"] > board.loc["lookup", "cv_f5"] + 0.1
    assert board.loc["crf", "features_s"] >= 0 and board.loc["crf", "fit_s"] > 0
    ensemble = pii_run.submissions["ensemble"]
    assert ensemble.name == "ensemble.csv" and ensemble.parent.name == "demo-pii"
    frame = pd.read_csv(ensemble)
    assert list(frame.columns) == ["row_id", "document", "token", "label"] and len(frame) > 0
    assert validate(ensemble, pii[0]) == len(frame)
    record = json.loads(ensemble.with_suffix(".json").read_text())
    assert record["metric"] == "f5" and "threshold" in record["decision"] and record["model"] == best
    assert is_token_run(pii_run.run.directory)
    oof = pii_run.run.oof("crf")
    assert oof.shape == (sum(len(s.tokens) for s in pii_run.data.train), len(pii_run.data.labels))
    assert np.allclose(oof.sum(axis=1), 1.0, atol=1e-4)


def test_a_second_train_resumes_finished_models_and_folds(pii_run, pii: tuple[Path, list[dict]]) -> None:
    crf = pii_run.run.model_dir("crf")
    record, refit = crf / "fold0.json", crf / "full" / "model.pkl"
    before = record.stat().st_mtime_ns, refit.stat().st_mtime_ns
    cv = pii_run.run.summary("crf")["cv_score"]
    again = train(pii[0], ["crf"], folds=3, output=pii_run.run.directory.parents[2])
    assert (record.stat().st_mtime_ns, refit.stat().st_mtime_ns) == before  # a finished model is not trained again
    (crf / "summary.json").unlink()  # as if killed during the refit: the folds are kept, the refit is redone
    again = train(pii[0], ["crf"], folds=3, output=pii_run.run.directory.parents[2])
    assert record.stat().st_mtime_ns == before[0] and refit.stat().st_mtime_ns != before[1]
    assert again.run.summary("crf")["cv_score"] == pytest.approx(cv)  # the same OOF probabilities, read back
    with pytest.raises(ConfigError, match="scores word-index segments .* use --metric f5"):
        train(pii[0], ["crf"], folds=3, metric="overlap_f1", output=pii_run.run.directory.parents[2])
    with pytest.raises(ConfigError, match="was made with seed 42, not 7"):
        train(pii[0], ["crf"], folds=3, seed=7, run=pii_run.run.name, output=pii_run.run.directory.parents[2])


def test_nbme_run_scores_character_f1_and_writes_spans(nbme_run, nbme: tuple[Path, pd.DataFrame]) -> None:
    board = nbme_run.leaderboard.set_index("model")
    assert "cv_char_f1" in board.columns and "rules" not in board.index  # rules take token competitions only
    assert board.loc["crf", "cv_char_f1"] > board.loc["lookup", "cv_char_f1"]
    assert "rules" not in nbme_run.left_out
    frame = pd.read_csv(nbme_run.submissions["ensemble"], keep_default_na=False)
    sample = pd.read_csv(nbme[0] / "sample_submission.csv")
    assert list(frame["id"]) == list(sample["id"])
    assert validate(nbme_run.submissions["ensemble"], nbme[0]) == len(sample)
    truth = nbme[1].set_index("id")["location"]
    scores = char_scores([parse_spans(truth[i]) for i in frame["id"]], [parse_spans(v) for v in frame["location"]])
    assert scores["char_f1"] > 0.6  # held-out notes, some with paraphrases never seen in training (0.69 measured)


def test_generated_nbme_notes_hold_what_makes_the_task_hard() -> None:
    """Negated mentions that are no answer, answers across punctuation, paraphrases seen only in the test notes."""
    train_notes, train_answers = nbme_notes(60, seed=1)
    test_notes, test_answers = nbme_notes(60, seed=2, unseen=True)
    unseen = {form.lower() for case in FEATURES.values() for finding in case.values() for form in finding.unseen}
    texts = dict(zip(train_notes["pn_num"], train_notes["pn_history"]))
    said = [a for a in train_answers if a["annotation"]]
    for answer in said:
        for words, location in zip(answer["annotation"], answer["location"]):
            start, end = map(int, location.split())
            assert texts[answer["pn_num"]][start:end] == words
            sentence = texts[answer["pn_num"]][:start].rsplit(". ", 1)[-1].lower()
            assert not any(cue in sentence for cue in ("denies", "no ", "negative for", "has not had"))  # never a negated one
    assert not any(w.lower() in unseen for a in said for w in a["annotation"])
    assert any(w.lower() in unseen for a in test_answers for w in a["annotation"])
    assert any(re.search(r"\w[^\w\s]+\w", w) for a in said for w in a["annotation"])  # "T 101.2 F", "light-sensitivity"
    assert sum("denies" in t.lower() for t in train_notes["pn_history"]) > 10


def test_rules_are_left_out_where_no_label_is_an_email_url_or_phone(tmp_path: Path) -> None:
    records = [{"document": i, "tokens": ["I", "met", "Ann", "."], "labels": ["O", "O", "B-PER", "O"]} for i in range(6)]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train.json").write_text(json.dumps(records))
    (tmp_path / "c" / "test.json").write_text(json.dumps([{"document": 9, "tokens": ["Ann", "."]}]))
    result = train(tmp_path / "c", ["lookup", "rules"], folds=2, output=tmp_path)
    assert "e-mail" in result.left_out["rules"]
    assert list(result.leaderboard["model"]) == ["lookup"]
    assert pd.read_csv(result.submissions["ensemble"]).to_dict("records") == [
        {"row_id": 0, "document": 9, "token": 0, "label": "B-PER"}]


# --- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "message"), [
    ("row_id,document,token,label\n0,60,0,B-SHOE\n", "'B-SHOE' is not an entity label"),
    ("row_id,document,token,label\n0,60,0,B-NAME_STUDENT\n1,60,0,B-NAME_STUDENT\n", "already labelled"),
    ("row_id,document,token,label\n0,60,99999,B-NAME_STUDENT\n", "not a token index of document 60"),
    ("row_id,document,token,label\n0,12345,0,B-NAME_STUDENT\n", "not a document of test.json"),
    ("row_id,document,label\n0,60,B-NAME_STUDENT\n", "the sample's are row_id, document, token, label"),
])
def test_validate_rejects_bad_token_submissions(pii: tuple[Path, list[dict]], tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "sub.csv"
    path.write_text(rows)
    with pytest.raises(DataError, match=message):
        validate(path, pii[0])


def test_validate_rejects_bad_span_submissions(nbme: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    sample = pd.read_csv(nbme[0] / "sample_submission.csv")
    path = tmp_path / "sub.csv"
    sample.iloc[1:].to_csv(path, index=False)
    with pytest.raises(DataError, match=f"missing: {sample['id'].iloc[0]}"):
        validate(path, nbme[0])
    sample.assign(location="5 2").to_csv(path, index=False)
    with pytest.raises(DataError, match="span 5 2 is not inside"):
        validate(path, nbme[0])


# --- errors, report, predict ----------------------------------------------------------------------------------------


def test_errors_report_and_predict_read_the_run(pii_run) -> None:
    run = TokenRun(pii_run.run.directory)
    data = run.data()
    wrong = errors(run, data, "lookup", top=2)
    assert set(wrong["error"]) <= {"false positive", "missed entity", "wrong type"} and len(wrong) <= 6
    assert wrong["context"].str.contains(r"\[").all()
    report = report_data(run, data)
    assert report.entry == run.best() and {"entity", "precision", "recall", "f1", "support"} <= set(report.per_entity.columns)
    assert "<mark" in "".join(true for _, true, _ in report.examples)
    assert write_report(run, data).read_text().startswith("<!doctype html>")
    for entry in ("crf", "ensemble_weighted"):
        found = predict(run, "Reflection on feedback by Maria Garcia. Mail me at maria_garcia@gmail.com please.", entry)
        assert {(s.label, s.text) for s in found.spans} >= {("EMAIL", "maria_garcia@gmail.com")}
        assert all(0 <= s.probability <= 1 for s in found.spans)


# --- the commands ---------------------------------------------------------------------------------------------------


def test_the_commands_dispatch_token_competitions(tmp_path: Path) -> None:
    """train, validate, errors, report and predict on a PII-layout folder under data/, as a user types them."""
    from typer.testing import CliRunner

    from kagglekit.cli import app

    write_pii_competition(tmp_path / "data" / "demo-pii", documents=30, test_documents=6)
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "demo-pii", "-m", "lookup,crf", "--folds", "2", "--param", "c1=0.1"])
    assert trained.exit_code == 0, trained.output
    assert "micro F5 over (document, token, label)" in trained.output and "submission ensemble" in trained.output
    assert TokenRun(tmp_path / "runs" / "demo-pii" / "k2-seed42").summary("crf")["params"] == {"c1": 0.1}
    checked = runner.invoke(app, ["validate", "submissions/demo-pii/ensemble.csv"])
    assert checked.exit_code == 0 and "ok:" in checked.output, checked.output
    for command in (["errors", "demo-pii", "-m", "lookup", "--top", "2"], ["report", "demo-pii"],
                    ["predict", "demo-pii", "Reach me at ann.lee@gmail.com"]):
        shown = runner.invoke(app, command)
        assert shown.exit_code == 0, (command, shown.output)
    assert (tmp_path / "runs" / "demo-pii" / "k2-seed42" / "report.html").is_file()
    assert "EMAIL" in shown.output
    explored = runner.invoke(app, ["explore", "demo-pii"])
    assert explored.exit_code == 0 and "Labels of the training tokens" in explored.output, explored.output
    assert "30 training and 6 test documents" in " ".join(explored.output.split())
    unnamed = runner.invoke(app, ["train", "demo-pii"])
    assert unnamed.exit_code == 1 and "choose models with -m NAME (repeatable) or --all; token models:" in unnamed.output


def test_feedback_layout_runs_end_to_end_from_the_commands(feedback: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    """train -> ensemble.csv -> validate, then errors, report, predict and explore, as a user types them."""
    from typer.testing import CliRunner

    from kagglekit.cli import app

    shutil.copytree(feedback[0], tmp_path / "data" / "demo-feedback")
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "demo-feedback", "-m", "lookup,crf", "--folds", "2"])
    assert trained.exit_code == 0, trained.output
    assert "segments: essays of train/ and test/" in " ".join(trained.output.split())
    run = TokenRun(tmp_path / "runs" / "demo-feedback" / "k2-seed42")
    assert run.metric.name == "overlap_f1" and set(run.summary("crf")["decision"]["min_words"]) >= {"Claim", "Evidence"}
    assert run.summary("crf")["cv_score"] > run.summary("lookup")["cv_score"] + 0.2
    submission = tmp_path / "submissions" / "demo-feedback" / "ensemble.csv"
    frame = pd.read_csv(submission, dtype=str)
    assert list(frame.columns) == ["id", "class", "predictionstring"] and len(frame) > 0
    truth = list(feedback[1].itertuples(index=False, name=None))
    assert overlap_f1(truth, list(frame.itertuples(index=False, name=None))) > 0.7  # held-out essays
    checked = runner.invoke(app, ["validate", "submissions/demo-feedback/ensemble.csv"])
    assert checked.exit_code == 0 and "ok:" in checked.output, checked.output
    essay = (feedback[0] / "test" / f"{feedback[1]['id'].iloc[0]}.txt").read_text()
    for command in (["errors", "demo-feedback", "--top", "2"], ["report", "demo-feedback"], ["explore", "demo-feedback"],
                    ["predict", "demo-feedback", essay]):
        shown = runner.invoke(app, command)
        assert shown.exit_code == 0, (command, shown.output)
    assert "Position" in shown.output  # the essay's segments, labelled
    explored = runner.invoke(app, ["explore", "demo-feedback"])
    assert "Labels of the training segments" in explored.output and "Evidence" in explored.output, explored.output


@pytest.mark.parametrize(("row", "message"), [
    ("{id},Claim,0 99999", "index 99999 is past the end of test/{id}.txt"),
    ("{id},Shoe,0 1", "'Shoe' is not a discourse type of the training data"),
    ("NOPE,Claim,0 1", "'NOPE' is not an essay of test/"),
    ("{id},Claim,", "is not word indices"),
])
def test_validate_rejects_bad_feedback_submissions(feedback: tuple[Path, pd.DataFrame], tmp_path: Path, row: str,
                                                   message: str) -> None:
    essay = feedback[1]["id"].iloc[0]
    path = tmp_path / "sub.csv"
    path.write_text(f"id,class,predictionstring\n{essay},Lead,0 1 2\n{row.format(id=essay)}\n")
    with pytest.raises(DataError, match=message.format(id=essay)):
        validate(path, feedback[0])
    path.write_text(f"id,class,predictionstring\n{essay},Lead,0 1 2\n")
    assert validate(path, feedback[0]) == 1

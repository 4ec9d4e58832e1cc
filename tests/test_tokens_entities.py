"""Entity F1 as a token competition's metric (--metric entity_f1): the BIO Viterbi decision, its factor on P(O) tuned
on OOF, the numpy entity counts against seqeval, and a PII-layout run end to end with it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit.errors import ConfigError
from kagglekit.tokens import TokenRun, errors, predict, report_data, train, validate
from kagglekit.tokens.demo import write_pii_competition
from kagglekit.tokens.inference import decided_labels
from kagglekit.tokens.layout import entity_type
from kagglekit.tokens import metrics
from kagglekit.tokens.metrics import (
    apply_decision,
    bio_viterbi,
    bio_viterbi_scales,
    entity_f1,
    entity_scores,
    get_metric,
    tune_entities,
)
from kagglekit.tokens.run import split

LABELS = ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]


def valid_bio(tags: list[str]) -> bool:
    """I-X only after B-X or I-X, never first."""
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or entity_type(previous) != entity_type(tag)):
            return False
        previous = tag
    return True


def test_entity_type_strips_bio_prefixes_only() -> None:
    assert [entity_type(label) for label in ("B-PER", "I-NAME_STUDENT", "EMAIL", "O")] == ["PER", "NAME_STUDENT", "EMAIL", "O"]


@pytest.mark.parametrize("name", ["entity_f1", "seqeval", "CoNLL F1", "Entity-level micro F1", "NER"])
def test_entity_metric_names(name: str) -> None:
    metric = get_metric("tokens", name)
    assert (metric.name, metric.kind) == ("entity_f1", "entities")


def test_entity_metric_refuses_span_competitions() -> None:
    with pytest.raises(ConfigError, match="char_f1"):
        get_metric("spans", "entity_f1")
    assert get_metric("tokens", "f1").kind == "tokens"  # a plain F1 stays the token-triple score


def test_viterbi_finds_the_best_valid_bio_sequence() -> None:
    """On short sequences, the decoded path is the best of every valid one (by brute force), sequence by sequence,
    whatever the order of the sequences' lengths."""
    rng = np.random.default_rng(0)
    lengths = np.array([3, 1, 0, 4, 2, 4])
    proba = rng.dirichlet(np.full(len(LABELS), 0.3), size=int(lengths.sum()))
    for scale in (0.5, 1.0, 3.0):
        decided = bio_viterbi(proba, lengths, LABELS, scale)
        scaled = proba.copy()
        scaled[:, 0] *= scale
        for p, path in zip(np.split(scaled, np.cumsum(lengths)[:-1]), np.split(decided, np.cumsum(lengths)[:-1])):
            candidates = [c for c in itertools.product(range(len(LABELS)), repeat=len(p)) if valid_bio([LABELS[i] for i in c])]
            best = max(candidates, key=lambda c: float(np.sum(np.log(p[np.arange(len(p)), list(c)]))) if len(c) else 0.0)
            assert tuple(path) == best


def test_every_factor_decoded_together_equals_each_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The factors decode in one pass, or in chunks when their back-pointers would be large: the same paths."""
    rng = np.random.default_rng(3)
    lengths = np.array([40, 0, 3, 17, 40, 1])
    proba = rng.dirichlet(np.full(len(LABELS), 0.4), size=int(lengths.sum()))
    scales = (0.5, 1.0, 2.0, 4.0)
    alone = np.stack([bio_viterbi(proba, lengths, LABELS, scale) for scale in scales])
    assert (bio_viterbi_scales(proba, lengths, LABELS, scales) == alone).all()
    monkeypatch.setattr(metrics, "BACKPOINTER_BYTES", proba.size * 2)  # two factors a chunk
    assert (bio_viterbi_scales(proba, lengths, LABELS, scales) == alone).all()
    assert len({tuple(row) for row in alone}) > 1  # the factors do change the paths


def test_viterbi_never_opens_an_entity_with_i() -> None:
    """Probabilities that favour I- tags everywhere still decode into valid BIO."""
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.full(len(LABELS), 0.5), size=300)
    proba[:, 3:] *= 10
    proba /= proba.sum(axis=1, keepdims=True)
    lengths = np.array([1, 50, 120, 7, 122])
    decided = bio_viterbi(proba, lengths, LABELS)
    assert (proba.argmax(axis=1) >= 3).mean() > 0.5  # the likeliest labels alone would be invalid
    for part in np.split(decided, np.cumsum(lengths)[:-1]):
        assert valid_bio([LABELS[i] for i in part])


def test_entity_counts_equal_seqeval_on_any_tags() -> None:
    """The numpy counts read tags as seqeval does, invalid BIO included (I- after O opens an entity)."""
    rng = np.random.default_rng(2)
    lengths = np.array([12, 1, 30, 9, 25])
    y = rng.choice(len(LABELS), size=int(lengths.sum()), p=[0.5, 0.15, 0.15, 0.1, 0.1])
    decided = np.where(rng.random(len(y)) < 0.7, y, rng.choice(len(LABELS), size=len(y)))
    tags = [[LABELS[i] for i in part] for part in np.split(y, np.cumsum(lengths)[:-1])]
    guess = [[LABELS[i] for i in part] for part in np.split(decided, np.cumsum(lengths)[:-1])]
    assert entity_scores(y, decided, lengths, LABELS)["entity_f1"] == pytest.approx(entity_f1(tags, guess))


def test_the_factor_on_p_outside_is_tuned_on_oof() -> None:
    """Entities whose label is a little less likely than O are found only with P(O) scaled down: the tuned factor is
    below 1, and it changes the decision from the likeliest labels' (no entity) to every entity."""
    lengths = np.array([4, 4, 4])
    y = np.array([0, 2, 4, 0, 0, 1, 0, 0, 2, 0, 0, 0])
    proba = np.zeros((len(y), len(LABELS)))
    proba[:, 0] = 0.9
    proba[y != 0, 0] = 0.55
    proba[np.arange(len(y)), np.where(y == 0, 1, y)] += 1.0 - proba[:, 0]  # the true label (O tokens: a little B-LOC)
    assert (proba.argmax(axis=1) == 0).all()
    decision, score = tune_entities(proba, y, lengths, LABELS)
    assert decision["viterbi"] and decision["outside_scale"] < 1.0 and score == 1.0
    assert list(apply_decision(proba, decision, LABELS, lengths)) == list(y)
    assert not apply_decision(proba, {"viterbi": True, "outside_scale": 1.0}, LABELS, lengths).any()


@pytest.fixture(scope="module")
def entity_run(tmp_path_factory: pytest.TempPathFactory):
    folder, _ = write_pii_competition(tmp_path_factory.mktemp("pii") / "data" / "demo-pii", documents=60, test_documents=20)
    return train(folder, ["lookup", "crf"], folds=3, metric="entity_f1", output=tmp_path_factory.mktemp("pii-out")), folder


def test_a_run_with_entity_f1_tunes_the_viterbi_decision_and_writes_valid_bio(entity_run) -> None:
    result, folder = entity_run
    board = result.leaderboard.set_index("model")
    assert "cv_entity_f1" in board.columns and (board["status"] == "ok").all()
    assert board.loc["crf", "cv_entity_f1"] > board.loc["lookup", "cv_entity_f1"]
    summary = result.run.summary("crf")
    assert summary["metric"] == "entity_f1" and summary["decision"]["viterbi"] is True
    # CV is honest: each fold is scored at the factor tuned on the other folds' documents
    oof, y, data = result.run.oof("crf"), result.run.y, result.data
    fold_of = result.run.folds()["fold"].to_numpy()
    lengths = np.array([len(s.tokens) for s in data.train])
    token_fold = np.repeat(fold_of, lengths)
    for k, reported in enumerate(summary["fold_scores"]):
        other, held = token_fold != k, token_fold == k
        chosen, _ = tune_entities(oof[other], y[other], lengths[fold_of != k], data.labels)
        decided = apply_decision(oof[held], chosen, data.labels, lengths[fold_of == k])
        assert entity_scores(y[held], decided, lengths[fold_of == k], data.labels)["entity_f1"] == pytest.approx(reported)

    ensemble = result.submissions["ensemble"]
    frame = pd.read_csv(ensemble)
    assert validate(ensemble, folder) == len(frame) > 0
    record = json.loads(ensemble.with_suffix(".json").read_text())
    assert record["metric"] == "entity_f1" and record["decision"]["viterbi"] is True
    written = {(int(r.document), int(r.token)): r.label for r in frame.itertuples()}
    for sequence in data.test:
        assert valid_bio([written.get((int(sequence.key), t), "O") for t in range(len(sequence.tokens))])
    entry = record["model"]
    run = TokenRun(result.run.directory)
    expected = split(apply_decision(run.test_proba(entry), run.decision(entry), data.labels,
                                    [len(s.tokens) for s in data.test]), data.test)
    assert sum(int((part != 0).sum()) for part in expected) == len(frame)
    again = decided_labels(run, entry, data)  # the inference notebook's path decides alike
    assert all((a == b).all() for a, b in zip(again, expected))


def test_errors_report_and_predict_decide_by_viterbi(entity_run) -> None:
    result, _ = entity_run
    run = TokenRun(result.run.directory)
    data = run.data()
    decided = apply_decision(run.oof("crf"), run.decision("crf"), data.labels, [len(s.tokens) for s in data.train])
    wrong = errors(run, data, "crf")
    assert len(wrong) == int((decided != run.y).sum())
    report = report_data(run, data, "crf")
    f1 = report.per_entity.set_index("entity").loc["micro avg", "f1"]
    assert f1 == pytest.approx(run.summary("crf")["entity_f1"])
    found = predict(run, "Reflection on feedback by Maria Garcia. Mail me at maria_garcia@gmail.com please.", "crf")
    assert "Viterbi" in found.decision
    assert ("EMAIL", "maria_garcia@gmail.com") in {(s.label, s.text) for s in found.spans}

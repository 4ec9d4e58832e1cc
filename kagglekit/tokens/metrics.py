"""Scores of token and span predictions, and the decision tuned on out-of-fold probabilities.

- micro F-beta over (document, token, label) triples, beta read from Kaggle's metric name (PII: 5);
- entity F1 in the CoNLL sense, from ``seqeval`` (the field's standard scorer, not a hand-written one);
- character micro F1 over (row, character) pairs (NBME).

Every model gives per-token probabilities over the label set (``O`` first); the decision marks a token as an
entity when its non-O probability reaches a threshold and gives it the likeliest non-O label. The threshold is
tuned on the OOF probabilities for the competition's metric: F5 rewards recall, so it ends up low.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from kagglekit.errors import ConfigError
from kagglekit.tokens.layout import Sequence

THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)
BETA = re.compile(r"beta\s*[=:]?\s*(\d+(?:\.\d+)?)|(?<![a-z])f[-_ ]?(\d+(?:\.\d+)?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class TokenMetric:
    """The competition's score: micro F-beta over token triples, or character F1 over spans."""

    name: str  # f5, f1, char_f1
    beta: float
    kind: str  # tokens or spans

    def describe(self) -> str:
        if self.kind == "spans":
            return "character micro F1 over (row, character)"
        return f"micro F{self.beta:g} over (document, token, label)"


def parse_beta(name: str) -> float | None:
    """Beta from a metric name: "f5", "micro_f5", "F-beta (beta=5)", "fbeta:2"; None when it names none."""
    match = BETA.search(name)
    if match is None:
        return None
    return float(match.group(1) or match.group(2))


def get_metric(kind: str, name: str | None = None) -> TokenMetric:
    """The metric for a shape from a name (the option, or Kaggle's metadata); the default is F5 for tokens
    (PII's) and character F1 for spans (NBME's)."""
    if kind == "spans":
        if name and "char" not in name.lower() and parse_beta(name) not in (None, 1.0):
            raise ConfigError(f"metric {name!r} does not score spans: a span competition is scored with char_f1 "
                              "(character micro F1)")
        return TokenMetric("char_f1", 1.0, "spans")
    beta = parse_beta(name) if name else 5.0
    if beta is None:
        if "f-beta" in name.lower() or "fbeta" in name.lower():
            raise ConfigError(f"metric {name!r} names an F-beta without its beta: pass e.g. --metric f5 (PII uses beta 5)")
        if "f1" not in name.lower() and "f-score" not in name.lower():
            raise ConfigError(f"metric {name!r} cannot score token labels: use f1, f5 or fbeta:BETA (micro F-beta over "
                              "(document, token, label))")
        beta = 1.0
    return TokenMetric(f"f{beta:g}", beta, "tokens")


def fbeta(tp: float, fp: float, fn: float, beta: float) -> float:
    """F-beta from counts; 0 when nothing is predicted or true (as Kaggle's scorer)."""
    b2 = beta * beta
    denominator = (1 + b2) * tp + b2 * fn + fp
    return float((1 + b2) * tp / denominator) if denominator else 0.0


# --- token triples -------------------------------------------------------------------------------------------


def decide(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Label indices: the likeliest non-O label where P(non-O) >= threshold, else O (0)."""
    if proba.shape[1] == 1:
        return np.zeros(len(proba), dtype=np.int64)
    best = proba[:, 1:].argmax(axis=1) + 1
    return np.where(1.0 - proba[:, 0] >= threshold, best, 0)


def token_counts(y: np.ndarray, decided: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) of (token, label) triples: O is never a triple."""
    hit = int(((decided == y) & (y != 0)).sum())
    return hit, int((decided != 0).sum()) - hit, int((y != 0).sum()) - hit


def token_scores(y: np.ndarray, decided: np.ndarray, beta: float) -> dict[str, float]:
    tp, fp, fn = token_counts(y, decided)
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            f"f{beta:g}": fbeta(tp, fp, fn, beta)}


def tune_threshold(proba: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float]:
    """The threshold on P(non-O) with the best micro F-beta on these (OOF) probabilities, and that score.

    Every threshold of the grid is scored at once from cumulative counts over the tokens sorted by P(non-O).
    """
    if proba.shape[1] == 1:
        return 0.5, 0.0
    p = 1.0 - proba[:, 0]
    correct = (proba[:, 1:].argmax(axis=1) + 1 == y) & (y != 0)
    order = np.argsort(-p, kind="stable")
    hits = np.concatenate([[0], np.cumsum(correct[order])])
    taken = np.searchsorted(-p[order], -THRESHOLDS, side="right")  # tokens with p >= t
    tp = hits[taken]
    fp = taken - tp
    fn = int((y != 0).sum()) - tp
    scores = np.array([fbeta(a, b, c, beta) for a, b, c in zip(tp, fp, fn)])
    best = int(np.argmax(scores))
    return float(THRESHOLDS[best]), float(scores[best])


def entity_f1(true: list[list[str]], pred: list[list[str]]) -> float:
    """Entity F1 in the CoNLL sense (an entity counts when its type and every token boundary match), by seqeval."""
    from seqeval.metrics import f1_score

    return float(f1_score(true, pred, zero_division=0))


def entity_report(true: list[list[str]], pred: list[list[str]]) -> list[dict[str, float | str | int]]:
    """Per entity type precision, recall, F1 and support (seqeval), the micro average last."""
    from seqeval.metrics import classification_report

    report = classification_report(true, pred, output_dict=True, zero_division=0)
    rows = []
    for name, values in report.items():
        if name in ("macro avg", "weighted avg"):
            continue
        rows.append({"entity": name, "precision": float(values["precision"]), "recall": float(values["recall"]),
                     "f1": float(values["f1-score"]), "support": int(values["support"])})
    return rows


# --- character spans -------------------------------------------------------------------------------------------


def token_spans(sequence: Sequence, positive: np.ndarray) -> list[tuple[int, int]]:
    """Character spans of runs of positive tokens; tokens separated by whitespace only are one span."""
    spans: list[tuple[int, int]] = []
    for i in np.flatnonzero(positive):
        start, end = (int(v) for v in sequence.offsets[i])
        if spans and not sequence.text[spans[-1][1]:start].strip():
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def char_counts(true: list[list[tuple[int, int]]], pred: list[list[tuple[int, int]]]) -> tuple[int, int, int]:
    """(TP, FP, FN) over (row, character) pairs."""
    tp = fp = fn = 0
    for true_spans, pred_spans in zip(true, pred, strict=True):
        truth = {c for a, b in true_spans for c in range(a, b)}
        guess = {c for a, b in pred_spans for c in range(a, b)}
        tp += len(truth & guess)
        fp += len(guess - truth)
        fn += len(truth - guess)
    return tp, fp, fn


def char_scores(true: list[list[tuple[int, int]]], pred: list[list[tuple[int, int]]]) -> dict[str, float]:
    tp, fp, fn = char_counts(true, pred)
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "char_f1": fbeta(tp, fp, fn, 1.0)}


def tune_span_threshold(sequences: list[Sequence], proba: list[np.ndarray]) -> tuple[float, float]:
    """The threshold on P(inside a span) with the best character F1 over these rows.

    Tuned on token characters (a token inside the threshold counts its characters); the gaps a merged span
    also covers are a few spaces, and the final score is computed on the merged spans.
    """
    lengths, overlaps, p = [], [], []
    true_chars = 0
    for sequence, probabilities in zip(sequences, proba, strict=True):
        truth = np.zeros(len(sequence.text) + 1, dtype=bool)
        for a, b in sequence.spans:
            truth[a:b] = True
        true_chars += int(truth.sum())
        cumulative = np.concatenate([[0], np.cumsum(truth)])
        lengths.append(sequence.offsets[:, 1] - sequence.offsets[:, 0])
        overlaps.append(cumulative[sequence.offsets[:, 1]] - cumulative[sequence.offsets[:, 0]])
        p.append(1.0 - probabilities[:, 0])
    length, overlap, score = (np.concatenate(a) if a else np.zeros(0) for a in (lengths, overlaps, p))
    order = np.argsort(-score, kind="stable")
    tp_sum = np.concatenate([[0], np.cumsum(overlap[order])])
    pred_sum = np.concatenate([[0], np.cumsum(length[order])])
    taken = np.searchsorted(-score[order], -THRESHOLDS, side="right")
    tp = tp_sum[taken]
    scores = np.array([fbeta(a, b, c, 1.0) for a, b, c in zip(tp, pred_sum[taken] - tp, true_chars - tp)])
    best = int(np.argmax(scores))
    return float(THRESHOLDS[best]), float(scores[best])



# --- word-index segments (Feedback Prize) --------------------------------------------------------------------------


def overlap_f1(true: list[tuple[str, str, str]], pred: list[tuple[str, str, str]]) -> float:
    """Feedback Prize's score over (essay id, class, predictionstring of word indices) segments.

    A prediction matches a true segment of the same essay and class when their overlap is at least half of each;
    every true segment matches at most one prediction (the best overlapping), and F1 = TP / (TP + (FP + FN) / 2) is
    averaged over the classes of the true segments.
    """
    classes = sorted({c for _, c, _ in true})
    scores = []
    for kind in classes:
        truth = [(i, set(words.split())) for i, c, words in true if c == kind]
        guesses = [(i, set(words.split())) for i, c, words in pred if c == kind]
        pairs = []
        for g, (essay, guess) in enumerate(guesses):
            for t, (other, words) in enumerate(truth):
                if essay == other and guess and words:
                    common = len(guess & words)
                    if common / len(words) >= 0.5 and common / len(guess) >= 0.5:
                        pairs.append((common / len(guess | words), g, t))
        matched_true, matched_guess = set(), set()
        for _, g, t in sorted(pairs, reverse=True):
            if g not in matched_guess and t not in matched_true:
                matched_guess.add(g)
                matched_true.add(t)
        tp = len(matched_true)
        fp, fn = len(guesses) - tp, len(truth) - tp
        scores.append(tp / (tp + 0.5 * (fp + fn)) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else 0.0

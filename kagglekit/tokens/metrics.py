"""Scores of token and span predictions, and the decision tuned on out-of-fold probabilities.

- micro F-beta over (document, token, label) triples, beta read from Kaggle's metric name (PII: 5);
- entity F1 in the CoNLL sense, from ``seqeval`` (the field's standard scorer, not a hand-written one);
- character micro F1 over (row, character) pairs (NBME);
- Feedback Prize's overlap F1 over (essay, class, word indices) segments, macro over classes;
- entity F1 as the metric of an NER competition, with the counts done here at numpy speed (equal to seqeval's on
  IOB2 labels) because the decision is tuned on it many times.

Every model gives per-token probabilities over the label set (``O`` first); the decision marks a token as an
entity when its non-O probability reaches a threshold and gives it the likeliest non-O label. The threshold is
tuned on the OOF probabilities for the competition's metric: F5 rewards recall, so it ends up low. Entity F1 instead
decides whole sequences: the likeliest valid BIO sequence, with P(O) scaled by a factor tuned on OOF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from kagglekit.errors import ConfigError
from kagglekit.tokens.layout import OUTSIDE, Sequence, entity_type, segment_classes

THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)
ENTITY_NAMES = re.compile(r"entit|seqeval|conll|\bner\b", re.IGNORECASE)  # names of the CoNLL entity F1
BETA = re.compile(r"beta\s*[=:]?\s*(\d+(?:\.\d+)?)|(?<![a-z])f[-_ ]?(\d+(?:\.\d+)?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class TokenMetric:
    """The competition's score: micro F-beta over token triples, or character F1 over spans."""

    name: str  # f5, f1, char_f1, overlap_f1, entity_f1
    beta: float
    kind: str  # tokens, spans, segments or entities

    def describe(self) -> str:
        if self.kind == "entities":
            return "entity F1 (CoNLL, seqeval): micro F1 over entities matched by type and both boundaries"
        if self.kind == "segments":
            return "Feedback overlap F1: per class F1 of segments matched at >= 50% overlap both ways, macro over classes"
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
    (PII's) and character F1 for spans (NBME's); a name with "overlap" (Feedback's layout) scores word-index segments;
    one naming entities, seqeval or CoNLL scores whole entities (NER competitions)."""
    if kind == "tokens" and name and "overlap" in name.lower():
        return TokenMetric("overlap_f1", 1.0, "segments")
    if name and ENTITY_NAMES.search(name):
        if kind != "tokens":
            raise ConfigError(f"metric {name!r} scores entities of BIO token labels; a span competition is scored with "
                              "char_f1 (character micro F1)")
        return TokenMetric("entity_f1", 1.0, "entities")
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


# --- entities (CoNLL entity F1) ---------------------------------------------------------------------------------

OUTSIDE_SCALES = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)  # factors on P(O) tried before the BIO Viterbi pass
BACKPOINTER_BYTES = 2 ** 26  # at most this much of back-pointers at once: the scales are decoded in chunks under it


def bio_viterbi(proba: np.ndarray, lengths: np.ndarray | list[int], labels: list[str], outside_scale: float = 1.0
                ) -> np.ndarray:
    """Label indices of the valid BIO sequence (I-X only after B-X or I-X) with the highest product of token
    probabilities, per sequence of the flat tokens (``lengths`` tokens each), with P(O) multiplied by ``outside_scale``."""
    return bio_viterbi_scales(proba, lengths, labels, (outside_scale,))[0]


def bio_viterbi_scales(proba: np.ndarray, lengths: np.ndarray | list[int], labels: list[str],
                       outside_scales: tuple[float, ...]) -> np.ndarray:
    """``bio_viterbi`` at each factor on P(O) (a row each), decoded together.

    All sequences and factors advance together, longest sequence first, so the Python loop runs once per position of
    the longest sequence, not once per token or factor, and an I-X weighs its two possible predecessors, not every
    label: CoNLL-2003's 200k tokens decode at 7 factors in under a second.
    """
    n, width = proba.shape
    lengths = np.asarray(lengths, dtype=np.int64)
    if n == 0 or width == 1:
        return np.zeros((len(outside_scales), n), dtype=np.int64)
    chunk = max(1, BACKPOINTER_BYTES // (n * width))
    if len(outside_scales) > chunk:
        return np.concatenate([bio_viterbi_scales(proba, lengths, labels, outside_scales[i:i + chunk])
                               for i in range(0, len(outside_scales), chunk)])
    inside = np.array([label.startswith("I-") for label in labels])
    kinds = [entity_type(label) for label in labels]
    columns = np.flatnonzero(inside)  # an I-X may follow only B-X or I-X (itself): two candidates, not every label
    opener = np.array([labels.index(f"B-{kinds[j]}") if f"B-{kinds[j]}" in labels else j for j in columns], dtype=np.int64)
    log = np.log(np.maximum(proba, 1e-12))
    scaled = np.zeros((len(outside_scales), 1, width))
    scaled[:, 0, 0] = np.log(outside_scales)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    order = np.argsort(-lengths, kind="stable")
    order = order[lengths[order] > 0]
    first, size = starts[order], lengths[order]
    longest = int(size[0])
    active = np.searchsorted(-size, -np.arange(longest + 1), side="left")  # sequences longer than t
    score = log[first][None] + scaled + np.where(inside, -np.inf, 0.0)  # [factor, sequence, label]
    last = np.zeros((len(outside_scales), len(order)), dtype=np.int64)
    back = np.zeros((len(outside_scales), n, width), dtype=np.int8 if width < 128 else np.int32)  # best previous label
    for t in range(1, longest):
        ended, count = active[t], active[t - 1]
        last[:, ended:count] = score[:, ended:count].argmax(axis=2)
        rows = first[:ended] + t
        now = score[:, :ended]
        previous = np.repeat(now.argmax(axis=2)[:, :, None], width, axis=2)  # O and B-X follow anything
        best = np.take_along_axis(now, previous[:, :, :1], axis=2).repeat(width, axis=2)
        stays, opens = now[:, :, columns], now[:, :, opener]
        previous[:, :, columns] = np.where(stays >= opens, columns, opener)
        best[:, :, columns] = np.maximum(stays, opens)
        back[:, rows] = previous
        score[:, :ended] = best + log[rows][None] + scaled
    last[:, :active[longest - 1]] = score[:, :active[longest - 1]].argmax(axis=2)
    path = np.zeros((len(outside_scales), n), dtype=np.int64)
    current = np.zeros((len(outside_scales), len(order)), dtype=np.int64)
    for t in range(longest - 1, -1, -1):
        count, ending = active[t], active[t + 1]
        current[:, ending:count] = last[:, ending:count]
        rows = first[:count] + t
        path[:, rows] = current[:, :count]
        if t:
            current[:, :count] = np.take_along_axis(back[:, rows], current[:, :count, None], axis=2)[..., 0]
    return path


class EntityMatcher:
    """CoNLL entity counts of many decisions on one set of sequences, at numpy speed: an entity is a run of tokens of
    one type that a B- tag, a change of type or a new sequence starts (seqeval's default reading of IOB2), and a
    predicted entity is right when a true one has the same type, start and end."""

    def __init__(self, y: np.ndarray, lengths: np.ndarray, labels: list[str]):
        self.labels, self.lengths = labels, np.asarray(lengths, dtype=np.int64)
        self.kind_of, self.begins = _label_arrays(labels)
        self.first = np.zeros(len(y), dtype=bool)
        self.first[np.concatenate([[0], np.cumsum(self.lengths)[:-1]])[self.lengths > 0]] = True
        self.true_keys = self.keys(y)

    def keys(self, decided: np.ndarray) -> np.ndarray:
        """One integer per entity: (start token, end token, type) packed."""
        kind = self.kind_of[decided]
        previous = np.concatenate([[-1], kind[:-1]])
        previous[self.first] = -1
        start = (kind >= 0) & (self.begins[decided] | (previous != kind))
        inside = np.flatnonzero(kind >= 0)
        ids = (np.cumsum(start) - 1)[inside]
        ends = inside[np.concatenate([ids[1:] != ids[:-1], [True]])] if len(inside) else inside  # each run's last token
        n, types = len(decided) + 1, len(self.kind_of) + 1
        return (np.flatnonzero(start) * n + ends) * types + kind[start]

    def counts(self, decided: np.ndarray, tokens: np.ndarray | None = None) -> tuple[int, int, int]:
        """(TP, FP, FN) of entities, of the entities starting at ``tokens`` (a mask; whole sequences) if given."""
        guess, truth = self.keys(decided), self.true_keys
        if tokens is not None:
            n, types = len(decided) + 1, len(self.kind_of) + 1
            guess, truth = guess[tokens[guess // types // n]], truth[tokens[truth // types // n]]
        tp = len(np.intersect1d(guess, truth, assume_unique=True))
        return tp, len(guess) - tp, len(truth) - tp

    def decodes(self, proba: np.ndarray) -> np.ndarray:
        """The decided labels at each factor of ``OUTSIDE_SCALES`` (a row each)."""
        return bio_viterbi_scales(proba, self.lengths, self.labels, OUTSIDE_SCALES)

    def tune(self, decodes: np.ndarray, tokens: np.ndarray | None = None) -> tuple[dict, float]:
        """The factor on P(O) with the best entity F1 on ``tokens`` (default: all), from ``decodes`` at each factor."""
        scores = [fbeta(*self.counts(decided, tokens), 1.0) for decided in decodes]
        best = int(np.argmax(scores))
        return {"viterbi": True, "outside_scale": OUTSIDE_SCALES[best]}, float(scores[best])


def tune_entities(proba: np.ndarray, y: np.ndarray, lengths: np.ndarray, labels: list[str]) -> tuple[dict, float]:
    """The decision with the best entity F1 on these (OOF) sequences: ``{"viterbi": True, "outside_scale": f}``, a BIO
    Viterbi pass over the token probabilities with P(O) multiplied by f (below 1 favours entities)."""
    matcher = EntityMatcher(y, lengths, labels)
    return matcher.tune(matcher.decodes(proba))


def entity_scores(y: np.ndarray, decided: np.ndarray, lengths: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Entity F1 (``entity_f1``), precision and recall of decided label indices (flat, ``lengths`` tokens a sequence)."""
    tp, fp, fn = EntityMatcher(y, lengths, labels).counts(decided)
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "entity_f1": fbeta(tp, fp, fn, 1.0)}


def apply_decision(proba: np.ndarray, decision: dict, labels: list[str], lengths: np.ndarray | list[int]) -> np.ndarray:
    """Label indices of flat token probabilities (``lengths`` tokens a sequence) at an entry's tuned decision: the BIO
    Viterbi pass of an entity F1 run, else the threshold on P(non-O). Every caller decides through here alike."""
    if decision.get("viterbi"):
        return bio_viterbi(proba, np.asarray(lengths), labels, float(decision["outside_scale"]))
    return decide(proba, float(decision["threshold"]))


def describe_decision(decision: dict) -> str:
    """The decision in words, for the console: "threshold 0.12" or "BIO Viterbi, P(O) x 1.4"."""
    if decision.get("viterbi"):
        return f"BIO Viterbi, P(O) x {decision['outside_scale']:g}"
    return f"threshold {decision['threshold']:.2f}"


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

SEGMENT_THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)  # P(non-O) thresholds tried for segments
MIN_WORDS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25)  # minimum segment lengths tried per class


def overlap_counts(true: list[tuple[str, str, str]], pred: list[tuple[str, str, str]]) -> dict[str, tuple[int, int, int]]:
    """(TP, FP, FN) per class of the true segments, by Feedback Prize's rule (its host's scoring notebook).

    Segments are (essay id, class, predictionstring). A prediction and a true segment of the same essay and class
    are a potential match when their common words are at least half of each. Every true segment with a potential
    match is a TP (one with none a FN), and takes the prediction with the largest of the two overlaps; predictions
    taken by no true segment are FPs. True segments repeated word for word count once, as the host's groupby does.
    """
    counts = {}
    for kind in sorted({c for _, c, _ in true}):
        truth = list(dict.fromkeys((i, frozenset(words.split())) for i, c, words in true if c == kind))
        by_essay: dict[str, list[tuple[int, set[str]]]] = {}
        guesses = [(i, set(words.split())) for i, c, words in pred if c == kind]
        for g, (essay, words) in enumerate(guesses):
            by_essay.setdefault(essay, []).append((g, words))
        tp = fn = 0
        taken = set()
        for essay, words in truth:
            best, best_overlap = None, -1.0
            for g, guess in by_essay.get(essay, []):
                common = len(guess & words)
                if guess and words and common / len(words) >= 0.5 and common / len(guess) >= 0.5:
                    overlap = max(common / len(words), common / len(guess))
                    if overlap > best_overlap:
                        best, best_overlap = g, overlap
            if best is None:
                fn += 1
            else:
                tp += 1
                taken.add(best)
        counts[kind] = (tp, len(guesses) - len(taken), fn)
    return counts


def overlap_f1(true: list[tuple[str, str, str]], pred: list[tuple[str, str, str]]) -> float:
    """Feedback Prize's score: F1 = TP / (TP + (FP + FN) / 2) per class (see ``overlap_counts``), averaged over the
    classes of the true segments."""
    scores = [tp / (tp + 0.5 * (fp + fn)) if tp + fp + fn else 0.0 for tp, fp, fn in overlap_counts(true, pred).values()]
    return float(np.mean(scores)) if scores else 0.0


def _label_arrays(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per label index: its class index (-1 for O), and whether it begins a segment (B-)."""
    classes = segment_classes(labels)
    kind = np.array([-1 if label == OUTSIDE else classes.index(entity_type(label))
                     for label in labels], dtype=np.int64)
    return kind, np.array([label.startswith("B-") for label in labels])


def _segment_ids(decided: np.ndarray, first: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each token's segment number (-1 outside) and each segment's class index, over flat tokens of many essays
    (``first`` marks each essay's first token): a B- tag, a change of class or a new essay starts a segment."""
    kind_of, begins = _label_arrays(labels)
    kind = kind_of[decided]
    previous = np.concatenate([[-1], kind[:-1]])
    previous[first] = -1
    start = (kind >= 0) & (begins[decided] | (previous != kind))
    ids = np.cumsum(start) - 1
    return np.where(kind >= 0, ids, -1), kind[start]


def decode_segments(decided: np.ndarray, labels: list[str], min_words: dict[str, int] | None = None
                    ) -> list[tuple[str, tuple[int, ...]]]:
    """One essay's (class, word indices) segments from its decided label indices; a segment shorter than its
    class's minimum (``min_words``, tuned on OOF) is dropped, as Feedback's solutions did."""
    if not len(decided):
        return []
    first = np.zeros(len(decided), dtype=bool)
    first[0] = True
    ids, kinds = _segment_ids(decided, first, labels)
    classes, min_words = segment_classes(labels), min_words or {}
    segments = []
    for number, kind in enumerate(kinds):
        words = tuple(int(i) for i in np.flatnonzero(ids == number))
        if len(words) >= min_words.get(classes[kind], 1):
            segments.append((classes[kind], words))
    return segments


class _SegmentMatcher:
    """Feedback's score of many decisions on one set of essays, at numpy speed: the true segments are laid over the
    flat tokens once (each word in at most one true segment, as BIO labels hold them), and each decision's
    predicted segments are matched to them by counting the (predicted, true) pairs of their common tokens."""

    def __init__(self, sequences: list[Sequence], labels: list[str]):
        self.labels, self.classes = labels, segment_classes(labels)
        lengths = np.array([len(s.tokens) for s in sequences], dtype=np.int64)
        self.first = np.zeros(int(lengths.sum()), dtype=bool)
        self.first[np.concatenate([[0], np.cumsum(lengths)[:-1]])[lengths > 0]] = True
        self.true_id = np.full(len(self.first), -1, dtype=np.int64)
        true_class, true_length, base = [], [], 0
        for sequence, length in zip(sequences, lengths):
            for kind, words in dict.fromkeys(sequence.segments):
                self.true_id[base + np.asarray(words, dtype=np.int64)] = len(true_class)
                true_class.append(self.classes.index(kind) if kind in self.classes else -1)
                true_length.append(len(words))
            base += int(length)
        self.true_class, self.true_length = np.array(true_class, dtype=np.int64), np.array(true_length, dtype=np.int64)
        self.scored = sorted(set(self.true_class[self.true_class >= 0].tolist()))  # the macro is over true classes

    def pairs(self, decided: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The predicted segments' class and length, and their potential matches: (predicted, true, overlap)."""
        ids, kinds = _segment_ids(decided, self.first, self.labels)
        length = np.bincount(ids[ids >= 0], minlength=len(kinds))
        both = (ids >= 0) & (self.true_id >= 0)
        n_true = max(len(self.true_class), 1)
        keys, common = np.unique(ids[both] * n_true + self.true_id[both], return_counts=True)
        guess, truth = keys // n_true, keys % n_true
        of_guess, of_truth = common / length[guess], common / self.true_length[truth]
        match = (kinds[guess] == self.true_class[truth]) & (of_guess >= 0.5) & (of_truth >= 0.5)
        return kinds, length, guess[match], truth[match], np.maximum(of_guess, of_truth)[match]

    def counts(self, kind: int, minimums: tuple[int, ...], pairs: tuple[np.ndarray, ...]) -> np.ndarray:
        """(TP, FP, FN) of one class for each minimum length (a row each): shorter predicted segments are dropped."""
        kinds, length, guess, truth, overlap = pairs
        mine = self.true_class[truth] == kind
        guess, truth, overlap = guess[mine], truth[mine], overlap[mine]
        order = np.lexsort((guess, -overlap, truth))  # per true segment: the largest overlap first
        guess, truth, size = guess[order], truth[order], length[guess[order]]
        predicted = np.sort(length[kinds == kind])
        n_true = int((self.true_class == kind).sum())
        out = np.zeros((len(minimums), 3), dtype=np.int64)
        for row, minimum in enumerate(minimums):
            kept = size >= minimum
            g, t = guess[kept], truth[kept]
            firsts = np.concatenate([[True], t[1:] != t[:-1]]) if len(t) else np.zeros(0, dtype=bool)
            tp = int(firsts.sum())
            n_predicted = len(predicted) - int(np.searchsorted(predicted, minimum))
            out[row] = (tp, n_predicted - len(np.unique(g[firsts])), n_true - tp)
        return out

    def score(self, decision: dict, proba: np.ndarray) -> dict[str, float]:
        """Feedback's score, micro precision and recall over segments at one decision (threshold, min_words)."""
        pairs = self.pairs(decide(proba, decision["threshold"]))
        f1s, total = [], np.zeros(3)
        for kind in self.scored:
            counts = self.counts(kind, (decision["min_words"].get(self.classes[kind], 1),), pairs)[0]
            total += counts
            f1s.append(_f1(counts))
        tp, fp, fn = total
        return {"overlap_f1": float(np.mean(f1s)) if f1s else 0.0, "precision": tp / (tp + fp) if tp + fp else 0.0,
                "recall": tp / (tp + fn) if tp + fn else 0.0}

    def tune(self, proba: np.ndarray) -> tuple[dict, float]:
        """The threshold on P(non-O) and each class's minimum segment length with the best score here.

        A class's F1 depends only on its own segments, so at each threshold each class's minimum is chosen alone.
        """
        best: tuple[float, dict] = (-1.0, {})
        entity = 1.0 - proba[:, 0]
        likeliest = proba[:, 1:].argmax(axis=1) + 1 if proba.shape[1] > 1 else np.zeros(len(proba), dtype=np.int64)
        for threshold in SEGMENT_THRESHOLDS:
            pairs = self.pairs(np.where(entity >= threshold, likeliest, 0))
            minimums, f1s = {}, []
            for kind in self.scored:
                scores = [_f1(counts) for counts in self.counts(kind, MIN_WORDS, pairs)]
                minimums[self.classes[kind]] = MIN_WORDS[int(np.argmax(scores))]
                f1s.append(max(scores))
            score = float(np.mean(f1s)) if f1s else 0.0
            if score > best[0]:
                best = (score, {"threshold": float(threshold), "min_words": minimums})
        return best[1], best[0]


def _f1(counts: np.ndarray) -> float:
    """Feedback's F1 = TP / (TP + (FP + FN) / 2) from (TP, FP, FN); 0 when all are 0."""
    tp, fp, fn = (int(c) for c in counts)
    return tp / (tp + 0.5 * (fp + fn)) if tp + fp + fn else 0.0


def tune_segments(sequences: list[Sequence], proba: list[np.ndarray], labels: list[str]) -> tuple[dict, float]:
    """The decision with the best Feedback score on these (OOF) essays: ``{"threshold", "min_words": {class: n}}``."""
    flat = np.concatenate(proba) if proba else np.zeros((0, len(labels)))
    return _SegmentMatcher(sequences, labels).tune(flat)


def segment_scores(sequences: list[Sequence], proba: list[np.ndarray], labels: list[str], decision: dict) -> dict[str, float]:
    """Feedback's score (``overlap_f1``) and segment precision and recall of these essays at ``decision``."""
    flat = np.concatenate(proba) if proba else np.zeros((0, len(labels)))
    return _SegmentMatcher(sequences, labels).score(decision, flat)

"""Hand-made token features for the CRF: the word, its shape, affixes and character n-grams, its neighbours, its
place, how the same word is written elsewhere in the document, and its class among words used alike in the
competition's own text (``WordClusters``).

A span competition's query (NBME's feature text) is joined to the word features, so one CRF learns which words
answer which query. Each group was kept for what it added to held-out entity F1 on CoNLL-2003 (BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np

from kagglekit.tokens.layout import Sequence

SHAPES = [(re.compile(r"[A-Z]"), "X"), (re.compile(r"[a-z]"), "x"), (re.compile(r"[0-9]"), "d")]
REPEATS = re.compile(r"(.)\1+")
SENTENCE_END = {".", "!", "?", "\n", "\n\n"}
NGRAMS = range(3, 7)  # character n-grams of an alphabetic word, with its boundaries marked: "<Smi", "ith>"
OCCURRENCES = 10  # a capitalised word's other occurrences in its document whose contexts are its features
WINDOW = 4  # the words on each side that are features as a bag (left and right apart), whatever their distance


def long_shape(token: str) -> str:
    """"McDonald42" -> "XxXxxxxxdd": letter classes, one a character."""
    shape = token
    for pattern, letter in SHAPES:
        shape = pattern.sub(letter, shape)
    return shape


def word_shape(token: str) -> str:
    """"McDonald42" -> "XxXxd": letter classes with runs collapsed, other characters kept."""
    return _collapsed(long_shape(token))


def _collapsed(long: str) -> str:
    return REPEATS.sub(r"\1", long)[:12]


def _word(token: str) -> dict[str, str | bool]:
    lower, long = token.lower(), long_shape(token)
    return {
        "word": token, "lower": lower, "shape": _collapsed(long), "long_shape": long[:16],
        "prefix2": lower[:2], "prefix3": lower[:3], "prefix4": lower[:4], "prefix5": lower[:5], "suffix2": lower[-2:],
        "suffix3": lower[-3:], "suffix4": lower[-4:], "suffix5": lower[-5:], "title": token.istitle(),
        "upper": token.isupper(), "digit": token.isdigit(), "has_digit": any(c.isdigit() for c in token), "at": "@" in token,
        "url": "://" in token or lower.startswith("www."), "space": not token.strip(),
    }


def _casing(token: str) -> str:
    if token.isupper():
        return "upper"
    if token[:1].isupper():
        return "title"
    return "lower" if token.islower() else "other"


def token_features(sequence: Sequence, classes: list[tuple[int, ...]] | None = None) -> list[dict[str, str | bool | float]]:
    """One feature dict per token (the format sklearn-crfsuite reads); ``classes`` are the tokens' word classes
    (``WordClusters.assign``).

    A capitalised word also gets how it is written elsewhere in the document away from a sentence start (a headline's
    "BLAIR" is "Blair" mid-sentence, a headline's "TAKE" is "take"), the neighbours of its first occurrence (the
    "Mr." or "said" that the later, bare mentions lack), and the words at +-1 and +-2 of each of its other occurrences
    (the first 10) with whether they start a sentence: a name's mentions share what one of them says.
    """
    tokens = sequence.tokens
    words = [_word(t) for t in tokens]
    n = len(words)
    query = sequence.query.lower()
    starts = [i == 0 or tokens[i - 1].strip() in SENTENCE_END or not tokens[i - 1].strip() for i in range(n)]
    casings: dict[str, Counter] = defaultdict(Counter)
    occurrences: dict[str, list[int]] = defaultdict(list)  # each word's positions, the first occurrence first
    for i, word in enumerate(words):
        occurrences[word["lower"]].append(i)
        if not starts[i]:
            casings[word["lower"]][_casing(tokens[i])] += 1
    features = []
    for i, word in enumerate(words):
        f: dict[str, str | bool | float] = {"bias": 1.0, **word, "length": str(min(len(tokens[i]), 12)),
                                            "position": str(min(10, 10 * i // max(n, 1))), "sentence_start": starts[i]}
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if 0 <= j < n:
                f[f"{offset}:lower"] = words[j]["lower"]
                f[f"{offset}:shape"] = words[j]["shape"]
                if abs(offset) == 1:
                    f[f"{offset}:title"] = words[j]["title"]
            else:
                f[f"{offset}:edge"] = True
        f["shapes"] = "|".join(words[j]["shape"] if 0 <= j < n else "^" for j in (i - 1, i, i + 1))
        if i > 0:
            f["bigram"] = f"{words[i - 1]['lower']} {word['lower']}"
        if i + 1 < n:
            f["next_bigram"] = f"{word['lower']} {words[i + 1]['lower']}"
        if word["lower"].isalpha():
            marked = f"<{tokens[i]}>"
            for size in NGRAMS:
                for a in range(len(marked) - size + 1):
                    f[f"ng:{marked[a:a + size]}"] = True
            for j in range(max(0, i - WINDOW), i):
                f[f"L:{words[j]['lower']}"] = True
            for j in range(i + 1, min(n, i + WINDOW + 1)):
                f[f"R:{words[j]['lower']}"] = True
            for level, c in enumerate(classes[i] if classes is not None else ()):
                f[f"class{level}"] = str(c)
            if word["lower"] != tokens[i]:
                seen, own = casings[word["lower"]], None if starts[i] else _casing(tokens[i])
                for casing in ("upper", "title", "lower"):
                    if seen[casing] - (casing == own) > 0:  # written so elsewhere, not counting this token
                        f[f"doc:{casing}"] = True
                j = occurrences[word["lower"]][0]
                if j != i:
                    f["doc:first_prev"] = words[j - 1]["lower"] if j else "<s>"
                    f["doc:first_next"] = words[j + 1]["lower"] if j + 1 < n else "</s>"
                    f["doc:first_start"] = starts[j]
                f.update(_other_contexts(words, starts, occurrences[word["lower"]][:OCCURRENCES], i))
        if query:
            f["q:lower"] = f"{query}|{word['lower']}"
            f["q:prefix4"] = f"{query}|{word['lower'][:4]}"
            f["q:-1"] = f"{query}|{words[i - 1]['lower'] if i else '<s>'}"
            f["q:+1"] = f"{query}|{words[i + 1]['lower'] if i + 1 < n else '</s>'}"
        features.append(f)
    return features


def _other_contexts(words: list[dict], starts: list[bool], others: list[int], i: int) -> dict[str, bool]:
    """The words at +-1 and +-2 of a word's other occurrences (``others``, not ``i``; the document's edges are words at
    +-1), and whether those start a sentence."""
    n, features = len(words), {}
    for j in others:
        if j == i:
            continue
        features[f"doc:-1:{words[j - 1]['lower'] if j else '<s>'}"] = True
        features[f"doc:+1:{words[j + 1]['lower'] if j + 1 < n else '</s>'}"] = True
        if j > 1:
            features[f"doc:-2:{words[j - 2]['lower']}"] = True
        if j + 2 < n:
            features[f"doc:+2:{words[j + 2]['lower']}"] = True
        features[f"doc:start:{starts[j]}"] = True
    return features


class WordClusters:
    """Word classes learned from the competition's own text (no labels): each word's left and right neighbours among
    the most frequent words, log counts reduced by truncated SVD, then k-means at two granularities.

    A word too rare to have its own class (or unseen, as in new text) is placed from its neighbours in the text being
    featurised: its context counts projected on the same SVD axes, then the nearest centroid."""

    def __init__(self, sizes: tuple[int, ...] = (64, 256), contexts: int = 1000, dims: int = 64, min_count: int = 2,
                 seed: int = 0):
        self.sizes, self.contexts, self.dims, self.min_count, self.seed = sizes, contexts, dims, min_count, seed

    def _counts(self, sequences: list[Sequence], vocabulary: dict[str, int]):
        from scipy import sparse

        rows, cols = [], []
        for sequence in sequences:
            lower = [t.lower() for t in sequence.tokens]
            for i, word in enumerate(lower):
                row = vocabulary.get(word)
                if row is None:
                    continue
                if i > 0 and lower[i - 1] in self.context_:
                    rows.append(row)
                    cols.append(self.context_[lower[i - 1]])
                if i + 1 < len(lower) and lower[i + 1] in self.context_:
                    rows.append(row)
                    cols.append(len(self.context_) + self.context_[lower[i + 1]])
        matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                   shape=(len(vocabulary), 2 * len(self.context_)))
        matrix.sum_duplicates()
        matrix.data = np.log1p(matrix.data)
        return matrix

    def _embed(self, matrix):
        vectors = np.asarray(matrix @ self.components_.T)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def fit(self, sequences: list[Sequence]) -> "WordClusters":
        from sklearn.cluster import MiniBatchKMeans
        from sklearn.decomposition import TruncatedSVD

        counts = Counter(t.lower() for s in sequences for t in s.tokens)
        self.context_ = {w: i for i, (w, _) in enumerate(counts.most_common(self.contexts))}
        words = [w for w, c in counts.items() if c >= self.min_count]
        vocabulary = {w: i for i, w in enumerate(words)}
        matrix = self._counts(sequences, vocabulary)
        self.components_, self.centroids_, self.table_ = None, [], {}
        if len(words) < 2 or matrix.shape[1] < 2 or matrix.nnz == 0:
            return self  # too little text to learn classes from: the words get none
        dims = max(1, min(self.dims, matrix.shape[1] - 1, len(words) - 1))
        self.components_ = TruncatedSVD(dims, random_state=self.seed).fit(matrix).components_
        vectors = self._embed(matrix)
        assigned = []
        for k in self.sizes:
            kmeans = MiniBatchKMeans(min(k, len(words)), random_state=self.seed, n_init=3).fit(vectors)
            self.centroids_.append(kmeans.cluster_centers_)
            assigned.append(kmeans.labels_)
        self.table_ = {w: tuple(int(a[i]) for a in assigned) for i, w in enumerate(words)}
        return self

    def assign(self, sequences: list[Sequence]) -> list[list[tuple[int, ...]]]:
        """Each token's class at every granularity; a word without a class gets one from its contexts here."""
        if self.components_ is None:
            return [[()] * len(s.tokens) for s in sequences]
        unknown = sorted({t.lower() for s in sequences for t in s.tokens} - set(self.table_))
        table = dict(self.table_)
        if unknown:
            vocabulary = {w: i for i, w in enumerate(unknown)}
            vectors = self._embed(self._counts(sequences, vocabulary))
            nearest = [np.argmax(vectors @ c.T, axis=1) for c in self.centroids_]
            table.update({w: tuple(int(a[i]) for a in nearest) for i, w in enumerate(unknown)})
        return [[table[t.lower()] for t in s.tokens] for s in sequences]

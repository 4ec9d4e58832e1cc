"""Sparse features of every input for the scikit-learn models: one block per text field, one-hot categoricals,
scaled numerics and, for each pair of text fields read together, how the two sides relate.

A model that reads one side of a pair cannot learn whether the sides match; the pair block gives a linear model
what it needs: cosine similarity of word and character TF-IDF, token overlap (Jaccard), length ratio, the
element-wise product of the sides' word vectors (which words they share) and hashed word crosses (which word on
one side goes with which on the other, learnt from the training pairs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

from kagglekit.inputs import Inputs

# Word crosses are built only between short sides (phrases, titles): a 500-word side would cross into 250,000 tokens.
CROSS_MAX_TOKENS = 16
CROSS_FEATURES = 2**18


def _tokens(text: str) -> list[str]:
    return text.lower().split()


def _crosses(pair: tuple[str, str]) -> list[str]:
    left, right = (_tokens(side)[:CROSS_MAX_TOKENS] for side in pair)
    return [f"{a}\x1f{b}" for a in set(left) for b in set(right)]


def _words(text: str) -> list[str]:
    """The words ``analyzer="char_wb"`` cuts n-grams from: lower case, split on white space."""
    return text.lower().split()


def char_wb_ngrams(word: str, low: int, high: int) -> list[str]:
    """The n-grams ``analyzer="char_wb"`` cuts from one word: padded with a space each side; a word shorter than n
    counts once, whole."""
    padded = f" {word} "
    grams = []
    for n in range(low, high + 1):
        grams += [padded[start:start + n] for start in range(max(1, len(padded) - n + 1))]
        if len(padded) <= n:
            break
    return grams


class CharTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF of character n-grams inside word boundaries: equal to ``TfidfVectorizer(analyzer="char_wb")`` with
    the same arguments, but computed once per distinct word.

    A document's char_wb counts are the sum of its words' counts, so the documents' n-gram matrix is the product
    of a documents x words count matrix and a words x n-grams matrix: a 400-word essay costs a sparse product
    instead of thousands of Python string slices (the 5-fold essay fit went from minutes to seconds).
    ``max_features`` bounds the vocabulary (the most frequent n-grams, as scikit-learn keeps them).
    """

    dtype: Any = np.float64  # what a model pickled before ``dtype`` was a parameter reads back

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), min_df: int = 1, sublinear_tf: bool = True,
                 max_features: int | None = None, dtype: Any = np.float64):
        self.ngram_range, self.min_df, self.sublinear_tf, self.max_features = ngram_range, min_df, sublinear_tf, max_features
        self.dtype = dtype

    def fit(self, texts: Any, y: Any = None) -> "CharTfidf":
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: Any, y: Any = None) -> sp.csr_matrix:
        grams: dict[str, int] = {}
        counts = self._counts(texts, grams, grow=True)
        order = sorted(grams)  # scikit-learn's feature order: sorted by n-gram
        index = np.empty(len(order), dtype=np.int64)
        for new, gram in enumerate(order):
            index[grams[gram]] = new
        counts = counts[:, np.argsort(index)] if len(order) else counts
        keep = np.bincount(counts.indices, minlength=counts.shape[1]) >= self.min_df
        if self.max_features is not None and keep.sum() > self.max_features:
            totals = np.asarray(counts.sum(axis=0)).ravel()
            chosen = np.flatnonzero(keep)[(-totals[keep]).argsort()[: self.max_features]]
            keep = np.zeros_like(keep)
            keep[chosen] = True
        if not keep.any():
            raise ValueError("After pruning, no terms remain. Try a lower min_df.")
        kept = np.flatnonzero(keep)
        self.vocabulary_ = {order[i]: new for new, i in enumerate(kept)}
        counts = counts[:, kept].astype(self.dtype)
        self.tfidf_ = TfidfTransformer(sublinear_tf=self.sublinear_tf).fit(counts)
        return self.tfidf_.transform(counts, copy=False)

    def transform(self, texts: Any) -> sp.csr_matrix:
        return self.tfidf_.transform(self._counts(texts, self.vocabulary_, grow=False).astype(self.dtype), copy=False)

    def _counts(self, texts: Any, grams: dict[str, int], grow: bool) -> sp.csr_matrix:
        """Documents x n-grams counts; ``grow`` adds unseen n-grams to ``grams``, otherwise they are dropped."""
        words = CountVectorizer(analyzer=_words)
        try:
            per_doc = words.fit_transform(texts)
        except ValueError:  # no words at all
            return sp.csr_matrix((len(texts), len(grams)), dtype=np.int64)
        rows: list[int] = []
        cols: list[int] = []
        for row, word in enumerate(words.get_feature_names_out()):
            for gram in char_wb_ngrams(word, *self.ngram_range):
                column = grams.get(gram)
                if column is None and grow:
                    column = grams[gram] = len(grams)
                if column is not None:
                    rows.append(row)
                    cols.append(column)
        per_word = sp.csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=(per_doc.shape[1], len(grams)))
        counts = (per_doc @ per_word).tocsr()
        counts.sum_duplicates()
        return counts


def _row_cosine(u: sp.csr_matrix, v: sp.csr_matrix) -> np.ndarray:
    """Cosine of each row of u with the same row of v (TF-IDF rows are already L2-normalised)."""
    return np.asarray(u.multiply(v).sum(axis=1)).reshape(-1)


class PairFeatures:
    """How the two sides of a text pair relate; every value is non-negative, so naive Bayes can read them too."""

    def __init__(self, left: str, right: str, crosses: bool):
        self.left, self.right, self.crosses = left, right, crosses

    def fit(self, inputs: Inputs) -> "PairFeatures":
        both = np.concatenate([inputs.column(self.left), inputs.column(self.right)])
        self.words_ = TfidfVectorizer(sublinear_tf=True).fit(both) if any(t.strip() for t in both) else None
        self.chars_ = CharTfidf(ngram_range=(2, 4), max_features=2**17).fit(both)
        self.hasher_ = HashingVectorizer(analyzer=_crosses, n_features=CROSS_FEATURES, alternate_sign=False) if self.crosses else None
        return self

    def transform(self, inputs: Inputs) -> sp.csr_matrix:
        left, right = inputs.column(self.left), inputs.column(self.right)
        blocks: list[Any] = []
        cosines = []
        if self.words_ is not None:
            u, v = self.words_.transform(left), self.words_.transform(right)
            blocks.append(u.multiply(v).tocsr())
            cosines.append(_row_cosine(u, v))
        cosines.append(_row_cosine(self.chars_.transform(left), self.chars_.transform(right)))
        left_tokens = [set(_tokens(t)) for t in left]
        right_tokens = [set(_tokens(t)) for t in right]
        jaccard = [len(a & b) / len(a | b) if a | b else 0.0 for a, b in zip(left_tokens, right_tokens)]
        lengths = np.array([[len(a), len(b)] for a, b in zip(left, right)], dtype=np.float64)
        ratio = np.divide(lengths.min(axis=1), lengths.max(axis=1), out=np.zeros(len(lengths)), where=lengths.max(axis=1) > 0)
        blocks.append(sp.csr_matrix(np.column_stack([*cosines, jaccard, ratio, np.equal(left, right).astype(np.float64)])))
        if self.hasher_ is not None:
            blocks.append(self.hasher_.transform(list(zip(left, right))))
        return sp.hstack(blocks, format="csr")


# The sparse models' features: float32 halves the TF-IDF matrices (at a million tweets, tfidf_lr's float64 ones were the
# run's peak memory, 8.5 GB), and scikit-learn's vectorizers, logistic regression, ridge and naive Bayes keep float32.
FEATURE_DTYPE = np.float32


class InputFeatures(TransformerMixin, BaseEstimator):
    """Every input as one sparse matrix; ``text_vectorizer`` makes the vectorizer a text field gets.

    Fields read together share one vectorizer fitted on all their sides, so the same word is the same feature on
    either side. A lone text field is vectorised exactly as a single-text model always did.
    """

    def __init__(self, text_vectorizer: Callable[[], Any], pair_features: bool = True):
        self.text_vectorizer, self.pair_features = text_vectorizer, pair_features

    def fit(self, inputs: Inputs, y: Any = None) -> "InputFeatures":
        self.fit_transform(inputs, y)
        return self

    def fit_transform(self, inputs: Inputs, y: Any = None) -> sp.csr_matrix:
        schema = self.schema_ = inputs.schema
        self.text_ = []
        for group in schema.groups:
            sides = np.concatenate([inputs.column(name) for name in group])
            self.text_.append((group, self.text_vectorizer().fit(sides)))
        self.categorical_ = (OneHotEncoder(handle_unknown="ignore").fit(inputs.frame[schema.categorical].astype(str))
                             if schema.categorical else None)
        self.numeric_ = (make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler(clip=True)).fit(inputs.numbers())
                         if schema.numeric else None)
        self.pairs_ = [PairFeatures(a, b, crosses=schema.kind(a) == schema.kind(b) == "phrase").fit(inputs)
                       for a, b in schema.pairs] if self.pair_features else []
        return self.transform(inputs)

    def transform(self, inputs: Inputs) -> sp.csr_matrix:
        blocks: list[Any] = [vectorizer.transform(inputs.column(name)) for group, vectorizer in self.text_ for name in group]
        if self.categorical_ is not None:
            blocks.append(self.categorical_.transform(inputs.frame[self.schema_.categorical].astype(str)))
        if self.numeric_ is not None:
            blocks.append(sp.csr_matrix(self.numeric_.transform(inputs.numbers())))
        blocks += [pair.transform(inputs) for pair in self.pairs_]
        blocks = [sp.csr_matrix(block, dtype=FEATURE_DTYPE, copy=False) for block in blocks]
        return blocks[0] if len(blocks) == 1 else sp.hstack(blocks, format="csr", dtype=FEATURE_DTYPE)

"""scikit-learn text models: the notebook's model 0 and a stronger linear model, both fitted in seconds.

Each reads every input (``InputFeatures``: its own TF-IDF block per text field, one-hot categoricals, scaled
numerics, similarity features between the sides of a pair) and puts the estimator the task needs on top: the
classifier for one label, one classifier per label for multi-label (``OneVsRestClassifier`` on the 0/1 matrix),
and ridge regression for numeric targets (standardised by the base class, several targets at once). A lone text
field gets exactly the features a single-text model always had.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion, Pipeline

from kagglekit.inputs import Inputs
from kagglekit.models import register
from kagglekit.models.base import ALL_TASKS, TaskSpec, TextModel, Tunable, floats, ints, one_of
from kagglekit.models.features import FEATURE_DTYPE, CharTfidf, InputFeatures

# Words (single letters included) and each punctuation mark as a token of its own: how often an author writes ";" or
# "I" is a style feature the default scikit-learn pattern (words of two or more characters) throws away.
WORDS_AND_PUNCTUATION = r"(?u)\b\w+\b|[^\w\s]"
# Character n-grams kept at most (the most frequent): 76,000 on the disaster tweets, millions on an essay corpus.
CHAR_MAX_FEATURES = 2**18


class SklearnTextModel(TextModel):
    """A scikit-learn pipeline from every input to predictions; subclasses give the text vectorizer (one per text
    field, a picklable factory) and the estimators."""

    # Naive Bayes, lbfgs logistic regression and ridge are deterministic: more seeds would repeat the same fit.
    tags = dataclasses.replace(TextModel.tags, supported_tasks=ALL_TASKS, seeded=False)

    def _view(self, inputs: Inputs) -> Inputs:
        return inputs

    def _text_vectorizer(self) -> Callable[[], Any]:
        raise NotImplementedError

    def _classifier(self) -> BaseEstimator:
        raise NotImplementedError

    def _regressor(self) -> BaseEstimator:
        raise NotImplementedError

    def _pipeline(self, task: TaskSpec) -> Pipeline:
        if task.is_regression:
            head = self._regressor()
        elif task.is_multilabel:
            head = OneVsRestClassifier(self._classifier())
        else:
            head = self._classifier()
        return Pipeline([("features", InputFeatures(self._text_vectorizer())), ("head", head)])

    def _fit(self, texts: Inputs, y: np.ndarray, val: tuple[Inputs, np.ndarray] | None) -> None:
        self.pipeline_ = self._pipeline(self.task_).fit(texts, y)

    def _predict_proba(self, texts: Inputs) -> np.ndarray:
        if self.task_.is_regression:
            return self.pipeline_.predict(texts).reshape(len(texts), -1)
        if self.task_.is_multilabel:
            return self.pipeline_.predict_proba(texts)  # one column per label; a label constant in fit predicts it
        proba = np.zeros((len(texts), self.n_classes_))
        proba[:, self.pipeline_.classes_] = self.pipeline_.predict_proba(texts)  # a class absent from fit stays 0
        return proba

    def _save(self, directory: Path) -> None:
        joblib.dump(self.pipeline_, directory / "pipeline.joblib")

    def _load(self, directory: Path) -> None:
        self.pipeline_ = joblib.load(directory / "pipeline.joblib")


@register("baseline")
class TfidfNaiveBayes(SklearnTextModel):
    """TF-IDF + MultinomialNB: fast, strong on short texts, the bar every network must clear.

    Naive Bayes has no regression form: numeric targets get ridge regression on the same features, with
    ``alpha`` as its regularisation strength.
    """

    description = "TF-IDF + multinomial naive Bayes (notebook model 0); ridge for numeric targets"

    def __init__(self, *, ngram_max: int = 1, min_df: int = 1, alpha: float = 1.0, seed: int = 42):
        self.ngram_max, self.min_df, self.alpha, self.seed = ngram_max, min_df, alpha, seed

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        """Smoothing (or ridge's penalty, which wants larger values) and the n-gram range."""
        alpha = floats(1e-2, 100.0, log=True) if task.is_regression else floats(1e-3, 10.0, log=True)
        return {"alpha": alpha, "ngram_max": ints(1, 3), "min_df": ints(1, 3)}

    def _text_vectorizer(self) -> Callable[[], Any]:
        return partial(TfidfVectorizer, ngram_range=(1, self.ngram_max), min_df=self.min_df, dtype=FEATURE_DTYPE)

    def _classifier(self) -> BaseEstimator:
        return MultinomialNB(alpha=self.alpha)

    def _regressor(self) -> BaseEstimator:
        return Ridge(alpha=self.alpha)


@register("tfidf_lr")
class TfidfLogisticRegression(SklearnTextModel):
    """Word 1-2-grams plus character 2-5-grams (robust to misspellings, hashtags and URLs), sublinear TF and
    L2-regularised logistic regression: well-calibrated probabilities that ensemble well. Numeric targets
    get ridge regression on the same features, regularised as strongly (``alpha = 1 / C``). The character
    n-grams are counted once per distinct word (``CharTfidf``) and capped at ``CHAR_MAX_FEATURES``, so a corpus of
    essays fits in seconds."""

    description = "word + char n-gram TF-IDF + logistic regression; ridge for numeric targets"

    def __init__(self, *, C: float = 2.0, word_ngram_max: int = 2, char_ngram_max: int = 5, min_df: int = 2, seed: int = 42):
        self.C, self.word_ngram_max, self.char_ngram_max, self.min_df, self.seed = C, word_ngram_max, char_ngram_max, min_df, seed

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        """Regularisation and the word and character n-gram ranges."""
        return {"C": floats(0.05, 50.0, log=True), "word_ngram_max": ints(1, 3), "char_ngram_max": ints(3, 6),
                "min_df": ints(1, 3)}

    def _text_vectorizer(self) -> Callable[[], Any]:
        return partial(word_char_tfidf, min_df=self.min_df, char_ngram_max=self.char_ngram_max, word_ngram_max=self.word_ngram_max)

    def _classifier(self) -> BaseEstimator:
        return LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)

    def _regressor(self) -> BaseEstimator:
        return Ridge(alpha=1.0 / self.C)


@register("count_nb")
class CountNaiveBayes(SklearnTextModel):
    """Raw counts of word and punctuation n-grams + multinomial naive Bayes with little smoothing: the classic
    authorship model. Alone its probabilities are overconfident (poor log loss), but they rank differently from the
    TF-IDF models', and in the multiclass stack, which reads log-probabilities, that difference is worth most. Case
    and punctuation are kept as style: beside a five-model stack on the real Spooky Author data (held out 0.3008),
    it gave 0.2989 with scikit-learn's default tokens, 0.2913 with punctuation and 0.2858 with case too
    (BENCHMARKS.md). Numeric targets get ridge regression on the same counts."""

    description = "word + punctuation n-gram counts + multinomial naive Bayes (a sharp stack member); ridge for numeric targets"

    def __init__(self, *, ngram_max: int = 2, min_df: int = 1, alpha: float = 0.1, lowercase: bool = False, seed: int = 42):
        self.ngram_max, self.min_df, self.alpha, self.lowercase, self.seed = ngram_max, min_df, alpha, lowercase, seed

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        """Smoothing (ridge's penalty for numeric targets), the n-gram range, rare n-grams and case."""
        alpha = floats(1e-1, 1000.0, log=True) if task.is_regression else floats(1e-3, 3.0, log=True)
        return {"alpha": alpha, "ngram_max": ints(1, 3), "min_df": ints(1, 3), "lowercase": one_of(True, False)}

    def _text_vectorizer(self) -> Callable[[], Any]:
        return partial(CountVectorizer, ngram_range=(1, self.ngram_max), min_df=self.min_df, lowercase=self.lowercase,
                       token_pattern=WORDS_AND_PUNCTUATION, dtype=FEATURE_DTYPE)

    def _classifier(self) -> BaseEstimator:
        return MultinomialNB(alpha=self.alpha)

    def _regressor(self) -> BaseEstimator:
        return Ridge(alpha=self.alpha)


def word_char_tfidf(*, min_df: int, char_ngram_max: int, word_ngram_max: int = 2) -> FeatureUnion:
    """``tfidf_lr``'s vectorizer of one text field: word 1-``word_ngram_max``-grams and bounded char_wb
    2-``char_ngram_max``-grams (``word_ngram_max`` defaults to 2, as models saved before it was a parameter had)."""
    return FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, word_ngram_max), sublinear_tf=True, min_df=min_df, dtype=FEATURE_DTYPE)),
        ("chars", CharTfidf(ngram_range=(2, char_ngram_max), min_df=min_df, max_features=CHAR_MAX_FEATURES, dtype=FEATURE_DTYPE)),
    ])

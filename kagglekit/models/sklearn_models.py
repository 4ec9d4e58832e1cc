"""scikit-learn text models: the notebook's model 0 and a stronger linear model, both fitted in seconds."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion, Pipeline

from kagglekit.models import register
from kagglekit.models.base import TextModel


class SklearnTextModel(TextModel):
    """A scikit-learn pipeline from raw strings to class probabilities; subclasses only build the pipeline."""

    def _pipeline(self) -> Pipeline:
        raise NotImplementedError

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.pipeline_ = self._pipeline().fit(texts, y)

    def _predict_proba(self, texts: np.ndarray) -> np.ndarray:
        proba = np.zeros((len(texts), self.n_classes_))
        proba[:, self.pipeline_.classes_] = self.pipeline_.predict_proba(texts)  # a class absent from fit stays 0
        return proba

    def _save(self, directory: Path) -> None:
        joblib.dump(self.pipeline_, directory / "pipeline.joblib")

    def _load(self, directory: Path) -> None:
        self.pipeline_ = joblib.load(directory / "pipeline.joblib")


@register("baseline")
class TfidfNaiveBayes(SklearnTextModel):
    """TF-IDF + MultinomialNB: fast, strong on short texts, the bar every network must clear."""

    description = "TF-IDF + multinomial naive Bayes (notebook model 0)"

    def __init__(self, *, ngram_max: int = 1, min_df: int = 1, alpha: float = 1.0, seed: int = 42):
        self.ngram_max, self.min_df, self.alpha, self.seed = ngram_max, min_df, alpha, seed

    def _pipeline(self) -> Pipeline:
        return Pipeline([
            ("tfidf", TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=self.min_df)),
            ("nb", MultinomialNB(alpha=self.alpha)),
        ])


@register("tfidf_lr")
class TfidfLogisticRegression(SklearnTextModel):
    """Word 1-2-grams plus character 2-5-grams (robust to misspellings, hashtags and URLs), sublinear TF and
    L2-regularised logistic regression: well-calibrated probabilities that ensemble well."""

    description = "word + char n-gram TF-IDF + logistic regression"

    def __init__(self, *, C: float = 2.0, char_ngram_max: int = 5, min_df: int = 2, seed: int = 42):
        self.C, self.char_ngram_max, self.min_df, self.seed = C, char_ngram_max, min_df, seed

    def _pipeline(self) -> Pipeline:
        features = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=self.min_df)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, self.char_ngram_max), sublinear_tf=True, min_df=self.min_df)),
        ])
        return Pipeline([("tfidf", features), ("lr", LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed))])

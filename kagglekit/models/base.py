"""The one interface every model has: fit on texts and targets, predict on texts, save and load.

Every task shape flows through the same two arrays. Targets ``y``: class indices (n,) for binary and
multiclass, 0/1 (n, L) for multi-label, floats (n, T) for regression. Predictions: an (n, K) float matrix,
class probabilities (rows sum to 1), per-label probabilities, or values in the target's own units.
The engine, the metrics and the ensembles only ever see these shapes.
"""

from __future__ import annotations

import inspect
import os
import random
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import numpy as np

from kagglekit.errors import ModelError
from kagglekit.inputs import Inputs, InputSchema
from kagglekit.io import read_json, write_json

MODEL_FILE = "model.json"
# What a model outputs (``TaskSpec.kind``); the task shapes of kagglekit.shapes map onto these. A catalogue task
# ranks the items of a catalogue table (one class per item, most never seen in train): only models that take the
# catalogue's texts learn it (kagglekit.models.retrieval), so it is a kind of its own, outside ALL_TASKS.
TaskKind = Literal["binary", "multiclass", "multilabel", "regression", "catalogue"]
BINARY, MULTICLASS, MULTILABEL, REGRESSION = "binary", "multiclass", "multilabel", "regression"
CATALOGUE = "catalogue"
CLASSIFICATION: frozenset[str] = frozenset({BINARY, MULTICLASS})
ALL_TASKS: frozenset[str] = frozenset({BINARY, MULTICLASS, MULTILABEL, REGRESSION})


@dataclass(frozen=True)
class ModelTags:
    """What the engine needs to know about a model class, in one object (as scikit-learn's estimator tags).

    A subclass that changes one field writes ``tags = dataclasses.replace(Parent.tags, field=...)``.
    """

    # Task kinds this model can learn; the engine refuses others before any fold starts.
    supported_tasks: frozenset[str] = CLASSIFICATION
    # False where the fold models' mean test prediction beats a refit on all rows or costs much less: no refit job.
    full_refit: bool = True
    # Parameters that change where output goes or how much is printed, never the predictions: no retrain.
    runtime_params: frozenset[str] = frozenset({"verbose", "cache_dir", "tensorboard_dir"})
    # What one fit needs from a worker (Ray resources; the local backend reads "gpus"); read-only, and a
    # factory because dataclasses refuse an unhashable default.
    resources: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({"cpus": 1, "gpus": 0}))
    # The engine configures TensorFlow's device and precision before such a model's first job.
    uses_tensorflow: bool = False
    # Left out of `train --all` on a machine without a GPU (hours on a CPU); named with -m it still trains.
    gpu_only_in_all: bool = False
    # False when the seed changes nothing a fit does (the same predictions for every seed): --seeds trains it once.
    seeded: bool = True
    # Its first job embeds every text into a cache its other jobs read (a frozen encoder): that job starts first and
    # alone, the others once it is done, so parallel workers do not wait on each other's embedding.
    fills_cache: bool = False


@dataclass(frozen=True)
class Tunable:
    """One parameter's search range for ``kagglekit tune``: a float or integer from ``low`` to ``high`` (``log``: on a
    log scale), or one of ``choices``. Built with ``floats``, ``ints`` and ``one_of``; read by ``kagglekit.tuning``."""

    kind: Literal["float", "int", "choice"]
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def __contains__(self, value: Any) -> bool:
        return value in self.choices if self.kind == "choice" else self.low <= value <= self.high

    def describe(self) -> str:
        if self.kind == "choice":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        return f"{self.low:g}..{self.high:g}{' (log)' if self.log else ''}"


def floats(low: float, high: float, *, log: bool = False) -> Tunable:
    return Tunable("float", float(low), float(high), log)


def ints(low: int, high: int) -> Tunable:
    return Tunable("int", low, high)


def one_of(*choices: Any) -> Tunable:
    return Tunable("choice", choices=choices)


@dataclass(frozen=True)
class TaskSpec:
    """What a model learns: the kind of target and how many prediction columns it has.

    ``n_outputs`` is the class count (2 for binary), the label count (multi-label) or the target count
    (regression). Ordinal scores are learnt as regression; their metric turns values into integers.
    """

    kind: TaskKind
    n_outputs: int

    @property
    def is_classification(self) -> bool:
        """One label per row from classes: class indices in, class probabilities out (rows sum to 1)."""
        return self.kind in CLASSIFICATION or self.kind == CATALOGUE

    @property
    def is_binary(self) -> bool:
        """Two classes: one positive-class probability is enough (a single sigmoid unit)."""
        return self.kind == BINARY

    @property
    def is_multilabel(self) -> bool:
        """Independent 0/1 labels: one sigmoid probability each."""
        return self.kind == MULTILABEL

    @property
    def is_regression(self) -> bool:
        """Values in the targets' units: standardised for the fit, mapped back for predictions."""
        return self.kind == REGRESSION

    @classmethod
    def infer(cls, y: np.ndarray) -> "TaskSpec":
        """The task of bare class indices (the default when ``fit`` is given no task)."""
        n = int(np.max(y)) + 1 if len(y) else 2
        return cls(BINARY if n <= 2 else MULTICLASS, max(n, 2))

    def targets(self, y: Any, what: str = "labels") -> np.ndarray:
        """``y`` in the task's canonical dtype and shape, or a ModelError saying what was expected."""
        array = np.asarray(y)
        if self.is_classification:
            array = array.reshape(-1).astype(np.int64)
            if len(array) and (array.min() < 0 or array.max() >= self.n_outputs):
                raise ModelError(f"{what} must be class indices 0..{self.n_outputs - 1}, found {array.min()}..{array.max()}")
            return array
        array = array.reshape(len(array), -1)
        if array.shape[1] != self.n_outputs:
            raise ModelError(f"{what} have {array.shape[1]} column(s), the {self.kind} task has {self.n_outputs}")
        if self.is_multilabel:
            if not np.isin(array, (0, 1)).all():
                raise ModelError(f"multi-label {what} must be 0 or 1")
            return array.astype(np.int64)
        return array.astype(np.float64)


class TextModel:
    """Estimator-like base: ``__init__`` stores parameters only, learned state ends with an underscore.

    Subclasses implement ``_fit``, ``_predict_proba``, ``_save`` and ``_load``; the public methods do
    the shared work (input normalisation, seeding, timing, metadata) once.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    tags: ClassVar[ModelTags] = ModelTags()
    seed: int = 42

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        """Hook: the parameters ``kagglekit tune`` searches for a task kind (binary, multiclass, multilabel,
        regression) and their ranges, each holding the default; empty: the model has nothing to tune."""
        return {}

    @classmethod
    def all_skip_reason(cls, params: dict[str, Any]) -> str | None:
        """Why `train --all` leaves this model out with ``params`` (e.g. no checkpoint to load), or None."""
        return None

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

    @classmethod
    def prepare_params(cls, params: dict[str, Any], inputs: Inputs) -> dict[str, Any]:
        """Hook run once per model and run, before any job: pin what must be the same in every fold.

        ``inputs`` are all training rows (``Inputs``; bare strings are accepted through ``Inputs.of``). The result is recorded with the run, so a resumed run never mixes
        folds trained under different resolutions (e.g. of ``encoder="auto"``).
        """
        return params

    @classmethod
    def job_params(cls, params: dict[str, Any], fold: int | None, *, tensorboard_dir: str | None = None) -> dict[str, Any]:
        """Hook: the parameters of one job, fold ``fold`` (None for the full-data refit).

        Folds get their own seed (seed + fold), so fold models are not copies of one another.
        """
        params = dict(params)
        if fold is not None and "seed" in params:
            params["seed"] = params["seed"] + fold
        if tensorboard_dir and "tensorboard_dir" in cls.param_names():
            params["tensorboard_dir"] = str(Path(tensorboard_dir) / cls.name / ("full" if fold is None else f"fold{fold}"))
        return params

    def fit(self, X: Any, y: Any, *, val: tuple[Any, Any] | None = None, task: TaskSpec | None = None,
            n_classes: int | None = None) -> "TextModel":
        """Fit on inputs and targets; ``val`` enables early stopping where a model has it.

        ``X`` is ``Inputs`` (every input field of a competition under its schema), a DataFrame of input columns
        or bare strings (one text field); the schema is kept, so ``predict`` reads the same fields.

        ``task`` is the competition's task (default: classification inferred from the labels); ``n_classes``
        is shorthand for a classification task of that many classes, so a fold that happens to lack a class
        still predicts one column per class. Regression targets are standardised here and predictions
        mapped back, so every model sees targets of unit scale.
        """
        inputs = Inputs.of(X)
        if task is None:
            labels = np.asarray(y, dtype=np.int64).reshape(-1)
            seen = TaskSpec.infer(np.concatenate([labels, np.asarray(val[1], dtype=np.int64).reshape(-1)]) if val is not None else labels)
            if n_classes is not None and n_classes < seen.n_outputs:
                raise ModelError(f"{self.name}: labels go up to {seen.n_outputs - 1} but n_classes is {n_classes}")
            task = TaskSpec(BINARY if (n_classes or seen.n_outputs) <= 2 else MULTICLASS, n_classes or seen.n_outputs)
        if task.kind not in self.tags.supported_tasks:
            raise ModelError(f"{self.name} cannot learn a {task.kind} task; it supports {', '.join(sorted(self.tags.supported_tasks))}")
        y = task.targets(y, f"{self.name}: training targets")
        if len(inputs) != len(y):
            raise ModelError(f"{self.name}: {len(inputs)} input rows but {len(y)} targets")
        self.schema_ = inputs.schema
        self.task_ = task
        self.n_classes_ = task.n_outputs
        if task.is_regression:
            self.y_mean_ = y.mean(axis=0)
            self.y_scale_ = np.where(y.std(axis=0) > 0, y.std(axis=0), 1.0)
            y = (y - self.y_mean_) / self.y_scale_
        if val is not None:
            val_y = task.targets(val[1], f"{self.name}: validation targets")
            if task.is_regression:
                val_y = (val_y - self.y_mean_) / self.y_scale_
            val = (self._view(Inputs.of(val[0], self.schema_)), val_y)
        random.seed(self.seed)
        np.random.seed(self.seed)
        start = time.perf_counter()
        self._fit(self._view(inputs), y, val)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The (n, K) prediction matrix of the task: probabilities per class or label, or target values.

        ``X``: inputs under the schema the model was fitted on, a DataFrame with its columns, or bare strings
        (they fill the schema's main text field).
        """
        if not hasattr(self, "task_"):
            raise ModelError(f"{self.name}: predict called before fit")
        raw = np.asarray(self._predict_proba(self._view(Inputs.of(X, self.schema_))), dtype=np.float64)
        if self.task_.is_regression:
            return raw.reshape(len(raw), -1) * self.y_scale_ + self.y_mean_
        if self.task_.is_multilabel:
            return np.clip(raw.reshape(len(raw), -1), 0.0, 1.0)
        if raw.ndim == 1 or raw.shape[1] == 1:
            positive = np.clip(raw.reshape(-1), 0.0, 1.0)
            return np.column_stack([1.0 - positive, positive])
        raw = np.clip(raw, 0.0, None)
        total = raw.sum(axis=1, keepdims=True)  # float32 softmax and per-class models drift from 1
        return np.divide(raw, total, out=np.full_like(raw, 1.0 / raw.shape[1]), where=total > 0)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class (or per-label) probabilities, shape (n, K); classification rows sum to 1."""
        if hasattr(self, "task_") and self.task_.is_regression:
            raise ModelError(f"{self.name} is a regression model: use predict()")
        return self.predict(X)

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
            write_json(tmp / MODEL_FILE, {
                "name": self.name, "params": self.get_params(), "n_classes": self.n_classes_,
                "task": {"kind": self.task_.kind, "n_outputs": self.task_.n_outputs}, "schema": self.schema_.to_dict(),
                **({"y_mean": self.y_mean_.tolist(), "y_scale": self.y_scale_.tolist()} if self.task_.is_regression else {}),
            })
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def release(self) -> None:
        """Give what the fit holds for later fits in this process (a compiled network) to those fits; the model
        cannot predict afterwards. The engine calls it once a job's model is saved; by default nothing to give."""

    def _view(self, inputs: Inputs) -> Any:
        """What ``_fit`` and ``_predict_proba`` read: one joined string per row (field markers when there are
        several fields). Models that read each field (pair features, cross-encoder segments) return ``inputs``."""
        return inputs.joined()

    def _fit(self, texts: Any, y: np.ndarray, val: tuple[Any, np.ndarray] | None) -> None:
        raise NotImplementedError

    def _predict_proba(self, texts: Any) -> np.ndarray:
        raise NotImplementedError

    def _save(self, directory: Path) -> None:
        raise NotImplementedError

    def _load(self, directory: Path) -> None:
        raise NotImplementedError


def load_model(directory: Path | str) -> TextModel:
    """Rebuild a saved model from its folder (``model.json`` names the registered class; ``choice.json``, where there is
    one, the options its pair model scores)."""
    from kagglekit.models import get_model

    directory = Path(directory)
    if not (directory / MODEL_FILE).is_file():
        raise ModelError(f"no saved model in {directory}: train it first with `kagglekit train`")
    meta = read_json(directory / MODEL_FILE)
    model = get_model(meta["name"], **meta["params"])
    task = meta.get("task", {"kind": BINARY if meta["n_classes"] <= 2 else MULTICLASS, "n_outputs": meta["n_classes"]})
    model.task_ = TaskSpec(task["kind"], int(task["n_outputs"]))
    model.n_classes_ = model.task_.n_outputs
    model.schema_ = InputSchema.from_dict(meta["schema"]) if "schema" in meta else InputSchema.single()
    if model.task_.is_regression:
        model.y_mean_, model.y_scale_ = np.asarray(meta["y_mean"]), np.asarray(meta["y_scale"])
    model._load(directory)
    from kagglekit.models.choice import CHOICE_FILE, OptionScorer

    if (directory / CHOICE_FILE).is_file():  # a multiple-choice run's pair model answers whole questions
        return OptionScorer.load(model, directory)  # type: ignore[return-value]
    return model

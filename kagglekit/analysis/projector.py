"""A Keras model's learned word embedding as the two TSV files the TensorFlow Embedding Projector loads.

projector.tensorflow.org -> Load: vectors.tsv (one vector per line, tab-separated) and metadata.tsv (the
word of each line). Words come from the model's own TextVectorization layer, so line i of both files is
vocabulary index i; index 0, the padding token, is left out as in the TensorFlow word-embeddings tutorial.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kagglekit.errors import ConfigError, ModelError
from kagglekit.io import atomic_path, write_text
from kagglekit.models.keras_models import KERAS_FILE
from kagglekit.runs import Run



def has_word_embedding(path: Path) -> bool:
    """Whether a saved .keras model has a TextVectorization and an Embedding layer, read from its config without TensorFlow."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        return False
    return {"TextVectorization", "Embedding"} <= set(_class_names(config))


def _class_names(config: Any) -> Iterator[str]:
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            yield config["class_name"]
        for value in config.values():
            yield from _class_names(value)
    elif isinstance(config, list):
        for value in config:
            yield from _class_names(value)


def keras_model_path(run: Run, name: str) -> Path:
    """The saved Keras model of ``name`` whose embedding is shown: its full-data refit, or (a Keras model's test
    predictions being its fold models' mean) fold 1's model; a name without a learned word embedding lists the
    run's models that have one."""
    run.summary(name)  # unknown names: ConfigError listing the run's models and ensembles
    path = _one_saved_model(run, name)
    if not has_word_embedding(path):
        with_embedding = [m for m in run.model_names() if has_word_embedding(_one_saved_model(run, m))]
        raise ConfigError(
            f"{name} in run {run.name} has no Keras model with a learned word embedding ({path.relative_to(run.directory)} "
            f"with TextVectorization and Embedding layers); models that have one: {', '.join(with_embedding) or 'none (train one, e.g. -m dense)'}"
        )
    return path


def _one_saved_model(run: Run, name: str) -> Path:
    refit = run.fold_model_dir(name, None) / KERAS_FILE
    return refit if refit.is_file() else run.fold_model_dir(name, 0) / KERAS_FILE


def _layers(layer: Any) -> list[Any]:
    """A layer and every layer nested inside it, depth first."""
    found = [layer]
    for child in getattr(layer, "layers", []):
        found += _layers(child)
    return found


def embedding_table(model: Any) -> tuple[list[str], np.ndarray]:
    """The vocabulary of the model's TextVectorization layer and the matching rows of its Embedding layer."""
    import keras

    layers = _layers(model)
    vectorizers = [layer for layer in layers if isinstance(layer, keras.layers.TextVectorization)]
    embeddings = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
    if not vectorizers or not embeddings:
        raise ModelError(f"model {model.name} has no TextVectorization and Embedding layer: it learned no word embedding to export")
    vocabulary = [str(word) for word in vectorizers[0].get_vocabulary()]
    weights = np.asarray(embeddings[0].embeddings.numpy())
    if len(vocabulary) != len(weights):
        raise ModelError(f"model {model.name}: vocabulary has {len(vocabulary)} words but the embedding {len(weights)} rows")
    return vocabulary, weights


def export_embedding(run: Run, name: str, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Write vectors.tsv and metadata.tsv of ``name``'s full-data model (default: RUN/projector/NAME/)."""
    path = keras_model_path(run, name)  # checked before the slow TensorFlow import
    import keras

    model = keras.models.load_model(path)
    vocabulary, weights = embedding_table(model)
    out_dir = Path(out_dir) if out_dir else run.output_dir("projector", name)
    vectors, metadata = out_dir / "vectors.tsv", out_dir / "metadata.tsv"
    with atomic_path(vectors, suffix=".tsv") as tmp:
        np.savetxt(tmp, weights[1:], fmt="%.6g", delimiter="\t")
    # one-column metadata has no header line; a tab or newline inside a word would shift every later line
    write_text(metadata, "".join(word.replace("\t", " ").replace("\n", " ") + "\n" for word in vocabulary[1:]))
    return vectors, metadata

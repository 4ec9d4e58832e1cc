"""A pretrained KerasHub transformer fine-tuned as a token classifier: a softmax over the labels on every sub-word.

The competition's tokens are words; the transformer reads sub-words. Each word is tokenised on its own (the
corpus's distinct words once, in ``featurize``), so a word's sub-words are known exactly and never straddle two
words (a SentencePiece tokenizer, DeBERTa-v3's, reads each as following a space, as Hugging Face's
``is_split_into_words`` does). Training labels only the first sub-word of each word (the others, the special tokens and the padding
weigh 0 in the loss, as in Hugging Face's token-classification recipe), and each word's prediction is read from
its first sub-word: exactly one probability row per competition token. A word with no sub-word at all (PII's
whitespace tokens ``"\\n\\n"``) is ``O`` with certainty.

A document longer than the window is cut into overlapping windows of sub-words (``overlap``: half a window by
default, a window starting on a word's first sub-word where it can), a span competition's query packed before
each as the first segment (``[CLS] query [SEP] window [SEP]``). Overlaps are merged by the **maximum context**
rule of BERT's SQuAD code (``_check_is_max_context``), not by averaging: each word takes the window where it is
farthest from a cut edge (a window edge that is the document's own start or end is no cut), because a token at a
window's edge is predicted from one side's context only, and an average would mix that worse prediction into the
better one. At the default overlap every word keeps about a quarter of a window of context on each side.

Training follows the row ``transformer`` (``kagglekit.models.transformer``): the preset resolved the same way
(a KerasHub preset, a Hugging Face folder, or the default checkpoint from ``checkpoints``), AdamW without decay
of biases and norms on a linear warmup and decay, bfloat16 or float16 mixed precision on a GPU (loss scaling
under float16, float32 logits and softmax), XLA on a GPU, data parallel over every visible GPU, the previous
fold's graphs released first. A fit has no validation split, so it runs ``epochs`` epochs. The saved model holds
the fine-tuned backbone and its tokenizer as a KerasHub preset beside the head's weights, so a pack or a refit
needs nothing but the folder.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kagglekit.errors import ModelError
from kagglekit.models import checkpoints
from kagglekit.models.kerashub import (
    input_names,
    load_backbone,
    load_preprocessor,
    load_tokenizer,
    max_length,
    release_memory,
    resolve_jit_compile,
    resolve_precision,
    resolve_preset,
    special_count,
    token_lists,
)
from kagglekit.models.transformer import compile_adamw
from kagglekit.tokens.layout import Sequence, TokenData
from kagglekit.tokens.models import TokenModel, register

PRESET_DIR = "preset"  # the fine-tuned backbone and its preprocessor as a KerasHub preset
HEAD_FILE = "head.npz"
PREDICT_BATCH = 64
MARK = 1 << 30  # a window's sub-words are packed as MARK + their place, so their columns are found after packing
LENGTH_QUANTILE = 0.99  # the window fits this share of the training documents whole


@dataclass
class SubWords:
    """One sequence tokenised word by word: its sub-word ids, the word each belongs to, and its query's ids."""

    ids: np.ndarray  # (n_sub,) int32
    word: np.ndarray  # (n_sub,) int64: the competition token each sub-word belongs to
    n_words: int
    query: np.ndarray  # (n_query,) int32, empty without a query

    @functools.cached_property
    def first(self) -> np.ndarray:
        """The place of each word's first sub-word (-1 for a word without one)."""
        first = np.full(self.n_words, -1, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, self.word[1:] != self.word[:-1]]) if len(self.word) else np.array([], np.int64)
        first[self.word[starts]] = starts
        return first


def subwords(sequences: list[Sequence], tokenize: Any) -> list[SubWords]:
    """Each sequence's words tokenised one at a time; ``tokenize`` maps distinct strings to their id lists once."""
    distinct = sorted({t for s in sequences for t in s.tokens} | {s.query for s in sequences if s.query})
    pieces = dict(zip(distinct, tokenize(distinct))) if distinct else {}
    out = []
    for s in sequences:
        lists = [pieces[t] for t in s.tokens]
        lengths = np.array([len(p) for p in lists], dtype=np.int64)
        ids = np.array([i for p in lists for i in p], dtype=np.int32)
        out.append(SubWords(ids, np.repeat(np.arange(len(lists)), lengths), len(lists),
                            np.array(pieces[s.query] if s.query else [], dtype=np.int32)))
    return out


def window_starts(sub: SubWords, room: int, overlap: float) -> list[int]:
    """Starts of windows of ``room`` sub-words covering the sequence, ``(1 - overlap) * room`` apart, each moved back to
    its word's first sub-word when that still moves forward; the last window ends with the sequence."""
    n = len(sub.ids)
    if n <= room:
        return [0]
    step = max(1, int(room * (1.0 - overlap)))
    starts = [0]
    while starts[-1] + room < n:
        start = min(starts[-1] + step, n - room)
        word_start = int(np.searchsorted(sub.word, sub.word[start]))  # the first sub-word of the word cut at ``start``
        starts.append(word_start if word_start > starts[-1] and start < n - room else start)
    return starts


def context(start: int, size: int, n: int) -> np.ndarray:
    """How far each sub-word of a window is from its nearer cut edge (a window edge at the sequence's end is no cut)."""
    place = np.arange(size, dtype=np.float64)
    left = place if start > 0 else np.full(size, np.inf)
    right = size - 1 - place if start + size < n else np.full(size, np.inf)
    return np.minimum(left, right)


def merge(sub: SubWords, windows: list[tuple[int, np.ndarray]], n_labels: int) -> np.ndarray:
    """One row per word from the windows' per-sub-word probabilities ((start, (size, n_labels)) each): every word
    takes its first sub-word's row from the window where that sub-word has the most context; a word without a
    sub-word is O (column 0) with certainty."""
    n = len(sub.ids)
    best = np.full(n, -1.0)
    rows = np.zeros((n, n_labels), dtype=np.float32)
    for start, proba in windows:
        score = context(start, len(proba), n)
        better = score > best[start:start + len(proba)]
        best[start:start + len(proba)][better] = score[better]
        rows[start:start + len(proba)][better] = proba[better]
    out = np.zeros((sub.n_words, n_labels), dtype=np.float32)
    out[:, 0] = 1.0
    first = sub.first
    has = first >= 0
    out[has] = rows[first[has]]
    return out


def window_targets(features: list[SubWords], targets: list[list[str]], labels: list[str], place: np.ndarray,
                   owners: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each packed column's label index and loss weight: a word's label on its first sub-word, weight 1 there and 0 on
    its other sub-words, the special tokens, the query and the padding (``place``, ``owners``: as ``_windows`` packs)."""
    index = {label: i for i, label in enumerate(labels)}
    y = np.zeros(place.shape, dtype=np.int32)
    weight = np.zeros(place.shape, dtype=np.float32)
    for row, (i, start) in enumerate(owners):
        held = np.flatnonzero(place[row] >= 0)
        sub = start + place[row, held]
        first = features[i].first[features[i].word[sub]] == sub
        y[row, held[first]] = [index[targets[i][w]] for w in features[i].word[sub[first]]]
        weight[row, held[first]] = 1.0
    return y, weight


@register("transformer")
class TransformerTagger(TokenModel):
    """A pretrained transformer (KerasHub preset) fine-tuned per fold, a linear softmax over the labels per sub-word.

    ``preset`` None: the default checkpoint (``checkpoints``). ``sequence_length`` None: long enough for 99% of the
    training documents whole (with their query and special tokens), rounded up to 8, capped by the backbone's
    positions. ``batch_size`` is per GPU. ``precision`` and ``jit_compile`` "auto" as the row ``transformer``.
    """

    description = "pretrained transformer fine-tuned per sub-word, overlapping windows merged (KerasHub preset; GPU)"
    defaults = {"preset": None, "sequence_length": None, "overlap": 0.5, "epochs": 3, "batch_size": 8,
                "learning_rate": 5e-5, "weight_decay": 0.01, "warmup_ratio": 0.1, "dropout": 0.1, "precision": "auto",
                "jit_compile": "auto", "seed": 42}
    gpu_only_in_all = True

    def left_out(self, data: TokenData) -> str | None:
        """Also left out, with the checkpoint's one-line reason, when no preset is given and the default cannot be had."""
        reason = super().left_out(data)
        if reason is None and not self.params["preset"]:
            return checkpoints.unavailable_reason(self.name)
        return reason

    # --- sub-words ------------------------------------------------------------------------------------------------

    def _tokenizer(self) -> Any:
        """The fitted model's own tokenizer (a loaded model needs no preset), else the preset's."""
        if getattr(self, "preprocessor_", None) is not None:
            return self.preprocessor_.tokenizer
        if getattr(self, "tokenizer_", None) is None:
            self.tokenizer_ = load_tokenizer(resolve_preset(self.params["preset"], self.name), self.name)
        return self.tokenizer_

    def featurize(self, sequences: list[Sequence]) -> list[SubWords]:
        tokenizer = self._tokenizer()
        return subwords(sequences, lambda texts: token_lists(tokenizer, np.asarray(texts, dtype=object)))

    # --- windows --------------------------------------------------------------------------------------------------

    def _room(self, sub: SubWords) -> tuple[np.ndarray, int]:
        """The query as packed (at most half the room) and the sub-words of the text each window holds."""
        room = self.sequence_length_ - self.specials_
        query = sub.query[: room // 2] if self.segments_ == 2 else sub.query[:0]
        return query, room - len(query)

    def _windows(self, features: list[SubWords]) -> tuple[dict[str, np.ndarray], np.ndarray, list[tuple[int, int]]]:
        """Packed windows: the backbone's inputs, each column's place in its window's sub-words (-1: a special token,
        the query or padding), and each window's (sequence, start)."""
        import tensorflow as tf

        owners, parts = [], []
        for i, sub in enumerate(features):
            query, room = self._room(sub)
            for start in window_starts(sub, room, self.params["overlap"]):
                size = min(room, len(sub.ids) - start)
                owners.append((i, start))
                parts.append((query, MARK + np.arange(size, dtype=np.int32)))

        def ragged(lists: list[np.ndarray]) -> Any:
            return tf.RaggedTensor.from_row_lengths(tf.constant(np.concatenate([*lists, np.zeros(0, np.int32)]), tf.int32),
                                                    tf.constant([len(x) for x in lists], tf.int64))

        segments = tuple(ragged([p[s] for p in parts]) for s in range(2 - self.segments_, 2))
        codes, segment_ids = (np.asarray(t) for t in self.preprocessor_.packer(segments))
        place = np.where(codes >= MARK, codes - MARK, -1).astype(np.int64)
        token_ids = codes.copy()
        for row, (i, start) in enumerate(owners):
            held = place[row] >= 0
            token_ids[row, held] = features[i].ids[start + place[row, held]]
        inputs = {"token_ids": token_ids, "padding_mask": token_ids != self.preprocessor_.packer.pad_value,
                  "segment_ids": segment_ids}
        return {k: inputs[k] for k in self.input_names_}, place, owners

    # --- fit and predict ------------------------------------------------------------------------------------------

    def _choose_length(self, features: list[SubWords], positions: int) -> int:
        if self.params["sequence_length"] is not None:
            length = int(self.params["sequence_length"])
            if not self.specials_ + 2 <= length <= positions:
                raise ModelError(f"{self.name}: sequence_length {length} is outside {self.specials_ + 2}..{positions}, "
                                 f"the backbone's positions")
            return length
        counts = [len(s.ids) + len(s.query) for s in features] or [1]
        wanted = math.ceil(float(np.quantile(counts, LENGTH_QUANTILE))) + self.specials_
        return min(positions, 8 * math.ceil(wanted / 8))

    def fit(self, features: list[SubWords], targets: list[list[str]], labels: list[str]) -> "TransformerTagger":
        import tensorflow as tf

        from kagglekit.device import distribution_strategy

        strategy = distribution_strategy()
        self._prepare(features, labels, strategy)
        x, place, owners = self._windows(features)
        y, weight = window_targets(features, targets, labels, place, owners)
        batch = self.params["batch_size"] * strategy.num_replicas_in_sync
        steps = self.params["epochs"] * max(1, len(y) // batch)
        with strategy.scope():
            self._compile(steps)
        data = (tf.data.Dataset.from_tensor_slices((x, y, weight)).shuffle(len(y), seed=self.params["seed"])
                .batch(batch, drop_remainder=len(y) >= batch).prefetch(tf.data.AUTOTUNE))  # full batches: one trace
        history = self.network_.fit(data, epochs=self.params["epochs"], shuffle=False, verbose=0)  # the data shuffles, seeded
        self.history_ = {key: [float(v) for v in values] for key, values in history.history.items()}
        return self

    def _prepare(self, features: list[SubWords], labels: list[str], strategy: Any) -> None:
        """This machine's precision and XLA, the preset's backbone and packer, the window length and a fresh head,
        the variables built in ``strategy``'s scope (mirrored over the GPUs)."""
        import keras

        release_memory()  # the previous fold's model, before this one takes the GPU
        self.labels_, self.preset_ = labels, resolve_preset(self.params["preset"], self.name)
        self.precision_ = resolve_precision(self.params["precision"])
        self.jit_compile_ = resolve_jit_compile(self.params["jit_compile"])
        self.segments_ = 2 if any(len(s.query) for s in features) else 1
        keras.utils.set_random_seed(self.params["seed"])
        with strategy.scope():
            backbone = load_backbone(self.preset_, self.name, self.precision_)
            self._set_preprocessor(load_preprocessor(self.preset_, 16, self.name))
            self.sequence_length_ = self._choose_length(features, max_length(backbone))
            self.preprocessor_.sequence_length = self.sequence_length_  # KerasHub passes it on to the packer
            self.network_ = self._network(backbone)

    def _set_preprocessor(self, preprocessor: Any) -> None:
        self.input_names_ = input_names(preprocessor)  # also builds its packer
        self.specials_ = special_count(preprocessor.packer, self.segments_)
        self.preprocessor_ = preprocessor

    def _network(self, backbone: Any, head: dict[str, np.ndarray] | None = None) -> Any:
        """Token ids -> the backbone's sequence output -> dropout -> float32 logits per sub-word (labels order)."""
        import keras
        from keras import layers

        inputs = {name: backbone.input[name] for name in self.input_names_}
        hidden = backbone.output["sequence_output"] if isinstance(backbone.output, dict) else backbone.output
        hidden = layers.Dropout(self.params["dropout"])(hidden)
        dense = layers.Dense(len(self.labels_), dtype="float32", name="token_logits",  # float32 logits under mixed precision
                             kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        network = keras.Model(inputs, dense(hidden))
        if head is not None:
            dense.set_weights([head["kernel"], head["bias"]])
        self.backbone_, self.head_ = backbone, dense
        return network

    def _compile(self, steps: int) -> None:
        import keras

        compile_adamw(self.network_, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      learning_rate=self.params["learning_rate"], warmup_ratio=self.params["warmup_ratio"],
                      weight_decay=self.params["weight_decay"], steps=steps, precision=self.precision_,
                      jit_compile=self.jit_compile_)

    def predict_proba(self, features: list[SubWords]) -> list[np.ndarray]:
        if not features:
            return []
        x, place, owners = self._windows(features)
        logits = self.network_.predict(x, batch_size=PREDICT_BATCH, verbose=0)
        windows: list[list[tuple[int, np.ndarray]]] = [[] for _ in features]
        for row, (i, start) in enumerate(owners):
            z = np.asarray(logits[row, place[row] >= 0], dtype=np.float64)  # the packer keeps the sub-words' order
            z = np.exp(z - z.max(axis=1, keepdims=True))  # softmax in float64 a window at a time: a corpus's at once
            windows[i].append((start, z / z.sum(axis=1, keepdims=True)))  # would be gigabytes
        return [merge(sub, w, len(self.labels_)) for sub, w in zip(features, windows)]

    # --- saving ---------------------------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        kept = {"network_", "backbone_", "head_", "preprocessor_", "tokenizer_"}  # Keras objects: saved as a preset
        return {k: v for k, v in self.__dict__.items() if k not in kept}

    def save(self, directory: Path) -> None:
        super().save(directory)
        self.backbone_.save_to_preset(str(directory / PRESET_DIR))
        self.preprocessor_.save_to_preset(str(directory / PRESET_DIR))
        kernel, bias = self.head_.get_weights()
        np.savez(directory / HEAD_FILE, kernel=kernel, bias=bias)

    def restore(self, directory: Path) -> "TransformerTagger":
        """The saved preset and head, in this machine's precision."""
        self.precision_ = resolve_precision("auto")
        preset = str(directory / PRESET_DIR)
        self._set_preprocessor(load_preprocessor(preset, self.sequence_length_, self.name))
        with np.load(directory / HEAD_FILE) as head:
            self.network_ = self._network(load_backbone(preset, self.name, self.precision_), dict(head))
        return self


"""A Keras BiLSTM tagger: word and character embeddings, a bidirectional LSTM over the tokens, a softmax per token.

The teaching notebook's recurrent layers applied per token instead of per text. Long documents are cut into
overlapping windows and each token's probabilities are averaged over the windows that hold it. TensorFlow is
imported only when the model fits or loads, so reading a competition stays fast.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from kagglekit.tokens.layout import Sequence
from kagglekit.tokens.models import TokenModel, register

NETWORK_FILE = "tagger.keras"
PAD, UNKNOWN = 0, 1
CHAR_FILTERS = 32
STEPS = 40  # training steps an epoch when the batch size is left to the data


@register("bilstm")
class BiLSTMTagger(TokenModel):
    """Word + character-CNN embeddings -> Bidirectional(LSTM) -> softmax per token."""

    description = "word + character embeddings -> Bidirectional(LSTM(64)) -> softmax per token (Keras)"
    # short windows, and batches sized for about STEPS steps an epoch (16 to 256 windows): enough steps on a few
    # hundred documents for the entity tokens to be learnt, without thousands of small steps on a large corpus
    defaults = {"units": 64, "word_dim": 64, "char_dim": 16, "window": 64, "chars": 12, "epochs": 10,
                "batch_size": None, "learning_rate": 3e-3, "seed": 42}

    def fit(self, features: list[Sequence], targets: list[list[str]], labels: list[str]) -> "BiLSTMTagger":
        import keras

        keras.utils.set_random_seed(self.params["seed"])
        self.labels_ = labels
        words = Counter(t.lower() for s in features for t in s.tokens)
        chars = Counter(c for s in features for t in s.tokens for c in t)
        self.words_ = {w: i + 2 for i, w in enumerate(sorted(w for w, n in words.items() if n >= 2))}
        self.chars_ = {c: i + 2 for i, c in enumerate(sorted(c for c, n in chars.items() if n >= 2))}
        self.queries_ = {q: i + 2 for i, q in enumerate(sorted({s.query for s in features}))}
        index = {label: i for i, label in enumerate(labels)}
        x, owners = self._windows(features)
        y = np.zeros(x["words"].shape, dtype=np.int32)
        for row, (sequence_index, start) in enumerate(owners):
            tags = targets[sequence_index][start:start + self.params["window"]]
            y[row, :len(tags)] = [index[t] for t in tags]
        weights = (x["words"] != PAD).astype(np.float32)
        self.network_ = self._build()
        batch_size = self.params["batch_size"] or int(np.clip(len(y) // STEPS, 16, 256))
        self.network_.fit(x, y, sample_weight=weights, epochs=self.params["epochs"], batch_size=batch_size,
                          verbose=0, shuffle=True)
        return self

    def _build(self) -> Any:
        import keras
        from keras import layers

        window, chars = self.params["window"], self.params["chars"]
        word_in = keras.Input((window,), dtype="int32", name="words")
        char_in = keras.Input((window, chars), dtype="int32", name="chars")
        query_in = keras.Input((1,), dtype="int32", name="query")
        word = layers.Embedding(len(self.words_) + 2, self.params["word_dim"])(word_in)
        # a CNN over each token's characters as a (1, 3) Conv2D and a max over the characters: TimeDistributed layers
        # compute the same but took about 20 s to trace per fit on a CPU
        char = layers.Embedding(len(self.chars_) + 2, self.params["char_dim"])(char_in)
        char = layers.Conv2D(CHAR_FILTERS, (1, 3), padding="same", activation="relu")(char)
        char = layers.MaxPooling2D((1, chars))(char)
        char = layers.Reshape((window, CHAR_FILTERS))(char)
        query = layers.Embedding(len(self.queries_) + 2, 8)(query_in)  # a span competition's question, per token
        query = layers.Flatten()(query)
        query = layers.RepeatVector(window)(query)
        hidden = layers.Concatenate()([word, char, query])
        hidden = layers.Bidirectional(layers.LSTM(self.params["units"], return_sequences=True))(hidden)
        out = layers.Dense(len(self.labels_), activation="softmax")(hidden)
        network = keras.Model([word_in, char_in, query_in], out)
        # no XLA: compiling the recurrent graph cost more than it saved on a CPU (about 20 s a fit on a small corpus)
        network.compile(optimizer=keras.optimizers.Adam(self.params["learning_rate"]), loss="sparse_categorical_crossentropy",
                        jit_compile=False)
        return network

    def _starts(self, n: int) -> list[int]:
        """Window starts: a window every 3/4 of a window, the last one flush with the end."""
        window = self.params["window"]
        if n <= window:
            return [0]
        starts = list(range(0, n - window + 1, window * 3 // 4))
        return starts if starts[-1] == n - window else [*starts, n - window]

    def _windows(self, sequences: list[Sequence]) -> tuple[dict[str, np.ndarray], list[tuple[int, int]]]:
        window, width = self.params["window"], self.params["chars"]
        owners = [(i, start) for i, s in enumerate(sequences) for start in self._starts(len(s.tokens))]
        words = np.zeros((len(owners), window), dtype=np.int32)
        chars = np.zeros((len(owners), window, width), dtype=np.int32)
        query = np.zeros((len(owners), 1), dtype=np.int32)
        for row, (i, start) in enumerate(owners):
            tokens = sequences[i].tokens[start:start + window]
            words[row, :len(tokens)] = [self.words_.get(t.lower(), UNKNOWN) for t in tokens]
            for j, token in enumerate(tokens):
                codes = [self.chars_.get(c, UNKNOWN) for c in token[:width]]
                chars[row, j, :len(codes)] = codes
            query[row, 0] = self.queries_.get(sequences[i].query, UNKNOWN)
        return {"words": words, "chars": chars, "query": query}, owners

    def predict_proba(self, features: list[Sequence]) -> list[np.ndarray]:
        if not features:
            return []
        x, owners = self._windows(features)
        predicted = self.network_.predict(x, batch_size=256, verbose=0)
        sums = [np.zeros((len(s.tokens), len(self.labels_)), dtype=np.float32) for s in features]
        counts = [np.zeros((len(s.tokens), 1), dtype=np.float32) for s in features]
        for row, (i, start) in enumerate(owners):
            n = min(self.params["window"], len(features[i].tokens) - start)
            sums[i][start:start + n] += predicted[row, :n]
            counts[i][start:start + n] += 1
        return [total / np.maximum(count, 1) for total, count in zip(sums, counts)]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "network_"}  # the network is saved by Keras

    def save(self, directory: Path) -> None:
        super().save(directory)
        self.network_.save(directory / NETWORK_FILE)

    def restore(self, directory: Path) -> "BiLSTMTagger":
        import keras

        self.network_ = keras.models.load_model(directory / NETWORK_FILE)
        return self

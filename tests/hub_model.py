"""A tiny TF Hub-style SavedModel for tests: strings -> fixed-size vectors by hashing tokens.

It has the Universal Sentence Encoder's calling convention (a batch of strings in, one vector per
string out), so ``hub:<path>`` exercises the real tensorflow_hub loading path without a download.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

DIM = 16


class HashingEncoder(tf.Module):
    """Bag of hashed lower-cased tokens, L2-normalised: equal texts give equal vectors, shared words overlap."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        ids = tf.strings.to_hash_bucket_fast(tf.strings.split(tf.strings.lower(texts)), DIM)
        counts = tf.reduce_sum(tf.ragged.map_flat_values(tf.one_hot, ids, DIM), axis=1)
        return tf.math.l2_normalize(counts, axis=1)


def build_hub_model(directory: Path) -> Path:
    """Save the encoder as a SavedModel in ``directory`` and return it."""
    tf.saved_model.save(HashingEncoder(), str(directory))
    return directory

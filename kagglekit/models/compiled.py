"""Compiled Keras networks left by finished fits for the next fit of the same shape, so a fold does not trace again.

Tracing and optimising a network's train, validation and predict functions costs seconds per fit on a CPU (about
4 s for an LSTM over 24 tokens, more than one of its epochs), and cross-validation fits the same network once per
fold and again for the refit. A fit whose freshly built network has the signature of a network a released fit
left here takes that one instead: the fresh network's initial values are copied into it and its optimizer is put
back to its state before the first step, so the fit runs the steps a fresh network would (the same weights and
predictions) without tracing anything.

Only released networks are reused: the engine releases a fold's model once it is saved and done with
(``TextModel.release``); a model a notebook keeps never shares its network.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Released networks kept per process (each holds its weights, optimizer slots and traced functions: an LSTM over a
# 20,000-word vocabulary is about 30 MB); the least recently released go first.
MAX_KEPT = 8


@dataclass
class CompiledNetwork:
    """A compiled network and its optimizer's values before the first step."""

    network: Any
    optimizer_start: list[np.ndarray]

    @classmethod
    def of(cls, network: Any) -> CompiledNetwork:
        """Record a freshly compiled network's optimizer state (building the optimizer's slots now, as fit would)."""
        network.optimizer.build(network.trainable_variables)
        return cls(network, [np.array(v.numpy()) for v in network.optimizer.variables])

    def restart_from(self, fresh: Any) -> None:
        """Take a freshly built twin's initial values (weights and random seed states) and rewind the optimizer."""
        for variable, value in zip(self.network.variables, fresh.variables, strict=True):  # same shapes: in the key
            variable.assign(value)
        for variable, value in zip(self.network.optimizer.variables, self.optimizer_start):
            variable.assign(value)


class NetworkPool:
    """Released compiled networks by signature; thread-safe, bounded to ``max_kept``."""

    def __init__(self, max_kept: int = MAX_KEPT):
        self.max_kept = max_kept
        self.reused = 0  # fits that took a released network (read by tests and benchmarks)
        self._kept: OrderedDict[Hashable, list[CompiledNetwork]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> CompiledNetwork | None:
        with self._lock:
            kept = self._kept.get(key)
            if not kept:
                return None
            compiled = kept.pop()
            if not kept:
                del self._kept[key]
            self.reused += 1
            return compiled

    def release(self, key: Hashable, compiled: CompiledNetwork) -> None:
        with self._lock:
            self._kept.setdefault(key, []).append(compiled)
            self._kept.move_to_end(key)
            while sum(len(kept) for kept in self._kept.values()) > self.max_kept:
                oldest = next(iter(self._kept))
                self._kept[oldest].pop(0)
                if not self._kept[oldest]:
                    del self._kept[oldest]

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


NETWORKS = NetworkPool()


def input_signature(x: Any) -> tuple:
    """Shapes (without the row count) and dtypes of a network's inputs: an array or a dict of arrays."""
    if isinstance(x, dict):
        return tuple((name, *input_signature(value)) for name, value in sorted(x.items()))
    array = np.asarray(x)
    return (array.shape[1:], str(array.dtype))

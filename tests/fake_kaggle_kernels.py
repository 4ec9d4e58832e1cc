"""Kaggle's kernels, datasets and code submissions on the fake Kaggle server, plugged in through its ``services`` hook.

Endpoints: kernels (SaveKernel, GetKernel, GetKernelSessionStatus, ListKernelSessionOutput), datasets
(GetDatasetStatus, CreateDataset, CreateDatasetVersion) with blob uploads (StartBlobUpload, then the fake's
PUT route), and CreateCodeSubmission (the other competition calls go to the fake's own handlers).

A pushed kernel either follows a script (``outcome`` after ``running_reads`` status reads, with ``outputs``)
or, given a ``python``, is really run: its notebook is executed with nbclient in a subprocess of that
interpreter, against a /kaggle-like tree of its own (input/COMPETITION with the competition's files,
input/DATASET-SLUG with each attached dataset's files, a fresh working/), and its working files become the
version's output.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import threading
import time
import venv
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
import pytest

from tests.fake_kaggle import BASE_URL, KEY, USERNAME, FakeKaggle, FakeSubmission, Reply, Upload

KERNELS, DATASETS, BLOBS, COMPETITIONS = (
    "kernels.KernelsApiService", "datasets.DatasetApiService", "blobs.BlobApiService", "competitions.CompetitionApiService",
)
RUN_TIMEOUT_S = 600
# Executes a notebook in the interpreter that runs this script; the executed copy (outputs included) is
# written even when a cell fails, so the log can show the error.
NOTEBOOK_RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

source, executed, working = sys.argv[1:4]
notebook = nbformat.read(source, as_version=4)
client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": working}})
try:
    client.execute()
except CellExecutionError:
    sys.exit(1)
finally:
    nbformat.write(notebook, executed)
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _json(status: int, obj: object) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})


def _error(status: int, message: str) -> Reply:
    return _json(status, {"code": status, "message": message})


@dataclass
class FakeDataset:
    owner: str
    slug: str
    files: dict[str, bytes]
    is_private: bool = True
    versions: int = 1
    notes: list[str] = field(default_factory=list)


@dataclass
class FakeKernelVersion:
    owner: str
    slug: str
    number: int
    request: dict  # the SaveKernel request: text, sources, enable_* flags, machine shape
    status: str = "QUEUED"
    failure_message: str = ""
    log: str = ""
    outputs: dict[str, bytes] = field(default_factory=dict)
    reads: int = 0

    @property
    def notebook(self) -> dict:
        return json.loads(self.request.get("text") or "{}")


class FakeKernels:
    """The kernels, datasets and code-submission state of one fake server."""

    def __init__(self, fake: FakeKaggle, root: Path, *, python: Path | None = None) -> None:
        self.fake, self.root, self.python = fake, Path(root), python
        self.datasets: dict[str, FakeDataset] = {}
        self.kernels: dict[str, list[FakeKernelVersion]] = {}  # by OWNER/SLUG, versions in order
        self.outcome = "COMPLETE"  # scripted runs: the state after running_reads reads
        self.running_reads = 1
        self.failure_message = ""
        self.scripted_log = ""
        self.outputs: dict[str, bytes] = {}  # scripted runs' output files
        self.code_submissions: list[dict] = []  # CreateCodeSubmission requests that were accepted
        self._threads: list[threading.Thread] = []
        fake.services.update({KERNELS: self._kernels, DATASETS: self._datasets, BLOBS: self._blobs, COMPETITIONS: self._competitions})

    def add_dataset(self, ref: str, files: dict[str, bytes]) -> FakeDataset:
        owner, _, slug = ref.partition("/")
        self.datasets[ref] = FakeDataset(owner, slug, files)
        return self.datasets[ref]

    def latest(self, kernel: str) -> FakeKernelVersion:
        return self.kernels[kernel][-1]

    def join(self, timeout: float = RUN_TIMEOUT_S) -> None:
        """Wait for the notebooks still running (call before the test ends)."""
        for thread in self._threads:
            thread.join(timeout)

    # -- kernels -----------------------------------------------------------------------------------

    def _kernels(self, method: str, request: dict) -> Reply:
        handlers = {
            "SaveKernel": self._save_kernel, "GetKernel": self._get_kernel,
            "GetKernelSessionStatus": self._get_status, "ListKernelSessionOutput": self._list_output,
        }
        if method not in handlers:
            return _error(501, f"the fake Kaggle server does not implement {KERNELS}/{method}")
        return handlers[method](request)

    def _save_kernel(self, request: dict) -> Reply:
        owner, _, slug = (request.get("slug") or "").partition("/")
        if owner != USERNAME:
            return _error(403, f"Permission 'kernels.create' was denied for {owner}/{slug}")
        if request.get("kernelType") != "notebook" or request.get("language") != "python":
            return _json(200, {"error": "Only python notebooks are supported by this fake"})
        kernel = f"{owner}/{slug}"
        versions = self.kernels.setdefault(kernel, [])
        version = FakeKernelVersion(owner, slug, len(versions) + 1, request)
        versions.append(version)
        if self.python is not None:
            thread = threading.Thread(target=self._execute, args=(version,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return _json(200, {
            "ref": f"/code/{kernel}", "url": f"https://www.kaggle.com/code/{kernel}", "versionNumber": version.number,
            "kernelId": 50000 + len(self.kernels),
            "invalidCompetitionSources": [c for c in request.get("competitionDataSources", []) if c not in self.fake.competitions],
            "invalidDatasetSources": [d for d in request.get("datasetDataSources", []) if "/".join(d.split("/")[:2]) not in self.datasets],
        })

    def _find(self, request: dict) -> FakeKernelVersion | Reply:
        kernel = f"{request.get('userName')}/{request.get('kernelSlug')}"
        versions = self.kernels.get(kernel)
        if not versions:
            return _error(404, f"Notebook {kernel} not found")
        if request.get("userName") != USERNAME and versions[-1].request.get("isPrivate", True):
            return _error(403, f"Permission 'kernels.get' was denied for {kernel}")
        label = request.get("versionLabel")
        if not label:
            return versions[-1]
        number = int(label.removeprefix("v")) if label.removeprefix("v").isdigit() else 0
        if not 1 <= number <= len(versions):
            return _error(404, f"Notebook {kernel} has no version {label}")
        return versions[number - 1]

    def _get_kernel(self, request: dict) -> Reply:
        found = self._find(request)
        if isinstance(found, Reply):
            return found
        return _json(200, {"metadata": {"ref": f"{found.owner}/{found.slug}", "slug": found.slug, "author": found.owner,
                                        "currentVersionNumber": len(self.kernels[f"{found.owner}/{found.slug}"])}})

    def _get_status(self, request: dict) -> Reply:
        found = self._find(request)
        if isinstance(found, Reply):
            return found
        if self.python is None:
            found.reads += 1
            if found.reads > self.running_reads:
                found.status, found.failure_message = self.outcome, self.failure_message if self.outcome == "ERROR" else ""
                found.outputs, found.log = dict(self.outputs), self.scripted_log
            else:
                found.status = "RUNNING"
        reply = {"status": found.status}
        if found.failure_message:
            reply["failureMessage"] = found.failure_message
        return _json(200, reply)

    def _list_output(self, request: dict) -> Reply:
        found = self._find(request)
        if isinstance(found, Reply):
            return found
        files = []
        for name, content in sorted(found.outputs.items()):
            key = f"{found.owner}/{found.slug}/v{found.number}/{name}"
            self.fake.blobs[key] = content
            files.append({"fileName": name, "url": f"{BASE_URL}/blobs/{key}"})
        return _json(200, {"files": files, "log": found.log})

    # -- running a pushed notebook -------------------------------------------------------------------

    def _execute(self, version: FakeKernelVersion) -> None:
        """Run the version's notebook against a /kaggle-like tree; COMPLETE or ERROR with the log and outputs."""
        tree = self.root / f"{version.owner}-{version.slug}-v{version.number}"
        try:
            self._mount_inputs(version, tree / "input")
            working = tree / "working"
            working.mkdir(parents=True)
            source, executed = tree / "notebook.ipynb", tree / "executed.ipynb"
            source.write_text(version.request["text"], encoding="utf-8")
            version.status = "RUNNING"
            started = time.monotonic()
            result = subprocess.run(
                [str(self.python), "-c", NOTEBOOK_RUNNER, str(source), str(executed), str(working)],
                env=_kernel_environment(tree), capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
            )
            version.log = _log(executed, result.stderr, time.monotonic() - started)
            version.outputs = {str(p.relative_to(working)): p.read_bytes() for p in sorted(working.rglob("*")) if p.is_file()}
            if result.returncode == 0:
                version.status = "COMPLETE"
            else:
                version.status, version.failure_message = "ERROR", "Your notebook tried to run a cell that raised an exception"
        except Exception as e:  # the fake's own failure must show in the test, not hang it in RUNNING
            version.status, version.failure_message = "ERROR", f"fake kernel runner failed: {type(e).__name__}: {e}"

    def _mount_inputs(self, version: FakeKernelVersion, input_dir: Path) -> None:
        for slug in version.request.get("competitionDataSources", []):
            competition = self.fake.competitions[slug]
            with zipfile.ZipFile(io.BytesIO(competition.archive)) as archive:
                archive.extractall(input_dir / slug)
        for ref in version.request.get("datasetDataSources", []):
            dataset = self.datasets["/".join(ref.split("/")[:2])]
            for name, content in dataset.files.items():
                (input_dir / dataset.slug).mkdir(parents=True, exist_ok=True)
                (input_dir / dataset.slug / name).write_bytes(content)

    # -- datasets and blob uploads -------------------------------------------------------------------

    def _blobs(self, method: str, request: dict) -> Reply:
        if method != "StartBlobUpload":
            return _error(501, f"the fake Kaggle server does not implement {BLOBS}/{method}")
        token = f"dataset-blob-{len(self.fake.uploads) + 1}"
        self.fake.uploads[token] = Upload(token, request.get("name", ""))
        return _json(200, {"token": token, "createUrl": f"{BASE_URL}/upload/{token}"})

    def _datasets(self, method: str, request: dict) -> Reply:
        if method == "GetDatasetStatus":
            ref = f"{request.get('ownerSlug')}/{request.get('datasetSlug')}"
            return _json(200, {"status": "READY"}) if ref in self.datasets else _error(404, f"Dataset {ref} not found")
        if method == "CreateDataset":
            ref = f"{request.get('ownerSlug')}/{request.get('slug')}"
            if request.get("ownerSlug") != USERNAME:
                return _error(403, f"Permission 'datasets.create' was denied for {ref}")
            if ref in self.datasets:
                return _json(200, {"error": f"The requested slug {request.get('slug')} is already in use"})
            files = self._uploaded(request.get("files", []))
            if isinstance(files, Reply):
                return files
            self.datasets[ref] = FakeDataset(USERNAME, request["slug"], files, request.get("isPrivate", False))
            return _json(200, {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "Ok"})
        if method == "CreateDatasetVersion":
            ref = f"{request.get('ownerSlug')}/{request.get('datasetSlug')}"
            if ref not in self.datasets:
                return _error(404, f"Dataset {ref} not found")
            if request.get("ownerSlug") != USERNAME:
                return _error(403, f"Permission 'datasets.update' was denied for {ref}")
            body = request.get("body", {})
            files = self._uploaded(body.get("files", []))
            if isinstance(files, Reply):
                return files
            dataset = self.datasets[ref]
            dataset.files, dataset.versions = files, dataset.versions + 1
            dataset.notes.append(body.get("versionNotes", ""))
            return _json(200, {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "Ok"})
        return _error(501, f"the fake Kaggle server does not implement {DATASETS}/{method}")

    def _uploaded(self, files: list[dict]) -> dict[str, bytes] | Reply:
        uploaded = {}
        for item in files:
            upload = self.fake.uploads.get(item.get("token", ""))
            if upload is None or upload.content is None:
                return _error(400, f"No uploaded file for token {item.get('token')!r}")
            uploaded[upload.file_name] = upload.content
        if not uploaded:
            return _error(400, "A dataset needs at least one file")
        return uploaded

    # -- code submissions ------------------------------------------------------------------------------

    def _competitions(self, method: str, request: dict) -> Reply:
        if method == "CreateCodeSubmission":
            return self._create_code_submission(request)
        # Every other competition call goes to the fake's own handlers, as if this hook were not there.
        handler = self.fake.services.pop(COMPETITIONS)
        try:
            basic = base64.b64encode(f"{USERNAME}:{KEY}".encode()).decode()
            return self.fake._rpc(f"{COMPETITIONS}/{method}", f"Basic {basic}", request)
        finally:
            self.fake.services[COMPETITIONS] = handler

    def _create_code_submission(self, request: dict) -> Reply:
        slug = request.get("competitionName")
        if slug not in self.fake.competitions:
            return _error(404, "Competition not found")
        found = self._find({"userName": request.get("kernelOwner"), "kernelSlug": request.get("kernelSlug"),
                            "versionLabel": f"v{request['kernelVersion']}" if request.get("kernelVersion") else None})
        if isinstance(found, Reply):
            return found
        if slug not in found.request.get("competitionDataSources", []):
            return _error(400, f"The notebook does not use {slug} as a data source")
        if found.status != "COMPLETE":
            return _error(400, f"Notebook version {found.number} has not completed successfully")
        file_name = request.get("fileName") or "submission.csv"
        if file_name not in found.outputs:
            return _error(400, f"The notebook's output has no file {file_name}")
        submission = FakeSubmission(next(self.fake._refs), slug, file_name, request.get("submissionDescription", ""),
                                    _now())
        self.fake.submissions.append(submission)
        self.code_submissions.append({**request, "ref": submission.ref, "content": found.outputs[file_name]})
        return _json(200, {"message": "Your submission was queued", "ref": submission.ref})


def _now():  # naive UTC, as the fake's file submissions
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(tzinfo=None)


def _kernel_environment(tree: Path) -> dict[str, str]:
    """A kernel's environment: the fake /kaggle, Kaggle's batch-run marker, no credentials, no package index."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAGGLE_", "PIP_", "PYTHON", "VIRTUAL_ENV")) and not k.lower().endswith("_proxy")}
    env.update({
        "KAGGLEKIT_KAGGLE_DIR": str(tree),
        "KAGGLE_KERNEL_RUN_TYPE": "Batch",
        "PIP_CONFIG_FILE": os.devnull,  # no index or find-links from this machine's pip configuration
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "HOME": str(tree),  # writable, like /root on Kaggle; IPython keeps its profile there
        "TF_CPP_MIN_LOG_LEVEL": "2",
    })
    return env


def _log(executed: Path, stderr: str, seconds: float) -> str:
    """Kaggle's log format: a JSON list of {stream_name, time, data}, here from the executed cells' outputs."""
    entries = []
    if executed.is_file():
        for cell in json.loads(executed.read_text(encoding="utf-8")).get("cells", []):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    entries.append({"stream_name": output.get("name", "stdout"), "time": seconds, "data": _text(output["text"])})
                elif output.get("output_type") == "error":
                    trace = ANSI.sub("", "\n".join(output.get("traceback", [])))
                    entries.append({"stream_name": "stderr", "time": seconds, "data": trace + "\n"})
    if stderr.strip():
        entries.append({"stream_name": "stderr", "time": seconds, "data": stderr})
    return json.dumps(entries)


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def notebook_python(directory: Path, leave_out: Sequence[str] = ()) -> Path:
    """A venv standing in for Kaggle's image: this venv's packages, except kagglekit (and the distributions named in
    ``leave_out``, e.g. those the bundle brings), which the notebook must install.

    ``--system-site-packages`` would expose the base interpreter's packages, not this venv's, and kagglekit's
    editable install would let pip skip the bundle; so the venv gets a folder of links to every entry of this
    venv's site-packages but kagglekit's and the left-out distributions' files, added as a site directory by a
    .pth file: pip in the new venv sees those packages as installed, as it would on Kaggle.
    """
    import site
    from importlib import metadata

    home = Path(directory)
    venv.EnvBuilder(with_pip=False, symlinks=True).create(home)
    python = home / "bin" / "python"
    ours = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    hidden = {str(f).split("/")[0] for name in leave_out for f in metadata.distribution(name).files or []}
    image = home / "kaggle-image-packages"
    image.mkdir()
    for entry in ours.iterdir():
        if "kagglekit" in entry.name.lower() or entry.name in hidden:
            continue
        (image / entry.name).symlink_to(entry)
    theirs = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    (theirs / "kaggle-image.pth").write_text(f"import site; site.addsitedir({str(image)!r})\n")
    return python


def wheel_from_installed(name: str, directory: Path) -> Path:
    """A pure-Python wheel of an installed distribution, from the files its RECORD lists (no index needed).

    Only for distributions whose files all live in site-packages (no scripts or data outside it).
    """
    from importlib import metadata

    distribution = metadata.distribution(name)
    files = [f for f in distribution.files or [] if not str(f).startswith("..") and "__pycache__" not in str(f)
             and not str(f).endswith((".pyc", "/INSTALLER", "/REQUESTED", "/direct_url.json", "/RECORD"))]
    dist_info = next(str(f).split("/")[0] for f in files if str(f).split("/")[0].endswith(".dist-info"))
    module = dist_info.split("-")[0]
    path = Path(directory) / f"{module}-{distribution.version}-py3-none-any.whl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.write(distribution.locate_file(f), str(f))
        archive.writestr(f"{dist_info}/RECORD", "".join(f"{f},,\n" for f in [*map(str, files), f"{dist_info}/RECORD"]))
    return path


def isolate_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip sees no index or find-links of this machine: what a bundle needs must come from the test."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


def make_wheel(directory: Path, name: str, version: str = "1.0", tag: str = "py3-none-any") -> Path:
    """A minimal installable wheel of a one-module package ``name`` (its module: name with underscores)."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: kagglekit-tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist_info}/RECORD"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{module}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path

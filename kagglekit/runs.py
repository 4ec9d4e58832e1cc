"""A run directory, and the only code that knows its layout.

Layout (all under ``runs/COMPETITION/RUN``)::

    manifest.json        competition facts, config, versions, device
    folds.csv            id, fold  (the one fold assignment every model of the run uses)
    y.npy                training targets (class indices, 0/1 labels or values), in train.csv order
    .lock                held by the process training into the run
    models/NAME/         params.json, fold{k}/ (saved model), fold{k}.json (record, written last), fold{k}_val.npy,
                         fold{k}_test.npy, fold{k}_history.json, full/ (refit), refit.json, oof.npy, test.npy,
                         test_folds.npy, summary.json
    ensembles/NAME/      oof.npy, test.npy, summary.json
    submissions/NAME.csv the run's own submission files, each with NAME.json: which run, model and score made it
    leaderboard.csv/.md, plots/, errors/, projector/, report.html

Every writer goes through ``kagglekit.io``'s atomic writes, and a fold's record is written after its
predictions and model, so a record on disk means the fold is complete.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import ConfigError, RunLockedError
from kagglekit.io import atomic_path, read_json, save_npy, write_json, write_text

SUMMARY = "summary.json"
TEST_FILES = {"refit": "test.npy", "folds": "test_folds.npy"}


class Run:
    """One run directory: every file of a run is read and written through this class."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def competition(self) -> str:
        return self.directory.parent.name

    # --- run-level files -------------------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        path = self.directory / "manifest.json"
        return read_json(path) if path.is_file() else {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.directory / "manifest.json", manifest)

    def has_folds(self) -> bool:
        return (self.directory / "folds.csv").is_file()

    def write_folds(self, folds: pd.DataFrame, y: np.ndarray) -> None:
        """The run's fold assignment and targets; written once, when the run is created."""
        self.directory.mkdir(parents=True, exist_ok=True)
        save_npy(self.directory / "y.npy", y)
        with atomic_path(self.directory / "folds.csv", suffix=".csv") as tmp:
            folds.to_csv(tmp, index=False)

    def folds(self) -> pd.DataFrame:
        return pd.read_csv(self.directory / "folds.csv")

    @property
    def fold_index(self) -> np.ndarray:
        return self.folds()["fold"].to_numpy()

    @property
    def n_folds(self) -> int:
        return int(self.fold_index.max()) + 1

    @property
    def y(self) -> np.ndarray:
        return np.load(self.directory / "y.npy")

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run for one process: a second ``train`` on the same run is refused while this one runs.

        An OS file lock (flock), so a killed process never leaves the run locked: the kernel releases it.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / ".lock"
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunLockedError(
                f"run {self.name} is in use by {holder}: wait for it to finish, or train into another run with --run NAME"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"kagglekit pid {os.getpid()} since {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
            handle.flush()
            yield
        finally:
            handle.close()  # releases the flock

    def remove_partial_writes(self) -> list[Path]:
        """Delete what a killed process left half-written: atomic writes' hidden temporary files and folders.

        Call while holding the lock, so no live writer's temporary files are touched.
        """
        removed = []
        for parent in (self.directory / "models", self.directory / "ensembles", self.directory / "submissions"):
            for path in sorted(parent.rglob(".*"), reverse=True) if parent.is_dir() else []:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    # --- models: per-fold and refit artifacts ----------------------------------------------------------

    def model_dir(self, name: str) -> Path:
        return self.directory / "models" / name

    def stored_params(self, name: str) -> dict[str, Any] | None:
        path = self.model_dir(name) / "params.json"
        return read_json(path) if path.is_file() else None

    def reset_model(self, name: str, params: dict[str, Any]) -> None:
        """Start model ``name`` afresh under new parameters: its old folds were trained under others."""
        if self.model_dir(name).exists():
            shutil.rmtree(self.model_dir(name))
        write_json(self.model_dir(name) / "params.json", params)

    def fold_model_dir(self, name: str, fold: int | None) -> Path:
        """Where the model of fold ``fold`` (None: the full-data refit) is saved."""
        return self.model_dir(name) / ("full" if fold is None else f"fold{fold}")

    def fold_done(self, name: str, fold: int) -> bool:
        return (self.model_dir(name) / f"fold{fold}.json").is_file()

    def save_fold(self, name: str, fold: int, val_pred: np.ndarray, test_pred: np.ndarray,
                  history: dict[str, list[float]] | None, record: dict[str, Any]) -> None:
        """A finished fold's predictions and history, then its record, which marks the fold as done."""
        directory = self.model_dir(name)
        save_npy(directory / f"fold{fold}_val.npy", val_pred)
        save_npy(directory / f"fold{fold}_test.npy", test_pred)
        if history:
            write_json(directory / f"fold{fold}_history.json", history)
        write_json(directory / f"fold{fold}.json", record)

    def fold_record(self, name: str, fold: int) -> dict[str, Any]:
        return read_json(self.model_dir(name) / f"fold{fold}.json")

    def fold_val(self, name: str, fold: int) -> np.ndarray:
        return np.load(self.model_dir(name) / f"fold{fold}_val.npy")

    def fold_test(self, name: str, fold: int) -> np.ndarray:
        return np.load(self.model_dir(name) / f"fold{fold}_test.npy")

    def histories(self, name: str) -> list[dict[str, list[float]]]:
        """Per-epoch training histories of a model's folds, in fold order; empty for models without epochs."""
        directory = self.model_dir(name)
        return [read_json(directory / f"fold{k}_history.json") for k in range(self.n_folds)
                if (directory / f"fold{k}_history.json").is_file()]

    def refit_done(self, name: str) -> bool:
        return (self.model_dir(name) / "refit.json").is_file()

    def save_refit(self, name: str, test_pred: np.ndarray, record: dict[str, Any]) -> None:
        save_npy(self.model_dir(name) / TEST_FILES["refit"], test_pred)
        write_json(self.model_dir(name) / "refit.json", record)

    def refit_record(self, name: str) -> dict[str, Any] | None:
        path = self.model_dir(name) / "refit.json"
        return read_json(path) if path.is_file() else None

    def save_model_predictions(self, name: str, oof: np.ndarray, test_folds: np.ndarray) -> None:
        save_npy(self.model_dir(name) / "oof.npy", oof)
        save_npy(self.model_dir(name) / TEST_FILES["folds"], test_folds)

    def write_summary(self, name: str, summary: dict[str, Any]) -> None:
        """A model's summary; untouched when unchanged, so its content hash marks when it last changed."""
        path = self.model_dir(name) / SUMMARY
        if not path.is_file() or read_json(path) != _json_roundtrip(summary):
            write_json(path, summary)

    # --- ensembles -------------------------------------------------------------------------------------

    def ensemble_dir(self, name: str) -> Path:
        return self.directory / "ensembles" / name

    def save_ensemble(self, name: str, oof: np.ndarray, test: np.ndarray, summary: dict[str, Any]) -> None:
        directory = self.ensemble_dir(name)
        save_npy(directory / "oof.npy", oof)
        save_npy(directory / TEST_FILES["refit"], test)
        write_json(directory / SUMMARY, summary)  # written last: marks the ensemble as complete

    def remove_ensemble(self, name: str) -> None:
        shutil.rmtree(self.ensemble_dir(name), ignore_errors=True)

    def summary_hash(self, name: str) -> str | None:
        """A content hash of a model's summary: ensembles record their members' and compare it to spot staleness."""
        path = self.model_dir(name) / SUMMARY
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None

    def stale_ensembles(self) -> list[str]:
        """Ensembles whose members (of this run) changed since they were built, or have failed."""
        stale = []
        for name in self.ensemble_names():
            recorded = self.summary(name).get("member_hashes", {})
            for member in self.summary(name).get("members", []):
                if ":" in member:  # a member of another run: that run's folds were checked when it was built
                    continue
                summary = self.model_dir(member) / SUMMARY
                if (not summary.is_file() or read_json(summary).get("status") != "ok"
                        or recorded.get(member) != self.summary_hash(member)):
                    stale.append(name)
                    break
        return stale

    # --- reading models and ensembles alike ------------------------------------------------------------

    def _entry_dir(self, name: str) -> Path:
        for directory in (self.model_dir(name), self.ensemble_dir(name)):
            if (directory / SUMMARY).is_file():
                return directory
        raise ConfigError(f"run {self.name} has no model or ensemble {name!r}; it has: {', '.join(self.entries()) or 'none'}")

    def model_names(self, *, include_failed: bool = False) -> list[str]:
        """Models with a summary (trained, or failed when include_failed), in registry order."""
        return self._names(self.directory / "models", include_failed)

    def ensemble_names(self) -> list[str]:
        return self._names(self.directory / "ensembles", False)

    def entries(self) -> list[str]:
        return self.model_names() + self.ensemble_names()

    def _names(self, parent: Path, include_failed: bool) -> list[str]:
        if not parent.is_dir():
            return []
        found = []
        for directory in parent.iterdir():
            if (directory / SUMMARY).is_file():
                summary = read_json(directory / SUMMARY)
                if include_failed or summary.get("status") == "ok":
                    found.append((summary.get("order", 0), directory.name))
        return [name for _, name in sorted(found)]

    def summary(self, name: str) -> dict[str, Any]:
        return read_json(self._entry_dir(name) / SUMMARY)

    def oof(self, name: str) -> np.ndarray:
        """Out-of-fold predictions (n_train, K) of a model or ensemble."""
        return np.load(self._entry_dir(name) / "oof.npy")

    def test_proba(self, name: str, source: str = "refit") -> np.ndarray:
        """Test predictions from the full-data refit (``refit``) or the mean of the fold models (``folds``).

        A model trained without a refit (e.g. a transformer) has only fold predictions, and gives those.
        """
        filename = TEST_FILES.get(source)
        if filename is None:
            raise ConfigError(f"unknown test source {source!r}; use refit or folds")
        directory = self._entry_dir(name)
        if source == "refit" and not (directory / filename).is_file() and self.summary(name).get("test_from") == "folds":
            filename = TEST_FILES["folds"]
        if not (directory / filename).is_file():
            raise ConfigError(f"{name} in run {self.name} has no {source} test predictions ({filename}): use --test-from refit")
        return np.load(directory / filename)

    # --- outputs beside the artifacts ------------------------------------------------------------------

    def save_leaderboard(self, board: pd.DataFrame, markdown: str) -> None:
        with atomic_path(self.directory / "leaderboard.csv", suffix=".csv") as tmp:
            board.to_csv(tmp, index=False)
        write_text(self.directory / "leaderboard.md", markdown)

    def submission_path(self, name: str) -> Path:
        return self.directory / "submissions" / f"{name}.csv"

    def output_dir(self, kind: str, name: str | None = None) -> Path:
        """Folders of derived outputs: ``plots``, ``errors``, ``projector`` (per model when ``name``)."""
        if kind not in ("plots", "errors", "projector"):
            raise ValueError(f"unknown run output {kind!r}")
        return self.directory / kind / name if name else self.directory / kind

    @property
    def report_path(self) -> Path:
        return self.directory / "report.html"


def _json_roundtrip(obj: Any) -> Any:
    import json

    from kagglekit.io import _json_default

    return json.loads(json.dumps(obj, default=_json_default))


def list_runs(runs_dir: Path) -> list[Run]:
    """Runs of a competition, oldest first."""
    if not runs_dir.is_dir():
        return []
    runs = [Run(d) for d in runs_dir.iterdir() if (d / "manifest.json").is_file()]
    return sorted(runs, key=lambda r: (r.directory / "manifest.json").stat().st_mtime)


def find_run(runs_dir: Path, name: str | None = None) -> Run:
    """The named run, or the most recent one; an unknown name lists the runs that exist."""
    runs = list_runs(runs_dir)
    if not runs:
        raise ConfigError(f"no runs in {runs_dir}: train first with `kagglekit train {runs_dir.name} --all`")
    if name is None:
        return runs[-1]
    for run in runs:
        if run.name == name:
            return run
    raise ConfigError(f"no run {name!r} in {runs_dir}; runs: {', '.join(r.name for r in runs)}")


def record_path(submission: Path) -> Path:
    """The provenance record beside a submission file: NAME.csv -> NAME.json."""
    return submission.with_suffix(".json")


def submission_message(runs_dir: Path, name: str, path: Path | None = None) -> str:
    """A default Kaggle submission description naming the model, its CV score and the run that made the file.

    Read from the record written beside the file; without one (a file made elsewhere), from the newest run
    that has ``name``.
    """
    record = record_path(path) if path is not None else None
    if record is not None and record.is_file():
        info = read_json(record)
        return (f"kagglekit {info['model']}: CV {info['metric']} {info['cv_score']:.4f}±{info['cv_score_std']:.4f}"
                f"{_decision_text(info.get('decision', {}))} (run {info['run']})")
    for run in reversed(list_runs(runs_dir)):
        if name in run.entries():
            summary = run.summary(name)
            return (f"kagglekit {name}: CV {summary['metric']} {summary['cv_score']:.4f}±{summary['cv_score_std']:.4f}"
                    f"{_decision_text(summary.get('decision', {'threshold': summary.get('threshold', 0.5)}))} (run {run.name})")
    return f"kagglekit {name}"


def _decision_text(decision: dict[str, Any]) -> str:
    if "threshold" in decision:
        return f", threshold {decision['threshold']:g}"
    if "cuts" in decision:
        return ", cut points " + "/".join(f"{c:g}" for c in decision["cuts"])
    return ""

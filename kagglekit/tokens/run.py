"""A token or span run folder, and the only code that knows its layout.

Laid out like a row-per-answer run (``kagglekit.runs``), so ``find_run``, ``submit`` and the submission records
work on it unchanged; ``manifest.json``'s ``task`` is ``tokens`` or ``spans``, which tells the commands to read it
with this class::

    manifest.json        competition, layout, labels, metric, folds, seed, data fingerprint
    folds.csv            group, fold (every token of a document, every row of a note, in one fold)
    y.npy                label index of every training token, documents in train order
    models/NAME/         fold{k}_val.npy and fold{k}.json (written last: the fold is done), oof.npy, test.npy,
                         full/ (the model refitted on every document), summary.json
    ensembles/NAME/      oof.npy, test.npy, summary.json
    submissions/NAME.csv the run's own submission files, each with NAME.json
    leaderboard.csv/.md, errors/NAME.csv, report.html

Probabilities are stored flat: one row per token, documents one after another in the competition's order.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import ConfigError, DataError
from kagglekit.io import atomic_path, read_json, save_npy, write_json, write_text
from kagglekit.tokens.layout import Sequence, TokenData, TokenLayout, load
from kagglekit.tokens.metrics import TokenMetric, get_metric
from kagglekit.tokens.models import TokenModel, load_model

SUMMARY = "summary.json"
TASKS = ("tokens", "spans")


def fingerprint(layout: TokenLayout) -> str:
    """A hash of the files the run's predictions belong to (train, test, any joined file, a segments layout's essays)."""
    digest = hashlib.sha256()
    for path in layout.files():
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def split(flat: np.ndarray, sequences: list[Sequence]) -> list[np.ndarray]:
    """Flat per-token rows -> one array per sequence."""
    bounds = np.cumsum([len(s.tokens) for s in sequences])[:-1]
    return np.split(flat, bounds) if sequences else []


def is_token_run(directory: Path | str) -> bool:
    """Whether a run folder holds a token or span run (the commands dispatch on this)."""
    path = Path(directory) / "manifest.json"
    return path.is_file() and read_json(path).get("task") in TASKS


class TokenRun:
    """One token or span run directory: every file of it is read and written here."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def manifest(self) -> dict[str, Any]:
        path = self.directory / "manifest.json"
        if not path.is_file():
            raise ConfigError(f"{self.directory} is not a run folder (no manifest.json): train first with `kagglekit train`")
        return read_json(path)

    @property
    def competition(self) -> str:
        return self.manifest["competition"]

    @property
    def kind(self) -> str:
        return self.manifest["task"]

    @property
    def labels(self) -> list[str]:
        return self.manifest["labels"]

    @property
    def metric(self) -> TokenMetric:
        return get_metric(self.kind, self.manifest["metric"])

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.directory / "manifest.json", manifest)

    def data(self, data_dir: Path | str | None = None) -> TokenData:
        """The competition the run was trained on, reloaded and checked to be the same files."""
        manifest = self.manifest
        data = load(data_dir or manifest["data_dir"], name=manifest["competition"])
        if fingerprint(data.layout) != manifest["fingerprint"]:
            raise DataError(f"the files in {data.layout.directory} are not the data run {self.name} was trained on: pass "
                            "--data-dir with that data, or retrain")
        return data

    # --- folds --------------------------------------------------------------------------------------------------

    def has_folds(self) -> bool:
        return (self.directory / "folds.csv").is_file()

    def write_folds(self, folds: pd.DataFrame, y: np.ndarray) -> None:
        save_npy(self.directory / "y.npy", y)
        with atomic_path(self.directory / "folds.csv", suffix=".csv") as tmp:
            folds.to_csv(tmp, index=False)

    def folds(self) -> pd.DataFrame:
        return pd.read_csv(self.directory / "folds.csv", dtype={"group": str})

    @property
    def y(self) -> np.ndarray:
        return np.load(self.directory / "y.npy")

    # --- models ---------------------------------------------------------------------------------------------------

    def model_dir(self, name: str) -> Path:
        return self.directory / "models" / name

    def ensemble_dir(self, name: str) -> Path:
        return self.directory / "ensembles" / name

    def fold_done(self, name: str, fold: int, params: dict[str, Any]) -> bool:
        """A fold finished by an earlier run with the same parameters (resume skips it)."""
        record = self.model_dir(name) / f"fold{fold}.json"
        return record.is_file() and read_json(record).get("params") == params

    def model_done(self, name: str, params: dict[str, Any]) -> bool:
        """A model trained to the end (folds, refit, test predictions) by an earlier run with the same parameters."""
        path = self.model_dir(name) / SUMMARY
        if not path.is_file():
            return False
        summary = read_json(path)
        return summary.get("status") == "ok" and summary.get("params") == params and (self.model_dir(name) / "full").is_dir()

    def save_fold(self, name: str, fold: int, val: np.ndarray, record: dict[str, Any]) -> None:
        save_npy(self.model_dir(name) / f"fold{fold}_val.npy", val)
        write_json(self.model_dir(name) / f"fold{fold}.json", record)  # last: marks the fold as done

    def fold_val(self, name: str, fold: int) -> np.ndarray:
        return np.load(self.model_dir(name) / f"fold{fold}_val.npy")

    def fold_record(self, name: str, fold: int) -> dict[str, Any]:
        return read_json(self.model_dir(name) / f"fold{fold}.json")

    def save_model(self, name: str, model: TokenModel) -> None:
        model.save(self.model_dir(name) / "full")

    def load_model(self, name: str) -> TokenModel:
        directory = self.model_dir(name) / "full"
        if not directory.is_dir():
            raise ConfigError(f"{name} in run {self.name} has no saved model; models: {', '.join(self.model_names())}")
        return load_model(directory)

    def save_predictions(self, name: str, oof: np.ndarray, test: np.ndarray, summary: dict[str, Any], *,
                         ensemble: bool = False) -> None:
        directory = self.ensemble_dir(name) if ensemble else self.model_dir(name)
        save_npy(directory / "oof.npy", oof.astype(np.float32))
        save_npy(directory / "test.npy", test.astype(np.float32))
        write_json(directory / SUMMARY, summary)  # last: marks the entry as complete

    def write_failure(self, name: str, summary: dict[str, Any]) -> None:
        write_json(self.model_dir(name) / SUMMARY, summary)

    # --- reading entries --------------------------------------------------------------------------------------------

    def entry_dir(self, name: str) -> Path:
        """The folder of model or ensemble ``name``; an unknown name is an error listing the run's entries."""
        for directory in (self.model_dir(name), self.ensemble_dir(name)):
            if (directory / SUMMARY).is_file():
                return directory
        raise ConfigError(f"run {self.name} has no model or ensemble {name!r}; it has: {', '.join(self.entries()) or 'none'}")

    def _names(self, parent: Path, include_failed: bool = False) -> list[str]:
        if not parent.is_dir():
            return []
        found = []
        for directory in parent.iterdir():
            if (directory / SUMMARY).is_file():
                summary = read_json(directory / SUMMARY)
                if include_failed or summary.get("status") == "ok":
                    found.append((summary.get("order", 0), directory.name))
        return [name for _, name in sorted(found)]

    def model_names(self, include_failed: bool = False) -> list[str]:
        return self._names(self.directory / "models", include_failed)

    def ensemble_names(self) -> list[str]:
        return self._names(self.directory / "ensembles")

    def entries(self) -> list[str]:
        return self.model_names() + self.ensemble_names()

    def summary(self, name: str) -> dict[str, Any]:
        return read_json(self.entry_dir(name) / SUMMARY)

    def decision(self, name: str) -> dict[str, Any]:
        """The entry's decision tuned on OOF, as ``metrics.apply_decision`` reads it (a bare threshold in old runs)."""
        summary = self.summary(name)
        return summary.get("decision") or {"threshold": summary["threshold"]}

    def oof(self, name: str) -> np.ndarray:
        return np.load(self.entry_dir(name) / "oof.npy")

    def test_proba(self, name: str) -> np.ndarray:
        return np.load(self.entry_dir(name) / "test.npy")

    def leaderboard(self) -> pd.DataFrame:
        """One row per model and ensemble, best CV score first; failed models stay listed."""
        metric = self.metric.name
        rows = []
        for name in self.model_names(include_failed=True) + self.ensemble_names():
            s = self.summary(name)
            rows.append({"model": name, "kind": s["kind"], f"cv_{metric}": s.get("cv_score"), f"cv_{metric}_std": s.get("cv_score_std"),
                         f"oof_{metric}_tuned": s.get("oof_score_tuned"), "threshold": s.get("threshold"),
                         "precision": s.get("precision"), "recall": s.get("recall"), "entity_f1": s.get("entity_f1"),
                         "features_s": s.get("features_s"), "fit_s": s.get("fit_s"), "predict_s": s.get("predict_s"),
                         "status": s["status"] if s["status"] == "ok" else s.get("error", "failed")})
        board = pd.DataFrame(rows)
        if board.empty:
            return board
        return board.sort_values(f"cv_{metric}", ascending=False, na_position="last", kind="stable").reset_index(drop=True)

    def write_leaderboard(self) -> pd.DataFrame:
        from kagglekit.runs import markdown_table

        board = self.leaderboard()
        with atomic_path(self.directory / "leaderboard.csv", suffix=".csv") as tmp:
            board.to_csv(tmp, index=False)
        write_text(self.directory / "leaderboard.md", markdown_table(board))
        return board

    def best(self, single: bool = False) -> str:
        """The top trained entry; ``single``: the best model (an ensemble has no model of its own to predict with)."""
        board = self.leaderboard()
        if not board.empty:
            board = board[(board["status"] == "ok") & ((board["kind"] == "model") if single else True)]
        if board.empty:
            raise ConfigError(f"run {self.name} has no trained model: train first with `kagglekit train {self.competition} --all`")
        return str(board["model"].iloc[0])

    def submission_path(self, name: str) -> Path:
        return self.directory / "submissions" / f"{name}.csv"

    def errors_path(self, name: str) -> Path:
        return self.directory / "errors" / f"{name}.csv"

    @property
    def report_path(self) -> Path:
        return self.directory / "report.html"

"""A run directory: persisted folds, per-model out-of-fold and test predictions, summaries, leaderboard.

Layout (all under ``runs/COMPETITION/RUN``)::

    manifest.json        competition facts, config, versions, device
    folds.csv            id, fold  (the one fold assignment every model of the run uses)
    y.npy                training targets as class indices, in train.csv order
    models/NAME/         fold{k}/ (saved model), fold{k}.json (metrics), fold{k}_val.npy, fold{k}_test.npy,
                         fold{k}_history.json, full/ (refit), oof.npy, test.npy, test_folds.npy, summary.json
    ensembles/NAME/      oof.npy, test.npy, summary.json
    leaderboard.csv/.md
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import ConfigError
from kagglekit.io import read_json

SUMMARY = "summary.json"


class Run:
    """Read access to one run directory; the training engine and the ensembler write into it."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def manifest(self) -> dict[str, Any]:
        return read_json(self.directory / "manifest.json")

    def model_dir(self, name: str) -> Path:
        return self.directory / "models" / name

    def ensemble_dir(self, name: str) -> Path:
        return self.directory / "ensembles" / name

    def _entry_dir(self, name: str) -> Path:
        for directory in (self.model_dir(name), self.ensemble_dir(name)):
            if (directory / SUMMARY).is_file():
                return directory
        raise ConfigError(f"run {self.name} has no model or ensemble {name!r}; it has: {', '.join(self.entries()) or 'none'}")

    def model_names(self, *, include_failed: bool = False) -> list[str]:
        """Models with a summary (trained, or failed when include_failed), in training order."""
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

    def stale_ensembles(self) -> list[str]:
        """Ensembles built before one of their members (of this run) was retrained, or whose member has failed."""
        stale = []
        for name in self.ensemble_names():
            built = (self.ensemble_dir(name) / SUMMARY).stat().st_mtime
            for member in self.summary(name).get("members", []):
                if ":" in member:  # a member of another run: that run's folds were checked when it was built
                    continue
                summary = self.model_dir(member) / SUMMARY
                if not summary.is_file() or summary.stat().st_mtime > built or read_json(summary).get("status") != "ok":
                    stale.append(name)
                    break
        return stale

    def summary(self, name: str) -> dict[str, Any]:
        return read_json(self._entry_dir(name) / SUMMARY)

    def oof(self, name: str) -> np.ndarray:
        """Out-of-fold class probabilities (n_train, n_classes) of a model or ensemble."""
        return np.load(self._entry_dir(name) / "oof.npy")

    def test_proba(self, name: str, source: str = "refit") -> np.ndarray:
        """Test probabilities from the full-data refit (``refit``) or the mean of the fold models (``folds``)."""
        filename = {"refit": "test.npy", "folds": "test_folds.npy"}.get(source)
        if filename is None:
            raise ConfigError(f"unknown test source {source!r}; use refit or folds")
        path = self._entry_dir(name) / filename
        if not path.is_file():
            raise ConfigError(f"{name} in run {self.name} has no {source} test predictions ({filename}): use --test-from refit")
        return np.load(path)

    def folds(self) -> pd.DataFrame:
        return pd.read_csv(self.directory / "folds.csv")

    @property
    def fold_index(self) -> np.ndarray:
        return self.folds()["fold"].to_numpy()

    @property
    def y(self) -> np.ndarray:
        return np.load(self.directory / "y.npy")


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


def submission_message(runs_dir: Path, name: str) -> str:
    """A default Kaggle submission description naming the model and its CV score, from the newest run that has it."""
    for run in reversed(list_runs(runs_dir)):
        if name in run.entries():
            summary = run.summary(name)
            return (f"kagglekit {name}: CV {summary['metric']} {summary['cv_score']:.4f}±{summary['cv_score_std']:.4f}, "
                    f"threshold {summary.get('threshold', 0.5):g} (run {run.name})")
    return f"kagglekit {name}"

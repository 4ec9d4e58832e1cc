"""The CV-vs-leaderboard ledger: every submission's cross-validation score beside its public and private score.

Winning write-ups trust the CV when it and the public leaderboard disagree (the public board scores a small
sample of the test set). Every ``submit`` (a file, or a kernel version of a code competition) appends one row to
``submissions/COMPETITION/ledger.csv``: the submission's ref, file or kernel, the run and model or ensemble that
made it, their CV score and metric, and the time. :func:`leaderboard_table` joins those rows with the scores
Kaggle reports; :func:`plot_cv_vs_public` draws one against the other, for the CLI and the HTML report.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kagglekit.config import Workspace
from kagglekit.errors import DataError
from kagglekit.io import atomic_path, read_json
from kagglekit.runs import record_path

if TYPE_CHECKING:
    from kagglekit.kaggle.competitions import SubmissionStatus

LEDGER_FILE = "ledger.csv"
PLOT_FILE = "cv-vs-public.png"
COLUMNS = ["ref", "time", "kind", "file", "kernel", "kernel_version", "run", "model", "metric", "cv_score",
           "cv_score_std", "description"]


def ledger_path(competition: str, workspace: Workspace | None = None) -> Path:
    return (workspace or Workspace.current()).submissions_dir(competition) / LEDGER_FILE


def read_ledger(competition: str, workspace: Workspace | None = None) -> pd.DataFrame:
    """Every submission recorded here for ``competition``, oldest first (an empty frame with COLUMNS when none)."""
    path = ledger_path(competition, workspace)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    try:
        frame = pd.read_csv(path, dtype={"ref": "int64", "kernel_version": "Int64", "cv_score": "float64", "cv_score_std": "float64"})
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(f"{path} is not a readable ledger ({e}): fix or delete it; Kaggle keeps the submissions") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path} is not a readable ledger (no column {', '.join(missing)}): fix or delete it")
    text = [c for c in COLUMNS if c not in ("ref", "kernel_version", "cv_score", "cv_score_std")]
    frame[text] = frame[text].fillna("").astype(str)
    return frame


def record(competition: str, ref: int, *, description: str, provenance: dict[str, Any], kind: str, file: str = "",
           kernel: str = "", kernel_version: int | None = None, workspace: Workspace | None = None) -> Path:
    """Append submission ``ref``; ``provenance`` is the record of what made it (run, model, metric, cv_score,
    cv_score_std), {} when unknown. Written atomically: the ledger is whole before and after."""
    row = {
        "ref": int(ref), "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kind": kind,
        "file": file, "kernel": kernel, "kernel_version": kernel_version, "run": provenance.get("run", ""),
        "model": provenance.get("model", ""), "metric": provenance.get("metric", ""),
        "cv_score": provenance.get("cv_score"), "cv_score_std": provenance.get("cv_score_std"),
        "description": description,
    }
    path = ledger_path(competition, workspace)
    ledger = read_ledger(competition, workspace)
    ledger = ledger[ledger["ref"] != row["ref"]]  # a submission is recorded once
    frame = pd.concat([ledger, pd.DataFrame([row])], ignore_index=True) if len(ledger) else pd.DataFrame([row], columns=COLUMNS)
    with atomic_path(path, suffix=".csv") as tmp:
        frame[COLUMNS].to_csv(tmp, index=False)
    return path


def file_provenance(path: Path) -> dict[str, Any]:
    """The run, model and CV score recorded beside a submission file by the run that wrote it ({} for other files)."""
    record_file = record_path(Path(path))
    return read_json(record_file) if record_file.is_file() else {}


def leaderboard_table(ledger: pd.DataFrame, submissions: list[SubmissionStatus]) -> pd.DataFrame:
    """One row per submission Kaggle lists, newest first: its ledger row (CV) beside its public and private score."""
    scores = pd.DataFrame([{
        "ref": s.ref, "date": s.date, "status": s.status, "public_score": s.public_score, "private_score": s.private_score,
        "server_file": s.file_name or "", "server_description": s.description or "",
    } for s in submissions], columns=["ref", "date", "status", "public_score", "private_score", "server_file", "server_description"])
    table = scores.merge(ledger.drop(columns=["description"]), on="ref", how="left")
    table["file"] = table["file"].fillna("").where(table["file"].fillna("") != "", table["server_file"])
    return table


def rank_disagreements(table: pd.DataFrame, *, greater_is_better: bool = True) -> pd.DataFrame:
    """The scored submissions with a CV score whose rank by public score is not their rank by CV score."""
    scored = table.dropna(subset=["cv_score", "public_score"]).copy()
    if scored.empty:
        return scored.assign(cv_rank=pd.Series(dtype=int), public_rank=pd.Series(dtype=int))
    scored["cv_rank"] = scored["cv_score"].rank(ascending=not greater_is_better, method="min").astype(int)
    scored["public_rank"] = scored["public_score"].rank(ascending=not greater_is_better, method="min").astype(int)
    return scored[scored["cv_rank"] != scored["public_rank"]].sort_values("cv_rank")


def correlation(table: pd.DataFrame) -> float | None:
    """Pearson correlation of CV and public score over the scored submissions; None below 3 of them or without spread."""
    scored = table.dropna(subset=["cv_score", "public_score"])
    if len(scored) < 3 or scored["cv_score"].nunique() < 2 or scored["public_score"].nunique() < 2:
        return None
    return float(np.corrcoef(scored["cv_score"].astype(float), scored["public_score"].astype(float))[0, 1])


def plot_cv_vs_public(table: pd.DataFrame, path: Path, *, metric: str = "", greater_is_better: bool = True) -> Path:
    """Draw CV score against public score (one labelled point per submission, its correlation in the title) into a PNG.

    ``table`` is :func:`leaderboard_table`'s frame; submissions whose ranks disagree are drawn in red.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = table.dropna(subset=["cv_score", "public_score"])
    if scored.empty:
        raise DataError("no submission has both a CV score and a public score yet: submit run files "
                        "(submissions/COMPETITION/*.csv) and wait for Kaggle to score them")
    disagree = set(rank_disagreements(table, greater_is_better=greater_is_better)["ref"])
    fig, ax = plt.subplots(figsize=(6, 5))
    colours = ["tab:red" if ref in disagree else "tab:blue" for ref in scored["ref"]]
    ax.scatter(scored["cv_score"].astype(float), scored["public_score"].astype(float), c=colours)
    for _, row in scored.iterrows():
        ax.annotate(str(row["model"] or row["ref"]), (float(row["cv_score"]), float(row["public_score"])),
                    fontsize=8, xytext=(3, 3), textcoords="offset points")
    r = correlation(table)
    ax.set_xlabel(f"CV {metric}".strip())
    ax.set_ylabel(f"public leaderboard {metric}".strip())
    ax.set_title(f"CV vs public score (r = {r:.2f})" if r is not None else "CV vs public score")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path

"""A run's submission files, each with a record of where it came from.

``submissions/COMPETITION/NAME.csv`` is rewritten by every run of the competition, so each file gets a
record beside it (NAME.json: run, model, metric, CV score, decision) and the run keeps its own copy under
``RUN/submissions/``. ``submit`` reads the record to credit the run that really made the file.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kagglekit.data import Competition
from kagglekit.io import write_json
from kagglekit.runs import Run, record_path
from kagglekit.submission import write_submission


def write_run_submission(run: Run, competition: Competition, shared_dir: Path, name: str, summary: dict[str, Any],
                         test_pred: np.ndarray) -> Path:
    """Write ``name``'s submission into the run and into ``shared_dir``, each with its provenance record."""
    decision = summary.get("decision", {"threshold": summary.get("threshold", 0.5)})
    record = {
        "run": run.name, "run_dir": str(run.directory), "model": summary.get("name", name), "metric": summary["metric"],
        "cv_score": summary["cv_score"], "cv_score_std": summary["cv_score_std"], "decision": decision,
        "test_from": summary.get("test_from", "refit"),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    shared = Path(shared_dir) / f"{name}.csv"
    for path in (run.submission_path(name), shared):
        write_submission(competition, test_pred, path, decision)
        write_json(record_path(path), record)
    return shared

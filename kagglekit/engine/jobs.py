"""One unit of work: fit one model on one fold (or on all rows), predict, and save through the Run.

A Job is a plain, picklable description. Whoever runs it (this process, a worker process, a Ray task on
another node) reloads the competition from its folder and writes into the same run folder, so nothing but
the description and a small record travels between processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from kagglekit.runs import Run


@dataclass(frozen=True)
class Job:
    """Fit ``model`` on fold ``fold``'s training part (or, with ``fold`` None, on every training row)."""

    run_dir: str
    model: str
    fold: int | None
    params: dict[str, Any]
    competition: dict[str, Any] = field(default_factory=dict)  # load_competition's arguments
    resources: dict[str, float] = field(default_factory=dict)  # e.g. {"cpus": 1, "gpus": 0}

    @property
    def label(self) -> str:
        return f"{self.model} {'refit' if self.fold is None else f'fold {self.fold + 1}'}"

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.model, self.fold)


def run_job(job: Job) -> dict[str, Any]:
    """Run one job and write its artifacts; returns the job's record (also saved in the run)."""
    from kagglekit.data import load_competition
    from kagglekit.metrics import evaluate
    from kagglekit.models import get_model

    competition = load_competition(**job.competition)
    run = Run(job.run_dir)
    texts, y, test_texts = competition.train_inputs, competition.y, competition.test_inputs
    model = get_model(job.model, **job.params)
    if job.fold is None:
        model.fit(texts, y, task=competition.task_spec)
        start = time.perf_counter()
        test_pred = model.predict(test_texts)
        predict_s = time.perf_counter() - start
        model.save(run.fold_model_dir(job.model, None))
        record = {"fit_s": model.fit_seconds_, "predict_ms_per_row": 1000 * predict_s / max(1, len(test_texts)),
                  "params": jsonable_params(job.params)}
        run.save_refit(job.model, test_pred, record)
        return record
    val = run.fold_index == job.fold
    model.fit(texts[~val], y[~val], val=(texts[val], y[val]), task=competition.task_spec)
    start = time.perf_counter()
    val_pred = model.predict(texts[val])
    predict_s = time.perf_counter() - start
    test_pred = model.predict(test_texts)
    model.save(run.fold_model_dir(job.model, job.fold))
    record = {
        "fold": job.fold,
        "n_train": int((~val).sum()),
        "n_val": int(val.sum()),
        "fit_s": model.fit_seconds_,
        "predict_ms_per_row": 1000 * predict_s / max(1, int(val.sum())),
        "refit_params": model.refit_params(),
        **evaluate(y[val], val_pred, competition.metric, competition.task),
    }
    run.save_fold(job.model, job.fold, val_pred, test_pred, getattr(model, "history_", None), record)
    return record


def jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON records them (a path as its text), so a stored record compares equal to a fresh one."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}


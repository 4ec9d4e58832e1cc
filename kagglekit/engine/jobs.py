"""One unit of work: fit one model on one fold (or on all rows), predict, and save through the Run.

A Job is a plain, picklable description. Whoever runs it (this process, a worker process, a Ray task on
another node) reloads the competition from its folder (once per process while its files are unchanged) and writes
into the same run folder, so nothing but the description and a small record travels between processes.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.data import Competition
from kagglekit.inputs import Inputs
from kagglekit.runs import Run


@dataclass(frozen=True)
class Job:
    """Fit ``model`` on fold ``fold``'s training part (or, with ``fold`` None, on every training row), as seed index
    ``seed`` of run entry ``entry`` (default: the model's name; ``NAME+pl`` for the pseudo-label round, whose training
    part also holds the run's pseudo-labelled test rows of that fold)."""

    run_dir: str
    model: str
    fold: int | None
    params: dict[str, Any]
    competition: dict[str, Any] = field(default_factory=dict)  # load_competition's arguments
    resources: dict[str, float] = field(default_factory=dict)  # e.g. {"cpus": 1, "gpus": 0}
    seed: int = 0  # seed index s: the model's seed is the run's seed + 1000 * s (+ the fold)
    entry: str = ""  # the run entry it trains; "" for the model itself
    pseudo: bool = False  # add the run's pseudo-labels of this fold (or of the refit) to the training rows

    @property
    def name(self) -> str:
        """The run entry whose files this job writes."""
        return self.entry or self.model

    @property
    def label(self) -> str:
        seed = f" seed {self.seed + 1}" if self.seed else ""
        return f"{self.name}{seed} {'refit' if self.fold is None else f'fold {self.fold + 1}'}"

    @property
    def key(self) -> tuple[str, int, int | None]:
        return (self.name, self.seed, self.fold)


def run_job(job: Job) -> dict[str, Any]:
    """Run one job and write its artifacts; returns the job's record (also saved in the run).

    A pseudo-label job trains on the fold's training rows plus test rows (``Run.pseudo_labels``); its validation
    rows are the fold's original rows only, so they are never trained on.
    """
    from kagglekit.metrics import evaluate
    from kagglekit.models import get_model

    competition = job_competition(job.competition)
    run = Run(job.run_dir)
    texts, y, test_texts = competition.train_inputs, competition.y, competition.test_inputs
    model = competition.shape.wrap_model(get_model(job.model, **job.params))
    seeded = {"seed": job.params["seed"]} if "seed" in job.params else {}
    train = np.ones(len(y), dtype=bool) if job.fold is None else run.fold_index != job.fold
    train_x, train_y = texts[train], y[train]
    pseudo: dict[str, Any] = {}
    if job.pseudo:
        rows, targets = run.pseudo_labels(job.fold)
        train_x = Inputs(pd.concat([train_x.frame, test_texts[rows].frame], ignore_index=True), train_x.schema)
        train_y = np.concatenate([train_y, targets.astype(train_y.dtype)])
        pseudo = {"n_pseudo": len(rows)}
    if job.fold is None:
        model.fit(train_x, train_y, task=competition.task_spec)
        start = time.perf_counter()
        test_pred = model.predict(test_texts)
        predict_s = time.perf_counter() - start
        model.save(run.fold_model_dir(job.name, None, job.seed))
        model.release()  # its compiled network serves the next job of this shape in this process
        record = {"fit_s": model.fit_seconds_, "predict_ms_per_row": 1000 * predict_s / max(1, len(test_texts)),
                  "params": jsonable_params(job.params), **pseudo}
        run.save_refit(job.name, test_pred, record, job.seed)
        return record
    val = ~train
    model.fit(train_x, train_y, val=(texts[val], y[val]), task=competition.task_spec)
    start = time.perf_counter()
    val_pred = model.predict(texts[val])
    predict_s = time.perf_counter() - start
    test_pred = model.predict(test_texts)
    model.save(run.fold_model_dir(job.name, job.fold, job.seed))
    model.release()
    record = {
        "fold": job.fold,
        **seeded,
        "n_train": int(train.sum()),
        "n_val": int(val.sum()),
        **pseudo,
        "fit_s": model.fit_seconds_,
        "predict_ms_per_row": 1000 * predict_s / max(1, int(val.sum())),
        "refit_params": model.refit_params(),
        **evaluate(y[val], val_pred, competition.metric, competition.shape),
    }
    run.save_fold(job.name, job.fold, val_pred, test_pred, getattr(model, "history_", None), record, job.seed)
    return record


def job_competition(arguments: dict[str, Any]) -> Competition:
    """The competition of a job's ``load_competition`` arguments, loaded once per process while its folder's files
    keep their size and modification time (a run's jobs share it: reading, checking and inferring took 0.1 s a job)."""
    directory = Path(arguments["directory"])
    stamps = tuple(sorted((entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                          for entry in os.scandir(directory) if entry.is_file())) if directory.is_dir() else ()
    return _load_competition(json.dumps(arguments, sort_keys=True, default=str), stamps)


@functools.lru_cache(maxsize=2)
def _load_competition(arguments: str, stamps: tuple) -> Competition:
    from kagglekit.data import load_competition

    return load_competition(**json.loads(arguments))


def release_process_caches() -> None:
    """Drop what this process kept for the jobs of a run (compiled networks, the competition) once the run is over."""
    from kagglekit.models.compiled import NETWORKS

    NETWORKS.clear()
    _load_competition.cache_clear()


def jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON records them (a path as its text), so a stored record compares equal to a fresh one."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}

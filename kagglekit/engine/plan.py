"""The plan of a run: which jobs remain, in what order, and what to do when a model's last job is done."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import numpy as np

from kagglekit.data import Competition
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import Listener, ModelFailed, ModelFinished, Note
from kagglekit.engine.jobs import Job, jsonable_params
from kagglekit.metrics import cv_scores, report_columns
from kagglekit.models import available_models, get_model_class, refit_job_params, run_params
from kagglekit.outputs import write_run_submission
from kagglekit.runs import Run


class JobPlan:
    """The run's jobs and their order: each model's missing folds, then its refit once its folds are done.

    Backends pull ready jobs and report results; when a model's last job is done the plan summarises it
    and writes its submission, in the driver, so only the driver writes summaries and submission files.
    """

    def __init__(self, config: TrainConfig, competition: Competition, run: Run, models: list[str], emit: Listener):
        self.config, self.competition, self.run, self.emit = config, competition, run, emit
        self.order = {name: i for i, name in enumerate(available_models())}
        self.failures: dict[str, str] = {}
        self.params: dict[str, dict[str, Any]] = {}
        self._unprepared: dict[str, str] = {}  # models whose parameters could not be prepared (e.g. no checkpoint)
        for name in models:
            try:
                self.params[name] = self._model_params(name)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one model that cannot start must not stop the others
                self._unprepared[name] = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        models = [m for m in models if m in self.params]
        self.submissions: dict[str, Path] = {}
        self._queue: list[Job] = []
        self._open: dict[str, set[int | None]] = {}  # jobs of a model not finished yet
        self.total_jobs = self.done_jobs = 0
        n = config.folds
        for name in models:
            full_refit = get_model_class(name).tags.full_refit
            folds = [k for k in range(n) if not run.fold_done(name, k)]
            refit = full_refit and not run.refit_done(name)
            self._queue += [self._job(name, k) for k in folds]
            self._open[name] = set(folds) | ({None} if refit else set())
            self.total_jobs += n + (1 if full_refit else 0)
            self.done_jobs += (n - len(folds)) + (1 if full_refit and not refit else 0)
        self._resumed = [name for name in models if self._open[name] == {None}]  # only the refit left

    def _model_params(self, name: str) -> dict[str, Any]:
        """The model's parameters after its hook pinned what must hold for every fold; a change retrains it."""
        pinned = run_params(name, self.config.params_for(name), self.competition.train_inputs)
        if pinned.chosen:
            self.emit(Note(f"{name}: " + ", ".join(f"{k}={v}" for k, v in pinned.chosen.items()) + " (chosen from the data)"))
        stored = self.run.stored_params(name)
        if stored != pinned.recorded:
            if stored is not None:
                self.emit(Note(f"{name}: parameters changed since the last run, retraining it"))
            self.run.reset_model(name, pinned.recorded)
        return pinned.params

    def _job(self, name: str, fold: int | None, params: dict[str, Any] | None = None) -> Job:
        cls = get_model_class(name)
        tensorboard = str(self.config.tensorboard_dir) if self.config.tensorboard_dir else None
        return Job(str(self.run.directory), name, fold,
                   cls.job_params(params or self.params[name], fold, tensorboard_dir=tensorboard),
                   self.config.competition_args(), dict(cls.tags.resources))

    def _refit_job(self, name: str) -> Job:
        hints = [self.run.fold_record(name, k).get("refit_params", {}) for k in range(self.config.folds)]
        return self._job(name, None, refit_job_params(self.params[name], hints))

    def start(self) -> None:
        """Fail the models that could not start; queue the refit of models whose folds an earlier run finished,
        or finish them when nothing is left."""
        for name, error in self._unprepared.items():
            self._fail(name, error, "before its first fold")
        for name in self._resumed:
            self._queue.append(self._refit_job(name))
        for name in [name for name, open_jobs in self._open.items() if not open_jobs]:
            self._finish(name)

    # --- the backend's side ---------------------------------------------------------------------------

    def ready(self) -> list[Job]:
        jobs, self._queue = self._queue, []
        return jobs

    def done(self, job: Job, record: dict[str, Any]) -> None:
        open_jobs = self._open.get(job.model)
        if open_jobs is None or job.model in self.failures:
            return
        open_jobs.discard(job.fold)
        if open_jobs == {None}:  # the folds are done: the refit takes the median of their hints
            self._queue.append(self._refit_job(job.model))
        elif not open_jobs:
            self._finish(job.model)

    def failed(self, job: Job, error: str) -> None:
        self._fail(job.model, error, job.label)

    def _fail(self, name: str, error: str, where: str) -> None:
        if name in self.failures:
            return
        self.failures[name] = error
        self._queue = [j for j in self._queue if j.model != name]
        self._open.pop(name, None)
        self.run.write_summary(name, {
            "name": name, "kind": "model", "order": self.order.get(name, len(self.order)), "status": "failed",
            "metric": self.competition.metric.name, "error": error.splitlines()[0], "traceback": error, "failed_at": where,
        })
        self.emit(ModelFailed(name, error.splitlines()[0], where))

    # --- a model whose jobs are all done ---------------------------------------------------------------

    def _finish(self, name: str) -> None:
        self._open.pop(name, None)
        try:
            summary = self._summarize(name)
            self.run.write_summary(name, summary)
            self.submissions[name] = write_run_submission(self.run, self.competition,
                                                          self.config.workspace.submissions_dir(self.competition.name),
                                                          name, summary, self.run.test_proba(name))
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a model whose artifacts cannot be summarised fails alone
            self._fail(name, f"{type(e).__name__}: {e}\n{traceback.format_exc()}", "summarising its folds")
            return
        self.emit(ModelFinished(name, summary))

    def _summarize(self, name: str) -> dict[str, Any]:
        run, competition, n = self.run, self.competition, self.config.folds
        fold_index, y = run.fold_index, competition.y
        records = [run.fold_record(name, k) for k in range(n)]
        oof = None
        for k in range(n):
            val_pred = run.fold_val(name, k)
            if oof is None:
                oof = np.zeros((len(y), val_pred.shape[1]))
            oof[fold_index == k] = val_pred
        test_folds = np.mean([run.fold_test(name, k) for k in range(n)], axis=0)
        run.save_model_predictions(name, oof, test_folds)
        refit = run.refit_record(name) if get_model_class(name).tags.full_refit else None
        columns = [c for c in report_columns(competition.task) if all(c in r for r in records)]
        return {
            "name": name,
            "kind": "model",
            "order": self.order.get(name, len(self.order)),
            "status": "ok",
            "metric": competition.metric.name,
            "task": competition.task,
            **cv_scores(competition.metric, y, oof, fold_index, competition.task),
            **{c: float(np.mean([r[c] for r in records])) for c in columns},
            "fit_s": float(sum(r["fit_s"] for r in records)),
            "refit_s": refit["fit_s"] if refit else None,
            "predict_ms_per_row": refit["predict_ms_per_row"] if refit else float(np.mean([r["predict_ms_per_row"] for r in records])),
            "test_from": "refit" if refit else "folds",
            "params": jsonable_params(self.params[name]),
            "refit_params": refit["params"] if refit else None,
        }


"""The plan of a run: which jobs remain, in what order, and what to do when a model's last job is done.

A job is (entry, seed, fold) or (entry, seed, refit). An entry is a model of the registry trained in this run,
or its pseudo-label round ``NAME+pl`` (``kagglekit.engine.pseudo``). With ``--seeds N`` every entry is trained
N times on the same folds (once when its fit does not depend on the seed: ``ModelTags.seeded``); its out-of-fold
and test predictions are the mean over seeds. Under a deadline
(``--time-limit``) the plan keeps the entries that fit, cheap ones first, and hands out no job that would end
past it: a model whose folds are done but whose refit would not fit gives its fold models' mean test predictions.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from kagglekit.data import Competition
from kagglekit.engine.budget import CHEAP_FIRST, PROBE_SHARE, job_seconds
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import Listener, ModelFailed, ModelFinished, Note
from kagglekit.engine.jobs import Job, jsonable_params
from kagglekit.metrics import cv_scores
from kagglekit.models import (
    available_models,
    get_model_class,
    refit_job_params,
    run_params,
)
from kagglekit.outputs import write_run_submission
from kagglekit.runs import NOT_RUN, Run

PSEUDO_SUFFIX = "+pl"
SEED_STRIDE = 1000  # seed index s of fold k trains with seed + 1000 * s + k: distinct while folds < 1000


def model_seed(base: int, seed_index: int) -> int:
    """The model seed of seed index ``seed_index`` before the fold is added (the models' ``job_params`` add it)."""
    return base + SEED_STRIDE * seed_index


class JobPlan:
    """The run's jobs and their order: each entry's missing folds, then a seed's refit once its folds are done.

    Backends pull ready jobs and report results; when an entry's last job is done the plan summarises it
    and writes its submission, in the driver, so only the driver writes summaries and submission files.

    ``pseudo``: this is the pseudo-label round: each model trains as entry ``NAME+pl`` with the run's pseudo-labels
    (``pseudo`` is their fingerprint, recorded with the entry's parameters so new labels retrain it).
    ``deadline``: a ``time.monotonic()`` time after which no job may end.
    """

    def __init__(self, config: TrainConfig, competition: Competition, run: Run, models: list[str], emit: Listener, *,
                 pseudo: str | None = None, deadline: float | None = None):
        self.config, self.competition, self.run, self.emit = config, competition, run, emit
        self.pseudo, self.deadline = pseudo, deadline
        self.order = {name: i for i, name in enumerate(available_models())}
        self.model_of = {(f"{m}{PSEUDO_SUFFIX}" if pseudo else m): m for m in models}
        self.failures: dict[str, str] = {}
        self.not_run: dict[str, str] = {}
        self.params: dict[str, dict[str, Any]] = {}
        self._unprepared: dict[str, str] = {}  # entries whose parameters could not be prepared (e.g. no checkpoint)
        for entry in self.model_of:
            try:
                self.params[entry] = self._model_params(entry)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one model that cannot start must not stop the others
                self._unprepared[entry] = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        entries = [e for e in self.model_of if e in self.params]
        self.submissions: dict[str, Path] = {}
        self._queue: list[Job] = []
        self._open: dict[str, set[tuple[int, int | None]]] = {}  # (seed, fold) jobs of an entry not finished yet; fold None: refit
        self.refit: dict[str, bool] = {}  # whether the entry's test predictions come from its refits
        self.costs: dict[str, float] = {}  # estimated seconds of one job of the entry (under a deadline)
        self._refits_queued: set[tuple[str, int]] = set()
        n = config.folds
        tags = {entry: get_model_class(self.model_of[entry]).tags for entry in entries}
        self.seeds = {entry: config.seeds if tags[entry].seeded else 1 for entry in entries}
        once = [entry for entry in entries if self.seeds[entry] < config.seeds]
        if once and not pseudo:
            emit(Note(f"--seeds {config.seeds}: {', '.join(once)} train{'s' if len(once) == 1 else ''} once "
                      "(the seed does not change their fits)"))
        self._held: dict[str, list[Job]] = {}  # jobs of an entry that wait for its first job (``fills_cache``)
        first_jobs: list[Job] = []
        for entry in entries:
            full_refit, seeds = tags[entry].full_refit, self.seeds[entry]
            folds = [(s, k) for s in range(seeds) for k in range(n) if not run.fold_done(entry, k, s)]
            refits = [(s, None) for s in range(seeds) if full_refit and not run.refit_done(entry, s)]
            jobs = [self._job(entry, k, s) for s, k in folds]
            if tags[entry].fills_cache and len(jobs) > 1:
                first_jobs.insert(0, jobs[0])  # the last registered (embed: the costliest encoder) first
                self._held[entry] = jobs[1:]
            else:
                self._queue += jobs
            self._open[entry] = set(folds) | set(refits)
            self.refit[entry] = full_refit
        self._queue = first_jobs + self._queue
        if deadline is not None:
            self._fit_to_deadline(entries)
        self.total_jobs = sum(self.seeds[e] * (n + (1 if self.refit[e] else 0)) for e in self._open)
        self.done_jobs = self.total_jobs - sum(len(open_jobs) for open_jobs in self._open.values())

    def _model_params(self, entry: str) -> dict[str, Any]:
        """The model's parameters after its hook pinned what must hold for every fold; a change retrains it."""
        name = self.model_of[entry]
        pinned = run_params(name, self.config.params_for(name), self.competition.train_inputs)
        if pinned.chosen and not self.pseudo:
            self.emit(Note(f"{name}: " + ", ".join(f"{k}={v}" for k, v in pinned.chosen.items()) + " (chosen from the data)"))
        recorded = {**pinned.recorded, "pseudo_labels": self.pseudo} if self.pseudo else pinned.recorded
        stored = self.run.stored_params(entry)
        if stored != recorded:
            if stored is not None:
                what = "its pseudo-labels or parameters" if self.pseudo else "parameters"
                self.emit(Note(f"{entry}: {what} changed since the last run, retraining it"))
            self.run.reset_model(entry, recorded)
        return pinned.params

    def _job(self, entry: str, fold: int | None, seed: int, params: dict[str, Any] | None = None) -> Job:
        name = self.model_of[entry]
        cls = get_model_class(name)
        tensorboard = str(self.config.tensorboard_dir) if self.config.tensorboard_dir else None
        params = dict(params or self.params[entry])
        if "seed" in params:
            params["seed"] = model_seed(params["seed"], seed)
        return Job(str(self.run.directory), name, fold, cls.job_params(params, fold, tensorboard_dir=tensorboard),
                   self.config.competition_args(), dict(cls.tags.resources), seed=seed,
                   entry=entry if entry != name else "", pseudo=self.pseudo is not None)

    def _refit_job(self, entry: str, seed: int) -> Job:
        hints = [self.run.fold_record(entry, k, seed).get("refit_params", {}) for k in range(self.config.folds)]
        return self._job(entry, None, seed, refit_job_params(self.params[entry], hints))

    def _queue_ready_refits(self, entry: str) -> None:
        """Queue, first in line, the refit of each seed whose folds are all done, so a model completes before the next."""
        open_jobs = self._open.get(entry, set())
        for seed in sorted({s for s, k in open_jobs if k is None} - {s for s, k in open_jobs if k is not None}):
            if (entry, seed) not in self._refits_queued:
                self._refits_queued.add((entry, seed))
                self._queue.insert(0, self._refit_job(entry, seed))

    def start(self) -> None:
        """Fail the entries that could not start; queue the refits whose folds an earlier run finished, and finish
        the entries with nothing left to do."""
        for entry, error in self._unprepared.items():
            self._fail(entry, error, "before its first fold")
        for entry in list(self._open):
            self._queue_ready_refits(entry)
        for entry in [entry for entry, open_jobs in self._open.items() if not open_jobs]:
            self._finish(entry)

    # --- a deadline ---------------------------------------------------------------------------------------

    def _fit_to_deadline(self, entries: list[str]) -> None:
        """Keep the entries whose remaining jobs fit before the deadline, cheap ones first (the baseline and tfidf_lr
        lead); an entry whose folds fit but not its refits gives fold-averaged test predictions; the rest do not run."""
        assert self.deadline is not None
        probing_ends = time.monotonic() + PROBE_SHARE * (self.config.time_limit or 0.0)
        cheap_first = sorted(entries, key=lambda e: (CHEAP_FIRST.index(self.model_of[e]) if self.model_of[e] in CHEAP_FIRST
                                                     else len(CHEAP_FIRST), self.order.get(self.model_of[e], len(self.order))))
        for entry in cheap_first:
            if not self._open[entry]:
                continue
            if time.monotonic() > probing_ends:  # measuring every model's cost must not eat the limit
                self._stop(entry, f"--time-limit leaves {entry} out: no time was left to measure its cost (measuring may "
                                  f"take {PROBE_SHARE:.0%} of the limit; an earlier run of it on this machine needs none)")
                continue
            self.costs[entry] = job_seconds(self.config, self.competition, self.run, self.model_of[entry],
                                            self.params[entry], self.emit)
        entries = [e for e in entries if e in self._open]

        def jobs_cost(entry: str, refits: bool) -> float:
            return self.costs.get(entry, 0.0) * sum(1 for _, k in self._open[entry] if refits or k is not None)

        def rank(entry: str) -> tuple[int, float]:
            model = self.model_of[entry]
            return (CHEAP_FIRST.index(model) if model in CHEAP_FIRST else len(CHEAP_FIRST), jobs_cost(entry, True))

        capacity = max(0.0, self.deadline - time.monotonic()) * self.config.jobs  # jobs run side by side
        used = 0.0
        kept = []
        for entry in sorted(entries, key=rank):
            whole, folds = jobs_cost(entry, True), jobs_cost(entry, False)
            if used + whole <= capacity:
                used += whole
            elif used + folds <= capacity:
                used += folds
                self._skip_refits(entry, f"its refit{'s' if self.seeds[entry] > 1 else ''} (about {whole - folds:.0f}s) "
                                         f"would not fit the time limit")
            else:
                self._stop(entry, f"--time-limit leaves {entry} out: its {len(self._open[entry])} job(s) need about "
                                  f"{whole:.0f}s, and {max(0.0, capacity - used):.0f}s of the limit are left")
                continue
            kept.append(entry)
        self._queue.sort(key=lambda job: kept.index(job.name) if job.name in kept else len(kept))
        if kept:
            self.emit(Note("--time-limit plan: " + ", ".join(f"{e} ~{jobs_cost(e, self.refit[e]):.0f}s" for e in kept)
                           + f" of {capacity:.0f}s"))

    def _skip_refits(self, entry: str, why: str) -> None:
        """Give the entry the mean of its fold models' test predictions instead of refits."""
        if not self.refit.get(entry):
            return
        self.refit[entry] = False
        self._queue = [j for j in self._queue if not (j.name == entry and j.fold is None)]
        open_jobs = self._open.get(entry)
        if open_jobs is not None:
            open_jobs -= {(s, k) for s, k in open_jobs if k is None}
        self.emit(Note(f"{entry}: test predictions from its fold models: {why}"))

    def _stop(self, entry: str, why: str) -> None:
        """Leave an entry out (its jobs would end past the deadline): reported as not run, never half-summarised."""
        if entry in self.not_run or entry in self.failures:
            return
        self.not_run[entry] = why
        self._queue = [j for j in self._queue if j.name != entry]
        self._held.pop(entry, None)
        self._open.pop(entry, None)
        self.run.write_summary(entry, {
            "name": entry, "kind": "model", "order": self._order(entry), "status": NOT_RUN,
            "metric": self.competition.metric.name, "error": f"{NOT_RUN}: {why}",
        })
        self.emit(Note(why))

    def _fits(self, job: Job) -> bool:
        return self.deadline is None or time.monotonic() + self.costs.get(job.name, 0.0) <= self.deadline

    # --- the backend's side ---------------------------------------------------------------------------

    def ready(self, max_jobs: int | None = None) -> list[Job]:
        """Up to ``max_jobs`` jobs to start now (all when None); under a deadline, only jobs that end before it."""
        jobs: list[Job] = []
        while self._queue and (max_jobs is None or len(jobs) < max_jobs):
            job = self._queue.pop(0)
            if self._fits(job):
                jobs.append(job)
            elif job.fold is None:
                self._skip_refits(job.name, "the time limit is near")
                if not self._open.get(job.name):
                    self._finish(job.name)
            else:
                self._stop(job.name, f"--time-limit stopped {job.name} before {job.label}: its jobs would end past the limit")
        return jobs

    def done(self, job: Job, record: dict[str, Any]) -> None:
        open_jobs = self._open.get(job.name)
        if open_jobs is None or job.name in self.failures:
            return
        open_jobs.discard((job.seed, job.fold))
        if not open_jobs:
            self._finish(job.name)
        else:
            self._queue = self._held.pop(job.name, []) + self._queue  # its cache is filled: the rest are quick
            self._queue_ready_refits(job.name)  # the refit of a seed takes the median of its folds' hints

    def failed(self, job: Job, error: str) -> None:
        self._fail(job.name, error, job.label)

    def _order(self, entry: str) -> float:
        """Registry order; a pseudo-label round right after its model."""
        base = self.order.get(self.model_of.get(entry, entry), len(self.order))
        return base + 0.5 if entry.endswith(PSEUDO_SUFFIX) else base

    def _fail(self, entry: str, error: str, where: str) -> None:
        if entry in self.failures:
            return
        self.failures[entry] = error
        self._queue = [j for j in self._queue if j.name != entry]
        self._held.pop(entry, None)
        self._open.pop(entry, None)
        self.run.write_summary(entry, {
            "name": entry, "kind": "model", "order": self._order(entry), "status": "failed",
            "metric": self.competition.metric.name, "error": error.splitlines()[0], "traceback": error, "failed_at": where,
        })
        self.emit(ModelFailed(entry, error.splitlines()[0], where))

    # --- an entry whose jobs are all done ----------------------------------------------------------------

    def _finish(self, entry: str) -> None:
        self._open.pop(entry, None)
        try:
            summary = self._summarize(entry)
            self.run.write_summary(entry, summary)
            self.submissions[entry] = write_run_submission(self.run, self.competition,
                                                           self.config.workspace.submissions_dir(self.competition.name),
                                                           entry, summary, self.run.test_proba(entry))
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a model whose artifacts cannot be summarised fails alone
            self._fail(entry, f"{type(e).__name__}: {e}\n{traceback.format_exc()}", "summarising its folds")
            return
        self.emit(ModelFinished(entry, summary))

    def _summarize(self, entry: str) -> dict[str, Any]:
        """Scores of the seed-averaged out-of-fold predictions, and with several seeds the spread of each seed's score."""
        run, competition, n, seeds = self.run, self.competition, self.config.folds, self.seeds[entry]
        fold_index, y, metric = run.fold_index, competition.y, competition.metric
        records = [run.fold_record(entry, k, s) for s in range(seeds) for k in range(n)]
        oofs = []
        for s in range(seeds):
            oof = None
            for k in range(n):
                val_pred = run.fold_val(entry, k, s)
                if oof is None:  # in the models' precision: a catalogue's float32 (rows x items) stays half the size
                    oof = np.zeros((len(y), val_pred.shape[1]), dtype=np.result_type(val_pred.dtype, np.float32))
                oof[fold_index == k] = val_pred
            oofs.append(oof)
        oof = np.mean(oofs, axis=0)
        test_folds = np.mean([run.fold_test(entry, k, s) for s in range(seeds) for k in range(n)], axis=0)
        refits = [run.refit_record(entry, s) for s in range(seeds)] if self.refit[entry] else []
        test_seeds = np.mean([run.refit_test(entry, s) for s in range(seeds)], axis=0) if refits and seeds > 1 else None
        run.save_model_predictions(entry, oof, test_folds, test_seeds)
        columns = [c for c in competition.shape.report_columns if all(c in r for r in records)]
        summary = {
            "name": entry,
            "kind": "model",
            "order": self._order(entry),
            "status": "ok",
            "metric": metric.name,
            "task": competition.task,
            **cv_scores(metric, y, oof, fold_index, competition.shape),
            **{c: float(np.mean([r[c] for r in records])) for c in columns},
            "fit_s": float(sum(r["fit_s"] for r in records)),
            "refit_s": float(sum(r["fit_s"] for r in refits)) if refits else None,
            "predict_ms_per_row": (float(np.mean([r["predict_ms_per_row"] for r in refits])) if refits
                                   else float(np.mean([r["predict_ms_per_row"] for r in records]))),
            "test_from": "refit" if refits else "folds",
            "params": jsonable_params(self.params[entry]),
            "refit_params": refits[0]["params"] if refits else None,
        }
        if seeds > 1:
            seed_scores = [float(np.mean([metric.score(y[fold_index == k], o[fold_index == k]) for k in range(n)])) for o in oofs]
            summary.update({"seeds": seeds, "seed_scores": seed_scores, "cv_score_seed_std": float(np.std(seed_scores, ddof=1)),
                            "model_seeds": [[r.get("seed") for r in records[s * n:(s + 1) * n]] for s in range(seeds)]})
        elif self.config.seeds > 1:
            summary["seeds"] = 1  # trained once in a --seeds run: the leaderboard says so
        if self.model_of[entry] in self.config.tuned:  # trained with its study's best parameters: the leaderboard says so
            summary["tuned"] = self.config.tuned[self.model_of[entry]]
        if self.pseudo:
            summary.update({"base_model": self.model_of[entry], "pseudo_labels": self.pseudo,
                            "n_pseudo": [r.get("n_pseudo", 0) for r in records[:n]]})
        return summary

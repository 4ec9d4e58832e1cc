"""The cross-validation engine: plan a run's jobs, hand them to a backend, then ensemble and rank.

Every (model, fold) pair and every refit is a job (``kagglekit.engine.jobs``) whose record on disk marks it
done, so a crash or Ctrl-C loses at most the jobs in flight and a rerun resumes where it stopped. A model
whose job fails is recorded as failed and the run goes on. The engine never prints: it reports events,
its lines for the user included (``Note``), to the listeners its caller passes (the CLI's progress bar and
console, the notebook's tqdm bar, a test's recorder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kagglekit.data import Competition, load_competition
from kagglekit.engine.backends import DeviceSettings, make_backend
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import EnsembleBuilt, Event, Listener, Note, RunFinished, RunStarted
from kagglekit.engine.plan import JobPlan
from kagglekit.ensemble import build_ensembles
from kagglekit.errors import ConfigError
from kagglekit.models import available_models, get_model_class
from kagglekit.runs import Run


@dataclass
class RunResult:
    run: Run
    competition: Competition
    leaderboard: pd.DataFrame
    submissions: dict[str, Path]
    failed: dict[str, str]


def run(config: TrainConfig, listeners: Sequence[Listener] = ()) -> RunResult:
    """Cross-validate, refit and write a submission for every chosen model, then ensemble and rank them."""

    def emit(event: Event) -> None:
        for listener in listeners:
            listener(event)

    competition = load_competition(**config.competition_args())
    for warning in competition.warnings:
        emit(Note(warning, "warning"))
    for name, why in config.skipped.items():
        emit(Note(f"--all skips {name}: {why}"))
    models = _supported(config, competition, emit)
    run_ = Run(config.workspace.runs_dir(competition.name) / config.resolved_run_name)
    with run_.lock():
        run_.open(competition, folds=config.folds, seed=config.seed, config=config.record())
        run_.remove_partial_writes()
        return _train(config, competition, run_, models, emit)


def _supported(config: TrainConfig, competition: Competition, emit: Listener) -> list[str]:
    """The chosen models that can learn this task; a model named with -m that cannot is an error before any fold."""
    kind = competition.task_spec.kind
    unsupported = [m for m in config.models if kind not in get_model_class(m).tags.supported_tasks]
    if unsupported and len(unsupported) == len(config.models):
        able = [m for m in available_models() if kind in get_model_class(m).tags.supported_tasks]
        raise ConfigError(f"{', '.join(unsupported)} cannot learn a {competition.task} task; models that can: {', '.join(able)}")
    for name in unsupported:
        emit(Note(f"skipping {name}: it cannot learn a {competition.task} task"))
    return [m for m in config.models if m not in unsupported]


def _train(config: TrainConfig, competition: Competition, run_: Run, models: list[str], emit: Listener) -> RunResult:
    uses_tensorflow = any(get_model_class(m).tags.uses_tensorflow for m in models)
    settings = DeviceSettings(config.device, config.mixed_precision, uses_tensorflow, bool(config.model_params.get("verbose")))
    backend = make_backend(config.backend, config.jobs, config.ray_address, settings)
    if uses_tensorflow and backend.name == "sequential":
        from kagglekit.device import configure_device

        manifest = run_.manifest
        manifest["device"] = configure_device(config.device, config.mixed_precision)
        run_.write_manifest(manifest)
    emit(Note(f"{competition.name}: {len(competition.train)} train / {len(competition.test)} test rows, "
              f"{competition.task}, metric {competition.metric.name} ({competition.metric_source}), "
              f"{config.folds}-fold CV, run {run_.directory}"))
    emit(Note(f"inputs: {competition.schema.describe()}"))
    plan = JobPlan(config, competition, run_, models, emit)
    emit(RunStarted(run_.name, models, plan.total_jobs, plan.done_jobs, backend.name))
    plan.start()
    backend.run(plan, emit)
    submissions = dict(plan.submissions)
    if config.ensemble and len(run_.model_names()) > 1:
        built = build_ensembles(run_, competition, config.workspace.submissions_dir(competition.name),
                                notes=lambda text: emit(Note(text)))
        submissions.update(built)
        for name in built:
            if name in run_.ensemble_names():
                emit(EnsembleBuilt(name, run_.summary(name)))
    for name in run_.stale_ensembles():  # not rebuilt, and a member changed or failed: its scores no longer hold
        run_.remove_ensemble(name)
        emit(Note(f"removed {name}: a member changed since it was built; rebuild with `kagglekit ensemble {competition.name}`"))
    board = run_.write_leaderboard()
    emit(RunFinished(run_.name, sorted(plan.failures)))
    return RunResult(run=run_, competition=competition, leaderboard=board, submissions=submissions,
                     failed={name: error.splitlines()[0] for name, error in plan.failures.items()})

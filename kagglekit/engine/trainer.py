"""The cross-validation engine: plan a run's jobs, hand them to a backend, then ensemble and rank.

Every (model, fold) pair and every refit is a job (``kagglekit.engine.jobs``) whose record on disk marks it
done, so a crash or Ctrl-C loses at most the jobs in flight and a rerun resumes where it stopped. A model
whose job fails is recorded as failed and the run goes on. The engine never prints: it reports events,
its lines for the user included (``Note``), to the listeners its caller passes (the CLI's progress bar and
console, the notebook's tqdm bar, a test's recorder).
"""

from __future__ import annotations

import time
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kagglekit.data import Competition, load_competition
from kagglekit.engine import pseudo
from kagglekit.engine.backends import Backend, DeviceSettings, auto_jobs, make_backend, model_modules
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import (
    EnsembleBuilt,
    Event,
    Listener,
    Note,
    RunFinished,
    RunStarted,
)
from kagglekit.engine.jobs import release_process_caches
from kagglekit.engine.plan import JobPlan
from kagglekit.ensemble import BEST_NAME, build_ensembles
from kagglekit.errors import ConfigError, advice
from kagglekit.models import available_models, get_model_class
from kagglekit.outputs import write_run_submission
from kagglekit.runs import Run

RESERVE_MIN_S = 5.0  # under --time-limit, kept for the ensembles and the leaderboard
RESERVE_SHARE = 0.05


@dataclass
class RunResult:
    run: Run
    competition: Competition
    leaderboard: pd.DataFrame
    submissions: dict[str, Path]
    failed: dict[str, str]
    not_run: dict[str, str] = field(default_factory=dict)  # models a --time-limit left out or stopped, and why


def run(config: TrainConfig, listeners: Sequence[Listener] = (), *, started: float | None = None) -> RunResult:
    """Cross-validate, refit and write a submission for every chosen model, then ensemble and rank them.

    ``started``: the ``time.monotonic()`` time ``--time-limit`` counts from (the CLI passes its process's start, so
    imports and loading the data count, as on the user's clock); default: when training starts, after loading.
    """

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
        try:
            return _train(config, competition, run_, models, emit, started)
        finally:
            release_process_caches()


def _supported(config: TrainConfig, competition: Competition, emit: Listener) -> list[str]:
    """The chosen models that can learn this task; a model named with -m that cannot is an error before any fold."""
    kind = competition.task_spec.kind
    unsupported = [m for m in config.models if kind not in get_model_class(m).tags.supported_tasks]
    if unsupported and len(unsupported) == len(config.models):
        able = [m for m in available_models() if kind in get_model_class(m).tags.supported_tasks]
        raise ConfigError(f"{', '.join(unsupported)} cannot learn a {competition.task} task; models that can: {', '.join(able)}")
    if unsupported:  # one line: --all on a catalogue leaves out most of the zoo, elsewhere the catalogue's models
        emit(Note(f"skipping {', '.join(unsupported)}: {'they' if len(unsupported) > 1 else 'it'} cannot learn a "
                  f"{competition.task} task"))
    return [m for m in config.models if m not in unsupported]


def _train(config: TrainConfig, competition: Competition, run_: Run, models: list[str], emit: Listener,
           started: float | None) -> RunResult:
    started = time.monotonic() if started is None else started
    uses_tensorflow = any(get_model_class(m).tags.uses_tensorflow for m in models)
    modules, in_script = model_modules(models)
    settings = DeviceSettings(config.device, config.mixed_precision, uses_tensorflow, bool(config.model_params.get("verbose")),
                              model_modules=modules)
    if in_script and config.jobs != 1 and config.backend == "local":
        emit(Note(f"{', '.join(in_script)}: defined in the script that runs kagglekit, which worker processes never run; "
                  "training in this process (define the model in a module of its own to train in parallel)"))
        config = dataclasses.replace(config, jobs=1)
    if config.jobs == "auto":
        jobs, why = auto_jobs(len(competition.train), len(models) * (config.folds + 1) * config.seeds, uses_tensorflow)
        if jobs > 1 and config.backend == "local":
            emit(Note(f"--jobs auto: {jobs} worker processes ({why}); "
                      f"{advice(cli='--jobs 1', python='jobs=1')} runs them in this process"))
        config = dataclasses.replace(config, jobs=jobs)
    backend = make_backend(config.backend, int(config.jobs), config.ray_address, settings)
    if uses_tensorflow and backend.name == "sequential":
        from kagglekit.device import configure_device

        manifest = run_.manifest
        manifest["device"] = configure_device(config.device, config.mixed_precision)
        run_.write_manifest(manifest)
    emit(Note(f"{competition.name}: {len(competition.train)} train / {len(competition.test)} test rows, "
              f"{competition.shape.words}, metric {competition.metric.name} ({competition.metric_source}), "
              f"{config.folds}-fold CV{f' x {config.seeds} seeds' if config.seeds > 1 else ''}, run {run_.directory}"))
    emit(Note(f"inputs: {competition.schema.describe()}"))
    for read in ("tables", "prepare"):  # side tables joined or left aside, the prepare step (kagglekit.tables)
        if read in competition.inferred:
            emit(Note(f"{read}: {competition.inferred[read]}"))
    _record(run_, seeds=config.seeds)
    if config.tune is not None or any(run_.study_path(m).is_file() for m in models):
        from kagglekit.tuning import use_studies  # Optuna is imported only by runs that tune or have studies

        config = use_studies(config, competition, run_, models, emit)
    deadlines = _deadlines(config, started)
    plan = JobPlan(config, competition, run_, models, emit, deadline=deadlines[0])
    emit(RunStarted(run_.name, models, plan.total_jobs, plan.done_jobs, backend.name))
    plan.start()
    backend.run(plan, emit)
    plans = [plan]
    submissions = dict(plan.submissions)
    first_round = [m for m in models if m in run_.model_names()]
    if config.ensemble and len(first_round) > 1:  # of this round's models: a resumed run's NAME+pl are not members
        submissions.update(_ensembles(config, competition, run_, emit, first_round))
    if config.pseudo_label:
        second = _pseudo_label_round(config, competition, run_, first_round, backend, emit, deadlines[1])
        if second is not None:
            plans.append(second)
            submissions.update(second.submissions)
            if config.ensemble and len(run_.model_names()) > 1:
                submissions.update(_ensembles(config, competition, run_, emit))
    for name in run_.stale_ensembles():  # not rebuilt, and a member changed or failed: its scores no longer hold
        run_.remove_ensemble(name)
        rebuild = advice(cli=f"`kagglekit ensemble {competition.name}`", python="TrainedRun.ensemble()")
        emit(Note(f"removed {name}: a member changed since it was built; rebuild with {rebuild}"))
    if config.time_limit is not None and config.ensemble and len(run_.model_names()) == 1:
        submissions[BEST_NAME] = _lone_model_as_ensemble(config, competition, run_, emit)
    board = run_.write_leaderboard()
    failures = {name: error for p in plans for name, error in p.failures.items()}
    not_run = {name: why for p in plans for name, why in p.not_run.items()}
    _record(run_, time_limit=None if config.time_limit is None else {
        "limit_s": config.time_limit, "took_s": round(time.monotonic() - started, 1), "not_run": not_run})
    emit(RunFinished(run_.name, sorted(failures)))
    return RunResult(run=run_, competition=competition, leaderboard=board, submissions=submissions,
                     failed={name: error.splitlines()[0] for name, error in failures.items()}, not_run=not_run)


def _lone_model_as_ensemble(config: TrainConfig, competition: Competition, run_: Run, emit: Listener) -> Path:
    """Under a time limit, only one model may finish: its submission is then the run's ensemble.csv, so a time-limited
    run always leaves the file a notebook submits."""
    name = run_.best()
    path = write_run_submission(run_, competition, config.workspace.submissions_dir(competition.name), BEST_NAME,
                                run_.summary(name), run_.test_proba(name))
    emit(Note(f"only {name} finished within the time limit: its predictions are written as {path}"))
    return path


def _deadlines(config: TrainConfig, started: float) -> tuple[float | None, float | None]:
    """When each round must have launched its last job: the limit less a reserve for the ensembles and the
    leaderboard; with --pseudo-label the first round gets half of the rest, the second what the first leaves."""
    if config.time_limit is None:
        return None, None
    reserve = min(max(RESERVE_MIN_S, RESERVE_SHARE * config.time_limit), 0.25 * config.time_limit)
    end = started + config.time_limit - reserve
    return (started + (end - started) / 2 if config.pseudo_label else end), end


def _ensembles(config: TrainConfig, competition: Competition, run_: Run, emit: Listener,
               models: list[str] | None = None) -> dict[str, Path]:
    built = build_ensembles(run_, competition, config.workspace.submissions_dir(competition.name),
                            notes=lambda text: emit(Note(text)), models=models)
    for name in built:
        if name in run_.ensemble_names():
            emit(EnsembleBuilt(name, run_.summary(name)))
    return built


def _pseudo_label_round(config: TrainConfig, competition: Competition, run_: Run, models: list[str], backend: Backend,
                        emit: Listener, deadline: float | None) -> JobPlan | None:
    """Label the test rows the run's best entry predicts confidently, then train each finished model again as
    NAME+pl with them added to every fold's training part (``kagglekit.engine.pseudo`` says why it stays honest)."""
    if not models:
        emit(Note("--pseudo-label: no model finished the first round; no second round", "warning"))
        return None
    best = _first_round_best(run_, models)
    record = pseudo.make_pseudo_labels(run_, competition, best)
    emit(Note(pseudo.describe(record)))
    _record(run_, pseudo_labels={k: v for k, v in record.items() if k != "n_test"})
    plan = JobPlan(config, competition, run_, models, emit, pseudo=record["fingerprint"], deadline=deadline)
    emit(RunStarted(run_.name, list(plan.model_of), plan.total_jobs, plan.done_jobs, backend.name))
    plan.start()
    backend.run(plan, emit)
    return plan


def _first_round_best(run_: Run, models: list[str]) -> str:
    """Run.best() among the first round's entries: its models and the ensembles of only those (a resumed run also
    holds the NAME+pl entries of its last pseudo-label round, which must not label their own training rows)."""
    board = run_.leaderboard()
    for name, kind, status in zip(board["model"], board["kind"], board["status"]):
        members = run_.summary(name).get("members", []) if kind == "ensemble" else [name]
        if status == "ok" and members and set(members) <= set(models):
            return str(name)
    return run_.best()


def _record(run_: Run, **facts: object) -> None:
    """Add facts of this run (seeds, pseudo-labels, the time budget) to its manifest."""
    run_.write_manifest({**run_.manifest, **facts})

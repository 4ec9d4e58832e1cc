"""What every command module shares: the consoles, error handling, leaderboard printing and the repeated options.

Imports point one way: command modules (train, analysis, ensemble, kaggle, kernels, ...) import this module and
never each other or ``kagglekit.cli`` itself; ``kagglekit/cli/__init__.py`` imports the command modules and
registers them. A command module defines ``app = typer.Typer()`` and its commands on it (sub-apps with
``app.add_typer(sub, name=...)``), and ``__init__`` merges it into the root app.

Stable names for command modules:

- ``console``, ``err_console``: rich consoles for results (stdout) and errors/warnings (stderr). A printed line is
  one line (soft wrap: a path or a note is never split, the terminal folds it for display); output that is not a
  terminal (a log, a notebook cell, ``| tee``) is ``LOG_WIDTH`` wide, not rich's 80.
- ``print_table(columns, rows, ...)``: a table whose cells are always complete: too wide for the console, it
  leaves out the least important columns and says so (and where the full table is).
- ``user_errors()``: a context manager that turns a ``KaggleKitError`` or ``OSError`` into one red line on
  stderr and exit 1 (Ctrl-C: one line and exit 130); wrap the library calls of every command in it.
- ``print_leaderboard(board, title)``: a run's leaderboard, fitted to the console by ``print_table``.
- ``EngineConsole(console)``: the engine's events on the terminal (its lines, failures, a progress bar with ETA);
  a context manager, so the bar stops even when the run does not finish.
- Option aliases, used as the type of a command parameter (``run_name: RunOption = None``):

  ``CompetitionArg``    the competition slug, a required positional argument.
  ``CompetitionOption`` ``--competition/-c`` for commands whose positional argument is a file.
  ``RunOption``         ``--run RUN``: an existing run under runs/COMPETITION (default: the most recent).
                        ``train`` defines its own ``--run`` because it names the run to create or resume.
  ``DataDirOption``     ``--data-dir``: the folder with the competition's CSVs.
  ``ModelOption``       ``--model/-m NAME``: one model or ensemble of a run (default: the run's best).
  ``ModelsOption``      ``--model/-m NAME``: repeatable, and each value may be a comma-separated list.

``-m`` is a model on every command; only ``submit -m`` is the message, as in ``kaggle competitions submit``.

Settings-file defaults reach every option through Click's default map (see ``kagglekit.cli.defaults``), so
commands take plain defaults and never read the settings file themselves. Options shown in the
``MODEL_PARAMS_PANEL`` help panel are model parameters: the settings file's ``[model_params]`` table feeds them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from kagglekit.errors import KaggleKitError

if TYPE_CHECKING:
    import pandas as pd
    from rich.progress import TaskID

    from kagglekit.engine.events import Event

# The width of output that is not a terminal: a log's or notebook's reader scrolls, and 80 cut the leaderboard's figures.
LOG_WIDTH = 200


def make_console(stderr: bool = False) -> Console:
    """A console whose every print is one line (paths stay whole), and ``LOG_WIDTH`` wide when it writes to a file or
    pipe; COLUMNS, a terminal's own width and Jupyter's still apply. No emoji codes: a user's ``--catalogue
    table:Id:Name`` would print as ``table🆔Name``."""
    made = Console(stderr=stderr, soft_wrap=True, emoji=False)
    if not made.is_terminal and not made.is_jupyter and "COLUMNS" not in os.environ:
        made.width = LOG_WIDTH
    return made


console = make_console()
err_console = make_console(stderr=True)


class LibraryWarnings(logging.Handler):
    """kagglekit's own logged warnings (a fallback encoder, a checkpoint converted) as ``warning: ...`` lines like the
    engine's notes. Without it they took whatever format a framework gave the root logger when it logged first
    (``WARNING:kagglekit.encoders:...``) or none at all."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[yellow]warning:[/] {escape(record.getMessage())}", highlight=False)


@contextmanager
def library_warnings() -> Iterator[None]:
    """Show the library's warnings through ``LibraryWarnings`` for one command, then give the logger back as it was."""
    logger = logging.getLogger("kagglekit")
    handler, propagate = LibraryWarnings(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate

MODEL_PARAMS_PANEL = "Model parameters"


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a library error as one line and exit 1: users see what to do, not a traceback."""
    try:
        yield
    except (KaggleKitError, OSError) as e:  # OSError: disk full, permissions, ...: the OS names the path
        err_console.print(f"[red]error:[/] {escape(str(e))}", highlight=False)  # "[train]" in a message is text
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] finished folds are saved; rerun the same command to resume")
        raise typer.Exit(130) from None


def split_commas(values: list[str]) -> list[str]:
    """``-m a,b -m c`` -> ``[a, b, c]``: a repeatable option also takes comma-separated lists."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


CompetitionArg = Annotated[str, typer.Argument(metavar="COMPETITION", help="Kaggle competition slug, e.g. nlp-getting-started.", show_default=False)]
CompetitionOption = Annotated[Optional[str], typer.Option(
    "--competition", "-c", help="Competition slug \\[default: the file's folder name].")]
RunOption = Annotated[Optional[str], typer.Option(
    "--run", metavar="RUN", help="Run under runs/COMPETITION \\[default: the most recent].")]
DataDirOption = Annotated[Optional[Path], typer.Option(
    "--data-dir", help="Folder with the competition's train.csv, test.csv, sample_submission.csv "
                       "\\[default: data/COMPETITION; for a trained run, the folder it was trained on].")]
ModelOption = Annotated[Optional[str], typer.Option(
    "--model", "-m", metavar="NAME", help="Model or ensemble of the run \\[default: the run's best by CV score].")]
ModelsOption = Annotated[list[str], typer.Option(
    "--model", "-m", metavar="NAME", callback=split_commas,
    help="Model (repeatable, or comma-separated: -m a,b); `kagglekit models` lists them.")]
# The input roles (kagglekit.inputs): the same options on every command that reads a competition's inputs.
TextColumnsOption = Annotated[list[str], typer.Option(
    "--text-column", help="Text column(s) fed to the models, read together in this order (repeatable); other text columns are "
                          "then left out \\[default: every input inferred from the data].")]
PairsOption = Annotated[list[str], typer.Option(
    "--pair", metavar="A,B", help="Text columns read together as a pair or tuple, e.g. --pair anchor,target (repeatable).")]
CategoricalColumnsOption = Annotated[list[str], typer.Option("--categorical-column", help="Column fed as a categorical input (repeatable).")]
NumericColumnsOption = Annotated[list[str], typer.Option("--numeric-column", help="Column fed as a numeric input (repeatable).")]
IgnoreColumnsOption = Annotated[list[str], typer.Option("--ignore-column", help="Column never fed to the models (repeatable).")]


def input_roles(text: list[str], pairs: list[str], categorical: list[str], numeric: list[str], ignore: list[str]) -> dict[str, Any]:
    """The role options as load_competition's (and TrainConfig's) keyword arguments; ``A,B`` pairs split."""
    return {"text_columns": text or None, "pairs": [[c.strip() for c in p.split(",")] for p in pairs] or None,
            "categorical_columns": categorical or None, "numeric_columns": numeric or None, "ignore_columns": ignore or None}


@dataclass(frozen=True)
class Column:
    """A column of ``print_table``: text may wrap between words, other cells (numbers, names, paths) never split;
    ``drop`` orders what a narrow console leaves out (the highest first; 0: always shown)."""

    header: str
    justify: Literal["left", "right"] = "right"
    wrap: bool = False
    drop: int = 0


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], *, title: str | None = None,
                full: str | None = None, out: Console | None = None) -> None:
    """A table of complete cells at the console's width: columns are left out, least important first, until it
    fits, and a line below names them and ``full`` (where every column is). Where even the kept columns do not
    fit, each row becomes one line of ``header value`` pairs. Cells may hold rich markup."""
    out = out or console
    kept = list(range(len(columns)))
    for index in sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: -columns[i].drop):
        if _natural_width(out, columns, rows, kept) <= out.width:
            break
        kept.remove(index)
    if _natural_width(out, columns, rows, kept) > out.width:  # narrower than the essential columns
        if title:
            out.print(title, style="bold", soft_wrap=True)
        for row in rows:
            out.print("  ".join(v if v.startswith(c.header) or not i else f"{c.header} {v}"
                                for i, (c, v) in enumerate(zip(columns, row)) if v), soft_wrap=True, highlight=False)
        return
    out.print(_table(columns, rows, kept, title), soft_wrap=False)
    left_out = [columns[i].header for i in range(len(columns)) if i not in kept]
    if left_out:
        out.print(f"not shown at {out.width} columns: {', '.join(left_out)}" + (f"; {full} has them all" if full else ""),
                  style="dim", soft_wrap=True, highlight=False, markup=False)


def _table(columns: Sequence[Column], rows: Sequence[Sequence[str]], kept: list[int], title: str | None = None) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i in kept:
        table.add_column(columns[i].header, justify=columns[i].justify, no_wrap=not columns[i].wrap,
                         overflow="fold" if columns[i].wrap else "ellipsis")
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table


def _natural_width(out: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]], kept: list[int]) -> int:
    """The table's width with every unwrappable cell whole and text wrapped at its longest word."""
    def narrowest(column: Column, cell: str) -> str:
        return max(Text.from_markup(cell).plain.split() or [""], key=len) if column.wrap else cell

    shrunk = [[narrowest(columns[i], cell) if i in kept else cell for i, cell in enumerate(row)] for row in rows]
    return Measurement.get(out, out.options.update_width(10**6), _table(columns, shrunk, kept)).maximum


# Short headers of the leaderboard's figures; any other figure the task adds shows under its own name.
SHORT_HEADERS = {"accuracy": "acc", "precision": "prec", "recall": "rec", "f1_weighted": "f1 w"}
NOT_FIGURES = {"model", "kind", "threshold", "test_from", "status", "fit_s", "predict_ms_per_row"}
LEADERBOARD_FILE = "the run's leaderboard.csv"


def print_leaderboard(board: "pd.DataFrame", title: str) -> None:
    """The leaderboard with every figure complete at any width; the run's leaderboard.csv has every column.

    Columns follow the board: the CV score and its spread, the tuned score (@ threshold when there is one), the
    task's figures (accuracy ... for classification, rmse and mae for regression), then time. A narrow console
    loses, in order: prediction time, the figures from the last, fit time, the spread, the tuned score. A model
    that failed, or that --time-limit left out, shows as such, with its reason on a line below the table.
    """
    from kagglekit.runs import NOT_RUN

    score = next((c for c in board.columns if c.startswith("cv_") and not c.endswith("_std")), None)
    tuned = next((c for c in board.columns if c.startswith("oof_") and c.endswith("_tuned")), None)
    figures = [c for c in board.columns if c not in NOT_FIGURES and not c.startswith(("cv_", "oof_"))]
    columns = [Column("model", "left"), Column(score.replace("_", " ") if score else "cv"), Column("±", "left", drop=2)]
    if tuned:
        columns.append(Column("tuned@thr" if "threshold" in board.columns else "tuned", drop=1))
    columns += [Column(SHORT_HEADERS.get(c, c.replace("_", " ")), drop=4 + i) for i, c in enumerate(figures)]
    columns += [Column("fit s", drop=3), Column("ms/row", drop=4 + len(figures))]
    rows, reasons = [], []
    for _, row in board.iterrows():
        status = str(row.get("status", "ok"))
        if status != "ok":
            skipped = status.startswith(NOT_RUN)
            rows.append([escape(str(row["model"])), "[yellow]skipped[/]" if skipped else "[red]failed[/]",
                         *[""] * (len(columns) - 2)])
            reasons.append(f"{row['model']} skipped (time limit): {status.removeprefix(NOT_RUN + ': ')}" if skipped
                           else f"{row['model']} failed: {status}")
            continue
        cells = [escape(str(row["model"])), _num(row.get(score)) if score else "",
                 f"±{_num(row.get(f'{score}_std'))}" if score and _num(row.get(f"{score}_std")) else ""]
        if tuned:
            at = f"@{_num(row['threshold'], 2)}" if "threshold" in board.columns and _num(row["threshold"]) else ""
            cells.append(_num(row[tuned]) + at)
        cells += [_num(row[c]) for c in figures] + [_num(row.get("fit_s"), 1), _num(row.get("predict_ms_per_row"))]
        rows.append(cells)
    print_table(columns, rows, title=title, full=LEADERBOARD_FILE)
    for reason in reasons:
        console.print(escape(reason), highlight=False)


def _num(value: object, decimals: int = 3) -> str:
    if value is None or not isinstance(value, (int, float)) or value != value:
        return ""
    return f"{value:.{decimals}f}"


class EngineConsole:
    """The engine's events on the terminal: its notes (warnings in yellow), failed models in red, and a progress
    bar over the run's jobs with ETA (resumed jobs count as done) naming the jobs running now."""

    def __init__(self, console: Console):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
        )
        self.task: TaskID | None = None
        self.running: list[str] = []

    def __enter__(self) -> "EngineConsole":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.progress.stop()

    def __call__(self, event: "Event") -> None:
        from kagglekit.engine.events import (
            JobFailed,
            JobFinished,
            JobStarted,
            ModelFailed,
            Note,
            RunFinished,
            RunStarted,
        )

        if isinstance(event, Note):
            prefix = "[yellow]warning:[/] " if event.level == "warning" else ""
            self.console.print(prefix + escape(event.text), highlight=False)
        elif isinstance(event, ModelFailed):
            self.console.print(f"[red]{event.name} failed[/] ({escape(event.where)}): {escape(event.error)}", highlight=False)
        elif isinstance(event, RunStarted):
            self.progress.start()
            self.task = self.progress.add_task("training", total=event.total_jobs, completed=event.done_jobs)
        elif isinstance(event, RunFinished):
            self.progress.stop()
        elif self.task is not None and isinstance(event, (JobStarted, JobFinished, JobFailed)):
            if isinstance(event, JobStarted):
                self.running.append(event.job.label)
            else:
                if event.job.label in self.running:
                    self.running.remove(event.job.label)
                self.progress.advance(self.task)
            self.progress.update(self.task, description=", ".join(self.running) or "training")


def parse_param(pair: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (KEY, VALUE); VALUE is JSON when it parses (3, 0.5, true, [1, 2]), else a string."""
    key, equals, text = pair.partition("=")
    if not equals or not key.strip():
        raise typer.BadParameter(f"expected KEY=VALUE, e.g. --param units=128, got {pair!r}", param_hint="--param")
    try:
        return key.strip(), json.loads(text)
    except json.JSONDecodeError:
        return key.strip(), text


def parse_jobs(value: str) -> int | str:
    """``--jobs``: a positive number of worker processes, or auto."""
    if value.strip().lower() == "auto":
        return "auto"
    if not value.strip().isdigit() or int(value) < 1:
        raise typer.BadParameter(f"expected a number of worker processes (1 or more) or auto, got {value!r}", param_hint="--jobs")
    return int(value)

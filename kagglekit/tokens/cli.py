"""The commands' faces for token and span competitions: what train, errors, report, predict and validate print.

The CLI's commands call these when the competition folder holds a token or span layout (``handles``) or the run is
a token run (``kagglekit.tokens.is_token_run``), so the row-per-answer commands stay as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from kagglekit.errors import ConfigError

def handles(folder: Path | str) -> bool:
    """Whether a competition folder holds a token or span layout (else the row-per-answer commands go on)."""
    from kagglekit.cli.common import user_errors
    from kagglekit.tokens.layout import detect

    with user_errors():  # an unreadable train.json is one line, not a traceback
        return Path(folder).is_dir() and detect(folder) is not None


def scope_params(model_params: dict[str, Any], names: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``--param`` and the named options per model: ``NAME.key`` for one model, ``key`` for every model that has it.

    Also returns the unscoped keys no token model takes (a settings file's ``encoder`` for the row models): they are
    named to the user and left out, not an error.
    """
    from kagglekit.tokens.models import MODELS

    scoped: dict[str, dict[str, Any]] = {name: {} for name in names}
    ignored = []
    for key, value in model_params.items():
        model, dot, parameter = key.rpartition(".")
        if dot:
            if model not in MODELS or parameter not in MODELS[model].defaults:
                raise ConfigError(f"--param {key}: token model {model!r} has no parameter {parameter!r}; "
                                  + "; ".join(f"{n}: {', '.join(c.defaults) or 'none'}" for n, c in MODELS.items()))
            scoped.setdefault(model, {})[parameter] = value
            continue
        takers = [name for name in names if name in MODELS and key in MODELS[name].defaults]
        if not takers and key != "verbose":
            ignored.append(key)
        for name in takers:
            scoped[name][key] = value
    return scoped, ignored


def train(folder: Path, competition: str, models: list[str], *, all_models: bool, folds: int, seed: int,
          metric: str | None, run_name: str | None, model_params: dict[str, Any]) -> None:
    """Cross-validate the named token models, or with --all every model that takes the shape, and print the board."""
    from kagglekit.cli.common import EngineConsole, console, err_console, user_errors
    from kagglekit.tokens.models import available_models
    from kagglekit.tokens.pipeline import train as train_tokens

    names = [m.strip() for value in models for m in value.split(",") if m.strip()]
    with user_errors():
        if not names and not all_models:
            raise ConfigError(f"choose models with -m NAME (repeatable) or --all; token models: {', '.join(available_models())}")
        params, ignored = scope_params(model_params, names or available_models())
        if ignored:
            console.print(f"[yellow]warning:[/] no token model takes {', '.join(ignored)}: left out", highlight=False)
        with EngineConsole(console) as engine_console:
            result = train_tokens(folder, names or None, folds=folds, seed=seed, run=run_name, metric=metric,
                                  name=competition, params=params, listeners=[engine_console])
    for name, path in result.submissions.items():
        console.print(f"submission {name}: {path}", highlight=False)
    print_board(result.leaderboard, f"{competition} · {result.run.name} · metric {result.run.metric.name}")
    console.print(f"run artifacts: {result.run.directory}", highlight=False)
    if result.failed:
        err_console.print(f"[red]{len(result.failed)} model(s) failed:[/] {', '.join(result.failed)}")
        raise typer.Exit(1)


def print_board(board: Any, title: str) -> None:
    """The token leaderboard at any width (``print_table``: complete cells, the least important columns dropped)."""
    from kagglekit.cli.common import Column, print_table

    score = next(c for c in board.columns if c.startswith("cv_") and not c.endswith("_std"))
    names = ["model", score, f"{score}_std", "threshold", "precision", "recall", "entity_f1", "features_s", "fit_s", "status"]
    drops = {"features_s": 6, "entity_f1": 5, "fit_s": 4, "recall": 3, "precision": 2, f"{score}_std": 1}
    columns = [Column(n.replace("_", " ").replace(f"{score} std", "±"), "left" if n in ("model", "status") else "right",
                      drop=drops.get(n, 0)) for n in names]
    rows = [[escape(_cell(n, record.get(n))) for n in names] for record in board.to_dict("records")]
    print_table(columns, rows, title=title, full="the run's leaderboard.csv")


def _cell(column: str, value: Any) -> str:
    if value is None or value != value:  # missing, or NaN (an ensemble has no fit time)
        return ""
    if isinstance(value, float):
        return f"{value:.1f}" if column.endswith("_s") else f"{value:.4f}"
    return str(value)


def errors(run_dir: Path, model: str | None, top: int, data_dir: Path | None) -> None:
    """The most confidently wrong out-of-fold tokens of each kind, with context; all of them in errors/NAME.csv."""
    from kagglekit.cli.common import console, user_errors
    from kagglekit.tokens.analysis import errors as token_errors
    from kagglekit.tokens.analysis import write_errors
    from kagglekit.tokens.metrics import describe_decision
    from kagglekit.tokens.run import TokenRun

    with user_errors():
        run = TokenRun(run_dir)
        name = model or run.best()
        wrong = token_errors(run, run.data(data_dir), name)
        path = write_errors(run, name, wrong)
    console.print(f"[bold]{escape(name)}[/] in run {escape(run.name)}: out-of-fold tokens decided by "
                  f"{describe_decision(run.decision(name))}", highlight=False)
    for kind, group in wrong.groupby("error", sort=False):
        shown = group.head(top).drop(columns=["error", "confidence"])
        table = Table(*shown.columns, title=f"Most confident {kind}s ({min(top, len(group))} of {len(group)})",
                      box=box.SIMPLE_HEAD, title_justify="left")
        for record in shown.to_dict("records"):
            table.add_row(*(Text(f"{v:.3f}" if isinstance(v, float) else str(v)) for v in record.values()))
        console.print(table)
    console.print(f"all {len(wrong)} wrong tokens, most confident first: {path}", highlight=False)


def report(run_dir: Path, top: int, data_dir: Path | None) -> None:
    from kagglekit.cli.common import console, user_errors
    from kagglekit.tokens.analysis import write_report
    from kagglekit.tokens.run import TokenRun

    with user_errors():
        run = TokenRun(run_dir)
        path = write_report(run, run.data(data_dir), top=top)
    console.print(f"report: {path}", highlight=False)
    console.print(f"open it in a browser: {path.resolve().as_uri()}", highlight=False)


def predict(run_dir: Path, texts: list[str], model: str | None, query: str = "") -> None:
    """Each text with its labelled spans marked, and a table of the spans."""
    from kagglekit.cli.common import console, user_errors
    from kagglekit.tokens.analysis import predict as predict_text
    from kagglekit.tokens.run import TokenRun

    with user_errors():
        run = TokenRun(run_dir)
        found = [predict_text(run, text, model, query) for text in texts]
    for prediction in found:
        marked, position = Text(), 0
        for span in prediction.spans:
            marked.append(prediction.text[position:span.start])
            marked.append(f"[{span.text}]", style="bold yellow")
            marked.append(f"{span.label}", style="dim")
            position = span.end
        marked.append(prediction.text[position:])
        console.print(marked)
        table = Table("label", "P(entity)", "start", "end", "text", box=box.SIMPLE_HEAD,
                      caption=f"model {prediction.model}; decided by {prediction.decision} (tuned on OOF)")
        for span in prediction.spans:
            table.add_row(span.label, f"{span.probability:.3f}", str(span.start), str(span.end), Text(span.text))
        console.print(table)


def validate(file: Path, folder: Path) -> None:
    from kagglekit.cli.common import console, user_errors
    from kagglekit.tokens.submission import validate as validate_submission

    with user_errors():
        rows = validate_submission(file, folder)
    console.print(f"[green]ok:[/] {escape(str(file))} matches the layout of {escape(str(folder))} ({rows} rows)", highlight=False)


def explore(folder: Path) -> None:
    """What a token or span competition holds: its layout, sizes, and how often each label tags a token, span or
    segment."""
    from collections import Counter

    from kagglekit.cli.common import Column, console, print_table, user_errors
    from kagglekit.tokens.layout import load

    with user_errors():
        data = load(folder)
    console.print(data.describe(), highlight=False)
    if data.layout.segments:  # Feedback: how many segments of each discourse type, as its train.csv counts them
        counts = Counter(kind for sequence in data.train for kind, _ in sequence.segments)
        unit = "segments"
    elif data.kind == "tokens":
        counts = Counter(label for sequence in data.train for label in sequence.labels or [])
        unit = "tokens"
    else:
        counts = Counter({"span": sum(len(sequence.spans) for sequence in data.train)})
        unit = "spans"
    total = sum(counts.values()) or 1
    rows = [[escape(str(label)), str(n), f"{n / total:.2%}"] for label, n in counts.most_common()]
    print_table([Column("label", "left"), Column(unit), Column("share")], rows, title=f"Labels of the training {unit}")

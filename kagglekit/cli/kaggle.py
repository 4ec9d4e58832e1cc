"""Commands that talk to Kaggle's competitions API: fetch, submit, submissions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape

from kagglekit.cli.common import (
    Column,
    CompetitionArg,
    CompetitionOption,
    DataDirOption,
    console,
    print_table,
    user_errors,
)

if TYPE_CHECKING:
    import pandas as pd

    from kagglekit.kaggle.competitions import SubmissionStatus

app = typer.Typer()


@app.command()
def fetch(
    competition: CompetitionArg,
    force: Annotated[bool, typer.Option("--force", help="Download again even when the CSVs are already there.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Download a competition's files with the Kaggle API and unpack them into data/COMPETITION, all or nothing.

    Needs Kaggle credentials and the competition's rules accepted on kaggle.com; records its metric for `train`.

    Skips the download when the three CSVs are already there; in a Kaggle notebook uses /kaggle/input instead.
    """
    from kagglekit.config import Workspace
    from kagglekit.kaggle import competitions

    with user_errors():
        result = competitions.fetch(competition, data_dir or Workspace.current().data_dir(competition), force=force)
    metric = f" (metric: {result.evaluation_metric})" if result.evaluation_metric else ""
    messages = {
        "download": f"downloaded {competition} to {result.directory}{metric}",
        "existing": f"{competition} is already in {result.directory}{metric}; use --force to download it again",
        "mount": f"using the notebook's mounted copy of {competition} in {result.directory}",
    }
    console.print(messages[result.source], highlight=False)


@app.command()
def submit(
    file: Annotated[Optional[Path], typer.Argument(metavar="[FILE]", help="Submission CSV, e.g. submissions/COMPETITION/baseline.csv.", show_default=False)] = None,
    competition: CompetitionOption = None,
    kernel: Annotated[Optional[str], typer.Option("--kernel", metavar="OWNER/SLUG", help="Code competitions: submit this kernel's output instead of a FILE.")] = None,
    kernel_version: Annotated[Optional[int], typer.Option(
        "--kernel-version", min=1, help="The kernel version to submit (with --kernel).")] = None,
    message: Annotated[Optional[str], typer.Option(
        "--message", "-m", help="Submission description; here -m is the message, as in `kaggle competitions submit -m`, "
                                "not a model \\[default: the model's name and CV score from its run].")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until Kaggle has scored it and print the public score.")] = False,
    timeout: Annotated[float, typer.Option(
        min=0, metavar="SECONDS", help="With --wait: give up waiting for the score after this many seconds.")] = 600.0,
    data_dir: DataDirOption = None,
) -> None:
    """Check a submission against sample_submission.csv, upload it to Kaggle and print its status.

    Code competitions take a notebook instead: `--kernel OWNER/SLUG --kernel-version N` submits that kernel version's
    output (a version that ran to completion; see `kagglekit kernel status`).

    -m is the submission's message here (as in Kaggle's own `kaggle competitions submit -m`); on every other
    command -m names a model. Exits 1 when the file does not match the sample, when Kaggle refuses it (e.g. the
    daily limit) or cannot score it.
    """
    from kagglekit.config import Workspace
    from kagglekit.kaggle import competitions
    from kagglekit.runs import submission_message
    from kagglekit.submission import validate_submission

    if (file is None) == (kernel is None):
        raise typer.BadParameter("give a submission FILE, or --kernel OWNER/SLUG --kernel-version N for a code competition")
    if kernel is not None:
        if kernel_version is None:
            raise typer.BadParameter("--kernel needs --kernel-version N: the kernel version whose output to submit")
        from kagglekit.kaggle.kernels import submit_kernel

        with user_errors():
            status = submit_kernel(kernel, kernel_version, message or f"kagglekit kernel {kernel} version {kernel_version}",
                                   competition=competition, wait=wait, timeout_seconds=timeout)
        _print_status(f"kernel {kernel} version {kernel_version}", status.competition, status)
        return
    with user_errors():
        competition = competition or file.resolve().parent.name
        workspace = Workspace.current()
        folder = data_dir or workspace.data_dir(competition)
        validate_submission(file, folder / "sample_submission.csv")
        message = message or submission_message(workspace.runs_dir(competition), file.stem, file)
        status = competitions.submit(file, competition, message, wait=wait, timeout_seconds=timeout)
    _print_status(str(file), competition, status)


def _print_status(what: str, competition: str, status: SubmissionStatus) -> None:
    console.print(f"submitted {what} to {competition} (ref {status.ref}): {status.status}", highlight=False)
    if status.status == "complete":
        console.print(f"public score: {_score(status.public_score) or 'not published'}", highlight=False)
    else:
        console.print(f"see its score later with `kagglekit submissions {competition}`", highlight=False)


@app.command()
def submissions(
    competition: CompetitionArg,
    plot: Annotated[bool, typer.Option("--plot", help="Draw CV against public score into submissions/COMPETITION/cv-vs-public.png.")] = False,
) -> None:
    """List your most recent submissions with their status and scores, newest first, beside the CV score of what made them.

    The CV comes from the ledger every `kagglekit submit` writes (submissions/COMPETITION/ledger.csv). With --plot,
    also draws CV against public score with their correlation, and names the submissions whose public rank
    disagrees with their CV rank (trust the CV: the public board scores a small part of the test set).
    """
    from kagglekit.kaggle import competitions, ledger

    with user_errors():
        rows = competitions.list_submissions(competition)
        table = ledger.leaderboard_table(ledger.read_ledger(competition), rows)
    if not rows:
        console.print(f"no submissions to {competition} yet", highlight=False)
        return
    # File names are what users look for: never cut; a narrow console leaves out private, then date, then model.
    columns = [Column("date", "left", drop=2), Column("file", "left"), Column("model", "left", wrap=True, drop=1),
               Column("status", "left", wrap=True), Column("CV"), Column("public"), Column("private", drop=3)]
    cells = []
    for s, row in zip(rows, table.itertuples(index=False)):
        status = f"error: {s.error_description}" if s.status == "error" and s.error_description else s.status
        date = s.date.strftime("%Y-%m-%d %H:%M") if s.date else ""
        model = row.model if isinstance(row.model, str) and row.model else (s.description or "")
        cells.append([date, escape(row.file or ""), escape(model), escape(str(status)), _score(_number(row.cv_score)),
                      _score(s.public_score), _score(s.private_score)])
    print_table(columns, cells, title=f"{competition} submissions")
    if plot:
        _plot(competition, table)


def _plot(competition: str, table: "pd.DataFrame") -> None:
    from kagglekit.config import Workspace
    from kagglekit.kaggle import ledger
    from kagglekit.metrics import get_metric

    metrics = [m for m in table["metric"].dropna().unique() if m]
    greater = get_metric(metrics[0]).greater_is_better if metrics else True
    with user_errors():
        path = ledger.plot_cv_vs_public(table, Workspace.current().submissions_dir(competition) / ledger.PLOT_FILE,
                                        metric=metrics[0] if metrics else "", greater_is_better=greater)
    r = ledger.correlation(table)
    console.print(f"CV vs public score: {path}" + (f" (correlation {r:.2f})" if r is not None else
                                                    " (correlation needs 3 scored submissions with different scores)"),
                  highlight=False)
    disagree = ledger.rank_disagreements(table, greater_is_better=greater)
    for row in disagree.itertuples(index=False):
        console.print(f"  ref {row.ref} ({row.model or row.file}): CV rank {row.cv_rank}, public rank {row.public_rank}",
                      highlight=False)
    if len(disagree):
        console.print("where they disagree, trust the CV: the public board scores a small part of the test set", highlight=False)


def _number(value: object) -> float | None:
    """A ledger cell as a float; None where the ledger has no CV (NaN)."""
    import math

    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)  # type: ignore[arg-type]


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:g}"

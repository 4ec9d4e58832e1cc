"""The ensemble command: combine a run's out-of-fold predictions after training."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from kagglekit.cli.common import (
    CompetitionArg,
    DataDirOption,
    ModelsOption,
    RunOption,
    console,
    print_leaderboard,
    user_errors,
)

app = typer.Typer()


class TestSource(str, Enum):
    """Which test predictions of each member are combined (``kagglekit.ensemble.TEST_SOURCES``)."""

    refit = "refit"
    folds = "folds"


@app.command()
def ensemble(
    competition: CompetitionArg,
    run_name: RunOption = None,
    models: ModelsOption = [],
    methods: Annotated[list[str], typer.Option(
        "--method", help="mean, vote, weighted or stack (repeatable) \\[default: all that fit the metric]."
    )] = [],
    test_from: Annotated[TestSource, typer.Option(
        help="Members' test predictions: refit (the full-data model) or folds (the mean of the fold models)."
    )] = TestSource.refit,
    data_dir: DataDirOption = None,
) -> None:
    """Combine a run's out-of-fold predictions (mean, vote, weighted, stack), score them and write submissions.

    Members: every trained model of the run, or those named with -m; -m RUN:NAME takes a model from another
    run with the same folds.

    Each ensemble is scored on the out-of-fold rows with the competition metric and joins the leaderboard.
    Weighted and stack are scored with weights fitted on the other folds, so their scores are honest.
    Submissions: submissions/COMPETITION/ensemble_METHOD.csv, and the best as ensemble.csv.
    """
    from kagglekit.config import Workspace
    from kagglekit.ensemble import build_ensembles
    from kagglekit.runs import find_run

    workspace = Workspace.current()
    with user_errors():
        run = find_run(workspace.runs_dir(competition), run_name)
        loaded = run.competition(data_dir)  # the run's own data, checked unchanged
        submissions = build_ensembles(run, loaded, workspace.submissions_dir(competition),
                                      notes=lambda text: console.print(text, highlight=False, markup=False),
                                      models=models, methods=methods or None, test_from=test_from.value)
        board = run.write_leaderboard()
    print_leaderboard(board, f"{competition} · {run.name} · metric {loaded.metric.name}")
    for name, path in submissions.items():
        console.print(f"submission {name}: {path}", highlight=False)

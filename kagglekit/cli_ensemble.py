"""Commands of the ensemble part; registered on kagglekit.cli.app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli import app, console, print_leaderboard, user_errors


@app.command()
def ensemble(
    competition: Annotated[str, typer.Argument(help="Kaggle competition slug, e.g. nlp-getting-started.")],
    run_name: Annotated[Optional[str], typer.Option("--run", help="Run under runs/COMPETITION \\[default: the most recent].")] = None,
    models: Annotated[list[str], typer.Option(
        "--models", "-m",
        help="Members, comma-separated or repeated; RUN:NAME takes a model from another run with the same folds "
             "\\[default: every trained model of the run].",
    )] = [],
    methods: Annotated[list[str], typer.Option(
        "--method", help="mean, vote, weighted or stack (repeatable) \\[default: all that fit the metric]."
    )] = [],
    test_from: Annotated[str, typer.Option(
        help="Members' test predictions: refit (the full-data model) or folds (the mean of the fold models)."
    )] = "refit",
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder with the CSVs \\[default: the one the run was trained on].")] = None,
) -> None:
    """Combine a run's out-of-fold predictions (mean, vote, weighted, stack), score them and write submissions.

    Each ensemble is scored on the out-of-fold rows with the competition metric and joins the leaderboard.
    Weighted and stack are scored with weights fitted on the other folds, so their scores are honest.
    Submissions: submissions/COMPETITION/ensemble_METHOD.csv, and the best as ensemble.csv.
    """
    from kagglekit import training
    from kagglekit.config import Workspace
    from kagglekit.data import load_competition
    from kagglekit.ensemble import build_ensembles
    from kagglekit.runs import find_run

    workspace = Workspace.current()
    with user_errors():
        run = find_run(workspace.runs_dir(competition), run_name)
        manifest = run.manifest
        loaded = load_competition(
            data_dir or manifest["data_dir"], name=competition, text_columns=manifest["text_columns"], metric=manifest["metric"]
        )
        submissions = build_ensembles(
            run, loaded, workspace.submissions_dir(competition), console=console,
            models=[name for option in models for name in option.split(",")],
            methods=methods or None, test_from=test_from,
        )
        board = training.leaderboard(run)
        training.save_leaderboard(run, board)
    print_leaderboard(board, f"{competition} · {run.name} · metric {loaded.metric}")
    for name, path in submissions.items():
        console.print(f"submission {name}: {path}", highlight=False)

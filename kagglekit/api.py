"""The notebook face of kagglekit: train, look, predict and submit from Python, over the library the CLI calls.

    import kagglekit
    run = kagglekit.train("nlp-getting-started", models=["baseline", "tfidf_lr"])
    run.leaderboard()          # a DataFrame, rendered as a table in Jupyter
    run.plot("confusion")      # shown inline, saved under the run's plots/
    run.write_submission()     # /kaggle/working/submission.csv in a Kaggle notebook

Progress shows as a notebook progress bar (tqdm), one listener of the engine's events; the engine's lines
for the user (warnings, models left out, ensemble scores) print through tqdm, so they never break the bar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglekit.config import Workspace
from kagglekit.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from kagglekit.data import Competition
    from kagglekit.engine.events import Event
    from kagglekit.runs import Run as RunFolder

PLOT_KINDS = ("cv", "confusion", "speed", "curves")
FRAMES = "frames"  # the competition name of a run trained on DataFrames without one
SUBMISSION_FILE = "submission.csv"


def print_notes(event: Event) -> None:
    """The engine's lines for the user, and each failed model, printed in the notebook."""
    from tqdm.auto import tqdm

    from kagglekit.engine.events import ModelFailed, Note

    if isinstance(event, Note):
        tqdm.write(f"warning: {event.text}" if event.level == "warning" else event.text)
    elif isinstance(event, ModelFailed):
        tqdm.write(f"{event.name} failed ({event.where}): {event.error}")


class NotebookProgress:
    """A tqdm bar over the run's jobs (a widget in Jupyter, text elsewhere); resumed jobs start it part-full."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, event: Event) -> None:
        from kagglekit.engine.events import JobFailed, JobFinished, RunFinished, RunStarted

        if isinstance(event, RunStarted):  # a second one starts the pseudo-label round
            from tqdm.auto import tqdm

            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=event.total_jobs, initial=event.done_jobs, desc=f"run {event.run}", unit="job")
        elif self.bar is None:
            return
        elif isinstance(event, (JobFinished, JobFailed)):
            self.bar.set_postfix_str(event.job.label, refresh=False)
            self.bar.update(1)
        elif isinstance(event, RunFinished):
            self.bar.close()


def train(competition: str | None = None, models: Sequence[str] = (), *, train: pd.DataFrame | None = None,
          test: pd.DataFrame | None = None, sample: pd.DataFrame | None = None, target: str | Sequence[str] | None = None,
          tables: Mapping[str, pd.DataFrame] | None = None, all_models: bool = False, progress: bool = True,
          **options: Any) -> TrainedRun:
    """Cross-validate, refit, ensemble and write submissions, as `kagglekit train` does; returns the run.

    ``options`` are TrainConfig's (folds, seed, seeds, pseudo_label, time_limit ("20m" or seconds), metric, data_dir,
    run_name, device, ensemble, jobs, prepare, ...) or model parameters (epochs, encoder, preset, ...). In a Kaggle notebook the data comes from /kaggle/input
    and the run is written under /kaggle/working.

    DataFrames instead of files: ``train`` and ``test`` (``competition`` then only names the run, default "frames"),
    ``target`` (the column(s) of train to predict) or ``sample`` (the sample submission), side ``tables`` by name.
    They are written as a competition folder under .cache/kagglekit/frames/ (``kagglekit.tables.write_frames``) and
    read as Kaggle's files are, so a reloaded run, predict and the kernels see the same data.
    """
    from kagglekit.engine import trainer
    from kagglekit.engine.config import TrainConfig
    from kagglekit.logs import quieted
    from kagglekit.models import model_param_names, unknown_model_params

    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"competition", "models", "skipped", "model_params"}
    config_options = {k: v for k, v in options.items() if k in fields}
    model_params = {k: v for k, v in options.items() if k not in fields}
    unknown = unknown_model_params(model_params)
    if unknown:
        raise ConfigError(f"train() got unknown option(s) {', '.join(unknown)}; training options: {', '.join(sorted(fields))}; "
                          f"model parameters: {', '.join(sorted(model_param_names()))}")
    if config_options.get("data_dir") is not None:
        config_options["data_dir"] = Path(config_options["data_dir"])
    if train is not None or test is not None:
        competition = competition or FRAMES
        config_options.update(_frames_folder(competition, train, test, sample, target, tables, config_options))
    elif competition is None:
        raise ConfigError("name a competition (its files are in data/COMPETITION), or pass train= and test= DataFrames")
    config = TrainConfig.resolve(competition, list(models), all_models, model_params=model_params, **config_options)
    with quieted(bool(model_params.get("verbose"))):  # framework log lines reach a notebook's cells otherwise
        result = trainer.run(config, listeners=[print_notes, *([NotebookProgress()] if progress else [])])
    return TrainedRun(result.run, result.competition, config.workspace, dict(result.failed))


def _frames_folder(name: str, train: pd.DataFrame | None, test: pd.DataFrame | None, sample: pd.DataFrame | None,
                   target: str | Sequence[str] | None, tables: Mapping[str, pd.DataFrame] | None,
                   options: dict[str, Any]) -> dict[str, Any]:
    """The options that point a run at DataFrames written as a competition folder."""
    from kagglekit.tables import write_frames

    if train is None or test is None:
        raise ConfigError("pass both train= and test= DataFrames (and target= or sample=)")
    if options.get("data_dir") is not None:
        raise ConfigError("pass either data_dir (a folder of files) or train= and test= DataFrames, not both")
    workspace = options.get("workspace") or Workspace.current()
    directory = write_frames(workspace.cache_dir / "frames" / name, train, test, sample, target, tables)
    targets = [target] if isinstance(target, str) else list(target or [])
    return {"data_dir": directory, **({"target_columns": targets} if targets else {})}


def _prediction_row(prediction: Any) -> dict[str, Any]:
    """One row of ``TrainedRun.predict``: a class's label and probability, else the answer and the values behind it."""
    if prediction.label is None:
        return {"text": prediction.text, "answer": prediction.answer, **prediction.values}
    extra = {"answer": prediction.answer} if prediction.answer != str(prediction.label) else {}
    return {"text": prediction.text, "label": prediction.label, "probability": prediction.probability, **extra}


def load(competition: str, run_name: str | None = None) -> TrainedRun:
    """A run trained earlier (default: the newest of the competition), to look at, predict with or submit.

    Its competition is reloaded with the inputs the run recorded, and refused when train.csv has changed since.
    """
    from kagglekit.runs import find_run

    workspace = Workspace.current()
    run = find_run(workspace.runs_dir(competition), run_name)
    return TrainedRun(run, run.competition(), workspace, {})


class TrainedRun:
    """One run folder seen from a notebook; every method reads or writes the same files the CLI does."""

    def __init__(self, run: RunFolder, competition: Competition, workspace: Workspace, failed: dict[str, str]):
        self.run, self.competition, self.workspace, self.failed = run, competition, workspace, failed

    @property
    def directory(self) -> Path:
        return self.run.directory

    def __repr__(self) -> str:
        return f"<kagglekit run {self.competition.name}/{self.run.name}: {', '.join(self.run.entries()) or 'no models'}>"

    def _repr_html_(self) -> str:
        return f"<p><b>{self.competition.name}</b> run <code>{self.run.name}</code></p>" + self.leaderboard().to_html(index=False)

    def leaderboard(self) -> pd.DataFrame:
        """One row per model and ensemble, best first (failed models listed with their error)."""
        return self.run.leaderboard()

    def plot(self, kind: str = "cv", model: str | None = None) -> Path:
        """Draw ``cv`` (scores with their fold spread), ``confusion`` (of ``model``, default the best), ``speed``
        (score against prediction time) or ``curves`` (Keras training curves of ``model``); shown inline in Jupyter.

        Returns the PNG's path under the run's plots/.
        """
        from kagglekit.analysis import plots

        out = self.run.output_dir("plots")
        if kind == "cv":
            path = plots.cv_scores_plot(self.run, out / "cv_scores.png")
        elif kind == "speed":
            path = plots.speed_score_plot(self.run, out / "speed_score.png")
        elif kind == "confusion":
            name = model or self.best()
            path = plots.confusion_matrix_plot(self.run, name, out / f"confusion_matrix_{name}.png")
        elif kind == "curves":
            name = model or self.run.best(single=True)
            curves = plots.training_curves_plot(self.run, name, out / f"training_curves_{name}.png")
            if curves is None:
                raise ConfigError(f"{name} has no training curves (only the Keras models record them)")
            path = curves
        else:
            raise ConfigError(f"unknown plot {kind!r}: use one of {', '.join(PLOT_KINDS)}")
        _show_image(path)
        return path

    def best(self, single: bool = False) -> str:
        """The best model or ensemble by CV score; ``single``: the best single model."""
        return self.run.best(single)

    def predict(self, texts: Sequence[str] | str, model: str | None = None) -> pd.DataFrame:
        """Answer new texts with a model's saved models, its refit or fold models' mean (default: the best single model):
        text, label and its probability for classes (and the K answers of ranked ones), else the answer its submission
        would hold and every prediction column (label probabilities, target values)."""
        import pandas as pd

        from kagglekit.predict import predict_texts

        predictions = predict_texts(self.run, [texts] if isinstance(texts, str) else list(texts), model)
        return pd.DataFrame([_prediction_row(p) for p in predictions.rows]).assign(model=predictions.model)

    def write_submission(self, path: Path | str | None = None, model: str | None = None) -> Path:
        """Copy the submission of ``model`` (default: the best) to ``path``: submission.csv in the working folder,
        which in a Kaggle notebook is /kaggle/working/submission.csv, the file a code competition scores."""
        from kagglekit.kaggle.kernels import write_best_submission

        dest = Path(path) if path is not None else self.workspace.root / SUBMISSION_FILE
        return write_best_submission(self.competition.name, dest, workspace=self.workspace, run=self.run, model=model)[1]

    def ensemble(self, methods: Sequence[str] | None = None, models: Sequence[str] | None = None,
                 test_from: str = "refit") -> pd.DataFrame:
        """Build ensembles (mean, vote, weighted, stack) of the run's models, as `kagglekit ensemble`; the new leaderboard."""
        from kagglekit.ensemble import build_ensembles

        build_ensembles(self.run, self.competition, self.workspace.submissions_dir(self.competition.name),
                        models=list(models) if models else None, methods=list(methods) if methods else None,
                        test_from=test_from)
        return self.run.write_leaderboard()


def _show_image(path: Path) -> None:
    """Display a PNG inline when running under IPython (Jupyter, Kaggle); elsewhere the path is enough."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return
    if get_ipython() is not None:
        display(Image(filename=str(path)))

"""Predict with a run's saved models: texts with its best refit, or a whole test set with exactly its submission.

``predict_submission(run_dir, test)`` is what an inference notebook calls on Kaggle's hidden test set: it
re-predicts with the models behind the run's ``ensemble.csv`` (each member's refit, or the mean of its fold
models where the ensemble took those), combines them with the ensemble's saved combiner and applies its decision
(threshold or cut points), so on the public test.csv it gives ``ensemble.csv`` again.
It needs only the run's manifest, the entry's summary and combiner and the saved models: a model pack made by
``kagglekit kernel init --predict-from`` is such a folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kagglekit.errors import ConfigError, DataError, advice
from kagglekit.io import read_json
from kagglekit.models import load_model
from kagglekit.runs import Run, find_run, record_path
from kagglekit.shapes import TaskShape, manifest_shape
from kagglekit.submission import fill_submission

if TYPE_CHECKING:
    from kagglekit.tokens.run import TokenRun

ENSEMBLE_SUBMISSION = "ensemble"  # the run's submission that code competitions submit: the best ensemble


@dataclass
class Prediction:
    """A text's answer as the submission would hold it (a label, K ranked labels, a score, values), the figures behind
    it, and for classes the decided ``label`` and the probability it was decided on: of the positive class for
    binary tasks (compared with the tuned threshold), of the predicted class otherwise."""

    text: str
    answer: str
    detail: str
    values: dict[str, float]  # prediction column -> value: class or label probabilities, target values
    label: object = None
    probability: float | None = None


@dataclass
class Predictions:
    model: str
    shape: TaskShape
    decision: dict[str, Any]
    rows: list[Prediction]

    @property
    def threshold(self) -> float:
        return float(self.decision.get("threshold", 0.5))


def predict_texts(run: Run, texts: list[str], model: str | None = None) -> Predictions:
    """Answer each text with a model's saved models as its submission used them (default: the run's best single model;
    its refit, or its fold models' mean; with --seeds, every seed's), through the decision tuned on its out-of-fold
    predictions (threshold, cut points, top K)."""
    name = model or run.best(single=True)
    if name not in run.model_names():
        raise ConfigError(f"run {run.name} has no trained model {name!r}; it has: {', '.join(run.model_names())}")
    summary, shape = run.summary(name), run.shape
    if not shape.answers_single_texts:
        raise ConfigError(f"run {run.name} is {shape.words}: a question is answered with its options, not a lone text; "
                          + advice(cli=f"its answers to the test questions are in submissions/{run.manifest['competition']}/",
                                   python="call kagglekit.predict.predict_submission(run_dir, questions) with a DataFrame "
                                          "of questions and their option columns"))
    member = _member_models(run, name, summary.get("test_from", "refit"))
    pred = np.mean([load_model(directory).predict(texts) for directory in member.directories], axis=0)
    decision = summary.get("decision", {"threshold": summary.get("threshold", 0.5)})
    names = target_names(run.manifest)
    rows = []
    for text, row in zip(texts, pred):
        answer, detail = shape.describe_prediction(row, decision, names)
        label = probability = None
        if shape.has_classes:
            index = int(np.atleast_1d(shape.decide(row[None, :], decision)[0])[0])
            label, probability = names[index], float(row[1] if len(row) == 2 else row[index])
        rows.append(Prediction(text, answer, detail, {str(n): float(v) for n, v in zip(names, row)}, label, probability))
    return Predictions(name, shape, decision, rows)


def target_names(manifest: dict[str, Any]) -> list:
    """What each prediction column of a run stands for: its classes, else its target columns."""
    return manifest.get("classes") or manifest["target_columns"]


def read_texts(path: Path) -> list[str]:
    """One text per line, blank lines skipped."""
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: pass a file with one text per line")
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): re-save it as UTF-8") from None




# -- a whole test set, as the run's submission ---------------------------------------------------------


@dataclass(frozen=True)
class MemberModels:
    """One model the entry needs: its saved folders (the refit, or every fold model; of each seed), averaged, and its
    source run."""

    label: str  # NAME, or RUN:NAME for a member from another run of the competition
    run: Run | TokenRun  # a token run's pack member: its refit
    name: str
    source: str  # "refit" or "folds"
    directories: list[Path]


def submission_entry(run: Run) -> str:
    """The model or ensemble behind the run's ``ensemble.csv`` (its provenance record), else the run's best entry."""
    record = record_path(run.submission_path(ENSEMBLE_SUBMISSION))
    if record.is_file():
        return str(read_json(record)["model"])
    return run.best()


def entry_members(run: Run, entry: str) -> tuple[dict[str, Any] | None, list[MemberModels]]:
    """(the entry's combiner, or None for a single model; the models it needs, in the combiner's order)."""
    summary = run.summary(entry)
    if summary.get("kind") != "ensemble":
        return None, [_member_models(run, entry, summary.get("test_from", "refit"))]
    from kagglekit.ensemble import read_combiner

    combiner = read_combiner(run, entry)
    return combiner, [_member_models(run, label, combiner.get("test_from", "refit")) for label in combiner["members"]]


def _member_models(run: Run, label: str, test_from: str) -> MemberModels:
    run_name, _, name = label.rpartition(":")
    source_run = find_run(run.directory.parent, run_name) if run_name else run
    summary = source_run.summary(name)
    source = "folds" if test_from == "folds" or summary.get("test_from") == "folds" else "refit"
    folds = [None] if source == "refit" else list(range(int(source_run.manifest["folds"])))
    seeds = range(int(summary.get("seeds", 1)))  # a --seeds run averaged every seed's models: so does its predict
    directories = [source_run.fold_model_dir(name, fold, seed) for seed in seeds for fold in folds]
    missing = [d for d in directories if not (d / "model.json").is_file()]
    if missing:
        raise ConfigError(f"{label} in run {source_run.name} has no saved model in {missing[0]}: the run did not keep it "
                          f"(retrain {name} to predict a new test set)")
    return MemberModels(label, source_run, name, source, directories)


def predict_entry(run: Run, entry: str, test: pd.DataFrame) -> np.ndarray:
    """The entry's (n, K) test predictions, made again by its saved models on ``test``."""
    combiner, members = entry_members(run, entry)
    probas = [_predict_member(member, test) for member in members]
    if combiner is None:
        return probas[0]
    from kagglekit.ensemble import apply_combiner

    return apply_combiner(combiner, probas)


def _predict_member(member: MemberModels, test: pd.DataFrame) -> np.ndarray:
    """The mean of the member's saved models' predictions: its refit (of each seed), or every fold model (of each
    seed), as the run averaged them."""
    return np.mean([load_model(directory).predict(test) for directory in member.directories], axis=0)


def predict_submission(run_dir: Path | str, test: pd.DataFrame, *, sample: pd.DataFrame | None = None,
                       entry: str | None = None) -> pd.DataFrame:
    """The submission frame of the run's ``ensemble.csv`` entry (or ``entry``) for the test rows ``test``.

    Rows follow ``sample`` (Kaggle's sample_submission.csv of that test set) when given, else ``test``.
    """
    run = Run(run_dir)
    manifest = run.manifest
    if not manifest:
        raise ConfigError(f"{run.directory} is not a run folder or model pack (no manifest.json)")
    from kagglekit.tokens.run import is_token_run

    if is_token_run(run.directory):
        raise ConfigError(f"run {run.name} labels {manifest['task']}, not rows: call "
                          "kagglekit.tokens.inference.predict_submission(run_dir, data_dir) with the competition's folder")
    entry = entry or submission_entry(run)
    id_column = manifest["id_column"]
    if id_column not in test.columns:
        raise DataError(f"the test set has no id column {id_column!r}; its columns: {', '.join(map(str, test.columns))}")
    pred = predict_entry(run, entry, test)
    summary = run.summary(entry)
    decision = summary.get("decision", {"threshold": summary.get("threshold", 0.5)})
    return submission_frame_from({**manifest, **submission_facts(run)}, test[id_column], pred, decision, sample)


def submission_frame_from(manifest: dict[str, Any], ids: pd.Series, pred: np.ndarray, decision: dict[str, Any],
                          sample: pd.DataFrame | None = None) -> pd.DataFrame:
    """``submission.submission_frame`` from a run's manifest instead of a loaded competition: the sample's columns
    (recorded as ``submission_columns``), rows in the sample's order (else the test's), values per submission format."""
    id_column, shape, fmt = manifest["id_column"], manifest_shape(manifest), manifest["submission_format"]
    columns = [str(c) for c in (sample.columns if sample is not None else manifest.get("submission_columns") or [])]
    if not columns:
        raise ConfigError("the run records no submission columns: pass the sample submission")
    if len(ids) != len(pred):
        raise DataError(f"{len(pred)} predictions for {len(ids)} test rows")
    position = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
    order_ids = sample[id_column].to_numpy() if sample is not None else ids.to_numpy()
    missing = [i for i in order_ids if i not in position.index]
    if missing:
        raise DataError(f"{len(missing)} id(s) of the sample submission are not in the test set: {missing[:5]}")
    pred = pred[position.loc[order_ids].to_numpy()]
    score_range = tuple(manifest["score_range"]) if fmt == "scores" else None
    frame = fill_submission(order_ids, pred, id_column, columns, fmt, shape, manifest["classes"], decision, score_range)
    return frame[columns]


def submission_facts(run: Run) -> dict[str, Any]:
    """What a submission needs beyond the manifest's task facts: the sample's columns and, for integer scores, the
    training scores' range. Recorded in a model pack's manifest; read from the competition's files otherwise."""
    manifest = run.manifest
    if "submission_columns" in manifest:
        return {k: manifest[k] for k in ("submission_columns", "score_range") if k in manifest}
    competition = run.competition()
    facts: dict[str, Any] = {"submission_columns": [str(c) for c in competition.sample.columns]}
    if manifest["submission_format"] == "scores":
        facts["score_range"] = [int(competition.y.min()), int(competition.y.max())]
    return facts

"""A token or span run's ``ensemble.csv``, made again on a hidden test set: what a code competition's notebook runs.

The run's test predictions came from each model's refit on every training document (``models/NAME/full``), so the
notebook loads those refits, predicts every test token's label probabilities, combines the members as the entry did
(the plain mean, or the greedy weights), applies the entry's decision (its threshold, or an entity F1 run's BIO Viterbi
pass; a segments layout's minimum lengths too) and writes the sample's layout with the same code that wrote ``ensemble.csv``: on the public test set
the two files are equal row for row.

What it reads of the run folder is what a model pack holds (:func:`pack_files`): the manifest (labels and the
competition's layout), the entry's summary, its members' summaries and their saved refits.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import ConfigError, DataError
from kagglekit.io import read_json
from kagglekit.predict import ENSEMBLE_SUBMISSION
from kagglekit.runs import record_path
from kagglekit.tokens.layout import TokenData, TokenLayout, load
from kagglekit.tokens.metrics import apply_decision
from kagglekit.tokens.run import SUMMARY, TokenRun, split
from kagglekit.tokens.submission import submission_frame, validate, write_submission

PATH_FIELDS = ("directory", "train_file", "test_file", "sample_file")


def submission_entry(run: TokenRun) -> str:
    """The model or ensemble behind the run's ``ensemble.csv`` (its record), else the best ensemble or model."""
    record = record_path(run.submission_path(ENSEMBLE_SUBMISSION))
    if record.is_file():
        return str(read_json(record)["model"])
    ensembles = run.ensemble_names()
    return max(ensembles, key=lambda e: run.summary(e)["cv_score"]) if ensembles else run.best()


def entry_members(run: TokenRun, entry: str) -> tuple[list[str], list[float], str]:
    """(the models the entry needs, their weights, how it combines them: ``mean``, ``weighted`` or ``single``).

    A member the greedy blend gave no weight is left out (it adds exact zeros): it neither travels nor predicts.
    """
    summary = run.summary(entry)
    if summary.get("test_from", "refit") != "refit":
        raise ConfigError(f"{entry} of run {run.name} predicted its test set from {summary['test_from']}, which a token "
                          "run does not keep: retrain it")
    if summary.get("kind") != "ensemble":
        return [entry], [1.0], "single"
    method = summary.get("method", "mean")
    pairs = [(str(m), float(w)) for m, w in zip(summary["members"], summary["weights"]) if method == "mean" or w > 0]
    return [m for m, _ in pairs], [w for _, w in pairs], method


def refit_dir(run: TokenRun, name: str) -> Path:
    """A member's saved refit; a model the run did not keep is named with what to do."""
    directory = run.model_dir(name) / "full"
    if not directory.is_dir():
        raise ConfigError(f"{name} in run {run.name} has no saved refit in {directory}: retrain {name} to predict a new test set")
    return directory


def pack_files(run: TokenRun, entry: str) -> tuple[list[str], dict[str, Any], dict[str, Path]]:
    """What a model pack of ``entry`` holds, as paths under the run folder's parent: (its members, JSON written
    into the pack, files copied from the run)."""
    members, _, _ = entry_members(run, entry)
    root = run.directory.parent
    written: dict[str, Any] = {
        f"{run.name}/manifest.json": run.manifest,
        f"{run.name}/submissions/{ENSEMBLE_SUBMISSION}.json": {"model": entry},
    }
    sources: dict[str, Path] = {}
    summary = run.entry_dir(entry) / SUMMARY
    sources[str(summary.relative_to(root))] = summary
    for name in members:
        summary = run.model_dir(name) / SUMMARY
        sources[str(summary.relative_to(root))] = summary
        for path in sorted(p for p in refit_dir(run, name).rglob("*") if p.is_file()):
            sources[str(path.relative_to(root))] = path
    return members, written, sources


def layout_in(run: TokenRun, data_dir: Path | str) -> TokenLayout:
    """The layout the run was trained with, its files looked for in ``data_dir`` (Kaggle's copy, with the hidden test)."""
    recorded = run.manifest["layout"]
    directory = Path(data_dir)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(TokenLayout):
        if field.name not in recorded:
            continue
        value = recorded[field.name]
        if field.name == "directory":
            value = directory
        elif field.name in PATH_FIELDS:
            value = None if value is None else directory / Path(value).name
            if value is not None and not value.exists():  # a segments layout's test is a folder of essays
                raise DataError(f"{value} does not exist: the run was trained on a folder with {value.name}; pass the "
                                "competition's folder")
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        values[field.name] = value
    for name, _ in values.get("joins", ()):
        if not (directory / name).is_file():
            raise DataError(f"{directory / name} does not exist: the run joined {name} onto its rows; pass the competition's folder")
    return TokenLayout(**values)


def test_data(run: TokenRun, data_dir: Path | str) -> TokenData:
    """The competition in ``data_dir`` read with the run's layout, labelled with the run's labels (the models' columns)."""
    data = load(data_dir, name=run.competition, layout=layout_in(run, data_dir))
    return dataclasses.replace(data, labels=run.labels)


def predict_entry(run: TokenRun, entry: str, data: TokenData) -> np.ndarray:
    """The entry's token probabilities on ``data.test`` (flat, one row per token), combined as the run combined them."""
    members, weights, method = entry_members(run, entry)
    n_labels = len(run.labels)
    probas = []
    for name in members:
        model = run.load_model(name)
        parts = model.predict_proba(model.featurize(data.test))
        probas.append(np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, n_labels), np.float32))
    if method == "single":
        return probas[0]
    if method == "mean":  # as the run computed it: the mean, not 1/n weights (the last bit can differ)
        return np.mean(probas, axis=0).astype(np.float32)
    return np.tensordot(np.array(weights), np.stack(probas), axes=1).astype(np.float32)


def decided_labels(run: TokenRun, entry: str, data: TokenData) -> list[np.ndarray]:
    """Each test sequence's decided label indices: the entry's probabilities at its tuned decision."""
    decided = apply_decision(predict_entry(run, entry, data), run.decision(entry), run.labels,
                             [len(s.tokens) for s in data.test])
    return split(decided, data.test)


def _decided(run_dir: Path | str, data_dir: Path | str, entry: str | None) -> tuple[TokenData, list[np.ndarray], Any]:
    """The test set of ``data_dir``, its decided labels by the entry, and the entry's decision (for the layout)."""
    run = TokenRun(run_dir)
    entry = entry or submission_entry(run)
    data = test_data(run, data_dir)
    return data, decided_labels(run, entry, data), run.decision(entry)


def predict_submission(run_dir: Path | str, data_dir: Path | str, *, entry: str | None = None) -> pd.DataFrame:
    """The submission frame of the run's ``ensemble.csv`` entry (or ``entry``) for the test set in ``data_dir``."""
    return submission_frame(*_decided(run_dir, data_dir, entry))


def write_pack_submission(run_dir: Path | str, data_dir: Path | str, path: Path | str, *, entry: str | None = None) -> int:
    """Write and check the submission of ``predict_submission`` at ``path``; returns its row count."""
    data, decided, decision = _decided(run_dir, data_dir, entry)
    write_submission(data, decided, path, decision)
    return validate(path, data=data)


def predict_seconds(run: TokenRun, name: str) -> float | None:
    """Seconds a model takes per test document on this machine, from its recorded predict and feature time over every
    document it predicted (each training document once out of fold, each test document once); None if unrecorded.

    An upper bound: the recorded feature time also counts what a model extracting features inside each fit (the CRF)
    spent on its training documents (a demo PII run's CRF: 41 ms estimated, 7 ms measured; BENCHMARKS.md)."""
    summary, manifest = run.summary(name), run.manifest
    documents = int(manifest.get("n_train", 0)) + int(manifest.get("n_test", 0))
    if "predict_s" not in summary or not documents:
        return None
    return (float(summary["predict_s"]) + float(summary.get("features_s", 0.0))) / documents

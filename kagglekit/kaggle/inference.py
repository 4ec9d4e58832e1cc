"""A run's models as a Kaggle dataset for an inference notebook, and whether its predict fits a time limit.

Code competitions rerun the notebook on a hidden test set (often 10-20x the public one) with the internet off and
a time limit, so competitors train once and submit a notebook that only loads the models and predicts. The
*model pack* holds exactly what :func:`kagglekit.predict.predict_submission` needs to remake the run's
``ensemble.csv``: the run's manifest, the entry's summary and combiner, the saved models of its members
(their refits, or every fold model where the ensemble averaged those), and the run's ``prepare.py`` when it had
one, so the notebook shapes the hidden test set as the models were trained. A token or span run's pack holds its
manifest (labels and the competition's layout), the entry's summary (members, weights, threshold) and the members'
refits, and the notebook remakes its ``ensemble.csv`` with :mod:`kagglekit.tokens.inference`.

A Kaggle dataset upload takes the files of one folder (subfolders are skipped), so the pack is flat: every
distinct file is stored once under its content hash (a checkpoint shared by several folds is uploaded once),
and ``kagglekit-pack.json`` maps each path of the run folder to its stored file. :func:`unpack` rebuilds the run
folder from symbolic links, so nothing large is copied on Kaggle.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kagglekit.durations import format_duration
from kagglekit.errors import DataError, KaggleKitError
from kagglekit.io import read_json, write_json
from kagglekit.predict import (
    ENSEMBLE_SUBMISSION,
    MemberModels,
    entry_members,
    predict_submission,
    submission_entry,
    submission_facts,
)
from kagglekit.runs import Run, record_path
from kagglekit.submission import validate_submission
from kagglekit.tables import PREPARE_FILE, PrepareStep, read_tables
from kagglekit.tokens import inference as tokens_inference
from kagglekit.tokens.run import TokenRun, is_token_run

PACK_FILE = "kagglekit-pack.json"
DEFAULT_TIME_LIMIT = 9 * 3600.0  # Kaggle's limit for code competitions today (CPU or GPU)
TEST_ROWS_FACTOR = 20  # hidden test sets are often 10-20x the public test.csv
NEAR_LIMIT = 0.5  # warn above this share of the limit: Kaggle's machine may be slower than this one


class TimeLimitError(KaggleKitError):
    """The inference notebook would not finish within the competition's time limit."""


@dataclass(frozen=True)
class Pack:
    """A built model pack: its folder, the entry it predicts with, and its sizes before and after removing duplicates."""

    directory: Path
    run: str
    entry: str
    members: list[MemberModels]
    files: int
    total_bytes: int  # of every file of the run folder it stands for
    stored_bytes: int  # of the distinct files it holds
    duplicates: int  # files stored once for several paths


@dataclass(frozen=True)
class MemberCost:
    label: str
    models: int  # 1 for a refit, the number of folds for fold models
    ms_per_row: float | None  # recorded by the run on this machine; None when the run did not record it
    seconds: float


@dataclass(frozen=True)
class FitEstimate:
    """The inference notebook's estimated predict time on ``rows`` test rows, against ``limit`` seconds; a token run
    counts its test set in documents (``unit``)."""

    rows: int
    limit: float
    members: list[MemberCost]
    unit: str = "row"

    @property
    def seconds(self) -> float:
        return sum(m.seconds for m in self.members)

    @property
    def verdict(self) -> str:
        """``fits``, ``near`` (above NEAR_LIMIT of the limit) or ``over``."""
        return "over" if self.seconds > self.limit else "near" if self.seconds > NEAR_LIMIT * self.limit else "fits"

    def describe(self) -> str:
        lines = [f"estimated predict time on {self.rows:,} test {self.unit}s: {format_duration(self.seconds)} of the "
                 f"{format_duration(self.limit)} limit ({self.seconds / self.limit:.0%})"]
        for m in sorted(self.members, key=lambda m: -m.seconds):
            cost = f"{m.ms_per_row:.3g} ms/{self.unit}" if m.ms_per_row is not None else "no recorded cost"
            lines.append(f"  {m.label}: {format_duration(m.seconds)} ({m.models} model{'s' if m.models > 1 else ''} x {cost})")
        return "\n".join(lines)

    def problem(self) -> str | None:
        """Why the notebook would not finish (naming the models that take the time), or None."""
        if self.verdict != "over":
            return None
        slowest = sorted(self.members, key=lambda m: -m.seconds)
        alone = [m.label for m in slowest if m.seconds > self.limit]
        names = ", ".join(alone or [m.label for m in slowest[:2]])
        return (f"the predict would take about {format_duration(self.seconds)} on {self.rows:,} test {self.unit}s, over the "
                f"{format_duration(self.limit)} limit; {names} {'take' if ',' in names else 'takes'} most of it: drop "
                "it from the ensemble (`kagglekit ensemble -m ...`), predict with its refit instead of its folds, or use "
                "--force to push anyway")


# -- building and unpacking a pack -------------------------------------------------------------------


def build_pack(run: Run, directory: Path, *, entry: str | None = None) -> Pack:
    """Write the model pack of ``run``'s ``ensemble.csv`` entry (or ``entry``) into ``directory`` (replaced).

    A token or span run's pack holds its manifest (labels, the competition's layout), the entry's summary (members,
    weights, threshold) and its members' refits (:func:`kagglekit.tokens.inference.pack_files`).
    """
    if is_token_run(run.directory):
        return _build_token_pack(TokenRun(run.directory), directory, entry)
    entry = entry or submission_entry(run)
    _, members = entry_members(run, entry)
    sources: dict[str, Path] = {}  # path in the unpacked tree (RUN/...) -> file here
    written: dict[str, Any] = {}  # path in the unpacked tree -> JSON written into the pack
    root = run.directory.parent
    written[f"{run.name}/manifest.json"] = {**run.manifest, **submission_facts(run)}
    written[f"{run.name}/{_relative(run, record_path(run.submission_path(ENSEMBLE_SUBMISSION)))}"] = {"model": entry}
    entry_dir = run.ensemble_dir(entry) if run.summary(entry).get("kind") == "ensemble" else run.model_dir(entry)
    for path in sorted(p for p in entry_dir.iterdir() if p.suffix == ".json"):
        sources[str(path.relative_to(root))] = path
    prepare = run_prepare(run)
    if prepare is not None:
        sources[f"{run.name}/{PREPARE_FILE}"] = prepare.path
    for member in members:
        if member.run.directory != run.directory:
            written[f"{member.run.name}/manifest.json"] = member.run.manifest
        summary = member.run.model_dir(member.name) / "summary.json"
        sources[str(summary.relative_to(root))] = summary
        for folder in member.directories:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                sources[str(path.relative_to(root))] = path
    return _write_pack(Path(directory), run.name, run.manifest.get("competition"), entry, members, written, sources)


def _build_token_pack(run: TokenRun, directory: Path, entry: str | None) -> Pack:
    entry = entry or tokens_inference.submission_entry(run)
    names, written, sources = tokens_inference.pack_files(run, entry)
    members = [MemberModels(name, run, name, "refit", [tokens_inference.refit_dir(run, name)]) for name in names]
    return _write_pack(Path(directory), run.name, run.competition, entry, members, written, sources)


def _write_pack(directory: Path, run_name: str, competition: str | None, entry: str, members: list[MemberModels],
                written: dict[str, Any], sources: dict[str, Path]) -> Pack:
    """The flat pack folder: each distinct file once under its content hash, and the map of paths to them."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    files: dict[str, str] = {}
    total = stored = 0
    for logical, data in written.items():
        blob = f"{_digest_bytes(_json_bytes(data))}.json"
        write_json(directory / blob, data)
        files[logical] = blob
    for logical, path in sources.items():
        blob = _digest_file(path) + "".join(path.suffixes[-1:])
        if not (directory / blob).exists():
            shutil.copyfile(path, directory / blob)
            stored += path.stat().st_size
        total += path.stat().st_size
        files[logical] = blob
    duplicates = len(files) - len(set(files.values()))
    write_json(directory / PACK_FILE, {
        "competition": competition, "run": run_name, "entry": entry,
        "members": [m.label for m in members], "files": files,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return Pack(directory, run_name, entry, members, len(files), total, stored, duplicates)


def run_prepare(run: Run) -> PrepareStep | None:
    """The prepare.py the run was trained with, checked to be unchanged since (else the pack would shape the hidden
    test set differently from the training rows); None when the run had none."""
    recorded = run.manifest.get("inferred", {}).get("prepare")
    if recorded is None:
        return None
    step = PrepareStep.from_record(recorded)
    now = PrepareStep.of(step.path)
    if now.digest != step.digest:
        raise DataError(f"{step.path} changed since run {run.name} was trained (sha256 {step.digest} then, {now.digest} "
                        "now): restore it, or retrain the run with it")
    return step


def _relative(run: Run, path: Path) -> str:
    return str(path.relative_to(run.directory))


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, default=str).encode()


def _digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def _digest_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:24]


def read_pack(directory: Path) -> dict[str, Any]:
    path = Path(directory) / PACK_FILE
    if not path.is_file():
        raise DataError(f"{directory} is not a kagglekit model pack (no {PACK_FILE}): make one with "
                        "`kagglekit kernel init COMPETITION --predict-from RUN`")
    return read_json(path)


def find_pack(input_dir: Path, slug: str | None = None) -> Path:
    """The pack folder among a notebook's inputs (``/kaggle/input/SLUG``, or a few levels deeper)."""
    found = [p.parent for depth in (1, 2, 3) for p in sorted(Path(input_dir).glob("*/" * depth + PACK_FILE))]
    if slug is not None:
        found = [p for p in found if p.name == slug] or found
    if not found:
        raise DataError(f"no kagglekit model pack under {input_dir}: attach the dataset `kagglekit kernel init "
                        "--predict-from` published")
    return found[0]


def unpack(directory: Path, dest: Path) -> Path:
    """Rebuild the run folder of a pack under ``dest`` from symbolic links to its files; returns the run folder."""
    pack = read_pack(directory)
    source = Path(directory).resolve()
    for logical, blob in pack["files"].items():
        link = Path(dest) / logical
        if not (source / blob).is_file():
            raise DataError(f"the model pack in {directory} lacks {blob} (for {logical}): publish it again")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(source / blob)
    return Path(dest) / pack["run"]


def write_pack_submission(run_dir: Path, data_dir: Path, path: Path) -> int:
    """What the inference notebook runs: the unpacked run's ``ensemble.csv`` made again on the test set of
    ``data_dir`` (Kaggle's competition folder), written to ``path`` and checked against the sample; returns its rows.

    A row-per-answer run reads the test set as training read its data (every table, the run's prepare.py, the side
    tables joined); a token or span run reads it with the layout it was trained with.
    """
    if is_token_run(run_dir):
        return tokens_inference.write_pack_submission(run_dir, data_dir, path)
    prepare = Path(run_dir) / PREPARE_FILE  # the run's prepare step travels in the pack
    tables = read_tables(data_dir, prepare=prepare if prepare.is_file() else None)
    submission = predict_submission(run_dir, tables.test, sample=tables.sample)
    submission.to_csv(path, index=False)
    sample_path = Path(data_dir) / "sample_submission.csv"
    if sample_path.is_file():
        validate_submission(path, sample_path)
    return len(submission)


# -- will it fit? ------------------------------------------------------------------------------------


def estimate_fit(members: list[MemberModels], rows: int, limit: float) -> FitEstimate:
    """The predict time of ``members`` on ``rows`` rows from each model's recorded ``predict_ms_per_row`` (a token
    run's rows are its documents: its recorded predict and feature seconds per document).

    Where a run recorded none (an older run), the member counts 0 s and says so: the estimate is a lower bound.
    """
    costs = []
    unit = "document" if any(isinstance(member.run, TokenRun) for member in members) else "row"
    for member in members:
        if isinstance(member.run, TokenRun):
            seconds = tokens_inference.predict_seconds(member.run, member.name)
            ms = seconds * 1000 if seconds is not None else None
        else:
            recorded = member.run.summary(member.name).get("predict_ms_per_row")
            ms = float(recorded) if recorded is not None else None
        seconds = (ms or 0.0) / 1000 * rows * len(member.directories)
        costs.append(MemberCost(member.label, len(member.directories), ms, seconds))
    return FitEstimate(rows, limit, costs, unit)


def default_test_rows(run: Run) -> int:
    return TEST_ROWS_FACTOR * int(run.manifest.get("n_test") or 0)

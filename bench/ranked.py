"""Benchmark: ranked answers (MAP@3) on held-out labels, kagglekit's submissions against two references.

Two competitions in the ranked layout (one label column in train.csv, three labels per row in the sample):
- ``generated``: the MAP-2025 layout of ``kagglekit.demo`` (``Category`` + ``Misconception`` -> ``Category:Misconception``);
- ``keywords``: the disaster tweets (public data, ../shared/data/nlp-getting-started) with their ``keyword`` (221
  labels) as the answer to rank from the text, a many-class public set;
- ``exam``: multiple choice in the LLM Science Exam layout of ``kagglekit.demo`` (question, options A-E, answer);
  its TF-IDF reference classifies the option letter from the whole row's text, as a ranked model would.
Each is split (``holdout.split_competition``) into a train.csv and a test.csv whose labels are held out; `kagglekit
train` runs with the given options, and every submission is scored with MAP@3 on the held-out labels beside:
- the three commonest training labels for every row;
- a TF-IDF (word 1-2-grams, sublinear) logistic regression ranking its top three, fitted on the same train.csv.

Usage: python bench/ranked.py [--which generated keywords] [--workdir /tmp/kk-ranked] -- --all --jobs 1
Results go to stdout as Markdown tables.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from holdout import held_out_score, score_submissions, split_competition  # bench/ is the script's folder
from kagglekit.data import load_competition
from kagglekit.demo import write_task_competition
from kagglekit.runs import markdown_table

TWEETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nlp-getting-started"


def keyword_competition(source: Path, target: Path) -> Path:
    """The tweets with a keyword, the keyword as the ranked answer (train.csv only: a test without labels is useless)."""
    tweets = pd.read_csv(source / "train.csv", keep_default_na=False, na_values=[""]).dropna(subset=["keyword"])
    train = tweets[["id", "text", "location", "keyword"]]
    target.mkdir(parents=True, exist_ok=True)
    train.to_csv(target / "train.csv", index=False)
    train.drop(columns="keyword").head(10).to_csv(target / "test.csv", index=False)
    top = " ".join(train["keyword"].value_counts().index[:3])
    pd.DataFrame({"id": train["id"].head(10), "keyword": top}).to_csv(target / "sample_submission.csv", index=False)
    return target


def references(data: Path, truth: pd.DataFrame) -> pd.DataFrame:
    """MAP@3 of the commonest three labels and of a TF-IDF logistic regression's top three, on the held-out rows."""
    competition = load_competition(data)
    column, id_column = competition.target_column, competition.id_column
    texts, test_texts = competition.train_texts, competition.test_texts
    answer = competition.sample.columns[1]
    commonest = " ".join(competition.train[column].value_counts().index[:3])
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    model = LogisticRegression(C=10.0, max_iter=3000).fit(vectorizer.fit_transform(texts), competition.train[column])
    proba = model.predict_proba(vectorizer.transform(test_texts))
    top3 = model.classes_[np.argsort(-proba, axis=1)[:, :3]]
    fit_s = time.perf_counter() - start
    rows = []
    for name, answers in (("commonest 3 labels", [commonest] * len(test_texts)),
                          ("TF-IDF LR top 3 (reference)", [" ".join(map(str, r)) for r in top3])):
        submission = pd.DataFrame({id_column: competition.test[id_column], answer: answers})
        rows.append({"submission": name, "held-out map@3": held_out_score(competition, submission, truth),
                     "fit s": round(fit_s, 1) if "TF-IDF" in name else 0.0})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--which", nargs="+", default=["generated", "keywords"], choices=["generated", "keywords", "exam"])
    parser.add_argument("--rows", type=int, default=4000, help="rows of the generated competition")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-ranked"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then kagglekit train's options")
    args = parser.parse_args()
    extra = [a for a in args.train_args if a != "--"]
    for which in args.which:
        workdir = args.workdir / which
        source = workdir / "source"
        if which in ("generated", "exam"):
            write_task_competition("ranked" if which == "generated" else "multiple_choice", source, rows=args.rows,
                                   test_rows=10, seed=args.seed)
        else:
            keyword_competition(TWEETS, source)
        data = workdir / "data" / which
        truth = split_competition(source, data, 0.2, args.seed)
        command = [sys.executable, "-m", "kagglekit", "train", which, *extra]
        start = time.perf_counter()
        process = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if process.returncode not in (0, 1):
            sys.exit(process.stdout[-3000:] + process.stderr[-3000:])
        table = pd.concat([score_submissions(workdir, which, truth), references(data, truth)], ignore_index=True)
        print(f"\n### {which}: {len(truth)} held-out rows; `kagglekit train {which} {' '.join(extra)}`: {wall:.0f} s wall\n")
        print(markdown_table(table.sort_values("held-out map@3", ascending=False)))


if __name__ == "__main__":
    main()

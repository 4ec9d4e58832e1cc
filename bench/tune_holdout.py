"""Benchmark: models with their defaults against the same models tuned by `kagglekit tune`, on held-out labels.

A competition's train.csv is split (``bench/holdout.py``'s seeded, stratified split) into a smaller train.csv and a
test.csv whose labels are held out; or, with ``--spooky``, a competition in the layout of Spooky Author Identification
is generated (no copy of it installs from PyPI): sentences by three authors, one probability column per author in the
submission, multiclass log loss. Then, on the same folds:

  1. kagglekit train NAME -m MODELS --defaults --run untuned
  2. kagglekit tune  NAME -m MODELS --trials N --run tuned        (timed: the tuning cost)
  3. kagglekit train NAME -m MODELS --run tuned                   (each model with its study's best parameters)

and each run's own submission files (runs/NAME/RUN/submissions/*.csv) are scored on the held-out labels beside
their CV score.

Usage:
  python bench/tune_holdout.py --data-dir ../shared/data/nlp-getting-started --trials 25
  python bench/tune_holdout.py --spooky --rows 8000 --trials 25
  python bench/tune_holdout.py --data-dir /tmp/spooky --trials 20 --tune baseline   (a copy of the real competition)
  python bench/tune_holdout.py --data-dir ../shared/data/nlp-getting-started --tune baseline --stack
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from holdout import held_out_score, split_competition  # noqa: E402

from kagglekit.data import load_competition  # noqa: E402
from kagglekit.runs import Run, markdown_table  # noqa: E402

AUTHORS = ("EAP", "HPL", "MWS")
FUNCTION_WORDS = ("the of and to a in that it was i his he with as had my which for but is not at by be this from on "
                  "me her so all were upon their one we an no there would or they been its could have you our than "
                  "when what some into said may more now only very these who then must yet those did before").split()
SYLLABLES = ("an", "bel", "cor", "dra", "el", "fen", "gor", "hal", "ith", "kal", "lor", "mor", "nal", "or", "pel",
             "quar", "ren", "sil", "tor", "ul", "vor", "wen", "yth", "zar")
ENDINGS = {"EAP": ("ous", "ly", "ment"), "HPL": ("ic", "eous", "ith"), "MWS": ("ness", "ful", "ed")}
PUNCTUATION = {"EAP": {",": 0.12, ";": 0.06}, "HPL": {",": 0.08, " -": 0.05}, "MWS": {",": 0.15, ";": 0.02}}  # after a word


def spooky_frame(rows: int, seed: int, lean: float = 0.35) -> pd.DataFrame:
    """``id, text, author`` rows of three authors who share most words: each leans (``lean``: how much) on its own
    share of a common content vocabulary, has rare words of its own (with its own endings: character n-grams see
    them), a few recurring phrases and its own punctuation, so both word and character n-grams carry the author."""
    rng = np.random.default_rng(seed)
    stems = np.array(sorted({"".join(rng.choice(SYLLABLES, int(rng.integers(2, 4)))) for _ in range(6000)}))
    content = stems[:2500]
    cdf = {a: np.cumsum(lean * rng.dirichlet(np.full(len(content), 0.15)) + (1 - lean) / len(content)) for a in AUTHORS}
    own = {a: np.array([s + str(rng.choice(ENDINGS[a])) for s in rng.choice(stems[2500:], 300, replace=False)]) for a in AUTHORS}
    phrases = {a: np.array([" ".join(rng.choice(content, 2)) for _ in range(30)]) for a in AUTHORS}
    zipf = np.cumsum(1.0 / np.arange(1, len(FUNCTION_WORDS) + 1))
    function_words = np.array(FUNCTION_WORDS)
    authors = rng.choice(AUTHORS, rows, p=[0.40, 0.29, 0.31])  # the competition's shares
    texts = []
    for author in authors:
        n = int(rng.integers(6, 36))
        kind = np.searchsorted([0.5, 0.95, 0.98], rng.random(n))  # function word, content word, own word, phrase
        words = np.empty(n, dtype=object)
        words[kind == 0] = function_words[np.searchsorted(zipf / zipf[-1], rng.random((kind == 0).sum()))]
        words[kind == 1] = content[np.minimum(np.searchsorted(cdf[author] / cdf[author][-1], rng.random((kind == 1).sum())), len(content) - 1)]
        lender = [author if rng.random() < 0.5 else str(rng.choice(AUTHORS)) for _ in range((kind == 2).sum())]
        words[kind == 2] = [str(rng.choice(own[a])) for a in lender]
        words[kind == 3] = rng.choice(phrases[author], (kind == 3).sum())
        marks = PUNCTUATION[author]
        after = rng.choice([*marks, ""], n, p=[*marks.values(), 1 - sum(marks.values())])
        texts.append(" ".join(w + m for w, m in zip(words, after)).capitalize() + ".")
    return pd.DataFrame({"id": [f"id{i:05d}" for i in range(rows)], "text": texts, "author": authors})


def write_spooky(target: Path, rows: int, share: float, seed: int) -> pd.DataFrame:
    """A spooky-author-like competition with ``share`` of its rows held out as the test set; returns their labels."""
    frame = spooky_frame(rows, seed)
    held = frame.sample(frac=share, random_state=seed)
    target.mkdir(parents=True, exist_ok=True)
    frame.drop(held.index).to_csv(target / "train.csv", index=False)
    held.drop(columns="author").to_csv(target / "test.csv", index=False)
    pd.DataFrame({"id": held["id"], **{a: 1 / 3 for a in AUTHORS}}).to_csv(target / "sample_submission.csv", index=False)
    return held[["id", "author"]]


def held_out_scores(run: Run, data: Path, truth: pd.DataFrame) -> pd.DataFrame:
    """Each submission file of ``run`` scored on the held-out labels with the competition's metric, beside its CV."""
    competition = load_competition(data, metric=run.manifest["metric"])
    id_column, metric = competition.id_column, competition.metric
    board = run.leaderboard().set_index("model")
    rows = []
    for path in sorted((run.directory / "submissions").glob("*.csv")):
        submission = pd.read_csv(path, dtype={id_column: str}, keep_default_na=False)
        row = {"submission": path.stem, f"held-out {metric.name}": held_out_score(competition, submission, truth)}
        if path.stem in board.index:
            row[f"cv {metric.name}"] = board.loc[path.stem, f"cv_{metric.name}"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values(f"held-out {metric.name}", ascending=not metric.greater_is_better)


def kagglekit(workdir: Path, *args: str) -> float:
    """Run one kagglekit command in ``workdir``; its wall time in seconds (its output's tail is printed)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kagglekit", *args], cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(f"$ kagglekit {' '.join(args)}  ({wall:.0f} s)\n{done.stdout[-2500:]}", flush=True)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="a competition folder whose train.csv is split")
    parser.add_argument("--spooky", action="store_true", help="a generated spooky-author-like competition instead")
    parser.add_argument("--rows", type=int, default=8000, help="rows of the generated competition (before the split)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-tune"))
    parser.add_argument("--share", type=float, default=0.2, help="share of the rows held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("-m", "--model", action="append", dest="models", help="models (default: baseline, tfidf_lr)")
    parser.add_argument("--stack", action="store_true", help="tune with `tune --stack` in a copy of the untuned run")
    parser.add_argument("--tune", action="append", help="models to tune (default: every model); the others keep their defaults")
    args = parser.parse_args()
    name = "spooky" if args.spooky else "holdout"
    data = args.workdir / "data" / name
    truth = write_spooky(data, args.rows, args.share, args.seed) if args.spooky else split_competition(args.data_dir, data, args.share, args.seed)
    models = [option for m in (args.models or ["baseline", "tfidf_lr"]) for option in ("-m", m)]
    common = [*models, "--jobs", "1"]
    untuned_s = kagglekit(args.workdir, "train", name, *common, "--defaults", "--run", "untuned")
    tuned_models = [option for m in (args.tune or args.models or ["baseline", "tfidf_lr"]) for option in ("-m", m)]
    runs = args.workdir / "runs" / name
    if args.stack:  # the trials are stacked with the other members' out-of-fold predictions: the untuned run's
        shutil.copytree(runs / "untuned", runs / "tuned")
    tune_s = kagglekit(args.workdir, "tune", name, *tuned_models, "--trials", str(args.trials), "--run", "tuned",
                       *(["--stack"] if args.stack else []))
    tuned_s = kagglekit(args.workdir, "train", name, *common, "--run", "tuned")
    for label, run_name, wall in (("defaults", "untuned", untuned_s), ("tuned", "tuned", tuned_s)):
        print(f"\n{label} (`train` {wall:.0f} s{f', `tune` {tune_s:.0f} s' if label == 'tuned' else ''}):\n")
        print(markdown_table(held_out_scores(Run(runs / run_name), data, truth)))


if __name__ == "__main__":
    main()

"""Every token model on the generated PII- and NBME-layout competitions, scored on their held-out test documents.

    python bench/tokens_demo.py [--workspace DIR] [--documents 300] [--notes 200] [--essays 200] [--models crf,lookup,...]
                                [--only pii,nbme,feedback]

PII: micro F5 and seqeval entity F1 of each model's and ensemble's row-per-token submission against the
generated test labels, beside a look-up of each token's most frequent training label; NBME: character F1 of each
span submission; Feedback: the overlap F1 (Kaggle's, macro over discourse types) of each segment submission. Times:
feature extraction, fits and predictions, summed over the folds and the refit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tokens_conll import held_out_scores, most_frequent_label  # noqa: E402

from kagglekit.tokens import train  # noqa: E402
from kagglekit.tokens.demo import write_feedback_competition, write_nbme_competition, write_pii_competition  # noqa: E402
from kagglekit.tokens.layout import load, parse_spans  # noqa: E402
from kagglekit.tokens.metrics import char_scores, overlap_f1  # noqa: E402


def show(result, held: dict[str, dict[str, float]], wall: float) -> None:
    board = result.leaderboard.drop(columns=["status"]).copy()
    for key in next(iter(held.values())):
        board[f"held_out_{key}"] = board["model"].map(lambda m, k=key: held[m][k])
    timed = board[board["kind"] == "model"]
    total = timed[["features_s", "fit_s", "predict_s"]].sum()
    print(board.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"time: features {total['features_s']:.1f} s ({total['features_s'] / total.sum():.1%}), fits {total['fit_s']:.1f} s "
          f"({total['fit_s'] / total.sum():.1%}), predictions {total['predict_s']:.1f} s; train wall {wall:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/kagglekit-tokens-demo"))
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--notes", type=int, default=200)
    parser.add_argument("--essays", type=int, default=200)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--models", default="")
    parser.add_argument("--only", default="pii,nbme,feedback", help="which layouts to run, comma-separated")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m] or None
    only = set(args.only.split(","))
    if "pii" in only:
        pii(args, models)
    if "nbme" in only:
        nbme(args, models)
    if "feedback" in only:
        feedback(args, models)


def pii(args: argparse.Namespace, models: list[str] | None) -> None:
    directory, test = write_pii_competition(args.workspace / "data" / "demo-pii", documents=args.documents)
    started = time.perf_counter()
    result = train(directory, models, folds=args.folds, output=args.workspace)
    wall = time.perf_counter() - started
    print(f"PII layout: {args.documents} generated training documents, {len(test)} held-out", flush=True)
    show(result, {name: held_out_scores(path, test) for name, path in result.submissions.items()}, wall)
    train_docs = [{"tokens": s.tokens, "labels": s.labels} for s in load(directory).train]
    reference = most_frequent_label(train_docs, test)
    print(f"most frequent training label per token: held-out F5 {reference['f5']:.4f}, entity F1 {reference['entity_f1']:.4f}\n")


def nbme(args: argparse.Namespace, models: list[str] | None) -> None:
    directory, solution = write_nbme_competition(args.workspace / "data" / "demo-nbme", notes=args.notes)
    started = time.perf_counter()
    result = train(directory, models, folds=args.folds, output=args.workspace)
    wall = time.perf_counter() - started
    truth = solution.set_index("id")["location"]
    held = {}
    for name, path in result.submissions.items():
        frame = pd.read_csv(path, keep_default_na=False)
        held[name] = {"char_f1": char_scores([parse_spans(truth[i]) for i in frame["id"]],
                                             [parse_spans(v) for v in frame["location"]])["char_f1"]}
    print(f"NBME layout: {args.notes} generated training notes, {len(solution)} held-out rows", flush=True)
    show(result, held, wall)


def feedback(args: argparse.Namespace, models: list[str] | None) -> None:
    directory, solution = write_feedback_competition(args.workspace / "data" / "demo-feedback", essays=args.essays)
    started = time.perf_counter()
    result = train(directory, models, folds=args.folds, output=args.workspace)
    wall = time.perf_counter() - started
    truth = list(solution.itertuples(index=False, name=None))
    held = {name: {"overlap_f1": overlap_f1(truth, list(pd.read_csv(path, dtype=str).itertuples(index=False, name=None)))}
            for name, path in result.submissions.items()}
    print(f"Feedback layout: {args.essays} generated training essays, {solution['id'].nunique()} held-out", flush=True)
    show(result, held, wall)


if __name__ == "__main__":
    main()

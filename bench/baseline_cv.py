"""Benchmark: 5-fold CV + refit of one fast model (default: the notebook's model 0) on nlp-getting-started.

Usage: python bench/baseline_cv.py [--model baseline] [--repeats 5] [--data-dir ../shared/data/nlp-getting-started]
Each repeat trains from an empty workspace in this process (imports excluded); prints the median wall time
and the model's CV metrics.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kagglekit.config import Workspace
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.trainer import run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nlp-getting-started")
    args = parser.parse_args()
    times, summary = [], {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as workdir:
            config = TrainConfig.resolve("nlp-getting-started", [args.model], False, data_dir=args.data_dir,
                                         workspace=Workspace(Path(workdir)), ensemble=False)
            start = time.perf_counter()
            result = run(config)
            times.append(time.perf_counter() - start)
            summary = result.run.summary(args.model)
    print(f"{args.model}: 5-fold CV + refit + submission, median {statistics.median(times):.2f} s wall over {len(times)} "
          f"(min {min(times):.2f}, max {max(times):.2f}); model fit time {summary['fit_s']:.2f} s over the folds")
    print(" ".join(f"{k}={summary[k]:.4f}" for k in ("cv_score", "cv_score_std", "oof_score", "oof_score_tuned", "threshold",
                                                     "accuracy", "precision", "recall", "f1_weighted")))


if __name__ == "__main__":
    main()

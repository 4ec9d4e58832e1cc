"""Benchmark: `kagglekit train --all` on a competition of CommonLit Readability's size and text length.

CommonLit Readability (2021) has 2,834 training excerpts of about 175 words (a float `target`, a train-only
`standard_error`, sparse `url_legal`/`license`), RMSE. The excerpts here are generated in that layout from the demo's
readability generator (`kagglekit.demo.readability_excerpt`: hard words and long sentences lower the target), 14-18
sentences each, so the models
see the real sequence lengths; the test has 1,000 rows. The run is timed with the default options (`--jobs auto`)
unless others follow `--`.

Usage: python bench/commonlit_size.py [--rows 2834] [--workdir /tmp/kk-commonlit] -- [train options]
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

from kagglekit.demo import readability_excerpt
from kagglekit.runs import Run, markdown_table

NAME = "commonlit-size"


def write_competition(directory: Path, rows: int, test_rows: int, seed: int = 42) -> None:
    rng = np.random.default_rng(seed)
    total = rows + test_rows
    difficulty = rng.normal(0.0, 1.0, total)
    licensed = rng.random(total) < 0.3
    frame = pd.DataFrame({
        "id": [f"c{i:06d}" for i in range(total)],
        "url_legal": [f"https://example.org/texts/{i}" if lic else None for i, lic in enumerate(licensed)],
        "license": ["CC BY 4.0" if lic else None for lic in licensed],
        "excerpt": [readability_excerpt(rng, d, sentences=(14, 19)) for d in difficulty],
        "target": np.round(-difficulty + rng.normal(0.0, 0.3, total), 4),
        "standard_error": np.round(0.45 + 0.05 * rng.random(total), 4),
    })
    directory.mkdir(parents=True, exist_ok=True)
    frame.iloc[:rows].to_csv(directory / "train.csv", index=False)
    frame.iloc[rows:].drop(columns=["target", "standard_error"]).to_csv(directory / "test.csv", index=False)
    pd.DataFrame({"id": frame["id"].iloc[rows:], "target": 0.0}).to_csv(directory / "sample_submission.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2834)
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-commonlit"))
    parser.add_argument("train_args", nargs="*", help="-- then kagglekit train's options")
    args = parser.parse_args()
    data = args.workdir / "data" / NAME
    write_competition(data, args.rows, args.test_rows)
    words = pd.read_csv(data / "train.csv")["excerpt"].str.split().str.len()
    command = [sys.executable, "-m", "kagglekit", "train", NAME, "--all", "--data-dir", str(data), *args.train_args]
    start = time.perf_counter()
    process = subprocess.run(command, cwd=args.workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        sys.stderr.write(process.stdout[-3000:] + process.stderr[-3000:])
        raise SystemExit(f"train failed with exit code {process.returncode}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    board = Run(next((args.workdir / "runs" / NAME).iterdir())).leaderboard()
    print(f"command: python bench/commonlit_size.py {' '.join(sys.argv[1:])}")
    print(f"{args.rows} train / {args.test_rows} test excerpts, {words.median():.0f} words (median); "
          f"wall {wall:.0f} s, peak RSS of the train process {peak:.2f} GiB")
    print()
    columns = [c for c in ("model", "kind", "cv_rmse", "cv_rmse_std", "fit_s", "status") if c in board.columns]
    print(markdown_table(board[columns]))


if __name__ == "__main__":
    main()

"""Benchmark: time and peak memory of 5-fold CV as the competition grows (100k, 300k, 1M rows).

One process (`--jobs 1`), so its peak RSS is the run's memory. A generated short-text binary competition (kagglekit.demo's disaster-tweets generator: text, keyword, location)
of N training rows and N/4 test rows is trained by one `kagglekit train` process per size; wall time and the
child's peak RSS are measured here, CV scores read from the run's leaderboard.

Usage: python bench/scale.py [--sizes 100000 300000 1000000] [--models baseline tfidf_lr dense] [--workdir /tmp/kk-scale]
Results go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kagglekit.demo import write_demo_competition
from kagglekit.runs import Run


def train_once(workdir: Path, name: str, models: list[str]) -> tuple[float, float, Run]:
    """One `kagglekit train` process in its own folder; returns (wall seconds, the process's peak RSS in GiB, run)."""
    command = [sys.executable, "-m", "kagglekit", "train", name, "--no-ensemble", "--jobs", "1", *(a for m in models for a in ("-m", m))]
    probe = [sys.executable, "-c", "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(p.returncode)"]
    start = time.perf_counter()
    process = subprocess.run([*probe, *command], cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        sys.stderr.write(process.stdout[-3000:] + process.stderr[-3000:])
        raise SystemExit(f"train failed with exit code {process.returncode}")
    peak_kib = int(process.stderr.strip().splitlines()[-1])
    return wall, peak_kib / 1024**2, Run(next((workdir / "runs" / name).iterdir()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--models", nargs="+", default=["baseline", "tfidf_lr", "dense"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-scale"))
    args = parser.parse_args()
    print("| rows | models | wall | peak RSS | " + " | ".join(f"{m} CV" for m in args.models) + " |")
    print("|---|---|---|---|" + "---|" * len(args.models))
    for rows in args.sizes:
        workdir = args.workdir / str(rows)
        shutil.rmtree(workdir, ignore_errors=True)
        name = f"scale-{rows}"
        write_demo_competition(workdir / "data" / name, rows=rows, test_rows=rows // 4, seed=rows)
        wall, peak, run = train_once(workdir, name, args.models)
        board = run.leaderboard().set_index("model")
        metric = run.metric.name
        scores = " | ".join(f"{board.loc[m, f'cv_{metric}']:.4f}" if m in board.index else "failed" for m in args.models)
        print(f"| {rows:,} | {', '.join(args.models)} | {wall:.0f} s | {peak:.2f} GiB | {scores} |", flush=True)
        shutil.rmtree(workdir / "runs", ignore_errors=True)


if __name__ == "__main__":
    main()

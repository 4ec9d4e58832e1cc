"""Benchmark: the whole `kagglekit train --all` run on nlp-getting-started, cold then with the embedding cache warm.

Usage: python bench/train_all.py [--data-dir ../shared/data/nlp-getting-started] [--workdir /tmp/kk-bench] [--repeats 1]
Each run is a separate `kagglekit train` process; wall time and peak RSS (of the child) are measured here,
per-model CV scores are read from the run's leaderboard (`Run.leaderboard`). Results go to stdout as Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from kagglekit.runs import Run

ROOT = Path(__file__).resolve().parents[1]


def run_once(workdir: Path, data_dir: Path, extra: list[str]) -> tuple[float, float, Path]:
    """One train --all process from a clean runs/ folder; returns (wall seconds, peak RSS GiB, run dir)."""
    shutil.rmtree(workdir / "runs", ignore_errors=True)
    shutil.rmtree(workdir / "submissions", ignore_errors=True)
    command = [sys.executable, "-m", "kagglekit", "train", data_dir.name, "--all", "--data-dir", str(data_dir), *extra]
    start = time.perf_counter()
    process = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        sys.stderr.write(process.stdout[-3000:] + process.stderr[-3000:])
        raise SystemExit(f"train --all failed with exit code {process.returncode}")
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return wall, peak_gib, next((workdir / "runs" / data_dir.name).iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nlp-getting-started")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kagglekit-bench"))
    parser.add_argument("--repeats", type=int, default=1, help="warm runs to repeat (median reported)")
    parser.add_argument("extra", nargs="*", help="extra options for kagglekit train")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.workdir / ".cache", ignore_errors=True)

    cold, cold_peak, run_dir = run_once(args.workdir, args.data_dir.resolve(), args.extra)
    warm_runs = [run_once(args.workdir, args.data_dir.resolve(), args.extra) for _ in range(args.repeats)]
    warm = statistics.median(w for w, _, _ in warm_runs)
    board = Run(run_dir).leaderboard()
    print(f"## train --all, {date.today()}")
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"command: python bench/train_all.py {' '.join(sys.argv[1:])}")
    print(f"cold run (empty embedding cache): {cold:.0f} s wall; warm run(s): median {warm:.0f} s over {len(warm_runs)}; "
          f"peak RSS of a train process: {max([cold_peak] + [p for _, p, _ in warm_runs]):.2f} GiB")
    print()
    print(board.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()

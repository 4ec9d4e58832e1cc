"""Benchmark: `kagglekit train --all` sequentially, with `--jobs N` local workers, and on a local 2-node Ray cluster.

Usage: python bench/backends.py [--data-dir ../shared/data/nlp-getting-started] [--workdir /tmp/kk-backends]
                                [--repeats 2] [--jobs 2] [--backends sequential,jobs,ray] [-- extra train options]
Each run is a fresh `kagglekit train` process on an empty runs/ folder with the embedding cache warm (one
untimed run fills it first), so the backends are compared on the same work. Prints Markdown: median wall
time per backend, its ratio to sequential, and whether the leaderboards agree (same models, same order,
CV scores equal to 4 decimals).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_all import ROOT, run_once  # noqa: E402

from kagglekit.runs import Run  # noqa: E402

RAY_PORT = "6391"


def start_ray(workdir: Path, cpus_per_node: int) -> str:
    """A head node and one worker node on loopback, each with its share of the cores."""
    ray = str(Path(sys.executable).parent / "ray")
    address = f"127.0.0.1:{RAY_PORT}"
    common = [f"--num-cpus={cpus_per_node}", "--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    subprocess.run([ray, "start", "--head", f"--port={RAY_PORT}", "--include-dashboard=false", *common], check=True,
                   capture_output=True, cwd=workdir)
    subprocess.run([ray, "start", f"--address={address}", *common], check=True, capture_output=True, cwd=workdir)
    return address


def stop_ray() -> None:
    subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], capture_output=True)


def scores(run_dir: Path) -> pd.DataFrame:
    board = Run(run_dir).leaderboard()
    column = next(c for c in board.columns if c.startswith("cv_") and not c.endswith("_std"))
    return board[["model", column]].round(4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nlp-getting-started")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kagglekit-backends"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--backends", default="sequential,jobs,ray")
    parser.add_argument("extra", nargs="*", help="extra options for kagglekit train")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    run_once(args.workdir, args.data_dir, args.extra)  # fills the embedding cache; not timed
    cores = len(os.sched_getaffinity(0))
    options = {"sequential": [], "jobs": ["--jobs", str(args.jobs)], "ray": ["--backend", "ray"]}
    rows, boards = [], {}
    for backend in args.backends.split(","):
        extra = [*args.extra, *options[backend]]
        if backend == "ray":
            stop_ray()
            extra += ["--address", start_ray(args.workdir, max(1, cores // 2))]
        try:
            walls = []
            for _ in range(args.repeats):
                wall, _, run_dir = run_once(args.workdir, args.data_dir, extra)
                walls.append(wall)
                boards[backend] = scores(run_dir)
        finally:
            if backend == "ray":
                stop_ray()
        rows.append((backend, " ".join(options[backend]) or "(default)", statistics.median(walls), walls))
    reference = rows[0][2]
    print(f"## {date.today()} — backends (`python bench/backends.py --repeats {args.repeats} --jobs {args.jobs}`)\n")
    print(f"Machine: {cores} cores, {platform.machine()}, Python {platform.python_version()}; options: {' '.join(args.extra) or '--all'}\n")
    print("| backend | options | median wall | runs | vs sequential | leaderboard equals sequential's |")
    print("|---|---|---|---|---|---|")
    first = boards[rows[0][0]]
    for backend, flags, median, walls in rows:
        same = boards[backend].equals(first)
        print(f"| {backend} | `{flags}` | {median:.0f} s | {', '.join(f'{w:.0f}' for w in walls)} | {reference / median:.2f}x | {'yes' if same else 'NO'} |")
    shutil.rmtree(args.workdir / "runs", ignore_errors=True)


if __name__ == "__main__":
    main()

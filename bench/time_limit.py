"""Benchmark: does `kagglekit train --all --time-limit T` hold T, and what does it keep, at 25%, 50% and 100% of a
full run?

One `train --all` without a limit measures the full wall time W (and fills the embedding cache, which every later
run shares, as a user's second run would); then each limit runs in a fresh runs/ folder, so the costs come from
probe fits (no earlier run to learn from), the harder case. Each row: the limit, the wall time, whether it held,
the models trained and left out, the best CV score and the score of `ensemble.csv`'s entry.

Usage: python bench/time_limit.py [--data-dir ../shared/data/nlp-getting-started] [--shares 0.25 0.5 1.0] [--full-wall S] -- [train options]
Results go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kagglekit.runs import Run
from train_all import run_once  # bench/ is the script's folder, so its first import path

ROOT = Path(__file__).resolve().parents[1]


def train(workdir: Path, data_dir: Path, extra: list[str]) -> tuple[float, Run]:
    """One `train --all` process on an empty runs/ folder (``train_all.run_once``); returns (wall seconds, the run)."""
    wall, _, run_dir = run_once(workdir, data_dir, extra)
    return wall, Run(run_dir)


def describe(run: Run) -> tuple[list[str], list[str], str, float]:
    """(models trained, models left out, best entry, its CV score) of a finished run."""
    board = run.leaderboard()
    models = board[board["kind"] == "model"]
    done = sorted(models.loc[models["status"] == "ok", "model"])
    limit = run.manifest.get("time_limit") or {}
    left = sorted(set(limit.get("not_run", {})) | set(models.loc[models["status"] != "ok", "model"]))
    best = run.best()
    score = float(board.set_index("model").loc[best, f"cv_{run.metric.name}"])
    return done, left, best, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nlp-getting-started")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-time-limit"))
    parser.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--full-wall", type=float, help="seconds of a full run measured before: skip measuring it")
    parser.add_argument("train_args", nargs="*", help="-- then kagglekit train's options")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data_dir = args.data_dir.resolve()

    print(f"command: python bench/time_limit.py {' '.join(sys.argv[1:])}")
    print()
    print("| limit | wall | held | models trained | left out | best entry (CV) |")
    print("|---|---|---|---|---|---|")
    full = args.full_wall
    if full is None:
        full, run = train(args.workdir, data_dir, args.train_args)
        done, _, best, score = describe(run)
        print(f"| none | {full:.0f} s | | {len(done)} | | {best} ({score:.4f}) |", flush=True)
    for share in args.shares:
        limit = share * full
        wall, run = train(args.workdir, data_dir, [*args.train_args, "--time-limit", f"{limit:.0f}"])
        done, left, best, score = describe(run)
        print(f"| {share:.0%} = {limit:.0f} s | {wall:.0f} s | {'yes' if wall <= limit else 'NO'} | {len(done)} | "
              f"{', '.join(left) or '-'} | {best} ({score:.4f}) |", flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: a generated competition in the CommonLit - Evaluate Student Summaries layout, with and without its prompts.

Files as Kaggle ships them: summaries_{train,test}.csv (student_id, prompt_id, text; content and wording in train),
prompts_{train,test}.csv (prompt_id, prompt_question, prompt_title, prompt_text) and sample_submission.csv; the
test prompts are not in train, as in the real competition. The targets depend on the prompt:

- content: the share of a summary's topic words that come from its own prompt's text (the rest are copied from
  another topic), scaled, minus the prompt's difficulty (its question asks for an "introductory", "intermediate" or
  "advanced" summary), plus noise. From the summary alone both topics look alike;
- wording: the share of linking words in the summary, minus the difficulty, plus noise.

`kagglekit train` runs three times on the same folds (grouped by prompt_id, so a fold's prompts are unseen, as the
test's are): with no option (the prompt columns are joined from prompts_*.csv), with the prompt's text alone (its
question and title left out with --ignore-column), and with the summary alone. Each submission is also scored on
the generated test labels.

Usage:
  python bench/commonlit_ess.py --workdir /tmp/kk-ess -- -m tfidf_lr -m baseline
Arguments after `--` go to every `kagglekit train` run. Results go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.metrics import get_metric
from kagglekit.runs import Run

NAME = "commonlit-ess"
PROMPT_COLUMNS = ("prompt_question", "prompt_title", "prompt_text")
TOPICS = {
    "Egypt": "pharaoh pyramid nile priests scribes farmers slaves tombs egypt dynasty gods temples".split(),
    "Tragedy": "tragedy aristotle plot hero pity fear catharsis chorus stage downfall poet audience".split(),
    "Wave": "experiment students teacher discipline movement salute members ridgley lesson obedience rally class".split(),
    "Factories": "factory workers meat packing sinclair jungle sausage inspectors chemicals rot poison laws".split(),
    "Volcanoes": "volcano magma lava eruption crater ash tectonic plates pressure vent pumice seismic".split(),
    "Bees": "bees hive queen pollen nectar honey colony workers drones flowers wax swarm".split(),
    "Railroads": "railroad tracks locomotive steam union pacific spike laborers tunnels telegraph frontier cattle".split(),
    "Oceans": "ocean currents tides salinity plankton coral reef whales depth trench gulf stream".split(),
    "Vaccines": "vaccine immune antibodies virus smallpox jenner dose infection herd pathogen booster cells".split(),
    "Printing": "printing press gutenberg type ink paper books bible literacy reformation scribes pages".split(),
    "Storms": "hurricane storm wind rain pressure eye landfall surge flood forecast satellite category".split(),
    "Bridges": "bridge steel cables suspension arch span load beams engineers rivets towers truss".split(),
}
LINKS = "because therefore however moreover consequently although whereas furthermore thus meanwhile".split()
FILLER = "the a of and it is was in to that this they which also very some many".split()
DIFFICULTY = {"introductory": 0.0, "intermediate": 0.6, "advanced": 1.2}
# The runs: what each reads, and the prompt columns it leaves out (--ignore-column).
ARMS = {"prompts": ("summary + prompt", ()), "prompt-text": ("summary + prompt_text", ("prompt_question", "prompt_title")),
        "summary-only": ("summary alone", PROMPT_COLUMNS)}


def generate(directory: Path, train_prompts: int = 30, test_prompts: int = 6, per_prompt: int = 80, seed: int = 7) -> pd.DataFrame:
    """Write the competition's files into ``directory``; return the test rows' true targets."""
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    prompts = []
    for i in range(train_prompts + test_prompts):
        topic = topics[i % len(topics)]
        level = list(DIFFICULTY)[int(rng.integers(len(DIFFICULTY)))]
        words = rng.choice(TOPICS[topic], size=8, replace=False).tolist()
        text = " ".join(rng.permutation(words * 3 + rng.choice(FILLER, size=20).tolist()))
        prompts.append({"prompt_id": f"p{i:03d}", "prompt_question": f"Write an {level} summary of the article.",
                        "prompt_title": f"{topic} {i}", "prompt_text": text, "topic": topic, "level": level, "words": words})
    rows = []
    for prompt in prompts:
        for j in range(per_prompt):
            own = rng.uniform(0.1, 1.0)  # share of the summary's topic words from its own prompt
            other = TOPICS[topics[(topics.index(prompt["topic"]) + int(rng.integers(1, len(topics)))) % len(topics)]]
            n_topic, n_links = int(rng.integers(6, 14)), int(rng.integers(0, 6))
            picked = [rng.choice(prompt["words"]) if rng.random() < own else rng.choice(other) for _ in range(n_topic)]
            words = picked + rng.choice(LINKS, size=n_links).tolist() + rng.choice(FILLER, size=10).tolist()
            difficulty = DIFFICULTY[prompt["level"]]
            rows.append({
                "student_id": f"{prompt['prompt_id']}s{j:03d}", "prompt_id": prompt["prompt_id"],
                "text": " ".join(rng.permutation(words)),
                "content": 3 * np.mean([w in prompt["words"] for w in picked]) - 1.5 - difficulty + rng.normal(0, 0.25),
                "wording": 0.25 * n_links - 0.6 - 0.7 * difficulty + rng.normal(0, 0.25),
            })
    summaries = pd.DataFrame(rows).round({"content": 4, "wording": 4})
    frame = pd.DataFrame(prompts)[["prompt_id", *PROMPT_COLUMNS]]
    is_test = summaries["prompt_id"].isin(frame["prompt_id"][train_prompts:])
    directory.mkdir(parents=True, exist_ok=True)
    frame[:train_prompts].to_csv(directory / "prompts_train.csv", index=False)
    frame[train_prompts:].to_csv(directory / "prompts_test.csv", index=False)
    summaries[~is_test].to_csv(directory / "summaries_train.csv", index=False)
    summaries[is_test].drop(columns=["content", "wording"]).to_csv(directory / "summaries_test.csv", index=False)
    summaries[is_test][["student_id"]].assign(content=0.0, wording=0.0).to_csv(directory / "sample_submission.csv", index=False)
    return summaries[is_test][["student_id", "content", "wording"]]


def train(workdir: Path, run: str, args: list[str]) -> float:
    command = [sys.executable, "-m", "kagglekit", "train", NAME, "--data-dir", str(workdir / "data" / NAME), "--run", run,
               "--metric", "mcrmse", "--group-column", "prompt_id", *args]
    print("$", " ".join(command[2:]), file=sys.stderr)
    started = time.monotonic()
    subprocess.run(command, cwd=workdir, check=True)
    return time.monotonic() - started


def scores(workdir: Path, run: str, truth: pd.DataFrame) -> pd.DataFrame:
    """CV MCRMSE of each model and ensemble of the run beside its submission's MCRMSE on the test labels."""
    folder = Run(workdir / "runs" / NAME / run)
    board = folder.leaderboard()
    metric = get_metric("mcrmse")
    rows = []
    for _, row in board[board["status"] == "ok"].iterrows():
        submission = pd.read_csv(folder.submission_path(row["model"])).set_index("student_id")
        expected = truth.set_index("student_id").loc[submission.index]
        rows.append({"model": row["model"], "cv_mcrmse": row["cv_mcrmse"], "cv_std": row["cv_mcrmse_std"],
                     "test_mcrmse": metric.score(expected.to_numpy(), submission[["content", "wording"]].to_numpy())})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-ess"))
    parser.add_argument("train_args", nargs="*")
    args = parser.parse_args()
    truth = generate(args.workdir / "data" / NAME)
    arms = {run: [a for c in ignored for a in ("--ignore-column", c)] for run, (_, ignored) in ARMS.items()}
    walls = {run: train(args.workdir, run, [*args.train_args, *ignore]) for run, ignore in arms.items()}
    tables = [scores(args.workdir, run, truth).set_index("model").add_suffix(f" {run}") for run in arms]
    both = pd.concat(tables, axis=1, join="inner")
    print(f"wall: {', '.join(f'{k} {v:.0f} s' for k, v in walls.items())}")
    labels = [label for label, _ in ARMS.values()]
    print("| model | " + " | ".join(f"CV MCRMSE, {label}" for label in labels) + " | "
          + " | ".join(f"test MCRMSE, {label}" for label in labels) + " |")
    print("|---" * (1 + 2 * len(arms)) + "|")
    for model, r in both.iterrows():
        cv = [f"{r[f'cv_mcrmse {run}']:.4f} ± {r[f'cv_std {run}']:.4f}" for run in arms]
        print(f"| {model} | " + " | ".join(cv + [f"{r[f'test_mcrmse {run}']:.4f}" for run in arms]) + " |")


if __name__ == "__main__":
    main()

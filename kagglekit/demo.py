"""The embedded default competition: generated disaster tweets in Kaggle's layout, so the whole pipeline runs offline.

Texts share vocabulary across classes ("fire", "crash" and "flood" appear in both, as in the real
competition), a share of them borrow the other class's phrasing, and some labels are flipped, so models
differ and scores are informative rather than perfect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.io import atomic_path

NAME = "demo-disaster-tweets"

DISASTERS = ["wildfire", "earthquake", "flood", "hurricane", "explosion", "train crash", "landslide", "tornado", "fire", "storm"]
PLACES = ["California", "the city centre", "Manila", "the highway", "Lagos", "the coast", "Ronge Sask", "downtown", "the valley"]
REAL = [
    "{d} near {p}, {n} people evacuated",
    "breaking: {d} hits {p}, emergency services on site",
    "{n} dead after {d} in {p} #news",
    "residents asked to shelter in place as {d} spreads across {p}",
    "firefighters battling {d} near {p} tonight",
    "officials confirm {d} damage in {p}, roads closed",
    "rescue teams search for survivors after {d} in {p}",
    "#{t} {d} warning issued for {p}",
]
FIGURATIVE = [
    "this new album is pure {d} honestly",
    "my inbox after the weekend is a total {d} lol",
    "that concert in {p} was fire!!",
    "traffic in {p} is a {d} of nonsense today",
    "I'm on fire at work today #blessed",
    "watching a {d} movie with popcorn",
    "my kitchen looks like a {d} hit it after baking",
    "loved the sunset over {p} tonight",
    "new phone who dis, old one crashed again",
    "can't wait for the weekend in {p}",
    "this game is the bomb, playing all night",
]
TAGS = ["alert", "breaking", "news", "emergency", "update"]
# Filler words: each class leans towards its own list, both draw from both.
REAL_WORDS = ["police", "victims", "injured", "killed", "rescue", "damage", "army", "warning", "missing", "homes", "smoke", "bridge"]
CASUAL_WORDS = ["lol", "omg", "love", "friends", "music", "game", "tonight", "coffee", "selfie", "weekend", "funny", "party"]


def generate(rows: int = 1200, test_rows: int = 400, noise: float = 0.05, borrowed: float = 0.15,
             seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A train and a test frame with the columns of nlp-getting-started (id, keyword, location, text[, target]).

    ``borrowed`` is the share of texts phrased like the other class, whose label only the filler words
    reveal; ``noise`` the share of flipped labels.
    """
    rng = np.random.default_rng(seed)
    total = rows + test_rows
    target = (rng.random(total) < 0.43).astype(int)
    texts, keywords = [], []
    for label in target:
        phrased_as = 1 - label if rng.random() < borrowed else label
        template = rng.choice(REAL if phrased_as else FIGURATIVE)
        disaster = str(rng.choice(DISASTERS))
        own, other = (REAL_WORDS, CASUAL_WORDS) if label else (CASUAL_WORDS, REAL_WORDS)
        filler = [str(rng.choice(own if rng.random() < 0.7 else other)) for _ in range(int(rng.integers(1, 4)))]
        text = template.format(d=disaster, p=rng.choice(PLACES), n=int(rng.integers(2, 300)), t=rng.choice(TAGS))
        texts.append(f"{text} {' '.join(filler)}")
        keywords.append(disaster.replace(" ", "%20") if rng.random() < 0.9 else None)
    flipped = rng.random(total) < noise
    target = np.where(flipped, 1 - target, target)
    locations = [str(rng.choice(PLACES)) if rng.random() < 0.6 else None for _ in range(total)]
    frame = pd.DataFrame({"id": np.arange(total) * 3 + 1, "keyword": keywords, "location": locations, "text": texts, "target": target})
    order = rng.permutation(total)
    frame = frame.iloc[order].reset_index(drop=True)
    return frame.iloc[:rows].reset_index(drop=True), frame.iloc[rows:].drop(columns="target").reset_index(drop=True)


def write_demo_competition(directory: Path, *, rows: int = 1200, test_rows: int = 400, seed: int = 42) -> Path:
    """Write train.csv, test.csv and sample_submission.csv (atomically) and return the folder."""
    train, test = generate(rows, test_rows, seed=seed)
    sample = pd.DataFrame({"id": test["id"], "target": 0})
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in (("train.csv", train), ("test.csv", test), ("sample_submission.csv", sample)):
        with atomic_path(directory / name, suffix=".csv") as tmp:
            frame.to_csv(tmp, index=False)
    return directory

"""Shared fixtures: outputs always go to tmp_path, and a tiny competition in Kaggle's layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nlp-getting-started"

TWEETS = [
    ("Forest fire near La Ronge Sask. Canada", 1),
    ("Earthquake hits the coast, hundreds evacuated", 1),
    ("Flood warning issued for the valley tonight", 1),
    ("Train crash kills 12 near the station", 1),
    ("Wildfire spreads, residents asked to shelter in place", 1),
    ("Explosion at the factory, emergency crews on site", 1),
    ("I love fruits", 0),
    ("What a goooooal!!", 0),
    ("This new album is fire honestly", 0),
    ("Summer is lovely", 0),
    ("My car is so fast", 0),
    ("Watching a movie with popcorn tonight", 0),
]


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes runs/, submissions/ and caches under its own tmp_path, never into the repo or ../shared; no
    test reaches the real Hugging Face hub (a closed local port refuses at once) or reads this machine's hub cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))


def write_competition(directory: Path, train: pd.DataFrame, test: pd.DataFrame, sample: pd.DataFrame) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    train.to_csv(directory / "train.csv", index=False)
    test.to_csv(directory / "test.csv", index=False)
    sample.to_csv(directory / "sample_submission.csv", index=False)
    return directory


@pytest.fixture
def tiny_competition(tmp_path: Path) -> Path:
    """Twelve labelled tweets repeated to 36 rows (3 folds need a few of each class), six test tweets."""
    rows = TWEETS * 3
    train = pd.DataFrame({
        "id": range(1, len(rows) + 1),
        "keyword": ["fire" if y else None for _, y in rows],
        "location": None,
        "text": [f"{t} {i}" for i, (t, _) in enumerate(rows)],
        "target": [y for _, y in rows],
    })
    test = pd.DataFrame({"id": [100, 101, 102, 103, 104, 105], "keyword": None, "location": None,
                         "text": ["fire in the forest", "I love summer", "earthquake evacuated", "fast car", "flood warning", "popcorn movie"]})
    sample = pd.DataFrame({"id": [103, 100, 101, 102, 104, 105], "target": 0})
    return write_competition(tmp_path / "data" / "tiny", train, test, sample)


@pytest.fixture
def real_data() -> Path:
    if not (REAL_DATA / "train.csv").is_file():
        pytest.skip(f"real competition data not found at {REAL_DATA}")
    return REAL_DATA

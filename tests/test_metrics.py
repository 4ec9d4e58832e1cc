"""The metric registry: names and Kaggle aliases, directions, the fast scorers against sklearn, tuned decisions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from kagglekit.errors import ConfigError
from kagglekit.metrics import METRICS, binary_auc, cv_scores, find_metric, get_metric, quadratic_weighted_kappa
from kagglekit.shapes import Binary, Ordinal


@pytest.mark.parametrize("kaggle_name,ours", [("F1Score", "f1"), ("Categorization Accuracy", "accuracy"), ("AUC", "roc_auc"),
                                              ("Multiclass Loss", "logloss"), ("Mean Columnwise ROC AUC", "column_auc"),
                                              ("Root Mean Squared Error", "rmse"), ("MCRMSE", "mcrmse"),
                                              ("Quadratic Weighted Kappa", "qwk"), ("Mean Absolute Error", "mae"), ("macro-F1", "macro_f1"),
                                              ("Pearson correlation coefficient", "pearson"), ("Spearman's rank correlation", "spearman")])
def test_kaggle_metadata_names_map_to_registered_metrics(kaggle_name: str, ours: str) -> None:
    assert get_metric(kaggle_name).name == ours


def test_an_unknown_metric_lists_the_known_ones() -> None:
    assert find_metric("BLEU") is None
    with pytest.raises(ConfigError, match="unknown metric 'BLEU'; use one of: f1, accuracy"):
        get_metric("BLEU")


def test_correlations_equal_scipy_per_column_and_a_constant_prediction_scores_zero() -> None:
    from scipy.stats import pearsonr, spearmanr

    rng = np.random.default_rng(1)
    y = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], (80, 2))  # ties, as patent phrase scores have
    pred = y + rng.normal(0, 0.3, y.shape)
    expected = np.mean([pearsonr(y[:, j], pred[:, j])[0] for j in range(2)])
    assert get_metric("pearson").score(y, pred) == pytest.approx(expected, abs=1e-12)
    assert get_metric("spearman").score(y[:, :1], pred[:, :1]) == pytest.approx(spearmanr(y[:, 0], pred[:, 0])[0], abs=1e-12)
    assert get_metric("pearson").score(y[:, :1], np.ones((80, 1))) == 0.0
    assert get_metric("pearson").better(0.6, 0.5) and get_metric("pearson").tasks == ("regression",)


def test_directions() -> None:
    lower = {name for name, m in METRICS.items() if not m.greater_is_better}
    assert lower == {"logloss", "rmse", "mae", "mcrmse"}
    assert get_metric("rmse").better(0.5, 0.6) and get_metric("qwk").better(0.6, 0.5)


def test_fast_scorers_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(5, 200))
        y = np.r_[0, 1, rng.integers(0, 2, n)]
        scores = np.round(rng.random(n + 2), 2)  # ties included
        assert binary_auc(y, scores) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
        k = int(rng.integers(2, 7))
        a, b = rng.integers(0, k, n), rng.integers(0, k, n)
        expected = skm.cohen_kappa_score(a, b, weights="quadratic", labels=np.arange(k))
        assert quadratic_weighted_kappa(a, b, k) == pytest.approx(0.0 if np.isnan(expected) else expected, abs=1e-9)


def test_tuned_cut_points_never_score_below_rounding_and_give_integer_scores() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(1, 7, 600).astype(float)
    values = (y + rng.normal(0, 0.9, 600) - 0.4).reshape(-1, 1)  # biased low: rounding is not the best cut
    scores = cv_scores(get_metric("qwk"), y, values, np.arange(600) % 5, Ordinal())
    assert scores["oof_score_tuned"] > scores["oof_score"]
    decision = scores["decision"]
    assert (decision["low"], decision["high"]) == (1, 6) and decision["cuts"] == sorted(decision["cuts"])
    assert set(Ordinal().decide(values, decision)) <= set(range(1, 7))


def test_a_binary_threshold_is_tuned_only_for_label_metrics() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    positive = np.clip(0.3 * y + 0.5 * rng.random(300), 0, 1)
    proba = np.column_stack([1 - positive, positive])
    assert cv_scores(get_metric("f1"), y, proba, np.arange(300) % 3, Binary())["threshold"] != 0.5
    assert cv_scores(get_metric("roc_auc"), y, proba, np.arange(300) % 3, Binary())["decision"] == {}

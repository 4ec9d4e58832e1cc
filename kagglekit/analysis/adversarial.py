"""Adversarial validation: can a classifier tell training rows from test rows?

A logistic regression on every model input (word TF-IDF of each text field, one-hot categoricals, scaled
numerics) learns whether a row comes from test.csv, under stratified K-fold CV over the train and test rows
together. Its ROC AUC says how far the two differ: about 0.5 and the CV folds look like the test set; well
above, and CV scores (and the public leaderboard, a sample of the test) say less about the private board.
Its coefficients name what gives the test away, and the out-of-fold P(test) of the training rows finds the
rows most like the test (a validation set that resembles it).

The featuriser never sees which side a row is on, but it is fitted on each fold's training part only, so a
token found only in the validation part is unknown to the model, as in any honest CV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from kagglekit.data import Competition
from kagglekit.errors import DataError
from kagglekit.inputs import Inputs
from kagglekit.io import atomic_path
from kagglekit.models.features import InputFeatures

# Readings of the AUC: below LOOKS_ALIKE the classifier barely beats chance; from DIFFERS on, the split is plain.
LOOKS_ALIKE, DIFFERS = 0.6, 0.7
MISSING = "(missing)"
ROWS_CSV, FEATURES_CSV, PLOT_PNG = "adversarial_train_rows.csv", "adversarial_features.csv", "adversarial.png"


@dataclass
class AdversarialResult:
    """What ``adversarial`` found; ``auc`` is the mean ROC AUC over the folds, ``auc_std`` its spread."""

    auc: float
    auc_std: float
    fold_aucs: list[float]
    folds: int
    seed: int
    features: pd.DataFrame  # feature, kind, coef, leans, train, test: top features each way (train/test: share of
    #                         rows holding the token or category; for a numeric input, its mean)
    train_rows: pd.DataFrame  # id, p_test, targets..., text: every training row, most like the test first
    p_test_train: np.ndarray  # out-of-fold P(test) of the training rows, in train.csv order
    p_test_test: np.ndarray  # out-of-fold P(test) of the test rows, in test.csv order

    @property
    def reading(self) -> str:
        return reading(self.auc)


def reading(auc: float) -> str:
    """One line a competitor acts on."""
    if auc < LOOKS_ALIKE:
        return "about 0.5: train and test look alike, so the CV folds look like the test and CV is the score to trust"
    if auc < DIFFERS:
        return ("train and test differ a little: check the features below; CV should still track the leaderboard, "
                "but validate on the training rows most like the test too")
    return ("train and test differ: CV may not predict the leaderboard and the public LB (a sample of the test) "
            "deserves less trust; validate on the training rows most like the test, drop or fix the features below, "
            "or consider grouped folds")


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(sublinear_tf=True, min_df=2)


def _featuriser() -> InputFeatures:
    return InputFeatures(_vectorizer, pair_features=False)


def _fit_transform(features: InputFeatures, inputs: Inputs) -> sp.csr_matrix:
    try:
        return features.fit_transform(inputs)
    except ValueError as e:  # TfidfVectorizer: no word occurs twice in a text field
        raise DataError(f"adversarial validation cannot featurise the inputs ({inputs.schema.describe(left_out=False)}): {e}; "
                        "leave the field out with --ignore-column") from None


def feature_names(features: InputFeatures) -> list[tuple[str, str]]:
    """(name, kind) of every column of a fitted ``InputFeatures`` without pair features, in its column order:
    ``text:"hurricane"`` (token), ``keyword=ablaze`` (category), ``year`` (numeric)."""
    names = [(f'{field}:"{token}"', "token") for group, vectorizer in features.text_ for field in group
             for token in vectorizer.get_feature_names_out()]
    if features.categorical_ is not None:
        for column, values in zip(features.schema_.categorical, features.categorical_.categories_):
            names += [(f"{column}={value or MISSING}", "category") for value in values]
    names += [(column, "numeric") for column in (features.schema_.numeric if features.numeric_ is not None else [])]
    return names


def adversarial(competition: Competition, *, folds: int = 5, seed: int = 42, top: int = 15) -> AdversarialResult:
    """Cross-validate a train-vs-test classifier on every model input; ``top`` features are named each way.

    Deterministic for a seed. Raises a DataError when train or test has fewer rows than two folds need.
    """
    train, test = competition.train_inputs, competition.test_inputs
    folds = min(folds, len(train), len(test))
    if folds < 2:
        raise DataError(f"adversarial validation needs at least 2 rows in train.csv and in test.csv; "
                        f"{competition.name} has {len(train)} and {len(test)}")
    inputs = Inputs(pd.concat([train.frame, test.frame], ignore_index=True), train.schema)
    is_test = np.r_[np.zeros(len(train), dtype=np.int64), np.ones(len(test), dtype=np.int64)]
    p_test = np.zeros(len(inputs))
    fold_aucs = []
    for part, held_out in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(inputs)), is_test):
        features = _featuriser()
        model = _classifier(seed).fit(_fit_transform(features, inputs[part]), is_test[part])
        p_test[held_out] = model.predict_proba(features.transform(inputs[held_out]))[:, 1]
        fold_aucs.append(float(roc_auc_score(is_test[held_out], p_test[held_out])))
    features = _featuriser()
    matrix = _fit_transform(features, inputs)
    model = _classifier(seed).fit(matrix, is_test)
    return AdversarialResult(
        auc=float(np.mean(fold_aucs)), auc_std=float(np.std(fold_aucs)), fold_aucs=fold_aucs, folds=folds, seed=seed,
        features=_top_features(feature_names(features), model.coef_[0], matrix, inputs, is_test, top),
        train_rows=_train_rows(competition, p_test[: len(train)]),
        p_test_train=p_test[: len(train)], p_test_test=p_test[len(train):],
    )


def _classifier(seed: int) -> LogisticRegression:
    return LogisticRegression(C=1.0, solver="liblinear", max_iter=1000, random_state=seed)


def _top_features(names: list[tuple[str, str]], coef: np.ndarray, matrix: sp.csr_matrix, inputs: Inputs,
                  is_test: np.ndarray, top: int) -> pd.DataFrame:
    """The ``top`` largest coefficients towards test, then towards train, with how often each side has them."""
    present = (matrix != 0).astype(np.float64)
    shares = {side: np.asarray(present[is_test == side].mean(axis=0)).ravel() for side in (0, 1)}
    numeric = {name: i for i, name in enumerate(inputs.schema.numeric)}
    numbers = inputs.numbers()
    order = np.argsort(-coef, kind="stable")
    chosen = [i for i in order[:top] if coef[i] > 0] + [i for i in order[::-1][:top] if coef[i] < 0]
    rows = []
    for i in chosen:
        name, kind = names[i]
        if kind == "numeric":
            column = numbers[:, numeric[name]]
            sides = [float(np.nanmean(column[is_test == side])) for side in (0, 1)]
        else:
            sides = [float(shares[side][i]) for side in (0, 1)]
        rows.append({"feature": name, "kind": kind, "coef": float(coef[i]), "leans": "test" if coef[i] > 0 else "train",
                     "train": sides[0], "test": sides[1]})
    return pd.DataFrame(rows, columns=["feature", "kind", "coef", "leans", "train", "test"])


def _train_rows(competition: Competition, p_test: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({competition.id_column: competition.train[competition.id_column].to_numpy(), "p_test": p_test})
    for column in competition.target_columns:
        frame[column] = competition.train[column].to_numpy()
    frame["text"] = competition.train_texts
    return frame.sort_values("p_test", ascending=False, kind="stable", ignore_index=True)


def adversarial_plot(result: AdversarialResult, path: Path) -> Path:
    """Histograms of out-of-fold P(test) for train and test rows: apart when the two differ, on top of each other when not."""
    from kagglekit.analysis.plots import new_figure, save_figure

    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 41)
    for split, values, color in (("train", result.p_test_train, "#4c72b0"), ("test", result.p_test_test, "#dd8452")):
        ax.hist(values, bins=bins, weights=np.full(len(values), 1 / max(len(values), 1)), alpha=0.55, color=color,
                label=f"{split} rows (n={len(values)})")
    ax.set(title=f"Adversarial validation: ROC AUC {result.auc:.3f} ± {result.auc_std:.3f} over {result.folds} folds",
           xlabel="out-of-fold P(test)", ylabel="share of rows")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def write_adversarial(result: AdversarialResult, out_dir: Path) -> list[Path]:
    """The training rows by P(test), the top features (CSVs) and the P(test) histogram (PNG) under ``out_dir``."""
    out_dir = Path(out_dir)
    paths = []
    for name, frame in ((ROWS_CSV, result.train_rows), (FEATURES_CSV, result.features)):
        with atomic_path(out_dir / name, suffix=".csv") as tmp:
            frame.to_csv(tmp, index=False)
        paths.append(out_dir / name)
    return [*paths, adversarial_plot(result, out_dir / PLOT_PNG)]

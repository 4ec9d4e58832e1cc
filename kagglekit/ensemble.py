"""Ensembles of out-of-fold predictions: mean, majority vote, fitted weights and a stacked logistic regression.

The array functions know nothing about runs, so each method can be checked on small synthetic matrices.
``build_ensembles`` feeds them a run's members, scores every ensemble on the out-of-fold rows exactly as
single models are scored (so both share one leaderboard), and writes their predictions and submissions.
Each ensemble also keeps its combiner (``combiner.json``: the exact weights or fitted meta-model), so
``apply_combiner`` can re-apply it to new member predictions, e.g. an inference notebook's on a hidden test set.

Only predictions made on the same folds are combined: otherwise one member's "out-of-fold" prediction
for a row may come from a model that trained on it, and every fitted ensemble would reward that leak.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from kagglekit.catalogue import LogLinearPool
from kagglekit.data import Competition
from kagglekit.errors import ConfigError, DataError
from kagglekit.metrics import Metric, cv_scores, evaluate, predict_labels
from kagglekit.outputs import write_run_submission
from kagglekit.runs import Run, find_run
from kagglekit.shapes import Binary, TaskShape

METHODS = ("mean", "vote", "weighted", "stack")
TEST_SOURCES = ("refit", "folds")
PREFIX = "ensemble_"
BEST_NAME = "ensemble"
WEIGHT_ITERATIONS = 50
STACK_C = 1.0
LOG_FLOOR = 1e-7  # the probability a multiclass member's log-probability input is clipped at (a class it gave 0)
STACK_RIDGE_ALPHA = 1.0


# --- methods on arrays: probas is a sequence of M member predictions, each (n, K) -------------------------


def mean_ensemble(probas: Sequence[np.ndarray]) -> np.ndarray:
    """The average of the members' class probabilities (the notebook's ensemble)."""
    return np.mean(np.stack(probas), axis=0)


def weighted_ensemble(probas: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted average of the members' class probabilities; weights sum to 1."""
    return np.tensordot(np.asarray(weights, dtype=np.float64), np.stack(probas), axes=1)


def vote_ensemble(probas: Sequence[np.ndarray]) -> np.ndarray:
    """Majority vote of the members' labels (at 0.5 for binary, argmax otherwise), as an (n, K) array.

    Rows are vote shares nudged by a tiny multiple of the mean probability, so argmax (and a binary 0.5
    threshold) gives the majority label with ties broken by the mean probability, rows still sum to 1, and
    a tuned binary threshold becomes "at least k of the M votes". The nudge is below 1/(M+1), so it never
    outweighs a whole vote.
    """
    stacked = np.stack(probas)
    n_members, n_rows, n_classes = stacked.shape
    votes = np.zeros((n_rows, n_classes))
    for proba in stacked:
        votes[np.arange(n_rows), predict_labels(proba)] += 1
    nudge = 1e-3 / n_members
    return (1 - nudge) * votes / n_members + nudge * stacked.mean(axis=0)


def fit_weights(probas: Sequence[np.ndarray], y: np.ndarray, metric: Metric, *, iterations: int = WEIGHT_ITERATIONS) -> np.ndarray:
    """Non-negative weights summing to 1 that optimise ``metric`` of the weighted average on these rows.

    Greedy ensemble selection with replacement (Caruana et al., 2004, as in AutoGluon): each step adds the
    member whose extra copy scores best, and the weights are the copy counts of the best step seen. Chosen
    over scipy.optimize on the simplex because F1 and accuracy are step functions of the weights (zero
    gradient almost everywhere, so SLSQP stalls where it starts), while greedy selection works with any
    metric, is deterministic (ties go to the earlier member), and gives sparse weights in multiples of
    1/iterations, which overfit the out-of-fold rows less.
    """
    stacked = np.stack(probas)
    counts = np.zeros(len(stacked), dtype=np.int64)
    total = np.zeros_like(stacked[0])
    best, best_counts = -np.inf, counts
    for step in range(1, iterations + 1):
        candidates = [metric.sign * metric.score(y, (total + proba) / step) for proba in stacked]
        pick = int(np.argmax(candidates))
        counts = counts.copy()
        counts[pick] += 1
        total += stacked[pick]
        if candidates[pick] > best + 1e-12:
            best, best_counts = candidates[pick], counts
    return best_counts / best_counts.sum()


def weighted_oof(probas: Sequence[np.ndarray], y: np.ndarray, fold_index: np.ndarray, metric: Metric, *,
                 iterations: int = WEIGHT_ITERATIONS) -> tuple[np.ndarray, list[np.ndarray]]:
    """Out-of-fold predictions of the weighted method with weights fitted on the other folds' rows only.

    Weights fitted on all rows have seen every row they are scored on; this is the honest estimate.
    """
    stacked = np.stack(probas)
    oof = np.zeros_like(stacked[0])
    fold_weights = []
    for fold in np.unique(fold_index):
        val = fold_index == fold
        weights = fit_weights(stacked[:, ~val], y[~val], metric, iterations=iterations)
        oof[val] = weighted_ensemble(stacked[:, val], weights)
        fold_weights.append(weights)
    return oof, fold_weights


def stack_features(probas: Sequence[np.ndarray], *, log_inputs: bool = False) -> np.ndarray:
    """Meta-model inputs: each member's positive-class probability (binary) or all its columns (multiclass), as
    log-probabilities with ``log_inputs``."""
    stacked = np.stack(probas)
    if stacked.shape[2] == 2:
        return stacked[:, :, 1].T
    if log_inputs:
        stacked = np.log(np.clip(stacked, LOG_FLOOR, 1.0))
    return stacked.transpose(1, 0, 2).reshape(stacked.shape[1], -1)


def _meta_model(seed: int) -> LogisticRegression:
    return LogisticRegression(C=STACK_C, max_iter=1000, random_state=seed)


MetaModel = LogisticRegression | list[LogisticRegression | Ridge | float] | LogLinearPool


def fit_class_meta(stacked: np.ndarray, y: np.ndarray, seed: int) -> MetaModel:
    """Classes: one logistic regression on all members' probabilities; multiclass members enter as log-probabilities,
    which a softmax combines as a product of experts and which keep the differences between a naive Bayes member's
    near-0 probabilities (held-out spooky-author log loss 0.374 -> 0.370 for baseline + tfidf_lr; BENCHMARKS.md)."""
    log_inputs = stacked.shape[2] > 2
    model = _meta_model(seed).fit(stack_features(stacked, log_inputs=log_inputs), y)
    model.log_inputs_ = log_inputs
    return model


def fit_column_meta(stacked: np.ndarray, y: np.ndarray, seed: int, *, classify: bool) -> MetaModel:
    """One model per output column on the members' predictions of that column: a logistic regression per label
    (``classify``; a label with one value in these rows predicts its rate), a ridge regression per target."""
    models: list[LogisticRegression | Ridge | float] = []
    for j in range(stacked.shape[2]):
        features, target = stacked[:, :, j].T, y[:, j]
        if classify:
            models.append(_meta_model(seed).fit(features, target) if len(np.unique(target)) == 2 else float(target.mean()))
        else:
            models.append(Ridge(alpha=STACK_RIDGE_ALPHA).fit(features, target))
    return models


def stack_predict(model: MetaModel, probas: Sequence[np.ndarray]) -> np.ndarray:
    """Predictions (n, K) of a fitted meta-model; a class absent from its training rows gets probability 0."""
    stacked = np.stack(probas)
    if isinstance(model, LogLinearPool):  # a catalogue's members: one weight each over every item
        return model.predict_stacked(stacked)
    if isinstance(model, LogisticRegression):
        features = stack_features(stacked, log_inputs=getattr(model, "log_inputs_", False))
        proba = np.zeros((len(features), stacked.shape[2]))
        proba[:, model.classes_] = model.predict_proba(features)
        return proba
    columns = []
    for j, column_model in enumerate(model):
        features = stacked[:, :, j].T
        if isinstance(column_model, float):
            columns.append(np.full(len(features), column_model))
        elif isinstance(column_model, LogisticRegression):
            columns.append(column_model.predict_proba(features)[:, 1])
        else:
            columns.append(column_model.predict(features))
    return np.column_stack(columns)


def stack_oof(probas: Sequence[np.ndarray], y: np.ndarray, fold_index: np.ndarray,
              seed: int = 42, shape: TaskShape = Binary()) -> tuple[np.ndarray, MetaModel]:
    """Stacking: a logistic regression on the members' out-of-fold probabilities.

    The meta-model is itself cross-validated on the members' folds: each row's prediction comes from a
    meta-model fitted on the other folds, which never saw that row, so the stacked OOF score is honest.
    Returns those predictions and the meta-model refitted on all rows, for the test predictions. The
    meta-model minimises log loss whatever the metric (a proper scoring rule, and what a probability
    submission is scored by); for F1 the decision threshold is tuned on its OOF predictions afterwards.
    """
    return cross_fitted_stack(probas, y, fold_index, seed, shape), shape.fit_meta(np.stack(probas), y, seed)


def cross_fitted_stack(probas: Sequence[np.ndarray], y: np.ndarray, fold_index: np.ndarray,
                       seed: int = 42, shape: TaskShape = Binary()) -> np.ndarray:
    """The stack's honest out-of-fold predictions alone (``tune --stack`` scores them and needs no refit)."""
    stacked = np.stack(probas)
    oof = np.zeros_like(stacked[0])
    for fold in np.unique(fold_index):
        val = fold_index == fold
        oof[val] = stack_predict(shape.fit_meta(stacked[:, ~val], y[~val], seed), stacked[:, val])
    return oof


# --- combiners: what re-applies an ensemble to new member predictions --------------------------------------


def _meta_to_json(model: MetaModel) -> dict[str, Any] | list[dict[str, Any]]:
    """A fitted meta-model as JSON with its floats exact (repr round-trips), so re-applying it gives the same bits."""
    if isinstance(model, LogLinearPool):
        return model.to_json()
    if isinstance(model, LogisticRegression):
        return {"type": "logistic", "coef": model.coef_.tolist(), "intercept": model.intercept_.tolist(),
                "classes": model.classes_.tolist(), "log_inputs": bool(getattr(model, "log_inputs_", False))}
    columns: list[dict[str, Any]] = []
    for column_model in model:
        if isinstance(column_model, float):
            columns.append({"type": "constant", "value": column_model})
        elif isinstance(column_model, LogisticRegression):
            columns.append(_meta_to_json(column_model))  # type: ignore[arg-type]
        else:
            columns.append({"type": "ridge", "coef": column_model.coef_.tolist(), "intercept": float(column_model.intercept_)})
    return columns


def _meta_from_json(record: dict[str, Any] | list[dict[str, Any]]) -> MetaModel:
    """The meta-model back from its JSON: sklearn objects with the fitted attributes set, not refitted."""
    if isinstance(record, list):
        return [_column_from_json(r) for r in record]
    if record["type"] == "log_linear_pool":
        return LogLinearPool(tuple(record["weights"]))
    return _column_from_json(record)  # type: ignore[return-value]


def _column_from_json(record: dict[str, Any]) -> LogisticRegression | Ridge | float:
    if record["type"] == "constant":
        return float(record["value"])
    model: LogisticRegression | Ridge = LogisticRegression() if record["type"] == "logistic" else Ridge()
    model.coef_ = np.asarray(record["coef"], dtype=np.float64)
    model.intercept_ = np.asarray(record["intercept"], dtype=np.float64)
    model.n_features_in_ = model.coef_.shape[-1]
    if record["type"] == "logistic":
        model.classes_ = np.asarray(record["classes"])
        model.log_inputs_ = record.get("log_inputs", False)  # combiners saved before it was recorded took probabilities
    return model


def apply_combiner(combiner: dict[str, Any], probas: Sequence[np.ndarray]) -> np.ndarray:
    """An ensemble's (n, K) predictions from its members' predictions, given in ``combiner["members"]`` order."""
    if len(probas) != len(combiner["members"]):
        raise DataError(f"the ensemble combines {len(combiner['members'])} members ({', '.join(combiner['members'])}), "
                        f"not {len(probas)} predictions")
    method = combiner["method"]
    if method == "mean":
        return mean_ensemble(probas)
    if method == "vote":
        return vote_ensemble(probas)
    if method == "weighted":
        return weighted_ensemble(probas, np.asarray(combiner["weights"], dtype=np.float64))
    if method == "stack":
        return stack_predict(_meta_from_json(combiner["meta_model"]), probas)
    raise ConfigError(f"unknown ensemble method {method!r} in its combiner; use {', '.join(METHODS)}")


def read_combiner(run: Run, name: str) -> dict[str, Any]:
    """The combiner an ensemble of ``run`` saved; one built before combiners were kept is rebuilt with the ensemble."""
    combiner = run.combiner(name)
    if combiner is None:
        raise ConfigError(f"ensemble {name} of run {run.name} has no combiner (it was built by an older kagglekit): "
                          f"rebuild it with `kagglekit ensemble {run.manifest.get('competition', 'COMPETITION')} --run {run.name}`")
    return combiner


# --- members and their consistency ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One model's predictions; ``label`` is NAME for the ensembled run and RUN:NAME for another run."""

    run: Run
    name: str
    label: str

    def oof(self) -> np.ndarray:
        return self.run.oof(self.name)

    def test(self, source: str) -> np.ndarray:
        return self.run.test_proba(self.name, source)

    def summary(self) -> dict[str, Any]:
        return self.run.summary(self.name)


def check_same_folds(runs: Sequence[Run]) -> None:
    """Refuse runs whose folds cover other training rows, or assign them to other folds, than the first run."""
    first = runs[0]
    reference = first.folds()
    for other in runs[1:]:
        folds = other.folds()
        same_rows = list(folds.columns) == list(reference.columns) and len(folds) == len(reference)
        if not same_rows or not folds.iloc[:, 0].equals(reference.iloc[:, 0]):
            raise DataError(
                f"runs {first.name} and {other.name} were trained on different rows ({len(reference)} vs {len(folds)} in "
                f"folds.csv, or other ids): their predictions cannot be combined; ensemble models of one run"
            )
        if not folds["fold"].equals(reference["fold"]):
            moved = int((folds["fold"] != reference["fold"]).sum())
            raise ConfigError(
                f"runs {first.name} and {other.name} use different fold assignments ({moved} rows in other folds): "
                f"their out-of-fold predictions cannot be combined; train the model in run {first.name} with --run {first.name}"
            )


def resolve_members(run: Run, models: Sequence[str] | None = None) -> list[Member]:
    """The run's successful models, or the chosen ones (NAME, or RUN:NAME for another run of the competition)."""
    if not models:
        return [Member(run, name, name) for name in run.model_names()]
    members = []
    for label in dict.fromkeys(m.strip() for m in models if m.strip()):
        run_name, _, name = label.rpartition(":")
        source = find_run(run.directory.parent, run_name) if run_name else run
        if name not in source.model_names():
            failed = sorted(set(source.model_names(include_failed=True)) - set(source.model_names()))
            raise ConfigError(
                f"run {source.name} has no trained model {name!r}; its models: {', '.join(source.model_names()) or 'none'}"
                + (f" (failed: {', '.join(failed)})" if failed else "")
            )
        members.append(Member(source, name, name if source.directory == run.directory else f"{source.name}:{name}"))
    return members


def _check_members(run: Run, members: list[Member], competition: Competition) -> None:
    """Enough members, trained on today's data, on the same folds, before anything is combined."""
    if len(members) < 2:
        raise ConfigError(
            f"an ensemble needs at least 2 models; got {len(members)} from run {run.name} "
            f"({', '.join(m.label for m in members) or 'none'}): train more with `kagglekit train COMPETITION -m NAME`"
        )
    runs = list({m.run.directory: m.run for m in members}.values())
    fingerprint = competition.fingerprint()
    for member_run in [run, *runs]:
        if member_run.manifest.get("data_fingerprint") != fingerprint:
            raise DataError(f"train.csv changed since run {member_run.name} was made: its predictions cover other rows; retrain")
    check_same_folds([run, *[r for r in runs if r.directory != run.directory]])


def _stack_checked(members: list[Member], arrays: list[np.ndarray], expected: tuple[int, int], what: str) -> np.ndarray:
    for member, array in zip(members, arrays):
        if array.shape != expected:
            raise DataError(f"{member.label}: {what} predictions have shape {array.shape}, expected {expected}; retrain it")
    return np.stack(arrays)


# --- building a run's ensembles ---------------------------------------------------------------------------


@dataclass
class _Result:
    oof: np.ndarray
    test: np.ndarray
    details: dict[str, Any]
    combiner: dict[str, Any]  # method-specific: exact weights or the meta-model (see apply_combiner)


def _labelled(members: list[Member], weights: np.ndarray) -> dict[str, float]:
    return {m.label: round(float(w), 6) for m, w in zip(members, weights)}


def build_ensembles(
    run: Run,
    competition: Competition,
    submissions_dir: Path,
    *,
    notes: Callable[[str], None] = lambda text: None,
    models: list[str] | None = None,
    methods: list[str] | None = None,
    test_from: str = "refit",
) -> dict[str, Path]:
    """Build, score and save each ensemble of the run's models, and write its submission.

    Every ensemble gets ``run.ensemble_dir(NAME)`` with oof.npy, test.npy and a summary.json the
    leaderboard reads like a single model's, and ``submissions_dir/NAME.csv`` at its tuned threshold. The
    best by tuned OOF score (the score of what its submission uses) is also written as ensemble.csv.
    Returns {NAME: submission path}, with "ensemble" for the best. ``notes`` receives one line per ensemble
    (its scores, weights or coefficients) and any method left out.
    """
    chosen = list(dict.fromkeys(methods or METHODS))
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown ensemble method {', '.join(map(repr, unknown))}; use {', '.join(METHODS)}")
    if test_from not in TEST_SOURCES:
        raise ConfigError(f"unknown test source {test_from!r}; use {' or '.join(TEST_SOURCES)}")
    metric, shape = competition.metric, competition.shape
    if "vote" in chosen and (metric.needs != "labels" or not shape.votes):
        reason = (f"a vote gives labels, and {metric.name} scores {metric.needs}" if shape.votes
                  else f"a majority vote of labels means nothing for {shape.words}")
        if methods and "vote" in methods:
            raise ConfigError(f"--method vote does not fit this competition: {reason}; use mean, weighted or stack")
        notes(f"ensemble vote skipped: {reason}")
        chosen.remove("vote")
    members = resolve_members(run, models)
    _check_members(run, members, competition)

    y, fold_index = run.y, run.fold_index
    seed = int(run.manifest.get("seed", 42))
    width = members[0].oof().shape[1]
    oofs = _stack_checked(members, [m.oof() for m in members], (len(y), width), "out-of-fold")
    tests = _stack_checked(members, [m.test(test_from) for m in members], (len(competition.test), width), "test")
    summaries = [m.summary() for m in members]
    equal = {"weights": _labelled(members, np.full(len(members), 1 / len(members)))}
    builders: dict[str, Callable[[], _Result]] = {
        "mean": lambda: _Result(mean_ensemble(oofs), mean_ensemble(tests), equal, {}),
        "vote": lambda: _Result(vote_ensemble(oofs), vote_ensemble(tests), equal, {}),
        "weighted": lambda: _weighted(members, oofs, tests, y, fold_index, metric),
        "stack": lambda: _stacked(members, oofs, tests, y, fold_index, metric, seed, shape),
    }

    submissions: dict[str, Path] = {}
    built: dict[str, tuple[dict[str, Any], np.ndarray]] = {}
    for method in chosen:
        name = PREFIX + method
        start = time.perf_counter()
        result = builders[method]()
        own_s = time.perf_counter() - start
        summary = _summarize(name, method, metric, shape, y, fold_index, result, members, summaries, own_s, test_from)
        run.save_ensemble(name, result.oof, result.test, summary,
                          {"method": method, "members": [m.label for m in members], "test_from": test_from, **result.combiner})
        submissions[name] = write_run_submission(run, competition, submissions_dir, name, summary, result.test)
        built[name] = summary, result.test
        notes(_describe(summary))

    best = max(built, key=lambda n: metric.sign * built[n][0]["oof_score_tuned"])
    summary, test = built[best]
    submissions[BEST_NAME] = write_run_submission(run, competition, submissions_dir, BEST_NAME, summary, test)
    notes(f"best ensemble by OOF {metric.name}: {best}, written as {submissions[BEST_NAME]}")
    return submissions


def _weighted(members: list[Member], oofs: np.ndarray, tests: np.ndarray, y: np.ndarray, fold_index: np.ndarray,
              metric: Metric) -> _Result:
    oof, per_fold = weighted_oof(oofs, y, fold_index, metric)
    weights = fit_weights(oofs, y, metric)
    return _Result(oof, weighted_ensemble(tests, weights), {
        "weights": _labelled(members, weights),
        "fold_weights": [_labelled(members, w) for w in per_fold],
        "oof_score_in_sample": metric.score(y, weighted_ensemble(oofs, weights)),
        "note": "cv_score and oof_score use weights fitted on the other folds; oof_score_in_sample uses the "
                "weights fitted on all rows (those of the test predictions), which saw the rows they are scored on",
    }, {"weights": weights.tolist()})


def _stacked(members: list[Member], oofs: np.ndarray, tests: np.ndarray, y: np.ndarray, fold_index: np.ndarray,
             metric: Metric, seed: int, shape: TaskShape) -> _Result:
    oof, model = stack_oof(oofs, y, fold_index, seed, shape)
    width = oofs.shape[2]
    if isinstance(model, LogLinearPool):
        meta = {"type": shape.meta_words, "features": [m.label for m in members], "coef": [np.round(model.weights, 6).tolist()]}
    elif isinstance(model, LogisticRegression):
        columns = [m.label for m in members] if width == 2 else [f"{m.label}[{c}]" for m in members for c in range(width)]
        meta = {"type": "LogisticRegression", "C": STACK_C, "features": columns,
                "inputs": "log-probabilities" if getattr(model, "log_inputs_", False) else "probabilities",
                "coef": np.round(model.coef_, 6).tolist(), "intercept": np.round(model.intercept_, 6).tolist()}
    else:
        meta = {"type": shape.meta_words,
                "features": [m.label for m in members],
                "coef": [np.round(np.ravel(getattr(c, "coef_", [])), 6).tolist() for c in model]}
    return _Result(oof, stack_predict(model, tests), {
        "weights": None,
        "meta_model": meta,
        "oof_score_in_sample": metric.score(y, stack_predict(model, oofs)),
        "note": "cv_score and oof_score use meta-models fitted on the other folds; oof_score_in_sample uses the "
                "meta-model refitted on all rows (that of the test predictions)",
    }, {"meta_model": _meta_to_json(model)})


def _summarize(name: str, method: str, metric: Metric, shape: TaskShape, y: np.ndarray, fold_index: np.ndarray, result: _Result,
               members: list[Member], summaries: list[dict[str, Any]], own_s: float, test_from: str) -> dict[str, Any]:
    """The keys a single model's summary has, so ensembles sit beside models on the leaderboard."""
    return {
        "name": name,
        "kind": "ensemble",
        "method": method,
        "order": METHODS.index(method),
        "status": "ok",
        "metric": metric.name,
        "task": shape.name,
        **cv_scores(metric, y, result.oof, fold_index, shape),
        **evaluate(y, result.oof, metric, shape, None),
        "fit_s": float(sum(s.get("fit_s", 0.0) for s in summaries)) + own_s,
        "fit_s_marginal": own_s,
        "predict_ms_per_row": float(sum(s.get("predict_ms_per_row", 0.0) for s in summaries)),
        "members": [m.label for m in members],
        # content hashes of the members' summaries: a retrained member makes this ensemble stale
        "member_hashes": {m.label: m.run.summary_hash(m.name) for m in members},
        "test_from": test_from,
        **result.details,
    }


def _describe(summary: dict[str, Any]) -> str:
    """One console line: honest score, in-sample score where fitted, tuned threshold, weights."""
    metric = summary["metric"]
    text = f"{summary['name']}: {metric} {summary['cv_score']:.4f} ± {summary['cv_score_std']:.4f} (CV)"
    if "oof_score_in_sample" in summary:
        text += f", {summary['oof_score_in_sample']:.4f} in-sample"
    if "threshold" in summary.get("decision", {}) and (summary["threshold"] != 0.5 or summary["oof_score_tuned"] != summary["oof_score"]):
        text += f"; OOF {summary['oof_score']:.4f} at 0.5, {summary['oof_score_tuned']:.4f} at {summary['threshold']:.2f}"
    if summary.get("weights"):
        text += "; weights " + ", ".join(f"{k} {v:.2f}" for k, v in summary["weights"].items())
    elif "meta_model" in summary and len(summary["meta_model"]["coef"]) == 1:
        coef = summary["meta_model"]["coef"][0]
        text += "; coefficients " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(summary["meta_model"]["features"], coef))
    return text

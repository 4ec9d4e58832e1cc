"""Cross-validate token taggers on a token or span competition, ensemble them and write submissions.

CV is grouped by document (by note in a span competition: its rows ask different questions of one text), and
stratified by whether a group holds any entity. Each model's features are extracted once (the CRF's per fit, a
document at a time, to hold little memory); each fold fits a fresh model and predicts its held-out documents, giving out-of-fold probabilities for every training token;
a refit on every document predicts the test set. The ensembles average the models' token probabilities, equally
(``ensemble_mean``) or with greedy weights fitted on the OOF metric (``ensemble_weighted``; each fold's tokens are
blended with weights fitted on the other folds, so its CV score stays honest). Each
entry's decision (a threshold; for entity F1, the factor on P(O) before a BIO Viterbi pass) is tuned on its OOF
probabilities for the competition's metric, and its CV score is honest: fold k is scored at the decision tuned on the
other folds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.config import Workspace
from kagglekit.engine.backends import visible_gpus
from kagglekit.errors import ConfigError
from kagglekit.io import write_json
from kagglekit.runs import record_path
from kagglekit.tokens.layout import OUTSIDE, Sequence, TokenData, load
from kagglekit.tokens.metrics import (
    OUTSIDE_SCALES,
    EntityMatcher,
    TokenMetric,
    apply_decision,
    char_scores,
    decide,
    describe_decision,
    entity_f1,
    entity_scores,
    fbeta,
    get_metric,
    segment_scores,
    token_scores,
    token_spans,
    tune_segments,
    tune_span_threshold,
    tune_threshold,
)
from kagglekit.tokens.models import MODELS, available_models, get_model
from kagglekit.tokens.run import TokenRun, fingerprint, split
from kagglekit.tokens.submission import validate, write_submission

ENSEMBLE = "ensemble_mean"
WEIGHTED = "ensemble_weighted"
BLEND_STEPS = 12  # greedy steps of the weighted ensemble: weights in twelfths at the finest
BEST_FILE = "ensemble"  # submissions/COMPETITION/ensemble.csv: the best ensemble (or the only model)
VERSIONED = ("kagglekit", "sklearn-crfsuite", "seqeval", "tensorflow", "keras", "numpy")


@dataclass
class TokenResult:
    """What a token run produced: the run folder, its leaderboard, its submission files and what failed."""

    run: TokenRun
    data: TokenData
    leaderboard: pd.DataFrame
    submissions: dict[str, Path] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)


def make_folds(sequences: list[Sequence], folds: int, seed: int) -> np.ndarray:
    """The fold of each sequence: groups whole, stratified by whether the group holds an entity."""
    from sklearn.model_selection import KFold, StratifiedKFold

    groups = sorted({s.group for s in sequences})
    if len(groups) < folds:
        raise ConfigError(f"{len(groups)} documents cannot fill {folds} folds: pass --folds {max(2, len(groups))} or fewer")
    has_entity = {s.group: False for s in sequences}
    for s in sequences:
        has_entity[s.group] |= any(label != OUTSIDE for label in s.labels or [])
    strata = np.array([has_entity[g] for g in groups])
    counts = np.bincount(strata.astype(int), minlength=2)
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if counts.min() >= folds
                else KFold(folds, shuffle=True, random_state=seed))
    of_group = np.zeros(len(groups), dtype=np.int64)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(groups)), strata)):
        of_group[held] = k
    index = {g: i for i, g in enumerate(groups)}
    return np.array([of_group[index[s.group]] for s in sequences])


def train(directory: Path | str, models: Iterable[str] | None = None, *, folds: int = 5, seed: int = 42,
          run: str | None = None, output: Path | str | None = None, metric: str | None = None, name: str | None = None,
          params: dict[str, dict[str, Any]] | None = None, listeners: Iterable[Callable[[Any], None]] = ()) -> TokenResult:
    """Cross-validate ``models`` (default: every model that takes the competition's shape) and write submissions.

    ``output`` is the workspace root (runs/ and submissions/ go under it; default: the current workspace);
    ``metric`` overrides Kaggle's metric name recorded by fetch (e.g. ``f5``); ``params`` maps a model to its
    parameters. Listeners receive kagglekit engine events (``Note``, ``ModelFailed``), as the CLI's console does.
    """
    from kagglekit.engine.events import ModelFailed, Note

    listeners = list(listeners)

    def note(text: str, level: str = "info") -> None:
        for listener in listeners:
            listener(Note(text, level))

    data = load(directory, name=name)
    token_metric = get_metric(data.kind, metric or data.layout.metric)
    if token_metric.kind == "segments" and not data.layout.segments:
        raise ConfigError(f"metric {token_metric.name} scores word-index segments (Feedback Prize's layout); {data.name} "
                          "has token labels: use --metric f5, f1 or fbeta:BETA")
    workspace = Workspace(Path(output)) if output else Workspace.current()
    token_run = TokenRun(workspace.runs_dir(data.name) / (run or f"k{folds}-seed{seed}"))
    note(f"inputs: {data.describe()}")
    note(f"metric: {token_metric.describe()}")
    names = list(models) if models else available_models(data.kind)
    params = params or {}
    fold_of = _open_run(token_run, data, token_metric, folds, seed, names)
    y = token_run.y

    result = TokenResult(token_run, data, pd.DataFrame())
    trained: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    every_model = not models
    no_gpu = every_model and not visible_gpus()
    for order, model_name in enumerate(names):
        if no_gpu and MODELS[model_name].gpu_only_in_all:
            reason = f"it fine-tunes a transformer, hours on a CPU; name it with -m {model_name} to train it anyway"
        else:
            reason = get_model(model_name, **params.get(model_name, {})).left_out(data)
        if reason:
            result.left_out[model_name] = reason
            note(f"{model_name} left out: {reason}")
            continue
        if token_run.model_done(model_name, params.get(model_name, {})):  # finished by an earlier run: resumed whole
            trained[model_name] = (token_run.oof(model_name), token_run.test_proba(model_name))
            note(_line(model_name, token_run.summary(model_name), token_metric) + " (done before)")
            continue
        try:
            oof, test, timing = _train_model(token_run, data, model_name, params.get(model_name, {}), fold_of, folds, seed)
        except Exception as error:  # one failed model is reported and the run goes on
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            token_run.write_failure(model_name, {"name": model_name, "kind": "model", "status": "failed", "error": first_line,
                                                 "order": order, "metric": token_metric.name})
            result.failed.append(model_name)
            for listener in listeners:
                listener(ModelFailed(model_name, first_line, "training"))
            continue
        summary = {"name": model_name, "kind": "model", "status": "ok", "order": order, "params": params.get(model_name, {}),
                   **timing, **score(data, oof, y, fold_of, token_metric)}
        token_run.save_predictions(model_name, oof, test, summary)
        trained[model_name] = (oof, test)
        note(_line(model_name, summary, token_metric))

    if len(trained) >= 2:
        oofs, tests = [o for o, _ in trained.values()], [t for _, t in trained.values()]
        oof, test = np.mean(oofs, axis=0), np.mean(tests, axis=0)
        summary = {"name": ENSEMBLE, "kind": "ensemble", "status": "ok", "order": len(names), "members": list(trained),
                   "weights": [1 / len(trained)] * len(trained), "method": "mean", **score(data, oof, y, fold_of, token_metric)}
        token_run.save_predictions(ENSEMBLE, oof, test, summary, ensemble=True)
        note(_line(ENSEMBLE, summary, token_metric))
        weights, oof = weighted_blend(data, oofs, y, fold_of, token_metric)
        summary = {"name": WEIGHTED, "kind": "ensemble", "status": "ok", "order": len(names) + 1, "members": list(trained),
                   "weights": [float(w) for w in weights], "method": "weighted",
                   **score(data, oof, y, fold_of, token_metric)}
        token_run.save_predictions(WEIGHTED, oof, np.tensordot(weights, np.stack(tests), axes=1), summary, ensemble=True)
        note(_line(WEIGHTED, summary, token_metric) + " weights " + ", ".join(f"{m} {w:.2f}" for m, w in zip(trained, weights)))

    result.leaderboard = token_run.write_leaderboard()
    shared = workspace.submissions_dir(data.name)
    for entry in token_run.entries():
        result.submissions[entry] = write_run_submission(token_run, data, entry, shared)
    if token_run.entries():
        best = token_run.best() if not token_run.ensemble_names() else max(
            token_run.ensemble_names(), key=lambda e: token_run.summary(e)["cv_score"])
        result.submissions[BEST_FILE] = write_run_submission(token_run, data, best, shared, file_name=BEST_FILE)
    return result


def weighted_blend(data: TokenData, oofs: list[np.ndarray], y: np.ndarray, fold_of: np.ndarray,
                   token_metric: TokenMetric) -> tuple[np.ndarray, np.ndarray]:
    """Greedy hill-climbing weights of the members (Caruana et al.) on the OOF metric at its tuned threshold.

    Returns the weights fitted on every OOF token (for the test predictions) and an honest OOF blend: each fold's
    tokens are blended with weights fitted on the other folds only.
    """
    stacked = np.stack(oofs)
    lengths = np.array([len(s.tokens) for s in data.train], dtype=np.int64)
    owner = np.repeat(np.arange(len(data.train)), lengths)  # each token's sequence
    token_fold = fold_of[owner]

    def objective(blend: np.ndarray, tokens: np.ndarray) -> float:
        if token_metric.kind == "tokens":
            return tune_threshold(blend[tokens], y[tokens], token_metric.beta)[1]
        rows = np.unique(owner[tokens])
        if token_metric.kind == "entities":  # sequences are whole in a fold: decoded alone, tokens in order
            matcher = EntityMatcher(y[tokens], lengths[rows], data.labels)
            return matcher.tune(matcher.decodes(blend[tokens]))[1]
        parts = split(blend, data.train)
        if token_metric.kind == "segments":
            return tune_segments([data.train[i] for i in rows], [parts[i] for i in rows], data.labels)[1]
        return tune_span_threshold([data.train[i] for i in rows], [parts[i] for i in rows])[1]

    def fit(tokens: np.ndarray) -> np.ndarray:
        counts = np.zeros(len(oofs))
        best = -np.inf
        for _ in range(BLEND_STEPS):
            tried = []
            for j in range(len(oofs)):
                trial = counts.copy()
                trial[j] += 1
                tried.append(objective(np.tensordot(trial / trial.sum(), stacked, axes=1), tokens))
            j = int(np.argmax(tried))
            if tried[j] <= best:
                break
            counts[j] += 1
            best = tried[j]
        return counts / counts.sum()

    honest = np.zeros_like(oofs[0])
    for k in range(int(fold_of.max()) + 1):
        held = token_fold == k
        honest[held] = np.tensordot(fit(~held), stacked[:, held], axes=1)
    return fit(np.ones(len(y), dtype=bool)), honest


def _open_run(token_run: TokenRun, data: TokenData, token_metric: TokenMetric, folds: int, seed: int,
              names: list[str]) -> np.ndarray:
    """Create the run (folds, targets, manifest) or reopen one made from the same data, folds, seed and metric."""
    identity = {"task": data.kind, "fingerprint": fingerprint(data.layout), "folds": folds, "seed": seed,
                "metric": token_metric.name, "labels": data.labels}
    way_out = f"pass --run NAME for a new run, or delete {token_run.directory}"
    if token_run.has_folds():
        before = token_run.manifest
        for key, value in identity.items():
            if before.get(key) != value:
                raise ConfigError(f"run {token_run.name} was made with {key} {before.get(key)!r}, not {value!r}: {way_out}")
        fold_of = token_run.folds()["fold"].to_numpy()
    else:
        fold_of = make_folds(data.train, folds, seed)
        index = {label: i for i, label in enumerate(data.labels)}
        y = np.array([index[label] for s in data.train for label in s.labels or []], dtype=np.int64)
        token_run.write_folds(pd.DataFrame({"group": [s.group for s in data.train], "fold": fold_of}), y)
    versions = {}
    for package in VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    previous = token_run.manifest if (token_run.directory / "manifest.json").is_file() else {}
    token_run.write_manifest({**previous, **identity, "competition": data.name, "data_dir": str(data.layout.directory),
                              "layout": data.layout.to_dict(), "inferred": data.describe(), "n_train": len(data.train),
                              "n_test": len(data.test), "models": names, "created": previous.get("created", now),
                              "updated": now, "versions": versions})
    return fold_of


def _train_model(token_run: TokenRun, data: TokenData, name: str, params: dict[str, Any], fold_of: np.ndarray,
                 folds: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """One model's OOF and test probabilities (flat, one row per token) and where its time went."""
    if "seed" in get_model(name).defaults and "seed" not in params:
        params = {**params, "seed": seed}
    started = time.perf_counter()
    prototype = get_model(name, **params)
    train_features, test_features = prototype.featurize(data.train), prototype.featurize(data.test)
    features_s = time.perf_counter() - started
    targets = [s.labels or [] for s in data.train]
    parts: list[np.ndarray | None] = [None] * len(data.train)
    fit_s = predict_s = 0.0
    for k in range(folds):
        held = np.flatnonzero(fold_of == k)
        if token_run.fold_done(name, k, params):
            record = token_run.fold_record(name, k)
            probabilities = split(token_run.fold_val(name, k), [data.train[i] for i in held])
        else:
            kept = np.flatnonzero(fold_of != k)
            began = time.perf_counter()
            model = get_model(name, **params).fit([train_features[i] for i in kept], [targets[i] for i in kept], data.labels)
            fitted, in_fit = time.perf_counter(), getattr(model, "features_s_", 0.0)
            probabilities = model.predict_proba([train_features[i] for i in held])
            in_all = getattr(model, "features_s_", 0.0)
            record = {"params": params, "features_s": in_all, "fit_s": fitted - began - in_fit,
                      "predict_s": time.perf_counter() - fitted - (in_all - in_fit)}
            token_run.save_fold(name, k, _flat(probabilities, len(data.labels)), record)
        features_s += record.get("features_s", 0.0)
        fit_s += record["fit_s"]
        predict_s += record["predict_s"]
        for i, p in zip(held, probabilities):
            parts[i] = p
    began = time.perf_counter()
    full = get_model(name, **params).fit(train_features, targets, data.labels)
    fitted, in_fit = time.perf_counter(), getattr(full, "features_s_", 0.0)
    test = _flat(full.predict_proba(test_features), len(data.labels))
    predicted, in_all = time.perf_counter(), getattr(full, "features_s_", 0.0)
    token_run.save_model(name, full)
    timing = {"features_s": round(features_s + in_all, 3), "fit_s": round(fit_s + fitted - began - in_fit, 3),
              "predict_s": round(predict_s + predicted - fitted - (in_all - in_fit), 3)}
    return _flat(parts, len(data.labels)), test, timing


def _flat(arrays: list[np.ndarray | None], n_labels: int) -> np.ndarray:
    arrays = [a for a in arrays if a is not None]
    return np.concatenate(arrays).astype(np.float32) if arrays else np.zeros((0, n_labels), dtype=np.float32)


def score(data: TokenData, oof: np.ndarray, y: np.ndarray, fold_of: np.ndarray, token_metric: TokenMetric) -> dict[str, Any]:
    """An entry's OOF scores: the threshold tuned on all OOF tokens (used for its submission), the CV score with
    each fold scored at the threshold tuned on the other folds, precision, recall and entity F1 at the threshold."""
    folds = int(fold_of.max()) + 1
    token_fold = np.repeat(fold_of, [len(s.tokens) for s in data.train])
    decision: dict[str, Any] = {}
    if token_metric.kind == "segments":  # Feedback: the threshold and each class's minimum segment length
        per_sequence = split(oof, data.train)
        decision, tuned = tune_segments(data.train, per_sequence, data.labels)
        threshold, fold_scores = decision["threshold"], []
        for k in range(folds):
            other, held = list(np.flatnonzero(fold_of != k)), list(np.flatnonzero(fold_of == k))
            chosen, _ = tune_segments([data.train[i] for i in other], [per_sequence[i] for i in other], data.labels)
            fold_scores.append(segment_scores([data.train[i] for i in held], [per_sequence[i] for i in held], data.labels,
                                              chosen)["overlap_f1"])
        overall = segment_scores(data.train, per_sequence, data.labels, decision)
    elif token_metric.kind == "entities":  # NER: a BIO Viterbi pass, P(O) scaled by a factor tuned on the other folds
        lengths = np.array([len(s.tokens) for s in data.train], dtype=np.int64)
        matcher = EntityMatcher(y, lengths, data.labels)
        decodes = matcher.decodes(oof)
        decision, tuned = matcher.tune(decodes)
        threshold, fold_scores = None, []
        for k in range(folds):
            chosen, _ = matcher.tune(decodes, token_fold != k)
            held = token_fold == k
            fold_scores.append(fbeta(*matcher.counts(decodes[OUTSIDE_SCALES.index(chosen["outside_scale"])], held), 1.0))
        overall = entity_scores(y, decodes[OUTSIDE_SCALES.index(decision["outside_scale"])], lengths, data.labels)
    elif token_metric.kind == "tokens":
        threshold, tuned = tune_threshold(oof, y, token_metric.beta)
        fold_scores = []
        for k in range(folds):
            held = token_fold == k
            t, _ = tune_threshold(oof[~held], y[~held], token_metric.beta)
            fold_scores.append(token_scores(y[held], decide(oof[held], t), token_metric.beta)[token_metric.name])
        overall = token_scores(y, decide(oof, threshold), token_metric.beta)
    else:
        per_sequence = split(oof, data.train)
        threshold, _ = tune_span_threshold(data.train, per_sequence)
        fold_scores = []
        for k in range(folds):
            other, held = list(np.flatnonzero(fold_of != k)), list(np.flatnonzero(fold_of == k))
            t, _ = tune_span_threshold([data.train[i] for i in other], [per_sequence[i] for i in other])
            fold_scores.append(_char_f1(data, per_sequence, held, t))
        overall = char_scores([s.spans for s in data.train],
                              [token_spans(s, 1.0 - p[:, 0] >= threshold) for s, p in zip(data.train, per_sequence)])
        tuned = overall["char_f1"]
    decision = decision or {"threshold": threshold}
    decided = apply_decision(oof, decision, data.labels, [len(s.tokens) for s in data.train])
    predicted = [[data.labels[i] for i in part] for part in split(decided, data.train)]
    return {"metric": token_metric.name, "cv_score": float(np.mean(fold_scores)), "cv_score_std": float(np.std(fold_scores)),
            "fold_scores": [float(s) for s in fold_scores], "oof_score_tuned": tuned, "threshold": threshold,
            "decision": decision, "precision": overall["precision"], "recall": overall["recall"],
            "entity_f1": entity_f1([s.labels or [] for s in data.train], predicted), "test_from": "refit"}


def _char_f1(data: TokenData, per_sequence: list[np.ndarray], rows: list[int], threshold: float) -> float:
    sequences = [data.train[i] for i in rows]
    predicted = [token_spans(s, 1.0 - per_sequence[i][:, 0] >= threshold) for s, i in zip(sequences, rows)]
    return char_scores([s.spans for s in sequences], predicted)["char_f1"]


def _line(name: str, summary: dict[str, Any], token_metric: TokenMetric) -> str:
    timing = "".join(f", {key[:-2]} {summary[key]:.1f}s" for key in ("features_s", "fit_s", "predict_s") if key in summary)
    return (f"{name}: CV {token_metric.name} {summary['cv_score']:.4f} ± {summary['cv_score_std']:.4f} "
            f"({describe_decision(summary['decision'])}), entity F1 {summary['entity_f1']:.4f}{timing}")


def write_run_submission(token_run: TokenRun, data: TokenData, entry: str, shared_dir: Path,
                         file_name: str | None = None) -> Path:
    """``entry``'s test decision as a submission in the run and in ``shared_dir``, each checked and with its record."""
    summary = token_run.summary(entry)
    decision = token_run.decision(entry)
    decided = split(apply_decision(token_run.test_proba(entry), decision, data.labels, [len(s.tokens) for s in data.test]),
                    data.test)
    record = {"run": token_run.name, "run_dir": str(token_run.directory), "model": entry, "metric": summary["metric"],
              "cv_score": summary["cv_score"], "cv_score_std": summary["cv_score_std"], "decision": decision,
              "test_from": summary["test_from"], "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    shared = Path(shared_dir) / f"{file_name or entry}.csv"
    for path in (token_run.submission_path(file_name or entry), shared):
        write_submission(data, decided, path, decision)
        validate(path, data=data)
        write_json(record_path(path), record)
    return shared

"""What a job costs, for ``--time-limit``: from earlier runs of the model on this machine, else from a small probe.

Earlier runs are the competition's run folders in this workspace (``runs/COMPETITION/*``, which live on this
machine): each finished fold's record holds its fit time and prediction speed. Without one, the model is fitted on
5% of fold 0's training rows (untimed: it pays the imports' warm-up), then on 10% and 20%, each with as large a share
of fold 0's validation rows for early stopping (so it trains as many epochs as a job would, not every epoch), and
predicting as many validation and test rows; the time of a whole job is extrapolated on the line through the two,
and at most the 20% probe's time scaled up (its fixed costs counted five times, never more).
Probes take time from the limit: they stop once they have used PROBE_SHARE of it, and a model left unprobed does not run.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from kagglekit.data import Competition
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.events import Listener, Note
from kagglekit.io import read_json
from kagglekit.models import get_model, get_model_class
from kagglekit.runs import Run, list_runs

CHEAP_FIRST = ("baseline", "tfidf_lr", "count_nb")  # cheap and strong: trained first under a time limit
WARM_UP_FRACTION = 0.05
PROBE_FRACTIONS = (0.1, 0.2)
JOB_OVERHEAD_S = 0.2  # loading the competition and saving the model, beside fitting and predicting
PROBE_SHARE = 0.2  # of the time limit, at most, spent probing models' costs


def job_seconds(config: TrainConfig, competition: Competition, run: Run, model: str, params: dict[str, Any],
                emit: Listener) -> float:
    """Estimated seconds of one (fold or refit) job of ``model``; says where the estimate comes from."""
    earlier = earlier_job_seconds(config, competition, model)
    if earlier is not None:
        emit(Note(f"{model}: about {earlier:.1f}s per job (earlier runs on this machine)"))
        return earlier
    try:
        probed = probe_seconds(competition, run, model, params)
    except Exception as e:  # a model that cannot fit a probe fails in its own job, where the error is reported
        emit(Note(f"{model}: no cost estimate (the probe failed: {type(e).__name__}: {e})", "warning"))
        return 0.0
    emit(Note(f"{model}: about {probed:.1f}s per job (probes on {' and '.join(f'{f:.0%}' for f in PROBE_FRACTIONS)} of a fold)"))
    return probed


def earlier_job_seconds(config: TrainConfig, competition: Competition, model: str) -> float | None:
    """The median cost of the model's finished fold jobs in this workspace's runs of the competition, scaled to
    this data's rows; None when there are none."""
    costs = []
    n_test = len(competition.test)
    for earlier in list_runs(config.workspace.runs_dir(competition.name)):
        if earlier.manifest.get("data_fingerprint") != competition.fingerprint():
            continue  # other rows: other costs
        for path in earlier.model_dir(model).glob("**/fold*.json"):
            if path.stem[4:].isdigit():
                record = read_json(path)
                if "fit_s" in record:
                    rows = record.get("n_val", 0) + n_test
                    costs.append(record["fit_s"] + record.get("predict_ms_per_row", 0.0) * rows / 1000)
    return float(np.median(costs)) + JOB_OVERHEAD_S if costs else None


def probe_seconds(competition: Competition, run: Run, model: str, params: dict[str, Any]) -> float:
    """A whole job's seconds, extrapolated from fits on 10% and 20% of fold 0's training rows (after a warm-up fit)."""
    fold_index = run.fold_index
    train, val = np.flatnonzero(fold_index != 0), np.flatnonzero(fold_index == 0)
    inputs, y, test = competition.train_inputs, competition.y, competition.test_inputs
    times = []
    for fraction in (WARM_UP_FRACTION, *PROBE_FRACTIONS):
        step = round(1 / fraction)
        estimator = competition.shape.wrap_model(get_model(model, **get_model_class(model).job_params(params, 0)))
        start = time.perf_counter()
        estimator.fit(inputs[train[::step]], y[train[::step]], task=competition.task_spec, val=(inputs[val[::step]], y[val[::step]]))
        estimator.predict(inputs[val[::step]])
        estimator.predict(test[np.arange(0, len(test), step)])
        times.append(time.perf_counter() - start)
        estimator.release()  # the next probe and this process's jobs take its compiled network, as a run's folds do
    (small, t_small), (big, t_big) = zip(PROBE_FRACTIONS, times[1:])
    slope = max(0.0, (t_big - t_small) / (big - small))
    # Timing noise between two short probes is multiplied by (1 - big) / (big - small) = 8: never more than the
    # 20% probe scaled up proportionally, which already counts its fixed costs five times.
    return min(t_big + slope * (1 - big), t_big / big) + JOB_OVERHEAD_S

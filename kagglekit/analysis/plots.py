"""The plots of a run as PNGs: confusion matrix, speed against score, CV scores per fold, Keras training curves.

Figures are ``matplotlib.figure.Figure`` objects rendered by the Agg canvas, never pyplot: no display, no
global figure state to leak between plots, and matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from kagglekit.io import atomic_path
from kagglekit.metrics import predict_labels
from kagglekit.predict import target_names
from kagglekit.runs import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MODEL_COLOR, ENSEMBLE_COLOR = "#4c72b0", "#c44e52"


class Plot(NamedTuple):
    """A written PNG and the title the report shows under it."""

    title: str
    path: Path


def new_figure(width: float, height: float) -> "Figure":
    """A figure bound to the Agg canvas, whatever backend pyplot would pick."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: "Figure", path: Path) -> Path:
    """Write the figure as PNG atomically: a report never embeds a half-written image."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def ok_summaries(run: Run) -> dict[str, dict]:
    """Summaries of the run's trained models and ensembles (failed models have no predictions to plot)."""
    return {name: run.summary(name) for name in run.entries()}


def confusion_matrix_plot(run: Run, name: str, path: Path) -> Path:
    """Counts and row shares of the out-of-fold predictions at the threshold the submission uses."""
    summary = run.summary(name)
    classes = [str(c) for c in run.manifest["classes"]]
    threshold = float(summary.get("threshold", 0.5))
    y, predicted = run.y, predict_labels(run.oof(name), threshold)
    k = len(classes)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y, predicted), 1)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)

    fig = new_figure(max(4.5, 1.1 * k + 2.5), max(4, 1.1 * k + 1.8))
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{matrix[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center",
                    color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), classes)
    ax.set_yticks(range(k), classes)
    rule = f"threshold {threshold:.2f}" if k == 2 else "argmax"
    ax.set(xlabel="predicted", ylabel="true", title=f"{name}\nout-of-fold predictions, {rule}")
    return save_figure(fig, path)


def _truth_and_prediction(run: Run, name: str) -> tuple[np.ndarray, np.ndarray, list]:
    pred = run.oof(name)
    return np.asarray(run.y, dtype=np.float64).reshape(pred.shape), pred, target_names(run.manifest)


def predicted_vs_true_plot(run: Run, name: str, path: Path) -> Path:
    """Out-of-fold predictions against the true values, one panel per target, with the line of perfect predictions."""
    truth, pred, names = _truth_and_prediction(run, name)
    fig = new_figure(4.2 * len(names), 4.2)
    for j, target in enumerate(names):
        ax = fig.add_subplot(1, len(names), j + 1)
        ax.scatter(truth[:, j], pred[:, j], s=6, alpha=0.4, color=MODEL_COLOR, linewidths=0)
        low, high = float(min(truth[:, j].min(), pred[:, j].min())), float(max(truth[:, j].max(), pred[:, j].max()))
        ax.plot([low, high], [low, high], color="#888", linewidth=1)
        ax.set(xlabel=f"true {target}", ylabel=f"predicted {target}", title=f"{name}: {target}")
    return save_figure(fig, path)


def residuals_plot(run: Run, name: str, path: Path) -> Path:
    """Histogram of the out-of-fold residuals (predicted minus true), one panel per target."""
    truth, pred, names = _truth_and_prediction(run, name)
    fig = new_figure(4.2 * len(names), 3.6)
    for j, target in enumerate(names):
        ax = fig.add_subplot(1, len(names), j + 1)
        ax.hist(pred[:, j] - truth[:, j], bins=40, color=MODEL_COLOR)
        ax.axvline(0, color="#888", linewidth=1)
        ax.set(xlabel="predicted - true", ylabel="rows", title=f"{name}: {target}")
    return save_figure(fig, path)


def label_auc_plot(run: Run, name: str, path: Path) -> Path:
    """The out-of-fold ROC AUC of each label of a multi-label task (a label with one value in train is left out)."""
    from kagglekit.metrics import binary_auc

    y, pred, names = np.asarray(run.y), run.oof(name), target_names(run.manifest)
    scores = [(str(n), binary_auc(y[:, j], pred[:, j])) for j, n in enumerate(names) if 0 < y[:, j].sum() < len(y)]
    fig = new_figure(max(4.5, 0.6 * len(scores) + 2), 3.8)
    ax = fig.add_subplot()
    ax.bar([n for n, _ in scores], [a for _, a in scores], color=MODEL_COLOR)
    for i, (_, auc) in enumerate(scores):
        ax.text(i, auc, f"{auc:.3f}", ha="center", va="bottom")
    ax.set(ylim=(0.5, 1.02), ylabel="ROC AUC", title=f"{name}: out-of-fold ROC AUC per label")
    return save_figure(fig, path)


def answer_rank_plot(run: Run, name: str, path: Path) -> Path:
    """Where the true label sits among the ranked answers: first, second, ..., or beyond the K submitted."""
    from kagglekit.shapes import top_k

    pred, y, k = run.oof(name), np.asarray(run.y), int(run.shape.to_json().get("k", 1))
    ranked = top_k(pred, pred.shape[1])
    rank = np.argmax(ranked == y[:, None], axis=1)
    counts = [int(np.sum(rank == i)) for i in range(k)] + [int(np.sum(rank >= k))]
    labels = [f"#{i + 1}" for i in range(k)] + [f"not in top {k}"]
    fig = new_figure(4.5 + 0.4 * k, 3.8)
    ax = fig.add_subplot()
    ax.bar(labels, np.array(counts) / max(len(y), 1), color=[MODEL_COLOR] * k + [ENSEMBLE_COLOR])
    ax.set(ylabel="share of rows", title=f"{name}: rank of the true label (out-of-fold)")
    return save_figure(fig, path)


# Diagnostic plots by the names task shapes list in ``TaskShape.plots``: (title, plot function).
DIAGNOSTICS: dict[str, tuple[str, Callable[[Run, str, Path], Path]]] = {
    "confusion_matrix": ("Confusion matrix of {name} (out-of-fold)", confusion_matrix_plot),
    "predicted_vs_true": ("Predicted against true values of {name} (out-of-fold)", predicted_vs_true_plot),
    "residuals": ("Residuals of {name} (out-of-fold)", residuals_plot),
    "label_auc": ("ROC AUC per label of {name} (out-of-fold)", label_auc_plot),
    "answer_rank": ("Rank of the true label among the answers of {name} (out-of-fold)", answer_rank_plot),
}


def speed_score_plot(run: Run, path: Path) -> Path:
    """CV score against prediction time per row, one labelled point per model and ensemble.

    The dashed line joins the Pareto front: the models no other model beats on both speed and score,
    which are the only candidates for production.
    """
    metric = run.metric
    points = [(name, s["predict_ms_per_row"], s["cv_score"], s.get("cv_score_std", 0.0), s["kind"])
              for name, s in ok_summaries(run).items() if s.get("predict_ms_per_row") and s.get("cv_score") is not None]
    fig = new_figure(8, 5)
    ax = fig.add_subplot()
    for kind, color, marker in (("model", MODEL_COLOR, "o"), ("ensemble", ENSEMBLE_COLOR, "D")):
        chosen = [p for p in points if p[4] == kind]
        if chosen:
            ax.errorbar([p[1] for p in chosen], [p[2] for p in chosen], yerr=[p[3] for p in chosen], fmt=marker,
                        color=color, capsize=3, label=f"{kind}s (± std over folds)")
    if points and max(p[1] for p in points) / min(p[1] for p in points) > 20:
        ax.set_xscale("log")
    ax.margins(x=0.12)  # room for the labels right of the slowest points
    for name, ms, value, dy in _label_offsets(ax, points):
        leader = {"arrowprops": {"arrowstyle": "-", "color": "gray", "linewidth": 0.5}} if dy else {}
        ax.annotate(name, (ms, value), xytext=(6, dy), textcoords="offset points", fontsize="small", va="center", **leader)
    front = _pareto_front([(p[1], p[2]) for p in points], metric.greater_is_better)
    if len(front) > 1:
        ax.plot(*zip(*front), linestyle="--", color="gray", linewidth=1, label="Pareto front")
    ax.set(xlabel="prediction time per row (ms, full-data model on test)", ylabel=f"CV {metric.label}",
           title=f"Speed against {metric.label}: pick the best model you can afford")
    ax.grid(alpha=0.3)
    if points:
        ax.legend(fontsize="small")
    return save_figure(fig, path)


def _label_offsets(ax: Any, points: list[tuple]) -> list[tuple[str, float, float, float]]:
    """(name, x, y, vertical offset in points) per point: each label moves up or down until it overprints no other.

    Labels sit right of their point; sizes are estimated in points (about 5 per character, 10 per line).
    """
    ax.autoscale_view()
    to_points = 72 / ax.figure.dpi
    placed: list[tuple[float, float, float, float]] = []
    offsets = []
    for name, x, y in sorted(((p[0], p[1], p[2]) for p in points), key=lambda p: -p[2]):
        px, py = ax.transData.transform((x, y)) * to_points
        for dy in (0, -10, 10, -20, 20, -30, 30, -40, 40):
            box = (px + 6, py + dy - 5, px + 6 + 5 * len(name), py + dy + 5)
            if not any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in placed):
                break
        placed.append(box)
        offsets.append((name, x, y, float(dy)))
    return offsets


def _pareto_front(points: list[tuple[float, float]], higher_is_better: bool) -> list[tuple[float, float]]:
    """Points not beaten on both time (lower) and score, fastest first."""
    sign = 1 if higher_is_better else -1
    front: list[tuple[float, float]] = []
    for ms, value in sorted(points, key=lambda p: (p[0], -sign * p[1])):
        if not front or sign * value > sign * front[-1][1]:
            front.append((ms, value))
    return front


def cv_scores_plot(run: Run, path: Path) -> Path:
    """CV score per model and ensemble, best at the top, with the std over folds and each fold's score."""
    metric = run.metric
    summaries = [(n, s) for n, s in ok_summaries(run).items() if s.get("cv_score") is not None]
    summaries.sort(key=lambda item: item[1]["cv_score"], reverse=not metric.greater_is_better)
    fig = new_figure(8, max(2.5, 0.45 * len(summaries) + 1.5))
    ax = fig.add_subplot()
    for row, (_, s) in enumerate(summaries):
        color = ENSEMBLE_COLOR if s["kind"] == "ensemble" else MODEL_COLOR
        ax.barh(row, s["cv_score"], xerr=s.get("cv_score_std", 0.0), color=color, alpha=0.75, capsize=3)
        folds = s.get("fold_scores", [])
        ax.scatter(folds, [row] * len(folds), color="black", s=10, zorder=3)
        ax.text(s["cv_score"] / 2, row, f"{s['cv_score']:.3f} ± {s.get('cv_score_std', 0.0):.3f}",
                va="center", ha="center", color="white", fontsize="small")
    ax.set_yticks(range(len(summaries)), [n for n, _ in summaries])
    if metric.name != "logloss":
        ax.set_xlim(0, 1)
    ax.set(xlabel=f"CV {metric.label} (bar: mean ± std over folds; dots: folds)",
           title=f"Cross-validated {metric.label}")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def histories(run: Run, name: str) -> list[dict[str, list[float]]]:
    """Per-epoch training histories of a model's folds, fold order; empty for models without epochs."""
    return run.histories(name)


def training_curves_plot(run: Run, name: str, path: Path) -> Path | None:
    """Loss and each metric per epoch, train solid and validation dashed, one colour per fold; None without histories."""
    from matplotlib.lines import Line2D

    folds = histories(run, name)
    if not folds:
        return None
    keys = list(dict.fromkeys(k.removeprefix("val_") for h in folds for k in h))
    keys.sort(key=lambda k: k != "loss")
    fig = new_figure(5 * len(keys), 4)
    colors = [f"C{i}" for i in range(len(folds))]
    for ax, key in zip(np.atleast_1d(fig.subplots(1, len(keys))), keys):
        for history, color in zip(folds, colors):
            for prefix, style in (("", "-"), ("val_", "--")):
                values = history.get(prefix + key)
                if values:
                    ax.plot(range(1, len(values) + 1), values, linestyle=style, color=color, marker=".")
        ax.set(title=f"{name}: {key}", xlabel="epoch", ylabel=key)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, marker=".", label=f"fold {fold}") for fold, c in enumerate(colors)]
    handles += [Line2D([], [], color="gray", linestyle="-", label="train"), Line2D([], [], color="gray", linestyle="--", label="validation")]
    ax.legend(handles=handles, fontsize="x-small")
    return save_figure(fig, path)


def plot_run(run: Run, name: str) -> list[Plot]:
    """Every plot of the run into RUN/plots/ (old PNGs there are removed first); ``name`` gets its shape's diagnostic
    plots (a confusion matrix, predicted against true values and residuals, per-label AUC, the rank of the answer)."""
    out_dir = run.output_dir("plots")
    if out_dir.is_dir():
        for old in out_dir.glob("*.png"):
            old.unlink()
    metric = run.metric.label
    plots = [
        Plot(f"Cross-validated {metric} with its spread over folds", cv_scores_plot(run, out_dir / "cv_scores.png")),
        *(Plot(title.format(name=name), plot(run, name, out_dir / f"{kind}.png"))
          for kind, (title, plot) in ((k, DIAGNOSTICS[k]) for k in run.shape.plots)),
        Plot(f"{metric} against prediction time per row", speed_score_plot(run, out_dir / "speed_score.png")),
    ]
    for model in run.model_names():
        curves = training_curves_plot(run, model, out_dir / f"training_curves_{model}.png")
        if curves:
            plots.append(Plot(f"Training curves of {model}", curves))
    return plots

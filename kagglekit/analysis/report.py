"""One self-contained HTML page per run: config, environment, leaderboard, ensembles, plots, mistakes, adversarial
validation of the competition's train and test rows, submissions.

The page has no scripts and no links to fetch: plots are embedded as base64 PNGs, so the file can be
mailed, attached to a Kaggle notebook's output or opened offline. Every text from the data or the run goes
through ``html.escape`` (tweets contain <, > and &).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.analysis.adversarial import adversarial, adversarial_plot
from kagglekit.analysis.mistakes import most_wrong, write_most_wrong
from kagglekit.analysis.plots import plot_run
from kagglekit.config import Workspace
from kagglekit.data import Competition
from kagglekit.errors import DataError
from kagglekit.io import write_text
from kagglekit.runs import Run
from kagglekit.shapes import TaskShape
from kagglekit.submission import submission_frame

DECIMALS = {"threshold": 2, "fit_s": 1, "fit_s_marginal": 2, "predict_ms_per_row": 3}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1rem 2rem 4rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta { color: #666; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { min-width: 30ch; max-width: 70ch; white-space: pre-wrap; overflow-wrap: anywhere; }
td.path { font-family: ui-monospace, monospace; font-size: .85rem; overflow-wrap: anywhere; }
tr.best td { background: #eef6ee; font-weight: 600; }
td.failed { color: #b00; }
figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
.note { color: #666; font-size: .85rem; }
"""


def build_report(run: Run, competition: Competition | None = None, *, top: int = 10) -> Path:
    """Make the run's plots, error table and adversarial validation, then write RUN/report.html; returns its path."""
    competition = competition or run.competition()
    best = run.best()
    plots = plot_run(run, best)
    errors = most_wrong(run, competition, best, top=None)
    errors_csv = write_most_wrong(run, best, errors)
    manifest = run.manifest
    sections = [
        _header(run, manifest, best),
        _section("Leaderboard", "leaderboard",
                 f"<p>Cross-validated {escape(run.metric.label)} over {manifest['folds']} folds, best first; "
                 "the best entry is highlighted.</p>" + _leaderboard(run.leaderboard(), best)),
        _section("Ensembles", "ensembles", _ensembles(run)),
        _section("Plots", "plots", "".join(_figure(p.title, p.path) for p in plots)
                 + "".join(_figure("Optuna study of " + p.stem.replace("-", ": "), p) for p in run.study_plots())),
        _section(f"Most wrong predictions of {best}", "errors", _mistakes(errors, top, run.summary(best), errors_csv, run.shape)),
        _section("Adversarial validation: do train and test differ?", "adversarial", _adversarial(run, competition, top)),
        _section("Submissions", "submissions", _submissions(run, competition)),
        _section("CV against the leaderboard", "ledger", _ledger(run)),
        _section("Config and environment", "config", _config(manifest)),
    ]
    title = f"{manifest['competition']} · {run.name} · kagglekit report"
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<style>{CSS}</style>\n</head>\n'
            f"<body>\n{''.join(sections)}\n</body>\n</html>\n")
    path = run.report_path
    write_text(path, page)
    return path


def _section(title: str, anchor: str, body: str) -> str:
    return f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n{body}\n</section>\n'


def _cell(value: Any, column: str = "") -> str:
    """A table cell: numbers right-aligned with fixed decimals, long text wrapped, everything escaped."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "<td></td>"
    if isinstance(value, (bool, np.bool_)):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (float, np.floating)):
        return f'<td class="num">{value:.{DECIMALS.get(column, 4)}f}</td>'
    if isinstance(value, (int, np.integer)):
        return f'<td class="num">{value}</td>'
    css = {"text": "text", "file": "path", "path": "path"}.get(column)
    return f'<td class="{css}">{escape(str(value))}</td>' if css else f"<td>{escape(str(value))}</td>"


def html_table(frame: pd.DataFrame, *, table_id: str | None = None, row_key: str | None = None,
               highlight: str | None = None) -> str:
    """A DataFrame as an HTML table; rows carry ``data-key`` (the ``row_key`` column) so tests and readers can find them."""
    head = "".join(f"<th>{escape(str(c).replace('_', ' '))}</th>" for c in frame.columns)
    rows = []
    for record in frame.to_dict("records"):
        key = record.get(row_key) if row_key else None
        attributes = f' data-key="{escape(str(key))}"' if key is not None else ""
        if highlight is not None and key == highlight:
            attributes += ' class="best"'
        rows.append(f"<tr{attributes}>" + "".join(_cell(v, str(c)) for c, v in record.items()) + "</tr>")
    identifier = f' id="{table_id}"' if table_id else ""
    return f"<table{identifier}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"


def _header(run: Run, manifest: dict[str, Any], best: str) -> str:
    summary = run.summary(best)
    metric = run.metric.label
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (
        f"<header>\n<h1>{escape(manifest['competition'])} · run {escape(run.name)}</h1>\n"
        f'<p class="meta">{manifest["n_train"]} training rows, {manifest["n_test"]} test rows, {escape(manifest["task"])}; '
        f'metric {escape(metric)} ({escape(str(manifest.get("metric_source", "")))}); '
        f'{manifest["folds"]}-fold CV, seed {manifest["seed"]}. Run created {escape(str(manifest.get("created", "")))}, '
        f"updated {escape(str(manifest.get('updated', '')))}; report generated {generated}.</p>\n"
        f"<p>Best: <strong>{escape(best)}</strong>, CV {escape(metric)} {summary['cv_score']:.4f} ± "
        f"{summary.get('cv_score_std', 0.0):.4f}; out-of-fold {summary.get('oof_score_tuned', summary['cv_score']):.4f} "
        f"at threshold {summary.get('threshold', 0.5):.2f}.</p>\n"
        f'<p class="meta">Run folder: <code>{escape(str(run.directory))}</code></p>\n</header>\n'
    )


def _leaderboard(board: pd.DataFrame, best: str) -> str:
    if board.empty:
        return "<p>No models in this run.</p>"
    return html_table(board, table_id="leaderboard-table", row_key="model", highlight=best)


def _ensembles(run: Run) -> str:
    names = run.ensemble_names()
    if not names:
        return "<p>No ensembles in this run: train two or more models, or run <code>kagglekit ensemble</code>.</p>"
    rows, notes = [], []
    for name in names:
        s = run.summary(name)
        combination = ""
        if s.get("weights"):
            combination = ", ".join(f"{member} {weight:.2f}" for member, weight in s["weights"].items())
        elif s.get("meta_model"):
            meta = s["meta_model"]
            if len(meta["coef"]) == 1:  # binary: one coefficient per member
                coefficients = ", ".join(f"{f} {c:+.2f}" for f, c in zip(meta["features"], meta["coef"][0]))
                combination = f"{meta.get('type', 'meta-model')}: {coefficients}" + (  # a log-linear pool has none
                    f"; intercept {meta['intercept'][0]:+.2f}" if "intercept" in meta else "")
            else:
                combination = f"{meta.get('type', 'meta-model')} on {len(meta['features'])} features (coefficients in summary.json)"
        rows.append({"ensemble": name, "method": s.get("method"), "members": ", ".join(s.get("members", [])),
                     "weights": combination, f"cv_{s['metric']}": s.get("cv_score"), "std": s.get("cv_score_std"),
                     "threshold": s.get("threshold"), "oof_tuned": s.get("oof_score_tuned"), "test_from": s.get("test_from")})
        if s.get("note"):
            notes.append(f"<li><strong>{escape(name)}</strong>: {escape(s['note'])}</li>")
    notes_html = f'<ul class="note">{"".join(notes)}</ul>' if notes else ""
    return html_table(pd.DataFrame(rows), table_id="ensembles-table", row_key="ensemble") + notes_html


def _figure(title: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure>\n<img src="data:image/png;base64,{data}" alt="{escape(title)}">\n'
            f"<figcaption>{escape(title)} · <code>{escape(str(path))}</code></figcaption>\n</figure>\n")


def _mistakes(errors: pd.DataFrame, top: int, summary: dict[str, Any], csv_path: Path, shape: TaskShape) -> str:
    decision = summary.get("decision", {"threshold": summary.get("threshold", 0.5)})
    parts = [f"<p>{escape(shape.describe_errors(decision).capitalize())} (the decision its submission uses); "
             f"every row, most wrong first, is in <code>{escape(str(csv_path))}</code>.</p>"]
    if errors.empty:
        return parts[0] + "<p>No wrong predictions.</p>"
    for kind, group in errors.groupby("error", sort=False):
        anchor = str(kind).replace(" ", "-")
        title = "Largest residuals" if shape.numeric else f"{str(kind).capitalize()}s"
        parts.append(f"<h3>{escape(title)} ({len(group)}, top {min(top, len(group))} shown)</h3>")
        parts.append(html_table(group.head(top).drop(columns="error"), table_id=f"errors-{anchor}", row_key="id"))
    return "".join(parts)


def _adversarial(run: Run, competition: Competition, top: int) -> str:
    """The train-vs-test classifier on the run's competition (seconds: a linear model on sparse features)."""
    try:
        found = adversarial(competition, seed=run.manifest["seed"])
    except DataError as e:
        return f"<p>No adversarial validation: {escape(str(e))}.</p>"
    plot = adversarial_plot(found, run.output_dir("plots") / "adversarial.png")
    folds = ", ".join(f"{auc:.3f}" for auc in found.fold_aucs)
    return (f"<p>A logistic regression on every model input tells test rows from training rows under {found.folds}-fold "
            f"CV: ROC AUC <strong>{found.auc:.3f} ± {found.auc_std:.3f}</strong> (folds: {folds}). {escape(found.reading.capitalize())}.</p>"
            + _figure("Out-of-fold P(test) of train and test rows", plot)
            + "<h3>What gives each side away</h3><p class=\"note\">Largest coefficients towards test (positive) and train "
              "(negative); train and test: share of rows holding the token or value (a numeric input: its mean).</p>"
            + html_table(found.features, table_id="adversarial-features", row_key="feature")
            + f"<h3>Training rows most like the test (top {min(top, len(found.train_rows))})</h3>"
            + html_table(found.train_rows.head(top), table_id="adversarial-rows", row_key=competition.id_column))


def _same_submission(expected: pd.DataFrame, path: Path) -> bool:
    """Whether the CSV holds exactly these predictions (floats to 1e-9, as CSV round-trips them)."""
    try:
        actual = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError):
        return False
    if list(actual.columns) != list(map(str, expected.columns)) or len(actual) != len(expected):
        return False
    for column, wanted in zip(actual.columns, expected.columns):
        a, b = actual[column], expected[wanted]
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            if not np.allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), atol=1e-9):
                return False
        elif not (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all():
            return False
    return True


def submission_files(run: Run, competition: Competition) -> pd.DataFrame:
    """Every CSV in the competition's submissions folder and which of this run's models or ensembles it holds.

    The folder is shared by all runs, so a file is only attributed to this run when its content equals
    what this run's test predictions and tuned threshold give.
    """
    directory = Workspace(run.directory.parents[2]).submissions_dir(run.directory.parent.name)
    expected = {}
    for name in run.entries():
        summary = run.summary(name)
        expected[name] = submission_frame(competition, run.test_proba(name), summary.get("decision", {"threshold": summary.get("threshold", 0.5)}))
    rows = []
    for path in sorted(directory.glob("*.csv")) if directory.is_dir() else []:
        holds = [name for name, frame in expected.items() if _same_submission(frame, path)]
        rows.append({"file": str(path), "holds": ", ".join(holds) or "not this run's predictions (another run or older settings)",
                     "modified": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")})
    return pd.DataFrame(rows, columns=["file", "holds", "modified"])


def _submissions(run: Run, competition: Competition) -> str:
    files = submission_files(run, competition)
    if files.empty:
        return "<p>No submission files yet.</p>"
    written = {name.strip() for holds in files["holds"] for name in holds.split(",")}
    missing = [name for name in run.entries() if name not in written]
    note = f"<p class=\"note\">No file holds the predictions of: {escape(', '.join(missing))}.</p>" if missing else ""
    return ("<p>Upload with <code>kagglekit submit</code> or on the competition's page.</p>"
            + html_table(files, table_id="submissions-table", row_key="file") + note)


def _ledger(run: Run) -> str:
    """What `kagglekit submit` recorded for this competition (each submission's CV), and the CV-vs-public plot that
    `kagglekit submissions COMP --plot` drew, when there is one."""
    from kagglekit.kaggle import ledger

    workspace, competition = Workspace(run.directory.parents[2]), run.directory.parent.name
    try:
        rows = ledger.read_ledger(competition, workspace)
    except DataError as e:
        return f"<p>{escape(str(e))}</p>"
    if rows.empty:
        return (f"<p>No submission recorded yet: <code>kagglekit submit FILE</code> records each one's CV score in "
                f"<code>{escape(str(ledger.ledger_path(competition, workspace)))}</code>.</p>")
    shown = rows[["time", "ref", "file", "run", "model", "metric", "cv_score"]]
    plot = workspace.submissions_dir(competition) / ledger.PLOT_FILE
    figure = (_figure("CV against the public score", plot) if plot.is_file() else
              f"<p>Draw CV against the public score with <code>kagglekit submissions {escape(competition)} --plot</code>.</p>")
    return html_table(shown, table_id="ledger-table", row_key="ref") + figure


def _config(manifest: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v)

    data_keys = ("competition", "data_dir", "data_fingerprint", "task", "classes", "id_column", "target_column",
                 "text_columns", "submission_format", "metric", "metric_source", "folds", "seed", "n_train", "n_test")
    data = pd.DataFrame([{"setting": k, "value": value(manifest[k])} for k in data_keys if k in manifest])
    config = pd.DataFrame([{"option": k, "value": value(v)} for k, v in sorted(manifest.get("config", {}).items())])
    device = manifest.get("device") or {"device": "cpu", "note": "no TensorFlow model in this run"}
    environment = pd.DataFrame(
        [{"item": "platform", "value": manifest.get("platform", "")}]
        + [{"item": f"device {k}", "value": value(v)} for k, v in device.items()]
        + [{"item": package, "value": version} for package, version in sorted(manifest.get("versions", {}).items())]
    )
    return ("<h3>Data</h3>" + html_table(data, table_id="data-table") + "<h3>Training options</h3>"
            + html_table(config, table_id="config-table") + "<h3>Environment</h3>" + html_table(environment, table_id="environment-table"))

"""What the `errors`, `report` and `predict` commands show for a token or span run.

- ``errors``: the most confidently wrong out-of-fold tokens (false positives by P(entity), misses by how sure the
  model was they were O, wrong types), each with its context;
- ``report_data`` / ``write_report``: the leaderboard, per entity type precision/recall/F1 (seqeval), per BIO label
  token counts, and documents with their true and predicted spans side by side, as one self-contained HTML page;
- ``predict``: a new text's labelled spans from the saved full-data models (an ensemble averages its members).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.io import atomic_path, write_text
from kagglekit.tokens.layout import OUTSIDE, Sequence, TokenData, entity_type, tokenize
from kagglekit.tokens.metrics import apply_decision, describe_decision, entity_report
from kagglekit.tokens.run import TokenRun, split

CONTEXT = 6  # tokens shown each side of a wrong one


def _context(sequence: Sequence, i: int) -> str:
    lo, hi = max(0, i - CONTEXT), min(len(sequence.tokens) - 1, i + CONTEXT)
    text = sequence.text
    start, end = (int(v) for v in sequence.offsets[i])
    before = text[int(sequence.offsets[lo, 0]):start]
    after = text[end:int(sequence.offsets[hi, 1])]
    return " ".join(f"{before}[{text[start:end]}]{after}".split())


def errors(run: TokenRun, data: TokenData, name: str | None = None, top: int | None = None) -> pd.DataFrame:
    """Every wrong out-of-fold token of ``name`` (default: the best entry), most confident first within each kind."""
    name = name or run.best()
    oof = run.oof(name)
    y = run.y
    lengths = [len(s.tokens) for s in data.train]
    decided = apply_decision(oof, run.decision(name), data.labels, lengths)
    p_entity = 1.0 - oof[:, 0]
    wrong = np.flatnonzero(decided != y)
    owner = np.repeat(np.arange(len(data.train)), lengths)
    first = np.concatenate([[0], np.cumsum([len(s.tokens) for s in data.train])[:-1]])
    rows = []
    for t in wrong:
        sequence = data.train[owner[t]]
        i = int(t - first[owner[t]])
        kind = "false positive" if y[t] == 0 else "missed entity" if decided[t] == 0 else "wrong type"
        confidence = p_entity[t] if kind != "missed entity" else 1.0 - p_entity[t]
        rows.append({"error": kind, data.layout.id_column: sequence.key, **({"query": sequence.query} if data.kind == "spans" else {}),
                     "token": i, "text": sequence.tokens[i], "true": data.labels[y[t]], "predicted": data.labels[decided[t]],
                     "p_entity": float(p_entity[t]), "confidence": float(confidence), "context": _context(sequence, i)})
    frame = pd.DataFrame(rows, columns=["error", data.layout.id_column, *(["query"] if data.kind == "spans" else []), "token",
                                        "text", "true", "predicted", "p_entity", "confidence", "context"])
    order = {"false positive": 0, "missed entity": 1, "wrong type": 2}
    frame = frame.sort_values(["error", "confidence"], key=lambda c: c.map(order) if c.name == "error" else -c, kind="stable")
    frame = frame.reset_index(drop=True)
    return frame.groupby("error", sort=False).head(top).reset_index(drop=True) if top else frame


def write_errors(run: TokenRun, name: str, frame: pd.DataFrame) -> Path:
    path = run.errors_path(name)
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
    return path


@dataclass
class TokenReport:
    """What the report page shows for one run: leaderboard, per-type and per-label scores, example documents."""

    run: str
    competition: str
    inferred: str
    metric: str
    entry: str
    leaderboard: pd.DataFrame
    per_entity: pd.DataFrame  # seqeval: entity type, precision, recall, f1, support
    per_label: pd.DataFrame  # BIO label: true tokens, predicted tokens, correct, precision, recall
    examples: list[tuple[str, str, str]]  # (document, true spans as HTML, predicted spans as HTML)


def report_data(run: TokenRun, data: TokenData, name: str | None = None, top: int = 10) -> TokenReport:
    """The report of ``name`` (default: the best entry) on its out-of-fold predictions."""
    name = name or run.best()
    y = run.y
    decided = apply_decision(run.oof(name), run.decision(name), data.labels, [len(s.tokens) for s in data.train])
    true_tags = [s.labels or [] for s in data.train]
    pred_tags = [[data.labels[i] for i in part] for part in split(decided, data.train)]
    per_label = []
    for index, label in enumerate(data.labels):
        if label == OUTSIDE:
            continue
        true_n, pred_n = int((y == index).sum()), int((decided == index).sum())
        correct = int(((y == index) & (decided == index)).sum())
        per_label.append({"label": label, "true": true_n, "predicted": pred_n, "correct": correct,
                          "precision": correct / pred_n if pred_n else 0.0, "recall": correct / true_n if true_n else 0.0})
    wrong = [i for i, (t, p) in enumerate(zip(true_tags, pred_tags)) if t != p]
    right = [i for i, (t, p) in enumerate(zip(true_tags, pred_tags)) if t == p and any(x != OUTSIDE for x in t)]
    shown = (wrong[:top - top // 3] + right[:top // 3])[:top]
    examples = [(f"{data.layout.id_column} {data.train[i].key}" + (f" · {data.train[i].query}" if data.train[i].query else ""),
                 _marked(data.train[i], true_tags[i]), _marked(data.train[i], pred_tags[i])) for i in shown]
    return TokenReport(run.name, run.competition, run.manifest.get("inferred", ""), run.metric.describe(), name,
                       run.leaderboard(), pd.DataFrame(entity_report(true_tags, pred_tags)), pd.DataFrame(per_label), examples)


def _marked(sequence: Sequence, tags: list[str]) -> str:
    """The text as HTML with each entity run in <mark title=TYPE>."""
    pieces, position = [], 0
    runs: list[tuple[int, int, str]] = []
    for i, tag in enumerate(tags):
        if tag == OUTSIDE:
            continue
        kind = entity_type(tag)
        start, end = (int(v) for v in sequence.offsets[i])
        if runs and runs[-1][2] == kind and not tag.startswith("B-") and not sequence.text[runs[-1][1]:start].strip():
            runs[-1] = (runs[-1][0], end, kind)
        else:
            runs.append((start, end, kind))
    for start, end, kind in runs:
        pieces.append(html.escape(sequence.text[position:start]))
        pieces.append(f'<mark title="{html.escape(kind)}">{html.escape(sequence.text[start:end])}<sub>{html.escape(kind)}</sub></mark>')
        position = end
    pieces.append(html.escape(sequence.text[position:]))
    return "".join(pieces)


def write_report(run: TokenRun, data: TokenData, top: int = 10) -> Path:
    """One self-contained HTML page of the run (runs/COMPETITION/RUN/report.html)."""
    report = report_data(run, data, top=top)

    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="", border=0)

    examples = "".join(f"<h3>{html.escape(title)}</h3><table><tr><th>true</th><th>predicted</th></tr>"
                       f"<tr><td>{true}</td><td>{pred}</td></tr></table>" for title, true, pred in report.examples)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(report.competition)} · {html.escape(report.run)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}td,th{{padding:3px 8px;
border-bottom:1px solid #ddd;vertical-align:top}}mark{{background:#ffe08a}}sub{{font-size:60%;color:#555}}</style></head><body>
<h1>{html.escape(report.competition)} · run {html.escape(report.run)}</h1>
<p>{html.escape(report.inferred).replace(chr(10), '<br>')}</p><p>metric: {html.escape(report.metric)}</p>
<h2>Leaderboard</h2>{table(report.leaderboard)}
<h2>Per entity type ({html.escape(report.entry)}, out-of-fold, seqeval)</h2>{table(report.per_entity)}
<h2>Per label (tokens)</h2>{table(report.per_label)}
<h2>Documents: true and predicted spans</h2>{examples}
</body></html>
"""
    write_text(run.report_path, page)
    return run.report_path


@dataclass(frozen=True)
class LabelledSpan:
    start: int
    end: int
    label: str
    probability: float  # the mean P(entity) of its tokens
    text: str


@dataclass(frozen=True)
class TextPrediction:
    text: str
    spans: list[LabelledSpan]
    model: str
    decision: str  # the entry's tuned decision in words ("threshold 0.12", "BIO Viterbi, P(O) x 1.4")


def predict(run: TokenRun, text: str, name: str | None = None, query: str = "") -> TextPrediction:
    """A text's labelled spans from the saved full-data models of ``name`` (default: the best entry); ``query`` is
    a span competition's question (NBME's feature text)."""
    name = name or run.best()
    summary = run.summary(name)
    members, weights = summary.get("members", [name]), summary.get("weights", [1.0])
    segments = bool(run.manifest.get("layout", {}).get("essay_folders"))  # Feedback: words split on whitespace
    tokens, offsets = tokenize(text, "segments" if segments else run.kind)
    sequence = Sequence("text", "text", tokens, offsets, text, query)
    proba = np.zeros((len(tokens), len(run.labels)))
    for member, weight in zip(members, weights):
        if weight > 0:
            model = run.load_model(member)
            proba += weight * model.predict_proba(model.featurize([sequence]))[0]
    decision = run.decision(name)
    decided = apply_decision(proba, decision, run.labels, [len(tokens)])
    labels = run.labels
    spans: list[LabelledSpan] = []
    current: list[int] = []
    minimum = decision.get("min_words", {})  # a segments run drops segments too short for their class

    def close() -> None:
        kind = entity_type(labels[decided[current[0]]]) if current else OUTSIDE
        if current and len(current) >= minimum.get(kind, 1):
            start, end = int(offsets[current[0], 0]), int(offsets[current[-1], 1])
            spans.append(LabelledSpan(start, end, kind, float(np.mean(1.0 - proba[current, 0])), text[start:end]))
        current.clear()

    for i, index in enumerate(decided):
        tag = labels[index]
        previous = labels[decided[current[-1]]] if current else None
        joins = (previous is not None and entity_type(previous) == entity_type(tag) and not tag.startswith("B-")
                 and not text[int(offsets[current[-1], 1]):int(offsets[i, 0])].strip())
        if index == 0 or not joins:
            close()
        if index != 0:
            current.append(i)
    close()
    return TextPrediction(text, spans, name, describe_decision(decision))


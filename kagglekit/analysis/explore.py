"""Look at the data before modelling: sizes, class balance, text lengths, missing values, duplicates, random samples.

Everything is computed on the texts the models see (``Competition.texts``), so a length or a duplicate here
is a length or a duplicate for the models too.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.data import Competition
from kagglekit.models.keras_models import sized_defaults

_PUNCTUATION = str.maketrans("", "", string.punctuation)


@dataclass
class Exploration:
    """The tables of ``kagglekit explore``; each is small enough to print."""

    sizes: pd.DataFrame  # split, rows, columns
    balance: pd.DataFrame  # the target: label, count, share (classes, labels) or target, count, mean, std, quantiles
    balance_title: str  # "Class balance (train)", "Label balance (train)" or "Target distribution (train)"
    lengths: pd.DataFrame  # split, unit, mean, median, p95, max, over_sequence_length
    missing: pd.DataFrame  # column, train_missing, train_share, test_missing, test_share
    duplicates: pd.DataFrame  # check, texts, rows
    conflicts: pd.DataFrame  # text, labels, rows: the same text with different labels
    samples: pd.DataFrame  # random training rows, id and label first
    text_lengths: pd.DataFrame  # split, label, words, chars: one row per text, for the plots
    sequence_length: int


def word_counts(texts: np.ndarray) -> np.ndarray:
    """Tokens per text as TextVectorization counts them: lower-cased, punctuation stripped, split on whitespace."""
    return np.array([len(str(t).lower().translate(_PUNCTUATION).split()) for t in texts], dtype=np.int64)


def explore(competition: Competition, *, samples: int = 5, seed: int = 42, sequence_length: int | None = None) -> Exploration:
    """Every table of the data overview; ``samples`` random training rows, reproducible with ``seed``.

    ``sequence_length`` is the Keras models' (texts with more tokens are cut, so the share above it is what a
    model never reads); None: what `train` chooses from the same texts.
    """
    train_texts, test_texts = competition.train_texts, competition.test_texts
    if sequence_length is None:
        sequence_length = sized_defaults(train_texts)["sequence_length"]
    labels = row_labels(competition)
    text_lengths = pd.concat([
        pd.DataFrame({"split": "train", "label": labels, "words": word_counts(train_texts),
                      "chars": [len(t) for t in train_texts]}),
        pd.DataFrame({"split": "test", "label": None, "words": word_counts(test_texts),
                      "chars": [len(t) for t in test_texts]}),
    ], ignore_index=True)
    conflicts = _conflicts(train_texts, labels)
    return Exploration(
        sizes=pd.DataFrame({"split": ["train", "test"], "rows": [len(competition.train), len(competition.test)],
                            "columns": [competition.train.shape[1], competition.test.shape[1]]}),
        balance=_balance(competition),
        balance_title=BALANCE_TITLES[_target_kind(competition)],
        lengths=_length_summary(text_lengths, sequence_length),
        missing=_missing(competition),
        duplicates=_duplicates(train_texts, test_texts, conflicts),
        conflicts=conflicts,
        samples=_samples(competition, samples, seed),
        text_lengths=text_lengths,
        sequence_length=sequence_length,
    )


BALANCE_TITLES = {"classes": "Class balance (train)", "labels": "Label balance (train)", "values": "Target distribution (train)"}


def _target_kind(competition: Competition) -> str:
    """How the target is summarised: counts per class, positives per label, or a distribution of values."""
    shape = competition.shape
    return "classes" if shape.has_classes else "values" if shape.numeric else "labels"


def row_labels(competition: Competition) -> np.ndarray:
    """Each training row's target as one value: its label or value, or ``name=value`` pairs of several targets."""
    columns = competition.target_columns
    if len(columns) == 1:
        return competition.train[columns[0]].to_numpy()
    values = competition.train[columns].to_numpy()
    return np.array(["; ".join(f"{c}={v:g}" for c, v in zip(columns, row)) for row in values], dtype=object)


def _balance(competition: Competition) -> pd.DataFrame:
    kind, train = _target_kind(competition), competition.train
    if kind == "classes":
        counts = train[competition.target_column].value_counts().reindex(competition.classes, fill_value=0)
        return pd.DataFrame({"label": counts.index, "count": counts.to_numpy(), "share": counts.to_numpy() / counts.sum()})
    if kind == "labels":
        positives = train[competition.target_columns].sum().to_numpy()
        return pd.DataFrame({"label": competition.target_columns, "count": positives, "share": positives / len(train)})
    described = train[competition.target_columns].astype(np.float64).describe().T
    described.index.name = "target"
    return described.rename(columns={"25%": "p25", "50%": "median", "75%": "p75"}).reset_index()


def _length_summary(lengths: pd.DataFrame, sequence_length: int) -> pd.DataFrame:
    rows = []
    for split in ("train", "test"):
        part = lengths[lengths["split"] == split]
        for unit in ("words", "chars"):
            values = part[unit].to_numpy()
            rows.append({
                "split": split, "unit": unit, "mean": float(values.mean()), "median": float(np.median(values)),
                "p95": float(np.percentile(values, 95)), "max": int(values.max()),
                # a character limit means nothing to a word tokenizer, so only words get the share
                "over_sequence_length": float((values > sequence_length).mean()) if unit == "words" else None,
            })
    return pd.DataFrame(rows)


def _is_missing(column: pd.Series) -> pd.Series:
    return column.isna() | (column.astype(str).str.strip() == "")


def _missing(competition: Competition) -> pd.DataFrame:
    """Missing or blank values of every column except the id and the target (keyword and location here)."""
    skip = {competition.id_column, *competition.target_columns}
    columns = [c for c in dict.fromkeys([*competition.train.columns, *competition.test.columns]) if c not in skip]
    rows = []
    for column in columns:
        row: dict[str, object] = {"column": column}
        for split, frame in (("train", competition.train), ("test", competition.test)):
            missing = int(_is_missing(frame[column]).sum()) if column in frame.columns else None
            row[f"{split}_missing"] = missing
            row[f"{split}_share"] = missing / len(frame) if missing is not None else None
        rows.append(row)
    return pd.DataFrame(rows, columns=["column", "train_missing", "train_share", "test_missing", "test_share"])


def _duplicates(train_texts: np.ndarray, test_texts: np.ndarray, conflicts: pd.DataFrame) -> pd.DataFrame:
    """How many distinct texts repeat, and how many rows they cover: repeats inflate CV, conflicts cap it."""
    train, test = pd.Series(train_texts), pd.Series(test_texts)
    repeated = train[train.duplicated(keep=False)]
    test_repeated = test[test.duplicated(keep=False)]
    in_train = test[test.isin(set(train_texts))]
    return pd.DataFrame([
        {"check": "duplicated texts in train", "texts": repeated.nunique(), "rows": len(repeated)},
        {"check": "  of which with different labels", "texts": len(conflicts), "rows": int(conflicts["rows"].sum())},
        {"check": "duplicated texts in test", "texts": test_repeated.nunique(), "rows": len(test_repeated)},
        {"check": "test texts also in train", "texts": in_train.nunique(), "rows": len(in_train)},
    ])


def _conflicts(train_texts: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Texts that appear with more than one label, most frequent first, with their label counts."""
    counts = pd.DataFrame({"text": train_texts, "label": labels}).value_counts().sort_index()
    rows = []
    for text, per_label in counts.groupby(level="text"):
        if len(per_label) > 1:
            labels_text = ", ".join(f"{label}×{n}" for (_, label), n in per_label.items())
            rows.append({"text": text, "labels": labels_text, "rows": int(per_label.sum())})
    result = pd.DataFrame(rows, columns=["text", "labels", "rows"])
    return result.sort_values(["rows", "text"], ascending=[False, True], ignore_index=True)


def _samples(competition: Competition, n: int, seed: int) -> pd.DataFrame:
    train = competition.train
    first = [competition.id_column, *competition.target_columns]
    columns = first + [c for c in train.columns if c not in first]
    return train.sample(n=min(max(n, 0), len(train)), random_state=seed)[columns].reset_index(drop=True)


def _value_of(labels: str, target: str) -> float:
    """One target's value from a row's ``name=value; ...`` label."""
    return float(dict(part.split("=", 1) for part in str(labels).split("; "))[target])


def explore_plots(exploration: Exploration, out_dir: Path) -> list[Path]:
    """Class balance and text length distributions as PNGs under ``out_dir``."""
    from kagglekit.analysis.plots import new_figure, save_figure

    out_dir = Path(out_dir)
    fig = new_figure(6, 3.5)
    ax = fig.add_subplot()
    balance = exploration.balance
    if "share" in balance.columns:
        bars = ax.bar([str(label) for label in balance["label"]], balance["count"], color="#4c72b0")
        ax.bar_label(bars, labels=[f"{c} ({s:.0%})" for c, s in zip(balance["count"], balance["share"])], padding=2)
        ax.set(title=exploration.balance_title, xlabel="label", ylabel="rows")
        ax.margins(y=0.15)
        paths = [save_figure(fig, out_dir / "class_balance.png")]
    else:
        values = exploration.text_lengths.loc[exploration.text_lengths["split"] == "train", "label"]
        for target in balance["target"]:
            column = values if len(balance) == 1 else pd.Series([_value_of(v, target) for v in values])
            ax.hist(column.astype(np.float64), bins=40, alpha=0.6, label=str(target))
        ax.set(title=exploration.balance_title, xlabel="value", ylabel="rows")
        ax.legend(fontsize="small")
        paths = [save_figure(fig, out_dir / "target_distribution.png")]

    lengths = exploration.text_lengths
    fig = new_figure(11, 4)
    for ax, unit in zip(fig.subplots(1, 2), ("words", "chars")):
        longest = int(lengths[unit].max())
        # one bin per word count (integer edges would leave empty gaps); 40 bins of characters
        bins = np.arange(longest + 2) - 0.5 if unit == "words" else np.linspace(0, longest + 1, 41)
        for split, color in (("train", "#4c72b0"), ("test", "#dd8452")):
            values = lengths.loc[lengths["split"] == split, unit]
            ax.hist(values, bins=bins, weights=np.full(len(values), 1 / max(len(values), 1)), alpha=0.55, color=color,
                    label=f"{split} (n={len(values)})")
        if unit == "words":
            share = exploration.lengths.query("split == 'train' and unit == 'words'")["over_sequence_length"].iloc[0]
            ax.axvline(exploration.sequence_length + 0.5, color="black", linestyle="--",
                       label=f"sequence length {exploration.sequence_length} ({share:.1%} of train longer)")
        ax.set(title=f"Text length in {unit}", xlabel=unit, ylabel="share of texts")
        ax.set_ylim(top=ax.get_ylim()[1] * 1.3)  # headroom for the legend
        ax.legend(fontsize="small", loc="upper left")
    paths.append(save_figure(fig, out_dir / "text_lengths.png"))
    return paths

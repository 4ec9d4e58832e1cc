"""Explore, most-wrong predictions, run plots, the HTML report and the embedding export, on a small real run."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from kagglekit import models
from kagglekit.analysis.explore import explore, explore_plots, word_counts
from kagglekit.analysis.mistakes import most_wrong, trained_entry
from kagglekit.analysis.plots import _pareto_front, plot_run
from kagglekit.analysis.projector import export_embedding, keras_model_path
from kagglekit.analysis.report import build_report, html_table, submission_files
from kagglekit.cli import app, console
from kagglekit.config import Workspace
from kagglekit.data import load_competition
from kagglekit.engine.config import TrainConfig
from kagglekit.engine.trainer import RunResult, run
from kagglekit.errors import ConfigError
from kagglekit.io import write_json
from kagglekit.models.sklearn_models import TfidfNaiveBayes
from kagglekit.runs import Run, find_run

runner = CliRunner()

DISASTER = ["fire near the {} tonight", "flood hits the {} hard", "earthquake shakes the {}", "storm damage in the {}"]
CALM = ["I love the {} today", "lovely lunch at the {}", "great movie about the {}", "sunny walk by the {}"]
PLACES = ["river", "city", "coast", "valley", "park", "station", "school"]
HTML_TWEET = "Flood & <b>fire</b> storm near the river <script>alert(1)</script>"  # labelled 0: a confident false positive
CONFLICT = "sirens [all] night again"  # brackets would be rich markup
REPEATED = "same old tweet"
LONG_TWEET = " ".join(["word"] * 20)


class Bigram(TfidfNaiveBayes):
    """A second quick model, so the run has something to ensemble and rank."""

    def __init__(self, *, ngram_max: int = 2, min_df: int = 1, alpha: float = 0.5, seed: int = 42):
        super().__init__(ngram_max=ngram_max, min_df=min_df, alpha=alpha, seed=seed)


def write_small_competition(directory: Path) -> Path:
    """60 training tweets (two classes, label noise, a duplicate, a conflicting duplicate, HTML characters), 20 test tweets."""
    texts, labels = [], []
    for i in range(24):
        texts.append(DISASTER[i % 4].format(PLACES[i % 7]) + f" {i}")
        labels.append(1)
        texts.append(CALM[i % 4].format(PLACES[(i + 3) % 7]) + f" {i}")
        labels.append(0)
    noisy = [(f"fire near the lake {i}", 0) for i in range(3)] + [(f"I love the fire pit {i}", 1) for i in range(3)]
    extra = [(HTML_TWEET, 0), (CONFLICT, 0), (CONFLICT, 1), (REPEATED, 0), (REPEATED, 0), (LONG_TWEET, 0)]
    for text, label in noisy + extra:
        texts.append(text)
        labels.append(label)
    n = len(texts)
    train = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "keyword": [None if i % 4 == 0 else "fire" for i in range(n)],  # 15 missing of 60
        "location": [f"town {i}" if i < 6 else None for i in range(n)],  # 54 missing of 60
        "text": texts,
        "target": labels,
    })
    test_texts = [DISASTER[i % 4].format(PLACES[(i + 1) % 7]) + " x" if i % 2 else CALM[i % 4].format(PLACES[i % 7]) + " y"
                  for i in range(19)] + [REPEATED]
    test = pd.DataFrame({"id": np.arange(1000, 1020), "keyword": None, "location": None, "text": test_texts})
    sample = pd.DataFrame({"id": test["id"][::-1].to_numpy(), "target": 0})
    directory.mkdir(parents=True, exist_ok=True)
    train.to_csv(directory / "train.csv", index=False)
    test.to_csv(directory / "test.csv", index=False)
    sample.to_csv(directory / "sample_submission.csv", index=False)
    return directory


def train_small_run(root: Path, data_dir: Path, names: tuple[str, ...] = ("baseline",), **options) -> RunResult:
    return run(TrainConfig(competition="tiny", models=list(names), data_dir=data_dir, folds=3,
                           workspace=Workspace(root), **options))


def make_small_run(root: Path) -> RunResult:
    """The shared fixture run: baseline and bigram, their ensembles, and hand-written epoch histories for baseline.

    The histories have the shape the Keras models write, so the training curves plot without training a network.
    """
    data = write_small_competition(root / "input" / "tiny")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Bigram, "name", "bigram")
        patch.setitem(models._REGISTRY, "bigram", Bigram)
        result = train_small_run(root, data, ("baseline", "bigram"))
    for fold in range(3):
        write_json(result.run.model_dir("baseline") / f"fold{fold}_history.json", {
            "loss": [0.7 - 0.1 * e - 0.01 * fold for e in range(4)], "val_loss": [0.68 - 0.05 * e for e in range(4)],
            "accuracy": [0.5 + 0.1 * e for e in range(4)], "val_accuracy": [0.5 + 0.05 * e for e in range(4)],
        })
    return result


def flat(output: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(output.split())


def assert_png(path: Path, min_bytes: int = 5000) -> None:
    assert path.is_file() and path.stat().st_size > min_bytes, path
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 200 and image.height > 150
        assert len(image.convert("L").getcolors(maxcolors=65536) or range(65537)) > 10  # not a blank canvas


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    return write_small_competition(tmp_path / "input" / "tiny")


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long table cells stay on one line, so tests can find whole texts in the output."""
    monkeypatch.setattr(console, "width", 250)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """Trained once per module (ensembles make it take seconds); tests only read it or add files of their own."""
    return make_small_run(tmp_path_factory.mktemp("workspace"))


@pytest.fixture
def in_workspace(small_run: RunResult, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Commands look for runs under the current directory."""
    monkeypatch.chdir(small_run.run.directory.parents[2])
    return small_run.run


# --- explore ---------------------------------------------------------------------------------------------


def test_explore_tables(small_data: Path) -> None:
    competition = load_competition(small_data, name="tiny")
    result = explore(competition, samples=4, seed=1, sequence_length=15)
    assert result.sizes.set_index("split")["rows"].to_dict() == {"train": 60, "test": 20}
    balance = result.balance.set_index("label")
    assert balance["count"].to_dict() == {0: 32, 1: 28} and balance["share"].sum() == pytest.approx(1)
    missing = result.missing.set_index("column")
    assert missing.loc["keyword", "train_missing"] == 15 and missing.loc["keyword", "train_share"] == pytest.approx(0.25)
    assert missing.loc["location", "train_missing"] == 54 and missing.loc["location", "test_share"] == 1.0
    assert "id" not in missing.index and "target" not in missing.index
    duplicates = result.duplicates.set_index("check")
    assert duplicates.loc["duplicated texts in train"].to_dict() == {"texts": 2, "rows": 4}
    assert duplicates.loc["  of which with different labels"].to_dict() == {"texts": 1, "rows": 2}
    assert duplicates.loc["test texts also in train"].to_dict() == {"texts": 1, "rows": 1}
    assert result.conflicts.to_dict("records") == [{"text": CONFLICT, "labels": "0×1, 1×1", "rows": 2}]
    words = result.lengths.set_index(["split", "unit"])
    assert words.loc[("train", "words"), "max"] == 20
    assert words.loc[("train", "words"), "over_sequence_length"] == pytest.approx(1 / 60)
    assert pd.isna(words.loc[("train", "chars"), "over_sequence_length"])
    assert list(result.samples.columns[:2]) == ["id", "target"] and len(result.samples) == 4
    assert result.samples.equals(explore(competition, samples=4, seed=1).samples)
    assert not result.samples.equals(explore(competition, samples=4, seed=2).samples)


def test_explore_sizes_the_sequence_length_as_train_does(small_data: Path) -> None:
    competition = load_competition(small_data, name="tiny")
    chosen = models.get_model_class("dense").prepare_params({}, competition.train_texts)["sequence_length"]
    assert explore(competition).sequence_length == chosen


def test_word_counts_follow_text_vectorization() -> None:
    assert word_counts(np.array(["Hello, world!", "  a -- b  ", ""], dtype=object)).tolist() == [2, 2, 0]


def test_explore_plots_are_valid_pngs(small_data: Path, tmp_path: Path) -> None:
    result = explore(load_competition(small_data, name="tiny"))
    paths = explore_plots(result, tmp_path / "out")
    assert [p.name for p in paths] == ["class_balance.png", "text_lengths.png"]
    for path in paths:
        assert_png(path)


def test_explore_command_prints_tables_and_leaves_the_data_alone(small_data: Path, tmp_path: Path, wide_console: None) -> None:
    before = sorted(p.name for p in small_data.iterdir())
    result = runner.invoke(app, ["explore", "tiny", "--data-dir", str(small_data), "--samples", "3"])
    assert result.exit_code == 0, result.output
    for expected in ("Class balance", "keyword", "location", "of which with different labels", CONFLICT, "3 random training rows",
                     "chosen from the data"):
        assert expected in result.output
    assert_png(tmp_path / "runs" / "tiny" / "explore" / "text_lengths.png")
    assert sorted(p.name for p in small_data.iterdir()) == before


def test_explore_without_data_says_where_it_looked() -> None:
    result = runner.invoke(app, ["explore", "nowhere"])
    assert result.exit_code == 1 and "data/nowhere" in result.output and "Traceback" not in result.output


# --- most wrong ------------------------------------------------------------------------------------------


def test_most_wrong_ranks_confident_errors_at_the_tuned_threshold(small_run: RunResult) -> None:
    r = small_run.run
    competition = r.competition()
    wrong = most_wrong(r, competition, "baseline", top=None)
    threshold = r.summary("baseline")["threshold"]
    positive, y = r.oof("baseline")[:, 1], r.y
    false_positives = wrong[wrong["error"] == "false positive"]
    false_negatives = wrong[wrong["error"] == "false negative"]
    assert len(false_positives) == int(((positive >= threshold) & (y == 0)).sum()) > 0
    assert len(false_negatives) == int(((positive < threshold) & (y == 1)).sum()) > 0
    assert (false_positives["label"] == 0).all() and (false_positives["prediction"] == 1).all()
    assert false_positives["probability"].is_monotonic_decreasing and false_negatives["probability"].is_monotonic_increasing
    assert false_positives["probability"].iloc[0] == pytest.approx(positive[y == 0].max())
    texts = dict(zip(competition.train["id"], competition.train["text"]))
    assert all(texts[i] == t for i, t in zip(wrong["id"], wrong["text"]))
    top = most_wrong(r, competition, "baseline", top=2)
    assert top.groupby("error").size().max() <= 2
    assert list(top.columns) == ["error", "id", "label", "prediction", "probability", "text"]


def test_best_entry_and_unknown_names_list_what_exists(small_run: RunResult) -> None:
    r = small_run.run
    board = small_run.leaderboard
    assert r.best() == board.loc[board["status"] == "ok", "model"].iloc[0]
    assert r.best(single=True) == board.loc[(board["status"] == "ok") & (board["kind"] == "model"), "model"].iloc[0]
    with pytest.raises(ConfigError, match="it has: baseline, bigram"):
        trained_entry(r, "bert")
    with pytest.raises(ConfigError, match="runs: k3-seed42"):
        find_run(r.directory.parent, "k9")


def test_most_wrong_multiclass(tmp_path: Path) -> None:
    rows = [(f"{word} {kind} {i}", kind) for i in range(8) for kind, word in (("EAP", "raven"), ("HPL", "cthulhu"), ("MWS", "monster"))]
    rows += [("raven cthulhu 99", "MWS")]
    data = tmp_path / "spooky"
    data.mkdir()
    pd.DataFrame({"id": range(len(rows)), "text": [t for t, _ in rows], "author": [a for _, a in rows]}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": [100, 101], "text": ["raven", "monster"]}).to_csv(data / "test.csv", index=False)
    pd.DataFrame({"id": [100, 101], "EAP": 0.3, "HPL": 0.3, "MWS": 0.4}).to_csv(data / "sample_submission.csv", index=False)
    result = run(TrainConfig(competition="spooky", models=["baseline"], data_dir=data, folds=3, workspace=Workspace(tmp_path)))
    wrong = most_wrong(result.run, result.run.competition(), "baseline", top=5)
    assert set(wrong["error"]) == {"wrong label"} and (wrong["label"] != wrong["prediction"]).all()
    assert wrong["probability"].is_monotonic_decreasing
    plots = plot_run(result.run, "baseline")
    assert_png(next(p.path for p in plots if p.path.name == "confusion_matrix.png"))


def test_errors_command_prints_both_kinds_and_writes_csv(small_run: RunResult, in_workspace: Run, wide_console: None) -> None:
    result = runner.invoke(app, ["errors", "tiny", "-m", "baseline", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "Most confident false positives" in result.output and "Most confident false negatives" in result.output
    path = small_run.run.directory / "errors" / "baseline.csv"
    written = pd.read_csv(path)
    assert set(written["error"]) == {"false positive", "false negative"}
    assert len(written) == len(most_wrong(small_run.run, small_run.run.competition(), "baseline", top=None))


@pytest.mark.parametrize(("args", "message"), [
    (["errors", "tiny", "-m", "bert"], "no model or ensemble 'bert'; it has: baseline, bigram"),
    (["errors", "tiny", "--run", "k9"], "no run 'k9'"),
    (["report", "tiny", "--run", "k9"], "runs: k3-seed42"),
    (["export-embedding", "tiny", "-m", "bert"], "it has: baseline, bigram"),
    (["export-embedding", "tiny", "-m", "baseline"], "models that have one: none"),
])
def test_commands_name_what_exists(in_workspace: Run, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and message in flat(result.output) and "Traceback" not in result.output


def test_commands_without_runs_say_how_to_make_one() -> None:
    result = runner.invoke(app, ["report", "tiny"])
    assert result.exit_code == 1 and "no runs in" in result.output and "kagglekit train tiny" in flat(result.output)


# --- plots -----------------------------------------------------------------------------------------------


def test_plot_run_writes_every_plot(small_run: RunResult) -> None:
    plots = plot_run(small_run.run, "baseline")
    names = [p.path.name for p in plots]
    assert names == ["cv_scores.png", "confusion_matrix.png", "speed_score.png", "training_curves_baseline.png"]
    for plot in plots:
        assert plot.path.parent == small_run.run.directory / "plots"
        assert_png(plot.path)
    assert "F1" in plots[0].title  # the run's metric names the axes


def test_pareto_front_keeps_models_nothing_beats() -> None:
    points = [(1.0, 0.70), (2.0, 0.75), (3.0, 0.72), (4.0, 0.80), (4.0, 0.60)]
    assert _pareto_front(points, True) == [(1.0, 0.70), (2.0, 0.75), (4.0, 0.80)]
    assert _pareto_front([(1.0, 0.5), (2.0, 0.3)], False) == [(1.0, 0.5), (2.0, 0.3)]


# --- report ----------------------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")


def test_report_is_self_contained_and_escapes_text(small_run: RunResult) -> None:
    r = small_run.run
    path = build_report(r, top=50)
    page = path.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "b" not in parser.tags  # the tweet's tags are text, not markup
    assert "Flood &amp; &lt;b&gt;fire&lt;/b&gt; storm near the river &lt;script&gt;" in page
    assert len(parser.images) == len(list((r.directory / "plots").glob("*.png"))) == 5  # the run's four plots and the adversarial validation's
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert 'src="http' not in page and "<link" not in page  # nothing to fetch
    for name in ("baseline", "bigram", "ensemble_mean"):
        assert f'data-key="{name}"' in page
    for section in ("leaderboard", "ensembles", "plots", "errors", "adversarial", "submissions", "ledger", "config"):
        assert f'<section id="{section}">' in page
    assert str(Workspace(r.directory.parents[2]).submissions_dir("tiny") / "baseline.csv") in page
    assert "No submission recorded yet" in page.split('<section id="ledger">')[1]
    assert "scikit-learn" in page and "platform" in page
    adversarial = page.split('<section id="adversarial">')[1].split("</section>")[0]
    assert "ROC AUC" in adversarial and 'id="adversarial-features"' in adversarial and 'data-key="text:&quot;fire&quot;"' in adversarial  # only train says fire


def test_the_report_shows_each_recorded_submission_with_its_cv(small_run: RunResult) -> None:
    from kagglekit.kaggle import ledger

    r = small_run.run
    workspace = Workspace(r.directory.parents[2])
    path = ledger.ledger_path("tiny", workspace)
    pd.DataFrame([{**dict.fromkeys(ledger.COLUMNS, ""), "ref": 4242, "file": "baseline.csv", "run": r.name, "model": "baseline",
                   "metric": "f1", "cv_score": 0.6543}]).to_csv(path, index=False)
    try:
        section = build_report(r).read_text(encoding="utf-8").split('<section id="ledger">')[1].split("</section>")[0]
    finally:
        path.unlink()
    assert 'data-key="4242"' in section and "0.6543" in section and "submissions tiny --plot" in section


def test_html_table_escapes_and_formats() -> None:
    table = html_table(pd.DataFrame({"model": ["a<b"], "cv_f1": [0.123456], "text": ["x & y"]}), row_key="model")
    assert 'data-key="a&lt;b"' in table and "<td>a&lt;b</td>" in table
    assert '<td class="num">0.1235</td>' in table and '<td class="text">x &amp; y</td>' in table


def test_submission_files_are_attributed_by_content(small_run: RunResult) -> None:
    r = small_run.run
    files = submission_files(r, r.competition()).set_index("file")
    baseline = str(Workspace(r.directory.parents[2]).submissions_dir("tiny") / "baseline.csv")
    assert "baseline" in files.loc[baseline, "holds"].split(", ")
    assert set(files["holds"].str.split(", ").explode()) == set(r.entries())
    edited = Path(baseline).with_name("edited.csv")
    frame = pd.read_csv(baseline)
    frame["target"] = 1 - frame["target"]
    frame.to_csv(edited, index=False)
    try:
        assert submission_files(r, r.competition()).set_index("file").loc[str(edited), "holds"].startswith("not this run's")
    finally:
        edited.unlink()


def test_report_command(small_run: RunResult, in_workspace: Run) -> None:
    result = runner.invoke(app, ["report", "tiny", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "report: " in result.output and (small_run.run.directory / "report.html").is_file()


# --- embedding projector ---------------------------------------------------------------------------------


def test_export_embedding_refuses_models_without_one(small_run: RunResult) -> None:
    with pytest.raises(ConfigError, match="models that have one: none"):
        keras_model_path(small_run.run, "baseline")


@pytest.mark.slow
def test_keras_run_gives_curves_and_projector_files(tmp_path: Path, small_data: Path) -> None:
    if "dense" not in models.available_models():
        pytest.skip("the Keras model 'dense' is not registered")
    result = train_small_run(tmp_path, small_data, ("dense",), model_params={"epochs": 2, "embedding_dim": 8, "max_tokens": 200})
    r: Run = result.run
    plots = plot_run(r, "dense")
    curves = next(p.path for p in plots if p.path.name == "training_curves_dense.png")
    assert_png(curves)
    vectors, metadata = export_embedding(r, "dense")
    words = metadata.read_text(encoding="utf-8").splitlines()
    table = np.loadtxt(vectors, delimiter="\t")
    assert table.shape == (len(words), 8) and words[0] == "[UNK]" and "fire" in words
    cli = runner.invoke(app, ["export-embedding", "tiny", "-m", "dense", "--out", str(tmp_path / "proj")])
    assert cli.exit_code == 0, cli.output
    assert (tmp_path / "proj" / "vectors.tsv").read_text() == vectors.read_text()

"""The CLI is thin: each command parses options and calls the library; errors are one line and exit 1."""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import kagglekit.cli as kagglekit_cli
from kagglekit import __version__
from kagglekit.cli import app
from kagglekit.engine import trainer
from kagglekit.engine.config import TrainConfig
from kagglekit.errors import ConfigError

runner = CliRunner()


def commands(group: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and sub-command of the CLI (kaggle, kernel and bundle ones included), by its words."""
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))


def test_help_of_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for words, _ in commands():
        sub = runner.invoke(app, [*words, "--help"])
        assert sub.exit_code == 0, words
        assert len(sub.output.strip().splitlines()) > 3, words


def test_version_is_eager_and_exits_0() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"kagglekit {__version__}"


def test_train_passes_options_to_the_library(tiny_competition: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[TrainConfig] = []
    real_run = trainer.run

    def spy(config: TrainConfig, listeners=(), **options):
        seen.append(config)
        return real_run(config, listeners=listeners, **options)

    monkeypatch.setattr(trainer, "run", spy)
    result = runner.invoke(app, ["train", "tiny", "--data-dir", str(tiny_competition), "-m", "baseline", "--folds", "3",
                                 "--seed", "7", "--epochs", "3", "--text-column", "keyword", "--text-column", "text"])
    assert result.exit_code == 0, result.output
    config = seen[0]
    assert (config.models, config.folds, config.seed) == (["baseline"], 3, 7)
    assert config.model_params == {"epochs": 3} and config.text_columns == ["keyword", "text"]
    assert "baseline" in result.output and "submission baseline" in result.output
    assert Path("submissions/tiny/baseline.csv").is_file()


def test_settings_file_gives_defaults(tiny_competition: Path) -> None:
    Path("kagglekit.toml").write_text(f'data_dir = "{tiny_competition}"\nfolds = 3\nmodels = ["baseline"]\n')
    result = runner.invoke(app, ["train", "tiny"])
    assert result.exit_code == 0, result.output
    assert Path("runs/tiny/k3-seed42/folds.csv").is_file()


def test_errors_are_one_line_without_traceback(tiny_competition: Path) -> None:
    result = runner.invoke(app, ["train", "tiny", "--data-dir", str(tiny_competition), "-m", "bert"])
    assert result.exit_code == 1
    assert "No model 'bert'. Available: baseline" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["train", "nowhere", "--all"])
    assert missing.exit_code == 1 and "kagglekit fetch" in missing.output


def test_validate_command(tiny_competition: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,target\n103,0\n100,1\n101,0\n102,1\n104,0\n105,1\n")
    ok = runner.invoke(app, ["validate", str(good), "--data-dir", str(tiny_competition)])
    assert ok.exit_code == 0 and "ok" in ok.output
    good.write_text("id,target\n103,0\n")
    bad = runner.invoke(app, ["validate", str(good), "--data-dir", str(tiny_competition)])
    assert bad.exit_code == 1 and "1 rows; expected 6" in bad.output


def test_models_lists_the_registry() -> None:
    from kagglekit.models import available_models

    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert all(name in result.output for name in available_models())


def test_predict_uses_the_saved_refit(tiny_competition: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["train", "tiny", "--data-dir", str(tiny_competition), "-m", "baseline", "--folds", "3"]).exit_code == 0
    (tmp_path / "texts.txt").write_text("earthquake evacuated the coast\n\nI love summer fruits\n")
    result = runner.invoke(app, ["predict", "tiny", "forest fire near the town", "-f", str(tmp_path / "texts.txt")])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines() if "fire near" in line or "fruits" in line or "earthquake" in line]
    assert [line[0] for line in lines] == ["1", "1", "0"]
    unknown = runner.invoke(app, ["predict", "tiny", "text", "-m", "lstm"])
    assert unknown.exit_code == 1 and "has no trained model 'lstm'; it has: baseline" in unknown.output
    for command in ("predict", "report"):  # --run names the run on every command
        missing = runner.invoke(app, [command, "tiny", "--run", "k9", *(["text"] if command == "predict" else [])])
        assert missing.exit_code == 1 and "no run 'k9'" in missing.output and "k3-seed42" in missing.output, command


# --- the package: entry points, imports ----------------------------------------------------------------


def test_help_runs_as_a_module_without_importing_tensorflow(tmp_path: Path) -> None:
    """`python -m kagglekit` works, and help (root and train) stays fast: no TensorFlow import."""
    for args in (["--help"], ["train", "--help"]):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "kagglekit", *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Usage" in done.stdout
        imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
        assert "typer" in imported and not [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]


def test_command_modules_import_only_common() -> None:
    """Imports point one way: __init__ registers the command modules, which import kagglekit.cli.common only."""
    package = Path(kagglekit_cli.__file__).parent
    for path in package.glob("*.py"):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in getattr(node, "names", [])] if isinstance(node, ast.Import) else []
            for name in names:
                if name == "kagglekit.cli" or name.startswith("kagglekit.cli."):
                    assert name == "kagglekit.cli.common", f"{path.name} imports {name}"


CHOICES = ("--backend", "--device", "--test-from", "--early-stopping")  # fixed sets of values: checked by Click


def value_type(param: typer.core.TyperOption) -> Any:
    """The Python type of one value of an option (of each value, for a repeatable one)."""
    annotation = param.type_descriptor.annotation
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else annotation


def kind(param: typer.core.TyperOption) -> str:
    """What an option's value is, as far as its meaning goes (one option may be repeatable where another is not)."""
    value = value_type(param)
    if isinstance(value, type) and issubclass(value, Enum):
        return "choice of " + ", ".join(sorted(member.value for member in value))
    if param.is_flag:
        return "flag " + "/".join(param.opts + param.secondary_opts)
    return getattr(value, "__name__", str(value))


def test_one_vocabulary_of_options() -> None:
    """One meaning per option name across every command and sub-command (the Kaggle ones included): --run names
    a run (never an argument); -m is a model everywhere but submit (Kaggle's message); --version is the program's
    version only; a wait is --wait/--no-wait; seconds are floats (--time-limit: a duration such as 9h or 20m); fixed sets of values are choices."""
    root = typer.main.get_command(app)
    assert [p.opts for p in root.params if p.name == "version"] == [["--version"]]
    meanings: dict[str, tuple[str, str]] = {}
    for words, command in commands():
        where = " ".join(words)
        for param in command.params:
            if "-m" in param.opts:
                assert "--model" in param.opts or words in (("submit",), ("kernel", "run")), where  # Kaggle's submission message
            if param.name in ("run", "run_name") or "--run" in param.opts:
                assert param.param_type_name == "option" and param.opts == ["--run"], where
            if param.name in ("competition", "data_dir") and param.param_type_name == "option":
                assert param.opts[0] == {"competition": "--competition", "data_dir": "--data-dir"}[param.name], where
            if param.param_type_name != "option":
                continue
            assert "--version" not in param.opts, f"{where}: --version is the program's version; name this option otherwise"
            if "--wait" in param.opts:
                assert param.secondary_opts == ["--no-wait"], f"{where}: a wait flag is --wait/--no-wait"
            if "--time-limit" in param.opts:  # a duration: 9h, 20m, 1h30m or seconds, read by kagglekit.durations
                assert value_type(param) is str and "9h" in " ".join((param.help or "").split()), f"{where} --time-limit: a duration"
            elif "seconds" in (param.help or "").lower():
                assert value_type(param) is float, f"{where} {param.opts[0]}: seconds are floats"
            if set(param.opts) & set(CHOICES):
                assert kind(param).startswith("choice of"), f"{where} {param.opts[0]}: a fixed set of values is a choice"
            for name in [o for o in param.opts + param.secondary_opts if o.startswith("--")]:
                first = meanings.setdefault(name, (kind(param), where))
                assert kind(param) == first[0], f"{name} is {kind(param)} in `{where}` but {first[0]} in `{first[1]}`"
    message = next(p for p in root.commands["submit"].params if "-m" in p.opts)
    assert "not a model" in " ".join(message.help.split())


def test_the_legacy_spellings_are_gone(tiny_competition: Path) -> None:
    """`ensemble --models` and `report COMPETITION RUN` were kept for 0.1.0 only: -m and --run are the spellings now."""
    assert runner.invoke(app, ["ensemble", "tiny", "--models", "baseline"]).exit_code == 2
    assert runner.invoke(app, ["report", "tiny", "k3-seed42"]).exit_code == 2


def test_choices_are_refused_before_any_work() -> None:
    for args in (["train", "tiny", "-m", "baseline", "--device", "tpu"], ["train", "tiny", "-m", "dense", "--early-stopping", "late"],
                 ["ensemble", "tiny", "--test-from", "both"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "Invalid value" in result.output, args


# --- settings file through the default map ---------------------------------------------------------------


@pytest.fixture
def configs(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """The TrainConfig each `train` builds; training itself stops at once (exit 1), so these tests are fast."""
    seen: list[TrainConfig] = []

    def record(config: TrainConfig, **_: object) -> None:
        seen.append(config)
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(trainer, "run", record)
    return seen


def test_train_passes_new_options_and_params(configs: list[TrainConfig]) -> None:
    result = runner.invoke(app, ["train", "tiny", "-m", "baseline,tfidf_lr", "--jobs", "2", "--backend", "ray",
                                 "--address", "127.0.0.1:6379", "--target-column", "target", "--group-column", "keyword",
                                 "--preset", "bert_tiny_en_uncased", "--param", "units=64", "--param", "encoder=usem3",
                                 "--param", "C=0.5", "--param", "epochs=9", "--epochs", "2"])
    assert "stopped by the test" in result.output
    config = configs[0]
    assert config.models == ["baseline", "tfidf_lr"]
    assert (config.jobs, config.backend, config.ray_address) == (2, "ray", "127.0.0.1:6379")
    assert (config.target_columns, config.group_column) == (["target"], "keyword")
    assert config.model_params == {"units": 64, "encoder": "usem3", "C": 0.5, "epochs": 2, "preset": "bert_tiny_en_uncased"}
    typo = runner.invoke(app, ["train", "tiny", "-m", "baseline", "--param", "unitz=3"])
    assert typo.exit_code == 1 and "no model takes the parameter 'unitz'" in typo.output
    bad = runner.invoke(app, ["train", "tiny", "-m", "baseline", "--param", "units"])
    assert bad.exit_code == 2 and "expected KEY=VALUE" in bad.output
    assert runner.invoke(app, ["train", "tiny", "-m", "baseline", "--backend", "spark"]).exit_code == 2


def test_settings_layers_flags_over_command_table_over_top_level(configs: list[TrainConfig]) -> None:
    Path("kagglekit.toml").write_text(
        'folds = 4\nseed = 1\nmodels = ["baseline"]\ntext_columns = "keyword"\nencoder = "usem3"\n'
        '[model_params]\nepochs = 5\nunits = 32\n'
        '[train]\nfolds = 3\njobs = 2\ntarget-columns = ["target"]\n'
        '[train.model_params]\nunits = 48\ndropout = 0.1\n'
    )
    runner.invoke(app, ["train", "tiny"])
    runner.invoke(app, ["train", "tiny", "--folds", "6", "--param", "units=64", "--epochs", "1", "--text-column", "text"])
    from_file, with_flags = configs
    assert (from_file.folds, from_file.seed, from_file.models, from_file.jobs) == (3, 1, ["baseline"], 2)
    assert from_file.text_columns == ["keyword"] and from_file.target_columns == ["target"]
    assert from_file.model_params == {"epochs": 5, "units": 48, "dropout": 0.1, "encoder": "usem3"}
    assert (with_flags.folds, with_flags.seed, with_flags.text_columns) == (6, 1, ["text"])
    assert with_flags.model_params == {"epochs": 1, "units": 64, "dropout": 0.1, "encoder": "usem3"}
    assert "[default: 3]" in runner.invoke(app, ["train", "--help"], terminal_width=200).output


def test_settings_in_pyproject_and_for_other_commands(tiny_competition: Path, tmp_path: Path) -> None:
    Path("pyproject.toml").write_text(f'[project]\nname = "x"\n[tool.kagglekit.validate]\ndata_dir = "{tiny_competition}"\n')
    good = tmp_path / "good.csv"
    good.write_text("id,target\n103,0\n100,1\n101,0\n102,1\n104,0\n105,1\n")
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert str(tiny_competition / "sample_submission.csv") in "".join(result.output.split())


@pytest.mark.parametrize(("toml", "message"), [
    ("fold = 3\n", "unknown setting 'fold'. Top-level keys are options of train and explore"),
    ("[ensemble]\nmethd = 'mean'\n", "[ensemble] has no option 'methd'; it takes: run, models, methods, test_from, data_dir"),
    ("folds = \n", "is not valid TOML"),
    ("[model_params]\n", ""),
])
def test_settings_mistakes_are_one_line(toml: str, message: str) -> None:
    Path("kagglekit.toml").write_text(toml)
    result = runner.invoke(app, ["models"])
    if not message:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1 and "kagglekit.toml" in result.output and message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_leaderboard_shows_the_columns_each_task_has() -> None:
    """Regression boards have rmse/mae, not accuracy; a failed model shows its error; no threshold, no '@'."""
    import pandas as pd

    from kagglekit.cli.common import console, print_leaderboard

    board = pd.DataFrame({
        "model": ["ridge", "dense"], "kind": "model", "cv_rmse": [0.52, None], "cv_rmse_std": [0.01, None],
        "mae": [0.4, None], "test_from": "refit", "fit_s": [1.25, None], "predict_ms_per_row": [0.002, None],
        "status": ["ok", "ValueError: no [bold]"],
    })
    with console.capture() as captured:
        print_leaderboard(board, "regression")
    text = captured.get()
    assert "cv rmse" in text and "mae" in text and "acc" not in text and "0.520  ±0.010" in text and "1.2" in text
    assert "failed" in text and "no [bold]" in text


def test_the_cli_choices_are_the_librarys() -> None:
    """The CLI's enums list the values the library accepts, so a new value cannot be refused by the CLI alone."""
    from kagglekit.cli.ensemble import TestSource
    from kagglekit.cli.train import Backend, Device, EarlyStopping
    from kagglekit.engine.backends import BACKENDS
    from kagglekit.engine.config import DEVICES
    from kagglekit.ensemble import TEST_SOURCES
    from kagglekit.models.keras_models import EARLY_STOPPING

    for enum, values in ((Backend, BACKENDS), (Device, DEVICES), (EarlyStopping, EARLY_STOPPING), (TestSource, TEST_SOURCES)):
        assert [member.value for member in enum] == list(values), enum.__name__

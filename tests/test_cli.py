"""The CLI is thin: each command parses options and calls the library; errors are one line and exit 1."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import kagglekit.cli as kagglekit_cli
from kagglekit import training
from kagglekit.cli import app
from kagglekit.errors import ConfigError

runner = CliRunner()


def test_help_of_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0, name
        assert len(sub.output.strip().splitlines()) > 3, name


def test_train_passes_options_to_the_library(tiny_competition: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[training.TrainConfig] = []
    real_run = training.run

    def spy(config: training.TrainConfig, console=None):
        seen.append(config)
        return real_run(config, console=console)

    monkeypatch.setattr(training, "run", spy)
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


def test_one_vocabulary_of_options() -> None:
    """The run is --run everywhere (never an argument); -m is a model everywhere but submit (Kaggle's message)."""
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        for param in command.params:
            if "-m" in param.opts:
                assert "--model" in param.opts or name == "submit", name
            if "run" in param.name:
                assert param.param_type_name == "option" and param.opts == ["--run"], name
            if param.name in ("competition", "data_dir") and param.param_type_name == "option":
                assert param.opts[0] == {"competition": "--competition", "data_dir": "--data-dir"}[param.name], name
    assert "not a model" in runner.invoke(app, ["submit", "--help"]).output


# --- settings file through the default map ---------------------------------------------------------------


@pytest.fixture
def configs(monkeypatch: pytest.MonkeyPatch) -> list[training.TrainConfig]:
    """The TrainConfig each `train` builds; training itself stops at once (exit 1), so these tests are fast."""
    seen: list[training.TrainConfig] = []

    def record(config: training.TrainConfig, **_: object) -> None:
        seen.append(config)
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(training, "run", record)
    return seen


def test_train_passes_new_options_and_params(configs: list[training.TrainConfig]) -> None:
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


def test_settings_layers_flags_over_command_table_over_top_level(configs: list[training.TrainConfig]) -> None:
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
    assert "cv rmse" in text and "mae" in text and "acc" not in text and "0.520±0.010" in text and "1.2" in text
    assert "failed" in text and "no [bold]" in text

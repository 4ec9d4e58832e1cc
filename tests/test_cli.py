"""The CLI is thin: each command parses options and calls the library; errors are one line and exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kagglekit import training
from kagglekit.cli import app

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

"""Where things live (data, runs, caches, submissions) and the settings file; nothing is read at import time."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kagglekit.errors import ConfigError

KAGGLE_INPUT = Path("/kaggle/input")
KAGGLE_WORKING = Path("/kaggle/working")


def in_kaggle_notebook() -> bool:
    """True inside a Kaggle notebook, where data is mounted read-only and outputs go to /kaggle/working."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE")) or KAGGLE_INPUT.is_dir()


@dataclass(frozen=True)
class Workspace:
    """The folders of one working directory: data/, runs/, submissions/ and .cache/."""

    root: Path

    @classmethod
    def current(cls) -> "Workspace":
        return cls(KAGGLE_WORKING if in_kaggle_notebook() and KAGGLE_WORKING.is_dir() else Path.cwd())

    def data_dir(self, competition: str) -> Path:
        """Where a competition's CSVs are: the notebook's input mount, else data/COMPETITION."""
        if in_kaggle_notebook():
            for mounted in (KAGGLE_INPUT / competition, KAGGLE_INPUT / "competitions" / competition):
                if mounted.is_dir():
                    return mounted
        return self.root / "data" / competition

    def runs_dir(self, competition: str) -> Path:
        return self.root / "runs" / competition

    def submissions_dir(self, competition: str) -> Path:
        return self.root / "submissions" / competition

    @property
    def cache_dir(self) -> Path:
        return self.root / ".cache" / "kagglekit"


@dataclass(frozen=True)
class Settings:
    """The settings file's table and where it came from, so an error can name the file."""

    values: dict[str, Any]
    source: str = "no settings file"


def load_settings(directory: Path | None = None) -> Settings:
    """Defaults for CLI options from ``kagglekit.toml`` or ``[tool.kagglekit]`` in ``pyproject.toml``.

    ``kagglekit.toml`` wins when both exist; a ``pyproject.toml`` without the table gives no settings.
    """
    directory = directory or Path.cwd()
    own, pyproject = directory / "kagglekit.toml", directory / "pyproject.toml"
    if own.is_file():
        return Settings(_read_toml(own), str(own))
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("kagglekit")
        if table is not None:
            return Settings(table, f"{pyproject} [tool.kagglekit]")
    return Settings({})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"settings file {path} is not valid TOML: {e}") from None

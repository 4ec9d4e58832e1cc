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


def load_settings(directory: Path | None = None) -> dict[str, Any]:
    """Defaults for CLI options from ``kagglekit.toml`` or ``[tool.kagglekit]`` in ``pyproject.toml``."""
    directory = directory or Path.cwd()
    own = directory / "kagglekit.toml"
    try:
        if own.is_file():
            return tomllib.loads(own.read_text(encoding="utf-8"))
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            return tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("kagglekit", {})
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"settings file in {directory} is not valid TOML: {e}") from None
    return {}

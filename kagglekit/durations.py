"""Durations as users write them (``9h``, ``20m``, ``1h30m``, ``90s``, ``32400``), for every ``--time-limit``."""

from __future__ import annotations

import re

from kagglekit.errors import ConfigError

UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"


def parse_duration(value: str | float, option: str = "--time-limit") -> float:
    """Seconds of a duration: a bare number of seconds, or hours/minutes/seconds (``1h30m``); above 0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            parts = re.fullmatch(rf"(?:{_NUMBER}h)?\s*(?:{_NUMBER}m)?\s*(?:{_NUMBER}s)?", text)
            if not text or parts is None:
                raise ConfigError(f"{option} takes a duration such as 9h, 20m, 1h30m, 90s or 90 (seconds), got {value!r}") from None
            seconds = sum(float(amount) * UNITS[unit] for amount, unit in zip(parts.groups(), "hms") if amount)
    if not seconds > 0:
        raise ConfigError(f"{option} must be above 0, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """9h 0m, 12m 5s, 3.2s."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60)}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m {int(seconds % 60)}s"
    return f"{seconds:.1f}s"

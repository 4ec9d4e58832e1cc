"""One family of exceptions: the CLI prints these without a traceback.

A message's advice speaks the caller's language: ``advice(cli=..., python=...)`` picks "rerun with --jobs 1" for
the command line and "pass jobs=1" for Python. The CLI declares itself with ``set_audience("cli")``; the default is
Python, the notebook API and every library call. A worker process is told its parent's audience.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

AUDIENCES = ("cli", "python")
_audience: ContextVar[str] = ContextVar("kagglekit_audience", default="python")


def set_audience(audience: str) -> Token[str]:
    """Whose words error advice uses from now on in this context; the token undoes it (``reset_audience``)."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, got {audience!r}")
    return _audience.set(audience)


def reset_audience(token: Token[str]) -> None:
    _audience.reset(token)


def current_audience() -> str:
    return _audience.get()


def advice(*, cli: str, python: str) -> str:
    """The fix in the words of the interface the user is in: a command or option for the CLI, a call for Python."""
    return cli if _audience.get() == "cli" else python


class KaggleKitError(Exception):
    """Base of every error a user can act on; the message says what to do."""


class DataError(KaggleKitError):
    """A competition file is missing, malformed or inconsistent."""


class ConfigError(KaggleKitError):
    """An option or setting has a value that cannot be used."""


class KaggleApiError(KaggleKitError):
    """The Kaggle API refused or failed a request."""


class ModelError(KaggleKitError):
    """A model cannot be built, trained or loaded."""


class RunLockedError(KaggleKitError):
    """Another process is training into the same run folder."""

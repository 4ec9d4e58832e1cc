"""Keep framework log lines a user cannot act on out of the CLI's output; ``-v`` brings them back.

TensorFlow 2.21 on a CPU machine prints from three places, and each needs its own switch:

- C++ log lines while ``import tensorflow`` loads its libraries ("oneDNN custom operations are on", "Could not find
  cuda drivers", absl's "All log messages before absl::InitializeLog() ..."). They come from absl before TensorFlow
  reads any setting, so no environment variable silences them (tensorflow#100442): the import runs with file
  descriptor 2 captured, and only those log lines are dropped; anything else printed then is passed on.
- C++ log lines later, such as ``E0000 ... failed call to cuInit`` when TensorFlow looks for a GPU:
  TF_CPP_MIN_LOG_LEVEL=3, read when TensorFlow first logs. Real failures still arrive as Python exceptions.
- Python: the ``tensorflow`` logger ("tf.function retracing"), absl's logger and ``warnings`` from the libraries.

Everything is set before TensorFlow is imported, which kagglekit does only inside its model modules, so calling
:func:`quiet_frameworks` first thing in a command is enough.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType

# What the quiet mode sets where the user has not set it already; PYTHONWARNINGS also reaches worker processes.
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
QUIET_LOGGERS = ("tensorflow", "keras", "tensorflow_hub", "h5py")
# A glog/absl line (I, W or E severity), or absl's note that logging is not initialised yet.
FRAMEWORK_LINE = re.compile(rb"^([IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\] |WARNING: All log messages before absl::InitializeLog\(\))")
QUIET_IMPORTS = ("tensorflow",)


@dataclass
class _Changes:
    """What quiet mode changed, so that verbose mode (and tests) can undo exactly that."""

    environment: list[str] = field(default_factory=list)
    logger_levels: dict[str, int] = field(default_factory=dict)
    absl_verbosity: int | None = None
    warning_filter: tuple | None = None
    finder: importlib.abc.MetaPathFinder | None = None


_changes = _Changes()


def quiet_frameworks(verbose: bool) -> None:
    """Silence TensorFlow's, absl's and Python's warnings unless ``verbose``; with ``verbose``, undo that.

    Call it at the start of every command, before anything imports TensorFlow. A variable the user has set
    (e.g. TF_CPP_MIN_LOG_LEVEL=0) is left as it is.
    """
    _restore()
    if verbose:
        return
    for name, value in QUIET_ENVIRONMENT.items():
        if name not in os.environ:
            os.environ[name] = value
            _changes.environment.append(name)
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        _changes.logger_levels[name] = logger.level
        logger.setLevel(logging.ERROR)
    _quiet_absl()
    warnings.simplefilter("ignore")
    _changes.warning_filter = warnings.filters[0]
    _changes.finder = _QuietImportFinder(QUIET_IMPORTS)
    sys.meta_path.insert(0, _changes.finder)


@contextmanager
def quieted(verbose: bool) -> Iterator[None]:
    """The logging policy for the length of one library call (the notebook API's ``train``, whose models load
    TensorFlow in the notebook's own process); afterwards the process is as it was. Inside a command, which set the
    policy already, it changes nothing."""
    if verbose or _changes.finder is not None:
        yield
        return
    quiet_frameworks(verbose=False)
    try:
        yield
    finally:
        quiet_frameworks(verbose=True)


def policy_environment(verbose: bool) -> dict[str, str]:
    """The variables a process kagglekit starts (a worker, a Ray task, a notebook's kagglekit command) needs at its
    start to follow this process's logging policy: TensorFlow reads TF_CPP_MIN_LOG_LEVEL when it loads, and
    PYTHONWARNINGS covers imports before the child can call :func:`quiet_frameworks` itself. The user's values win."""
    return {} if verbose else {name: os.environ.get(name, value) for name, value in QUIET_ENVIRONMENT.items()}


def child_environment(verbose: bool) -> dict[str, str]:
    """This process's environment with the logging policy's variables: the ``env`` of a child process."""
    return {**os.environ, **policy_environment(verbose)}


def _quiet_absl() -> None:
    """absl's Python logger: only once absl.logging is imported, since it must create the 'absl' logger itself."""
    try:
        from absl import logging as absl_logging
    except ImportError:  # a scikit-learn-only install has no absl
        return
    _changes.absl_verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)


def _restore() -> None:
    global _changes
    for name in _changes.environment:
        os.environ.pop(name, None)
    for name, level in _changes.logger_levels.items():
        logging.getLogger(name).setLevel(level)
    if _changes.absl_verbosity is not None:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(_changes.absl_verbosity)
    if _changes.warning_filter is not None and _changes.warning_filter in warnings.filters:
        warnings.filters.remove(_changes.warning_filter)
        # Forget the "ignore" decisions cached per module, as warnings.simplefilter does (private, so looked up).
        getattr(warnings, "_filters_mutated", lambda: None)()
    if _changes.finder is not None and _changes.finder in sys.meta_path:
        sys.meta_path.remove(_changes.finder)
    _changes = _Changes()


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Finds the named top-level packages as usual, and imports them with C++ start-up log lines dropped."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The package's own loader from here on, for importlib.resources and friends.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        with _without_framework_lines():
            self.loader.exec_module(module)


@contextmanager
def _without_framework_lines() -> Iterator[None]:
    """Capture file descriptor 2 (C++ writes there directly) and pass on all but framework log lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True) if not FRAMEWORK_LINE.match(line)]
            if kept:
                sys.stderr.flush()
                os.write(2, b"".join(kept))

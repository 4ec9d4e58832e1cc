"""Error advice in the words of the place the user is in: options and commands on the command line, calls and
keyword arguments in Python (``kagglekit.errors.advice``); worker processes advise as their parent does."""

from __future__ import annotations

import ast
import contextvars
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kagglekit.cli import app
from kagglekit.engine.backends import DeviceSettings, make_backend, prepare_process
from kagglekit.errors import advice, current_audience, set_audience
from kagglekit.logs import quiet_frameworks

PACKAGE = Path(__file__).resolve().parents[1] / "kagglekit"
ERRORS = {"KaggleKitError", "DataError", "ConfigError", "ModelError", "KaggleApiError", "RunLockedError"}
# Advice only a Python caller can follow: a call (``use predict()``) or a keyword argument (``encoder='usem3'``).
PYTHON_ADVICE = re.compile(r"\b[A-Za-z_][\w.]*\(\)|\b[a-z_]+=(?:True|False|None|\d|['\"])")
# Code only Python reaches: the notebook API, the DataFrames it writes as a competition folder, a model's predict_proba.
PYTHON_ONLY = {("api.py", "*"), ("tables.py", "write_frames"), ("models/base.py", "predict_proba")}
# Messages the CLI prints with Python advice, in modules other engineers own (issue 25 lists them for their owners):
# each should say both, with advice(cli=..., python=...). Remove an entry when it is fixed; the test then insists.
KNOWN: set[tuple[str, str]] = set()


def message_text(node: ast.expr) -> str:
    """The literal words of an error message: its string parts, leaving out what ``advice(...)`` chooses."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(message_text(v) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return message_text(node.value)
    if isinstance(node, ast.BinOp):
        return message_text(node.left) + message_text(node.right)
    if isinstance(node, ast.IfExp):
        return message_text(node.body) + " " + message_text(node.orelse)
    return ""  # a name, a call (advice(...) included), a number: not literal advice


def python_advice_in_errors() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        python_only = {id(node) for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                       and ({(module, "*"), (module, function.name)} & PYTHON_ONLY) for node in ast.walk(function)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args) or id(node) in python_only:
                continue
            name = node.exc.func.id if isinstance(node.exc.func, ast.Name) else getattr(node.exc.func, "attr", "")
            text = message_text(node.exc.args[0]) if name in ERRORS else ""
            if PYTHON_ADVICE.search(text):
                found.add((module, text))
    return found


def test_no_error_gives_the_command_line_python_only_advice() -> None:
    found = python_advice_in_errors()
    new = {(module, text) for module, text in found if not any(module == k[0] and k[1] in text for k in KNOWN)}
    assert new == set(), "give these messages both: advice(cli='--option ...', python='option=...')"
    fixed = {k for k in KNOWN if not any(module == k[0] and k[1] in text for module, text in found)}
    assert fixed == set(), "fixed: remove them from KNOWN"


def test_the_scan_finds_python_advice_and_skips_what_advice_chooses() -> None:
    tree = ast.parse("raise ConfigError(f'{name} is a regression model: use predict()')\n"
                     "raise ConfigError(f'bad: {advice(cli=\"--jobs 1\", python=\"jobs=1\")}')")
    texts = [message_text(node.exc.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Raise)]
    assert [bool(PYTHON_ADVICE.search(t)) for t in texts] == [True, False]


def test_advice_follows_the_audience() -> None:
    def in_cli() -> str:
        set_audience("cli")
        return advice(cli="--jobs 1", python="jobs=1")

    assert advice(cli="--jobs 1", python="jobs=1") == "jobs=1"  # a library call is Python's
    assert contextvars.copy_context().run(in_cli) == "--jobs 1"
    with pytest.raises(ValueError, match="audience must be one of"):
        set_audience("gui")


def test_a_worker_advises_as_its_parent() -> None:
    def worker() -> str:
        prepare_process(DeviceSettings(audience="cli"))
        return current_audience()

    try:
        assert contextvars.copy_context().run(worker) == "cli"
    finally:
        quiet_frameworks(verbose=True)  # prepare_process set the logging policy: undo it for the other tests


def test_the_cli_and_python_get_their_own_words(tiny_competition: Path) -> None:
    with pytest.raises(Exception, match='ray_address is the address of a Ray cluster: use it with backend="ray"'):
        make_backend("local", 2, "10.0.0.5:6379", DeviceSettings())
    result = CliRunner().invoke(app, ["train", "tiny", "-m", "baseline", "--address", "10.0.0.5:6379", "--data-dir",
                                      str(tiny_competition)])
    assert result.exit_code == 1
    assert "--address is the address of a Ray cluster: use it with --backend ray" in result.output

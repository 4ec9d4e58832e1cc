"""The `kagglekit` command: a thin Typer layer that parses options and calls the library.

This package module builds the root ``app`` and registers the command modules; they import only
``kagglekit.cli.common`` (shared consoles, errors and options), never each other or this module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kagglekit.cli import analysis, doctor, ensemble, kaggle, kernels, train, tune
from kagglekit.cli.common import console, err_console, library_warnings, user_errors

__all__ = ["app", "console", "err_console", "main"]

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def print_version(value: bool) -> None:
    """``--version``: print the version and exit 0 at once, before Click asks for a command."""
    if value:
        from kagglekit import __version__

        console.print(f"kagglekit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", help="Print kagglekit's version and exit.", is_eager=True, callback=print_version)] = False,
) -> None:
    """Take a Kaggle competition from download to a scored submission.

    Options default from kagglekit.toml, or \\[tool.kagglekit] in pyproject.toml, in the working directory.
    """
    from kagglekit.cli.defaults import settings_default_map
    from kagglekit.config import load_settings
    from kagglekit.errors import reset_audience, set_audience
    from kagglekit.logs import quiet_frameworks

    quiet_frameworks(verbose=False)  # before any command imports TensorFlow; `train -v` turns it back off
    audience = set_audience("cli")  # errors advise options and commands, not Python calls
    ctx.with_resource(library_warnings())
    ctx.call_on_close(lambda: (quiet_frameworks(verbose=True), reset_audience(audience)))  # for in-process callers
    with user_errors():
        ctx.default_map = settings_default_map(ctx.command, load_settings())


for module in (train, tune, analysis, ensemble, kaggle, kernels, doctor):
    app.add_typer(module.app)


def main() -> None:
    """The console script's entry point (also `python -m kagglekit`)."""
    app()

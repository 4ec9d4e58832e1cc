"""The `kagglekit` command: a thin Typer layer that parses options and calls the library."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from kagglekit.errors import KaggleKitError

app = typer.Typer(
    help="Take a Kaggle competition from download to a scored submission.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    """Take a Kaggle competition from download to a scored submission."""
    if version:
        from kagglekit import __version__

        console.print(f"kagglekit {__version__}")
        raise typer.Exit()


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a library error as one line and exit 1: users see what to do, not a traceback."""
    try:
        yield
    except KaggleKitError as e:
        err_console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None


@app.command("models")
def list_models() -> None:
    """List the registered models."""
    from kagglekit.models import available_models, get_model_class

    table = Table("name", "model", "parameters")
    for name in available_models():
        cls = get_model_class(name)
        table.add_row(name, cls.description, ", ".join(cls.param_names()))
    console.print(table)


def main() -> None:
    app()

"""`kagglekit doctor`: what this machine can do, in one screen (``kagglekit.doctor`` does the checking)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from kagglekit.cli.common import console, user_errors

app = typer.Typer()

MARKS = {"ok": "[green]ok[/]     ", "note": "[yellow]note[/]   ", "problem": "[red]problem[/]"}


@app.command()
def doctor(
    timeout: Annotated[float, typer.Option(min=0.1, metavar="SECONDS", help="How long each network check may take.")] = 3.0,
) -> None:
    """Check this machine: Python, TensorFlow, Keras and KerasHub versions, the GPU, Kaggle credentials and API,
    the checkpoints that work offline, Hugging Face and TF Hub, disk, memory, the offline bundle and what --jobs auto
    would choose. Each problem comes with its fix; exits 1 only when kagglekit cannot train here at all.
    """
    from kagglekit.doctor import diagnose

    with user_errors():
        checks = diagnose(timeout_s=timeout)
    width = max(len(c.name) for c in checks)
    for check in checks:
        console.print(f"{MARKS[check.status]} {escape(check.name.ljust(width))}  {escape(check.found)}", highlight=False)
        if check.fix and check.status != "ok":
            console.print(f"{'':7} {'':{width}}  fix: {escape(check.fix)}", highlight=False)
    problems = sum(c.status == "problem" for c in checks)
    notes = sum(c.status == "note" for c in checks)
    blocking = [c.name for c in checks if c.blocking]
    if blocking:
        console.print(f"[red]kagglekit cannot train here:[/] fix {', '.join(blocking)} first", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]the basics work:[/] kagglekit can train here ({problems} problem(s), {notes} note(s) above)",
                  highlight=False)

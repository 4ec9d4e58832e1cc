"""The CLI's progress bar with ETA: one listener of the engine's events."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from kagglekit.engine.events import Event, JobFailed, JobFinished, JobStarted, RunStarted


class ProgressBar:
    """Jobs done out of the run's total (resumed jobs count as done), the jobs running now, elapsed time and ETA."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
        )
        self.task: TaskID | None = None
        self.running: list[str] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.progress.start()
            self.task = self.progress.add_task("training", total=event.total_jobs, completed=event.done_jobs)
        elif self.task is None:
            return
        elif isinstance(event, JobStarted):
            self.running.append(event.job.label)
        elif isinstance(event, (JobFinished, JobFailed)):
            if event.job.label in self.running:
                self.running.remove(event.job.label)
            self.progress.advance(self.task)
        self.progress.update(self.task, description=", ".join(self.running) or "training")

    def close(self) -> None:
        self.progress.stop()

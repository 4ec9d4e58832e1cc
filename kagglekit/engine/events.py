"""What the engine reports while it works. Listeners (a progress bar, a notebook widget, a test) receive these.

Like Keras callbacks: the engine never prints, not even a warning: its lines for the user are ``Note``
events, so the CLI, a notebook and a test each show (or record) the same run their own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from kagglekit.engine.jobs import Job


@dataclass(frozen=True)
class Note:
    """A line for the user: a data warning, a model left out, a parameter chosen from the data, an ensemble's score."""

    text: str
    level: Literal["info", "warning"] = "info"


@dataclass(frozen=True)
class RunStarted:
    run: str
    models: list[str]
    total_jobs: int  # jobs of this run, done before or not
    done_jobs: int  # jobs already finished by an earlier, interrupted run: resumed, not redone
    backend: str


@dataclass(frozen=True)
class JobStarted:
    job: Job


@dataclass(frozen=True)
class JobFinished:
    job: Job
    seconds: float
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobFailed:
    job: Job
    error: str


@dataclass(frozen=True)
class ModelFinished:
    name: str
    summary: dict[str, Any]


@dataclass(frozen=True)
class ModelFailed:
    name: str
    error: str  # the first line of the error
    where: str = ""  # the job or stage it failed in, e.g. "baseline fold 2"


@dataclass(frozen=True)
class EnsembleBuilt:
    name: str
    summary: dict[str, Any]


@dataclass(frozen=True)
class RunFinished:
    run: str
    failed: list[str]


Event = Note | RunStarted | JobStarted | JobFinished | JobFailed | ModelFinished | ModelFailed | EnsembleBuilt | RunFinished
Listener = Callable[[Event], None]
E = TypeVar("E")


class Recorder:
    """A listener that keeps every event, in order (for tests and for notebooks that inspect a run)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        """The events' class names, in order, notes left out (they say the same things in words)."""
        return [type(e).__name__ for e in self.events if not isinstance(e, Note)]

    def of(self, kind: type[E]) -> list[E]:
        """The events of one kind, in order."""
        return [e for e in self.events if isinstance(e, kind)]

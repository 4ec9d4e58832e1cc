"""A local worker process: ``python -m kagglekit.engine.worker FD``, started by ``LocalBackend``.

It starts from kagglekit's own entry point, never from the caller's ``__main__``: multiprocessing's "spawn"
re-runs a script that has no main guard (which then meets the run's lock and dies) and cannot start at all from
stdin, and "fork" is unsafe once TensorFlow is loaded. Its environment (thread counts, visible GPU, the logging
policy) is set by the parent at spawn, before anything imports TensorFlow; the parent then sends a ``WorkerSetup``
over the connection on file descriptor FD, and jobs after it, one at a time, until it sends None.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kagglekit.engine.backends import DeviceSettings

# Where ``import kagglekit`` finds this copy: put first on a worker's PYTHONPATH so it runs the parent's kagglekit.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
INTERRUPTED = 130  # a worker stopped by Ctrl-C (the terminal sends it to the whole process group) exits quietly


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs from its parent before the first job: its cores, its settings, and the parent's import
    path (so the modules that register the user's own models are found as the parent finds them)."""

    cpus: list[int]
    settings: DeviceSettings
    sys_path: list[str] = field(default_factory=list)


def serve(conn: Connection) -> None:
    """Set the process up as the parent asks, then run jobs until the parent sends None or goes away."""
    setup: WorkerSetup = conn.recv()
    if setup.cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, setup.cpus)
    sys.path[:] = [*setup.sys_path, *(p for p in sys.path if p not in setup.sys_path)]
    from kagglekit.engine.backends import prepare_process
    from kagglekit.engine.jobs import run_job

    prepare_process(setup.settings)
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            return
        if job is None:
            return
        try:
            message = ("ok", run_job(job))
        except Exception as e:  # one failed job must not end the worker
            message = ("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        conn.send(message)


def main(argv: list[str]) -> int:
    conn = Connection(int(argv[0]))
    try:
        serve(conn)
    except KeyboardInterrupt:
        return INTERRUPTED
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

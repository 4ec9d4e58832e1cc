"""Backends run a plan's jobs: in this process, in N local worker processes, or as tasks on a Ray cluster.

Every backend asks the plan for jobs that are ready (a refit only after its model's folds) when it can start
them (so a --time-limit check happens at launch), reports each result back to it, and emits the same events. A job that raises, or whose worker dies, fails alone: the
plan fails that model, the other jobs go on, and a rerun redoes only what has no record on disk.

Results do not depend on the backend: a job's seed comes from its description, and each job reads the same
persisted folds.
"""

from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from kagglekit.engine.events import JobFailed, JobFinished, JobStarted, Listener
from kagglekit.engine.jobs import Job, run_job
from kagglekit.errors import ConfigError, advice, current_audience, set_audience

BACKENDS = ("local", "ray")


class Plan(Protocol):
    """What a backend needs from the engine's job plan."""

    def ready(self, max_jobs: int | None = None) -> list[Job]: ...
    def done(self, job: Job, record: dict[str, Any]) -> None: ...
    def failed(self, job: Job, error: str) -> None: ...


@dataclass(frozen=True)
class DeviceSettings:
    """How a worker process sets itself up before its first job: TensorFlow's device, the logging policy, the
    words of its errors' advice (``kagglekit.errors.advice``) and the modules that register the run's models
    outside kagglekit (a worker imports them; it never runs the caller's script)."""

    device: str = "auto"
    mixed_precision: bool = False
    uses_tensorflow: bool = False
    verbose: bool = False
    audience: str = "python"
    model_modules: tuple[str, ...] = ()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def model_modules(models: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Where the models registered outside kagglekit live: the modules a worker imports to know them, and the
    models defined in ``__main__`` (the user's script or notebook), which no worker can import."""
    from kagglekit.models import get_model_class

    where = {name: get_model_class(name).__module__ for name in models}
    modules = sorted({m for m in where.values() if m != "__main__" and m.split(".")[0] != "kagglekit"})
    return tuple(modules), [name for name, module in where.items() if module == "__main__"]


class SequentialBackend:
    """Every job in this process, one after another: the default, and the reference the others must equal."""

    name = "sequential"

    def run(self, plan: Plan, emit: Listener) -> None:
        while jobs := plan.ready(1):
            for job in jobs:
                emit(JobStarted(job))
                start = time.perf_counter()
                try:
                    record = run_job(job)
                except KeyboardInterrupt:
                    raise
                except Exception as e:  # one failed job must not lose the others
                    emit(JobFailed(job, _describe(e)))
                    plan.failed(job, _describe(e) + "\n" + traceback.format_exc())
                    continue
                emit(JobFinished(job, time.perf_counter() - start, record))
                plan.done(job, record)


# --- local worker processes ------------------------------------------------------------------------------


def visible_gpus() -> list[str]:
    """GPU ids this process may use, without importing TensorFlow: CUDA_VISIBLE_DEVICES, else nvidia-smi."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def worker_slots(n_workers: int, cpus: list[int], gpus: list[str]) -> list[tuple[list[int], str | None]]:
    """Each worker's share of the cores (disjoint, as equal as possible) and its GPU (round robin), if any."""
    slots = []
    for i in range(n_workers):
        share = cpus[i::n_workers] if len(cpus) >= n_workers else [cpus[i % len(cpus)]]
        slots.append((sorted(share), gpus[i % len(gpus)] if gpus else None))
    return slots


def worker_environment(cpus: list[int], gpu: str | None, settings: DeviceSettings) -> dict[str, str]:
    """A worker's environment, set at spawn so that it holds before numpy or TensorFlow load: the caller's, the
    logging policy's variables, thread counts for its share of the cores, its GPU, and this kagglekit first on the
    import path."""
    from kagglekit.engine.worker import PACKAGE_ROOT
    from kagglekit.logs import child_environment

    env = child_environment(settings.verbose)
    threads = str(len(cpus))
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = threads
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["CUDA_VISIBLE_DEVICES"] = gpu if gpu is not None else "-1" if settings.device == "cpu" else ""
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *filter(None, [env.get("PYTHONPATH")])])
    return env


def prepare_process(settings: DeviceSettings) -> None:
    """Set up a process that runs jobs for a parent (a local worker, a Ray worker): the parent's logging policy
    before TensorFlow loads, error advice in the parent's words, the modules that register the user's own models,
    then TensorFlow's device."""
    from kagglekit.logs import quiet_frameworks

    quiet_frameworks(settings.verbose)
    set_audience(settings.audience)
    for module in settings.model_modules:
        importlib.import_module(module)
    if settings.uses_tensorflow:
        from kagglekit.device import configure_device

        configure_device(settings.device, settings.mixed_precision)


def _receive(conn: Connection) -> tuple[str, Any] | None:
    """A worker's answer if one is waiting; None when there is none yet or the worker is gone (then conn is closed)."""
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        conn.close()
        return None


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    job: Job | None = None
    started: float = 0.0


class LocalBackend:
    """N worker processes on this machine, each pinned to its share of the cores, or to one GPU when there are several.

    Each worker is ``python -m kagglekit.engine.worker`` (``kagglekit.engine.worker`` says why not multiprocessing)
    and is kept for many jobs, so each pays TensorFlow's start-up once. A worker that dies (killed, out of memory)
    fails only its job, and a fresh worker takes its place.
    """

    name = "local"

    def __init__(self, workers: int, settings: DeviceSettings):
        if workers < 1:
            raise ConfigError(f"{advice(cli='--jobs', python='jobs')} must be at least 1, got {workers}")
        self.workers, self.settings = workers, settings

    def run(self, plan: Plan, emit: Listener) -> None:
        settings = dataclasses.replace(self.settings, audience=current_audience())
        slots = worker_slots(self.workers, sorted(os.sched_getaffinity(0)), visible_gpus())
        pool: list[_Worker | None] = [None] * self.workers
        try:
            while True:
                idle = [i for i, worker in enumerate(pool) if worker is None or worker.job is None]
                pending = plan.ready(len(idle)) if idle else []
                for i, job in zip(idle, pending):
                    worker = pool[i]
                    if worker is None or worker.process.poll() is not None:  # died between jobs: replace it
                        worker = pool[i] = self._start(settings, *slots[i])
                    worker.job, worker.started = job, time.perf_counter()
                    emit(JobStarted(job))
                    try:
                        worker.conn.send(job)
                    except OSError:  # died just now: its connection reads as closed below and fails the job
                        pass
                busy = [w for w in pool if w is not None and w.job is not None]
                if not busy:  # nothing running and nothing ready: new jobs only come from finished ones
                    break
                wait([w.conn for w in busy])  # a worker that dies closes its end: its connection turns readable
                for i, worker in enumerate(pool):
                    if worker is None or worker.job is None:
                        continue
                    job = worker.job
                    message = _receive(worker.conn)
                    if message is not None:
                        status, payload = message
                        worker.job = None
                        if status == "ok":
                            emit(JobFinished(job, time.perf_counter() - worker.started, payload))
                            plan.done(job, payload)
                        else:
                            emit(JobFailed(job, payload.splitlines()[0]))
                            plan.failed(job, payload)
                    elif worker.conn.closed:
                        try:
                            code: int | None = worker.process.wait(timeout=5)
                        except subprocess.TimeoutExpired:
                            code = None
                        error = f"worker process died (exit code {code}) while running {job.label}"
                        emit(JobFailed(job, error))
                        plan.failed(job, error)
                        self._stop(worker)
                        pool[i] = None  # a fresh worker takes the next job
        finally:
            for worker in pool:
                if worker is not None:
                    self._stop(worker)

    def _start(self, settings: DeviceSettings, cpus: list[int], gpu: str | None) -> _Worker:
        from kagglekit.engine.worker import WorkerSetup

        parent, child = multiprocessing.Pipe()
        process = subprocess.Popen(
            [sys.executable, "-m", "kagglekit.engine.worker", str(child.fileno())], pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL, env=worker_environment(cpus, gpu, settings),
        )
        child.close()
        try:
            parent.send(WorkerSetup(cpus, settings, list(sys.path)))
        except OSError:  # it died at start: its connection reads as closed and its first job fails with its exit code
            pass
        return _Worker(process, parent)

    @staticmethod
    def _stop(worker: _Worker) -> None:
        if worker.job is None and worker.process.poll() is None:
            try:
                worker.conn.send(None)
                worker.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if worker.process.poll() is None:  # interrupted mid-job: its artifacts are incomplete and get redone
            worker.process.terminate()
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        if not worker.conn.closed:
            worker.conn.close()


# --- Ray -----------------------------------------------------------------------------------------------------

_PREPARED: list[DeviceSettings] = []


def _ray_job(job: Job, settings: DeviceSettings) -> dict[str, Any]:
    """A Ray task: set up the worker process once, then run the job into the shared run folder."""
    if settings not in _PREPARED:
        prepare_process(settings)
        _PREPARED.append(settings)
    return run_job(job)


class RayBackend:
    """Jobs as Ray tasks on an existing cluster (``ray start --head`` prints its address), each asking for its
    model's CPUs and GPUs.

    The nodes write into the run folder themselves, so the run folder must be on storage every node sees
    at the same path (one machine, or NFS): models of transformer size are too big to send back through the
    object store, and a resumed run must find them on disk anyway. The driver checks that each finished
    job's record is there and says so when it is not.
    """

    name = "ray"

    def __init__(self, address: str | None, settings: DeviceSettings):
        self.address, self.settings = address, settings

    def run(self, plan: Plan, emit: Listener) -> None:
        try:
            import ray
        except ImportError:
            backend = advice(cli="--backend ray", python='backend="ray"')
            raise ConfigError(f"{backend} needs Ray: pip install 'kagglekit[ray]'") from None
        from kagglekit.logs import policy_environment

        settings = dataclasses.replace(self.settings, audience=current_audience())
        try:  # the logging policy's variables reach Ray's worker processes at their start, before TensorFlow loads
            ray.init(address=self.address or os.environ.get("RAY_ADDRESS") or "auto", log_to_driver=settings.verbose,
                     configure_logging=settings.verbose, logging_level="WARNING",
                     runtime_env={"env_vars": policy_environment(settings.verbose)})
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(
                f"cannot connect to the Ray cluster at {self.address or 'RAY_ADDRESS/auto'} ({e}): start one with "
                "`ray start --head` and pass the address it prints with "
                + advice(cli="--address, or use --backend local", python='ray_address=..., or use backend="local"')
            ) from None
        task = ray.remote(max_retries=0)(_ray_job)
        in_flight: dict[Any, tuple[Job, float]] = {}
        try:
            while True:
                for job in plan.ready():
                    options = {"num_cpus": job.resources.get("cpus", 1), "num_gpus": job.resources.get("gpus", 0)}
                    if job.resources.get("memory"):
                        options["memory"] = int(job.resources["memory"])
                    in_flight[task.options(**options).remote(job, settings)] = (job, time.perf_counter())
                    emit(JobStarted(job))
                if not in_flight:
                    break
                finished, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in finished:
                    job, started = in_flight.pop(ref)
                    try:
                        record = ray.get(ref)
                    except ray.exceptions.RayError as e:  # the task raised, or its worker or node died
                        error = _describe(getattr(e, "cause", None) or e)
                        emit(JobFailed(job, error.splitlines()[0]))
                        plan.failed(job, error)
                        continue
                    if not _job_on_disk(job):
                        error = (f"{job.label} finished on the cluster but its record is not in {job.run_dir}: the Ray "
                                 "backend needs the run folder on storage every node sees at the same path")
                        emit(JobFailed(job, error))
                        plan.failed(job, error)
                        continue
                    emit(JobFinished(job, time.perf_counter() - started, record))
                    plan.done(job, record)
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            ray.shutdown()


def _job_on_disk(job: Job) -> bool:
    from kagglekit.runs import Run

    run = Run(job.run_dir)
    return run.refit_done(job.name, job.seed) if job.fold is None else run.fold_done(job.name, job.fold, job.seed)


Backend = SequentialBackend | LocalBackend | RayBackend


# Below this many training rows a job takes seconds and a worker's start (TensorFlow's import) costs more than it saves.
AUTO_MIN_ROWS = 2000
WORKER_GIB = {True: 2.5, False: 1.0}  # a worker's peak memory with and without TensorFlow models, for --jobs auto


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def available_gib() -> float | None:
    """MemAvailable of /proc/meminfo in GiB (None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle)
        return int(fields["MemAvailable"].split()[0]) / 1024**2
    except (OSError, KeyError, ValueError):
        return None


def auto_jobs(rows: int, jobs_left: int, uses_tensorflow: bool) -> tuple[int, str]:
    """The worker count of ``--jobs auto`` and why: one per usable core, as many as memory holds and jobs remain;
    sequential for small data, where starting workers costs more than it saves."""
    if rows < AUTO_MIN_ROWS:
        return 1, f"{rows} training rows: jobs take seconds, one process is fastest"
    cores, gib = usable_cores(), available_gib()
    by_memory = int(gib // WORKER_GIB[uses_tensorflow]) if gib is not None else cores
    workers = max(1, min(cores, by_memory, jobs_left))
    memory = f", {gib:.0f} GiB free" if gib is not None else ""
    return workers, f"{cores} cores{memory}, {jobs_left} jobs"


def make_backend(backend: str, jobs: int, address: str | None, settings: DeviceSettings) -> Backend:
    if backend not in BACKENDS:
        raise ConfigError(f"{advice(cli='--backend', python='backend')} must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray":
        return RayBackend(address, settings)
    if address:
        raise ConfigError(advice(cli="--address is the address of a Ray cluster: use it with --backend ray",
                                 python='ray_address is the address of a Ray cluster: use it with backend="ray"'))
    return SequentialBackend() if jobs == 1 else LocalBackend(jobs, settings)


"""Executors: run many independent jobs (a sweep's evaluations, a search's candidates) one after another in this
process, or as Ray tasks on the local machine or a cluster, with the same results either way.

A :class:`Job` is a module-level callable with its arguments and the resources it needs. An executor runs a list
of them and returns one :class:`Outcome` per job, in the jobs' order: the value, or the error that ended it. A
failing job never stops the others. ``on_result`` is called in this process as each job ends (so a caller can
save it at once), ``progress`` with a :class:`Progress` snapshot whenever something changes.

Jobs must not share state through memory: each gets its own copy of its arguments under Ray, so a job that
needs randomness seeds itself from its own arguments, never from a stream shared with the other jobs. Under Ray a
job whose worker process dies (killed, out of memory, a lost node) is started again, up to ``retries`` times;
jobs that write resumable records continue from them. An exception raised by the job itself is not retried:
it is the job's result.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from robench.errors import RobenchError

_logger = logging.getLogger(__name__)

GIB = 1024**3
EXECUTORS = ("serial", "ray")
RAY_EXTRA_HINT = "install it with `pip install 'robench[ray]'`, or use --executor serial"


@dataclass(frozen=True)
class Resources:
    """What one job needs: CPU cores, GPUs (fractions share one) and memory in bytes (None: no reservation)."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory: int | None = None

    def __post_init__(self) -> None:
        if self.cpus <= 0 or self.gpus < 0 or (self.memory is not None and self.memory <= 0):
            raise RobenchError(f"invalid resources (cpus={self.cpus}, gpus={self.gpus}, memory={self.memory})",
                               hint="cpus must be positive, gpus zero or more, memory positive bytes")

    def describe(self) -> str:
        memory = f", {self.memory / GIB:.1f} GiB" if self.memory else ""
        return f"{self.cpus:g} CPU, {self.gpus:g} GPU{memory}"


@dataclass(frozen=True)
class Job:
    """``fn(*args, **kwargs)``; ``key`` names it in progress and outcomes (unique within a run)."""

    key: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    resources: Resources = Resources()
    retries: int = 3


@dataclass(frozen=True)
class Outcome:
    key: str
    value: Any = None
    error: str | None = None  # the exception that ended the job, in one line ("Type: message")
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Progress:
    """The state of a run: how many jobs ended well or badly, which are running now, and the elapsed time."""

    total: int
    done: int
    failed: int
    running: tuple[str, ...]
    elapsed: float

    @property
    def waiting(self) -> int:
        return self.total - self.done - self.failed - len(self.running)

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate jobs have ended so far (None until one has)."""
        ended = self.done + self.failed
        if not ended:
            return None
        return (self.total - ended) * self.elapsed / ended


ResultFn = Callable[[Outcome], None]
ProgressFn = Callable[[Progress], None]


def describe_error(err: BaseException) -> str:
    """An exception as one line: a RobenchError's message and hint, otherwise its type, first line and origin
    (the whole traceback is logged at debug level: ``robench -v``)."""
    if isinstance(err, RobenchError):
        return str(err)
    where = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    origin = f" (at {os.path.basename(where[0].filename)}:{where[0].lineno})" if where else ""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}{origin}"


class _Tally:
    """Counts and callbacks shared by the executors."""

    def __init__(self, jobs: Sequence[Job], on_result: ResultFn | None, progress: ProgressFn | None):
        keys = [j.key for j in jobs]
        if len(set(keys)) != len(keys):
            raise ValueError("job keys must be unique")
        self.total, self.on_result, self.progress = len(jobs), on_result, progress
        self.outcomes: dict[str, Outcome] = {}
        self.running: dict[str, None] = {}
        self.started = time.perf_counter()

    def start(self, key: str) -> None:
        if key not in self.running and key not in self.outcomes:
            self.running[key] = None
            self.report()

    def end(self, outcome: Outcome) -> None:
        self.running.pop(outcome.key, None)
        self.outcomes[outcome.key] = outcome
        if self.on_result is not None:
            self.on_result(outcome)
        self.report()

    def report(self) -> None:
        if self.progress is not None:
            failed = sum(not o.ok for o in self.outcomes.values())
            self.progress(Progress(self.total, len(self.outcomes) - failed, failed, tuple(self.running),
                                   time.perf_counter() - self.started))


class SerialExecutor:
    """Every job in this process, one after another, in order."""

    name = "serial"

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def put(self, value: Any) -> Any:
        """A large argument shared by many jobs (here: the object itself)."""
        return value

    def cluster_gpus(self) -> float:
        return float(torch.cuda.device_count())

    def run(self, jobs: Sequence[Job], on_result: ResultFn | None = None,
            progress: ProgressFn | None = None) -> list[Outcome]:
        tally = _Tally(jobs, on_result, progress)
        tally.report()
        for job in jobs:
            tally.start(job.key)
            tic = time.perf_counter()
            try:
                outcome = Outcome(job.key, value=job.fn(*job.args, **job.kwargs), seconds=time.perf_counter() - tic)
            except Exception as err:  # the job's own failure is its outcome; the others still run
                _logger.debug("%s failed", job.key, exc_info=True)
                outcome = Outcome(job.key, error=describe_error(err), seconds=time.perf_counter() - tic)
            tally.end(outcome)
        return [tally.outcomes[j.key] for j in jobs]


class RayExecutor:
    """Every job as a Ray task. ``address`` (or ``$RAY_ADDRESS``) joins a running cluster; without one a local Ray
    is started in this process (all local cores and GPUs, or ``num_cpus`` / ``num_gpus``) and stopped on exit.
    If Ray is already initialised in this process, that instance is used and left running."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
                 poll_seconds: float = 0.5):
        try:
            # Ray is an optional dependency (robench[ray]): imported only when this executor is chosen, so that
            # robench without Ray imports and runs serially.
            import ray
        except ImportError:
            raise RobenchError("the Ray executor needs Ray, which is not installed", hint=RAY_EXTRA_HINT) from None
        self._ray = ray
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus, self.num_gpus, self.poll_seconds = num_cpus, num_gpus, poll_seconds
        self._owned = False

    def __enter__(self) -> RayExecutor:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        if self._owned:
            self._ray.shutdown()
            self._owned = False

    def connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        try:
            # workers' output stays in Ray's logs: robench shows the sweep's progress, not the tasks' chatter
            quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(num_cpus=self.num_cpus, num_gpus=self.num_gpus, include_dashboard=False, **quiet)
        except ConnectionError as err:
            raise RobenchError(f"cannot reach the Ray cluster at {self.address} ({err})",
                               hint="check the address (ray://host:10001 or host:6379) and that the head runs; "
                                    "omit --address to use a local Ray") from None
        self._owned = True

    def cluster_gpus(self) -> float:
        self.connect()
        return float(self._ray.cluster_resources().get("GPU", 0))

    def put(self, value: Any) -> Any:
        """A large argument shared by many jobs, stored once in Ray's object store."""
        self.connect()
        return self._ray.put(value)

    def run(self, jobs: Sequence[Job], on_result: ResultFn | None = None,
            progress: ProgressFn | None = None) -> list[Outcome]:
        ray = self._ray
        self.connect()
        tally = _Tally(jobs, on_result, progress)
        tally.report()
        if not jobs:
            return []
        self._check_feasible(jobs)
        tracker = _tracker(ray).remote()
        remote = ray.remote(_run_job)
        pending = {}
        try:
            for job in jobs:
                options = {"num_cpus": job.resources.cpus, "num_gpus": job.resources.gpus,
                           "max_retries": job.retries, "retry_exceptions": False, "name": job.key}
                if job.resources.memory:
                    options["memory"] = job.resources.memory
                # the arguments go top-level, so Ray resolves those that are put() references into their values
                ref = remote.options(**options).remote(tracker, job.key, job.fn, job.kwargs, *job.args)
                pending[ref] = job.key
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.poll_seconds)
                for key in ray.get(tracker.started.remote()):
                    tally.start(key)
                for ref in ready:
                    tally.end(self._outcome(pending.pop(ref), ref))
        finally:
            # interrupted (Ctrl-C, or a callback raised): stop what still runs, so that a rerun does not find
            # its run directories locked by tasks nobody waits for; they resume from their records
            for ref in pending:
                ray.cancel(ref, force=True)
            ray.kill(tracker)
        return [tally.outcomes[j.key] for j in jobs]


    def _check_feasible(self, jobs: Sequence[Job]) -> None:
        """Refuse a job no node could ever run (Ray would leave it waiting for ever)."""
        total = self._ray.cluster_resources()
        has = Resources(cpus=total.get("CPU", 0) or 1, gpus=total.get("GPU", 0),
                        memory=int(total.get("memory", 0)) or None)
        for job in jobs:
            need = job.resources
            if need.cpus > has.cpus or need.gpus > has.gpus or (need.memory or 0) > (has.memory or float("inf")):
                raise RobenchError(f"{job.key} needs {need.describe()}, more than the whole Ray cluster has "
                                   f"({has.describe()})", hint="lower the task's resources (gpus: 0 on a machine "
                                                               "without GPUs), or add nodes to the cluster")

    def _outcome(self, key: str, ref) -> Outcome:
        ray = self._ray
        try:
            value, seconds = ray.get(ref)
            return Outcome(key, value=value, seconds=seconds)
        except ray.exceptions.RayTaskError as err:  # the job raised: its exception, as raised there
            _logger.debug("%s failed: %s", key, err)  # the text holds the worker's traceback
            return Outcome(key, error=describe_error(err.cause if isinstance(err.cause, Exception) else err))
        except ray.exceptions.RayError as err:  # its worker or node died more often than it may retry
            return Outcome(key, error=describe_error(err))


def _run_job(tracker, key: str, fn: Callable[..., Any], kwargs: dict, *args: Any) -> tuple[Any, float]:
    """A job inside a Ray worker: tell the driver it started (so "running" means running, not queued), run it."""
    tracker.start.remote(key)
    tic = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - tic


def _tracker(ray):
    """An actor holding the keys of the jobs that have started, polled by the driver for its progress display."""

    class Started:
        def __init__(self):
            self.keys: list[str] = []

        def start(self, key: str) -> None:
            self.keys.append(key)

        def started(self) -> list[str]:
            keys, self.keys = self.keys, []
            return keys

    return ray.remote(num_cpus=0)(Started)


def gpus_per_job(executor: SerialExecutor | RayExecutor, requested: float | None) -> float:
    """``requested``, or by default one GPU per job where the executor's machines have GPUs, else none."""
    return requested if requested is not None else float(executor.cluster_gpus() > 0)


def make_executor(name: str = "serial", address: str | None = None, num_cpus: int | None = None,
                  num_gpus: int | None = None) -> SerialExecutor | RayExecutor:
    """The executor called ``name`` (serial or ray); ``address`` and the local Ray's size apply to Ray."""
    if name == "serial":
        if address:
            raise RobenchError("--address joins a Ray cluster, which the serial executor does not use",
                               hint="add --executor ray, or drop --address")
        return SerialExecutor()
    if name == "ray":
        return RayExecutor(address, num_cpus=num_cpus, num_gpus=num_gpus)
    raise RobenchError(f"unknown executor {name!r}", hint=f"use one of: {', '.join(EXECUTORS)}")


def ray_available() -> bool:
    """Whether Ray is installed (without importing it: that takes seconds)."""
    return importlib.util.find_spec("ray") is not None

"""Where queued runs execute: the executors a worker, a study launch or the dashboard can
choose, as data (`EXECUTORS`), each knowing how to drain a database's queue.

- `local`: today's worker (`workbench.runner.work_queue`), runs one after another in this
  process. The default: nothing to install or start.
- `ray`: one Ray task per run on a Ray cluster (`workbench.ray_executor`), this process
  the one driver that writes the store. Needs the optional `ray` package
  (`requirements-ray.txt`).

Importing this module loads neither TensorFlow nor Ray: each executor imports its code
when it drains, so the dashboard can list the choices and the local path never loads Ray.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:  # both load TensorFlow: imported when a queue is drained, never here
    from workbench.models import ModelCache
    from workbench.runner import StopRequest


@dataclass(frozen=True)
class ExecutorOptions:
    """How to drain a queue; each executor reads the options it knows.

    `slots`: worker slots taken on this machine (`workbench.slots`; the Ray driver takes
    one like a local worker, so a local worker and a driver never share a queue).
    `on_done(run_id)` after each run ends. `stop`: a shared `runner.StopRequest` (None:
    the executor listens for SIGTERM/Ctrl-C itself when it runs on the main thread).
    `metrics`: compute each finished run's fair metrics (Ray: in the driver, beside the
    cluster's work). Ray only: `address` (None: start a Ray instance on this machine;
    "auto": the cluster this machine belongs to; "ray://HOST:PORT": a remote one),
    `max_in_flight` (None: one task per GPU of the cluster, or per `cpus_per_task` CPUs
    when it has none), `cpus_per_task` (CPUs a CPU-only task asks for; TensorFlow then
    uses that many threads), `max_retries` (runs of a task whose worker died),
    `batch_steps` (steps per streamed batch; see `workbench.ray_executor`),
    `on_event(run_id, kind, info)` (kinds "started": info has device, tf_version, pid,
    node; "steps": info has step, the last step recorded)."""

    slots: int = 1
    on_done: Callable[[int], None] | None = None
    stop: StopRequest | None = None
    metrics: bool = True
    address: str | None = None
    max_in_flight: int | None = None
    cpus_per_task: int = 1
    max_retries: int = 2
    batch_steps: int = 5
    on_event: Callable[[int, str, dict[str, Any]], None] | None = None


def _drain_local(db: Any, db_path: Path, models: ModelCache, options: ExecutorOptions) -> int:
    from workbench.runner import work_queue

    return work_queue(db, db_path, models, options.slots, on_done=options.on_done, stop=options.stop)


def _drain_ray(db: Any, db_path: Path, models: ModelCache, options: ExecutorOptions) -> int:
    from workbench.ray_executor import drain

    return drain(db, db_path, models, options)


@dataclass(frozen=True)
class Executor:
    """One executor: its name (the `--executor` value), a label and help for forms, the
    optional package it needs (None: always there) and its `drain(db, db_path, models,
    options) -> runs drained`."""

    name: str
    label: str
    help: str
    drain: Callable[[Any, Path, ModelCache, ExecutorOptions], int]
    requires: str | None = None

    def available(self) -> bool:
        """Whether its optional package is installed (found without importing it)."""
        return self.requires is None or importlib.util.find_spec(self.requires) is not None

    def missing(self) -> str | None:
        """Why it cannot be used here, in one line, or None."""
        if self.available():
            return None
        return f"the {self.name} executor needs the `{self.requires}` package: pip install -r requirements-ray.txt"


EXECUTORS: dict[str, Executor] = {
    e.name: e
    for e in (
        Executor(
            "local",
            "this machine",
            "queued runs execute one after another in a background worker on this machine",
            _drain_local,
        ),
        Executor(
            "ray",
            "Ray cluster",
            "each queued run is one Ray task on a Ray cluster (a GPU each when the cluster has them); "
            "this machine's driver writes the store",
            _drain_ray,
            requires="ray",
        ),
    )
}
DEFAULT_EXECUTOR = "local"


def get_executor(name: str) -> Executor:
    """An executor by name; `ConfigError` (one line) for an unknown one or one whose
    package is missing."""
    try:
        executor = EXECUTORS[name]
    except KeyError:
        raise ConfigError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}") from None
    if (why := executor.missing()) is not None:
        raise ConfigError(why)
    return executor


def drain(name: str, db: Any, db_path: Path, models: ModelCache, options: ExecutorOptions | None = None) -> int:
    """Drain `db`'s queue with executor `name`; returns how many runs it took."""
    return get_executor(name).drain(db, db_path, models, options or ExecutorOptions())

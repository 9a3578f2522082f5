"""The Ray executor: queued runs as Ray tasks, recorded by one driver process.

    python -m workbench.ray_executor --db PATH [--ray-address auto|ray://HOST:PORT]

The driver (this process) is the store's one writer, as a local worker is. It takes a
worker slot (`workbench.slots`), so a local worker and a driver never drain one queue
together, and keeps at most N tasks in flight: one per GPU of the cluster (each task
declares `num_gpus=1`; Ray then starts a fresh worker process per task, its default for
GPU tasks, so TensorFlow never holds a GPU it was not given), or, on a cluster without
GPUs, one per `cpus_per_task` CPUs (each task declares `num_cpus=cpus_per_task` and sets
TensorFlow's thread pools to that many threads).

A task gets small inputs (`TaskInputs`): the run's config, its images as PNG bytes and
the weights *choice* inside the config, never a weights file; a machine without
`imagenet` in its Keras cache fails that run with the same `WeightsError` line as a local
worker. It is a Ray streaming generator: `run_transfer` runs in a thread and the task
yields, in order, a "started" record (device, TensorFlow version, pid, node), "steps"
batches (iteration rows in `store.recorder.ITERATION_COLUMNS` order, and a snapshot as
PNG bytes where one is due), then one "result" (losses, best loss, the output as PNG) or
"failed" (the error line). The driver writes them with the usual `RunRecorder` and closes
the run as `runner.close_run` does. It claims a run (`store.runs.claim_run`, stamping its own
pid: if the driver dies, the stale-run logic marks its runs `interrupted`) when the task's
"started" record arrives, so `runs.device` and `tf_version` are the worker's.

Faults. A task whose worker process dies is run again (`max_retries`; exceptions are not
retried: a run that fails, fails). Ray hands the caller of a retried streaming generator
only the items past those it already received (checked: the retry's first items are
dropped), so batch boundaries depend on step numbers only (every `batch_steps` steps,
every snapshot, the end), never on time: item k of the retry is item k of the first
attempt, and the retry's rows continue the run's rows without a gap or a duplicate (the
same config and seed give the same losses). The driver still never writes a step twice.
A run whose cancel flag is set (dashboard, `request_cancel`, a study's cancel) has its
task cancelled (`ray.cancel`) and ends `cancelled` (without an output image: the task
stops where it is; its rows and snapshots so far are kept).

Importing this module loads neither Ray nor TensorFlow (the driver imports both when it
drains; a task sets up its GPUs before its first TensorFlow op).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import queue as queue_mod
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import TransferConfig
from engine.errors import DivergedError, WeightsError
from engine.styles import mask_array
from store import images as store_images
from store import runs as store_runs
from store.db import PROJECT_ROOT, resolve_db_path
from store.recorder import ITERATION_COLUMNS, RunRecorder
from workbench.executors import ExecutorOptions
from workbench.slots import worker_slot

log = logging.getLogger(__name__)

POLL_S = 0.5  # the driver's longest wait for a task's next item before it looks at the store
CANCEL_POLL_S = 2.0  # how often a run that streams nothing is checked for a cancel request
CANCEL_GRACE_S = 30.0  # after this long a cancelled task that has not stopped is killed


# --------------------------------------------------------------------------- task side


@dataclass(frozen=True)
class TaskInputs:
    """What one task receives: the run's config (a dict), its content, styles and masks
    as PNG bytes (masks None: the run has none), TensorFlow threads (0: its default) and
    the steps per streamed batch."""

    run_id: int
    config: dict[str, Any]
    content_png: bytes
    style_pngs: tuple[bytes, ...]
    mask_pngs: tuple[bytes, ...] | None = None
    threads: int = 0
    batch_steps: int = 5


_MODELS = None  # the networks of this worker process (tasks that share a process reuse them)


def _worker_models():
    global _MODELS
    if _MODELS is None:
        from workbench.models import ModelCache

        _MODELS = ModelCache(size=2)
    return _MODELS


def prepare_tensorflow(threads: int = 0) -> None:
    """Before the first TensorFlow op of a worker process: memory growth on every GPU
    (TensorFlow takes all of a GPU's memory otherwise) and, on a machine without one,
    `threads` threads per op (0: TensorFlow's default). A process that already ran a
    task keeps its settings."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    try:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        if threads and not gpus:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime is up already (an earlier task of this process)
        pass


def _transfer(inputs: TaskInputs, events: queue_mod.Queue, stop: threading.Event) -> None:
    """The run itself, on a thread of the task: every event goes to `events`; ends with
    ("done", result) or ("failed", the error line a local worker would store)."""
    try:
        events.put(("done", _run(inputs, events, stop)))
    except (DivergedError, WeightsError) as exc:
        events.put(("failed", str(exc)))
    except BaseException as exc:  # as runner.execute_run words it
        events.put(("failed", f"{exc.__class__.__name__}: {exc}".splitlines()[0][:500]))


def _run(inputs: TaskInputs, events: queue_mod.Queue, stop: threading.Event):
    from engine.transfer import run_transfer

    cfg = TransferConfig.from_dict(inputs.config)
    content = store_images.decode_png(inputs.content_png)
    styles = [store_images.decode_png(p) for p in inputs.style_pngs]
    masks = None
    if inputs.mask_pngs is not None:
        grey = [store_images.decode_png(p) for p in inputs.mask_pngs]
        masks = [mask_array(m, f"mask of style {i + 1}") for i, m in enumerate(grey)]
    model = _worker_models().backbone(cfg.backbone, cfg.weights, cfg.seed)
    return run_transfer(
        cfg,
        content,
        styles,
        on_step=lambda ev: events.put(("step", ev)),
        should_stop=stop.is_set,
        model=model,
        on_start=lambda rgb: events.put(("start", rgb)),
        masks=masks,
    )


def run_task(inputs: TaskInputs):
    """The Ray task of one run (a streaming generator; see the module's doc)."""
    prepare_tensorflow(inputs.threads)
    import tensorflow as tf

    from workbench.runner import device_name

    yield {
        "kind": "started",
        "device": device_name(),
        "tf_version": tf.__version__,
        "pid": os.getpid(),
        "node": os.uname().nodename,
    }
    events: queue_mod.Queue = queue_mod.Queue()
    stop = threading.Event()
    worker = threading.Thread(target=_transfer, args=(inputs, events, stop), name=f"run{inputs.run_id}", daemon=True)
    worker.start()
    try:
        yield from _stream(events, max(1, inputs.batch_steps))
    finally:  # also when cancelled (KeyboardInterrupt here): stop after the current step
        stop.set()
        worker.join()


def _stream(events: queue_mod.Queue, batch_steps: int):
    """The task's items after "started"; batch ends depend on step numbers only."""
    rows: list[tuple] = []
    while True:
        kind, value = events.get()
        if kind == "start":  # step 0: the initial image
            yield {"kind": "steps", "rows": [], "snapshot": (0, store_images.encode_png(value))}
        elif kind == "step":
            rows.append(tuple(_plain(getattr(value, c)) for c in ITERATION_COLUMNS))
            if value.image is not None or value.step % batch_steps == 0:
                snap = None if value.image is None else (value.step, store_images.encode_png(value.image))
                yield {"kind": "steps", "rows": rows, "snapshot": snap}
                rows = []
        else:
            if rows:
                yield {"kind": "steps", "rows": rows, "snapshot": None}
            if kind == "failed":
                yield {"kind": "failed", "error": value}
            else:
                yield _result_record(value)
            return


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it is."""
    return value.item() if hasattr(value, "item") else value


def _result_record(result) -> dict[str, Any]:
    return {
        "kind": "result",
        "cancelled": bool(result.cancelled),
        "output_png": store_images.encode_png(result.image),
        "steps_done": int(result.steps_done),
        "fields": {
            "total_loss": result.total_loss,
            "content_loss": result.content_loss,
            "style_loss": result.style_loss,
            "tv_loss": result.tv_loss,
            "best_loss": result.best_loss,
            "best_step": result.best_step,
            "wall_seconds": result.wall_seconds,
        },
    }


@functools.cache
def _remote_task():
    """`run_task` as a Ray remote function (made on first use: importing this module
    does not import Ray)."""
    import ray

    return ray.remote(num_returns="streaming")(run_task)


# --------------------------------------------------------------------------- driver side


@dataclass(frozen=True)
class TaskResources:
    """What each task declares and how many run at once on the cluster."""

    request: dict[str, float]
    in_flight: int
    threads: int  # TensorFlow threads per task (0: its default, on a GPU)


def task_resources(cluster: dict[str, float], cpus_per_task: int = 1, max_in_flight: int | None = None):
    """A GPU per task when the cluster has GPUs (one task per GPU), else `cpus_per_task`
    CPUs (one task per that many CPUs); `max_in_flight` caps the count."""
    gpus, cpus = int(cluster.get("GPU", 0)), int(cluster.get("CPU", 0))
    if gpus >= 1:
        request, slots, threads = {"num_gpus": 1, "num_cpus": 1}, gpus, 0
    else:
        per = max(1, int(cpus_per_task))
        request, slots, threads = {"num_cpus": per}, max(1, cpus // per), per
    if max_in_flight:
        slots = min(slots, max(1, int(max_in_flight)))
    return TaskResources(request, slots, threads)


def connect(address: str | None = None) -> bool:
    """Connect this process to Ray unless it is already: None or "local" starts a Ray
    instance here (no dashboard), "auto" joins this machine's cluster, "ray://HOST:PORT"
    a remote one. Tasks find this project on their PYTHONPATH (on other machines it
    must be at the same path). Returns whether this call connected (then `ray.shutdown`
    is the caller's)."""
    import ray

    if ray.is_initialized():
        return False
    paths = [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {"PYTHONPATH": os.pathsep.join(paths), "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    if address in (None, "", "local"):
        ray.init(include_dashboard=False, runtime_env={"env_vars": env})
    else:
        ray.init(address=address, runtime_env={"env_vars": env})
    return True


def task_inputs(db: Any, run_id: int, threads: int = 0, batch_steps: int = 5) -> TaskInputs:
    """A queued run's task inputs, read from the store: config and images (PNG bytes,
    as stored). A run without `run_styles` rows has its one `style_image`."""
    row = store_runs.get_run(db, run_id)
    styles = store_runs.get_styles(db, run_id) or [{"image_id": row["style_image"], "mask_image": None}]
    has_masks = any(s["mask_image"] for s in styles)
    return TaskInputs(
        run_id=run_id,
        config=dict(row["config"]),
        content_png=store_images.get_png(db, row["content_image"]),
        style_pngs=tuple(store_images.get_png(db, s["image_id"]) for s in styles),
        mask_pngs=tuple(store_images.get_png(db, s["mask_image"]) for s in styles) if has_masks else None,
        threads=threads,
        batch_steps=batch_steps,
    )


@dataclass
class _Flight:
    """A run whose task was submitted; `recorder` once the driver claimed it."""

    run_id: int
    gen: Any  # ray.ObjectRefGenerator
    recorder: RunRecorder | None = None
    last_step: int = 0
    cancel_at: float | None = None  # when its cancel was sent
    touched: float = field(default_factory=time.monotonic)  # last item or store check


class _Driver:
    def __init__(self, db: Any, models, options: ExecutorOptions, stop) -> None:
        import ray

        self.ray, self.db, self.models, self.options, self.stop = ray, db, models, options, stop
        self.flights: dict[int, _Flight] = {}
        self.done = 0
        self.next_fill, self.filled_at_done = 0.0, 0  # when `_fill` looks at the queue again
        self.metrics = ThreadPoolExecutor(1, thread_name_prefix="ray-metrics") if options.metrics else None
        self.resources = task_resources(ray.cluster_resources(), options.cpus_per_task, options.max_in_flight)
        log.info("ray: %d task(s) at once, each %s", self.resources.in_flight, self.resources.request)

    # -- the loop

    def run(self) -> int:
        try:
            while True:
                if not self.stop.received:
                    self._fill()
                if not self.flights:
                    break
                if self.stop.received:
                    self._abandon(f"stopped by {self.stop.received}")
                    break
                self._advance_ready()
                self._check_cancels()
        except BaseException as exc:
            self._abandon(f"{exc.__class__.__name__}: {exc}".splitlines()[0][:500], status="failed")
            raise
        finally:
            if self.metrics is not None:
                self.metrics.shutdown(wait=True)
        return self.done

    def _fill(self) -> None:
        """Submit the oldest queued runs not in flight while a task may start; looks at
        the queue at most every POLL_S unless a run just ended."""
        free = self.resources.in_flight - len(self.flights)
        if free <= 0 or (time.monotonic() < self.next_fill and self.done == self.filled_at_done):
            return
        self.next_fill, self.filled_at_done = time.monotonic() + POLL_S, self.done
        queued = store_runs.list_runs(self.db, limit=len(self.flights) + free + 1_000_000, status="queued")
        for run_id in sorted(int(i) for i in queued["id"] if int(i) not in self.flights)[:free]:
            inputs = task_inputs(self.db, run_id, self.resources.threads, self.options.batch_steps)
            gen = (
                _remote_task()
                .options(
                    **self.resources.request,
                    max_retries=self.options.max_retries,
                    retry_exceptions=False,
                    name=f"nst-run-{run_id}",
                )
                .remote(inputs)
            )
            self.flights[run_id] = _Flight(run_id, gen)
            log.info("run %s submitted", run_id)

    def _advance_ready(self) -> None:
        gens = [f.gen for f in self.flights.values()]
        ready, _ = self.ray.wait(gens, num_returns=1, timeout=POLL_S)
        if ready:
            ready, _ = self.ray.wait(gens, num_returns=len(gens), timeout=0)
        for flight in [f for f in list(self.flights.values()) if any(f.gen is g for g in ready)]:
            self._advance(flight)

    def _advance(self, flight: _Flight) -> None:
        exceptions = self.ray.exceptions
        flight.touched = time.monotonic()
        try:
            item = self.ray.get(next(flight.gen))
        except StopIteration:
            self._end(flight, "failed", error="the Ray task ended without a result")
        except exceptions.TaskCancelledError:
            if flight.cancel_at is not None:
                self._end(flight, "cancelled")
            else:
                self._end(flight, "failed", error="the Ray task was cancelled")
        except exceptions.RayError as exc:
            cause = getattr(exc, "cause", None) or exc
            self._end(flight, "failed", error=f"{cause.__class__.__name__}: {cause}".splitlines()[0][:500])
        else:
            getattr(self, f"_on_{item['kind']}")(flight, item)

    def _check_cancels(self) -> None:
        now = time.monotonic()
        for flight in list(self.flights.values()):
            if flight.cancel_at is not None:
                if now - flight.cancel_at > CANCEL_GRACE_S:  # it did not stop: kill its worker
                    self.ray.cancel(flight.gen, force=True)
                    self._end(flight, "cancelled")
                continue
            asked = flight.recorder is not None and flight.recorder.cancel_requested
            if not asked and now - flight.touched > CANCEL_POLL_S:
                flight.touched = now
                row = store_runs.get_run(self.db, flight.run_id)
                if flight.recorder is None:  # not claimed yet: cancelled (or taken) while it waited
                    if row is None or row["status"] != "queued":
                        self._drop(flight, "no longer queued")
                    continue
                asked = bool(row and row["cancel_requested"])
            if asked:
                log.info("run %s: cancel requested; cancelling its task", flight.run_id)
                flight.cancel_at = now
                self.ray.cancel(flight.gen)

    # -- the items

    def _on_started(self, flight: _Flight, item: dict) -> None:
        if flight.recorder is not None:  # a retry's own "started" (Ray normally drops it)
            return
        if store_runs.claim_run(self.db, flight.run_id, item["tf_version"], item["device"]) is None:
            self._drop(flight, "no longer queued")
            return
        flight.recorder = RunRecorder(self.db, flight.run_id)
        log.info("run %s started on %s (%s, pid %s)", flight.run_id, item["node"], item["device"], item["pid"])
        self._event(flight, "started", {k: item[k] for k in ("device", "tf_version", "pid", "node")})

    def _on_steps(self, flight: _Flight, item: dict) -> None:
        recorder = self._recorder(flight)
        for row in item["rows"]:
            if row[0] > flight.last_step:  # never a step twice
                recorder.add_iteration(row)
                flight.last_step = row[0]
        if item["snapshot"] is not None:
            step, png = item["snapshot"]
            recorder.add_snapshot(step, store_images.decode_png(png))
        if item["rows"]:
            self._event(flight, "steps", {"step": flight.last_step})

    def _on_result(self, flight: _Flight, item: dict) -> None:
        recorder = self._recorder(flight)
        recorder.flush()  # the rows first: a store that cannot take them fails the run before it is finished
        output = store_images.make_blob(store_images.decode_png(item["output_png"]))
        status = "cancelled" if item["cancelled"] else "finished"
        self._end(flight, status, output=output, **item["fields"])

    def _on_failed(self, flight: _Flight, item: dict) -> None:
        self._end(flight, "failed", error=item["error"])

    # -- endings

    def _recorder(self, flight: _Flight) -> RunRecorder:
        if flight.recorder is None:  # items before "started" cannot come; be safe anyway
            self._claim_anyway(flight)
        return flight.recorder

    def _claim_anyway(self, flight: _Flight) -> bool:
        if store_runs.claim_run(self.db, flight.run_id, "", "ray") is None:
            return False
        flight.recorder = RunRecorder(self.db, flight.run_id)
        return True

    def _end(self, flight: _Flight, status: str, **fields: Any) -> None:
        """Close the flight's run (`runner.close_run`); a run never claimed (its task died
        before it started, every retry too) is claimed first so it does not stay queued."""
        from workbench.runner import close_run

        self.flights.pop(flight.run_id, None)
        if flight.recorder is None and not self._claim_anyway(flight):
            return
        close_run(self.db, flight.run_id, flight.recorder, status, **fields)
        log.info("run %s %s", flight.run_id, status)
        self.done += 1
        if status == "finished" and self.metrics is not None:
            self.metrics.submit(_record_metrics, self.db, flight.run_id, self.models)
        if self.options.on_done is not None:
            self.options.on_done(flight.run_id)

    def _drop(self, flight: _Flight, why: str) -> None:
        log.info("run %s %s: its task is cancelled", flight.run_id, why)
        self.flights.pop(flight.run_id, None)
        self.ray.cancel(flight.gen, force=True)

    def _abandon(self, why: str, status: str = "cancelled") -> None:
        """Stop every task; claimed runs end `status` with `why`, unclaimed ones stay queued."""
        for flight in list(self.flights.values()):
            self.ray.cancel(flight.gen, force=True)
            self.flights.pop(flight.run_id, None)
            if flight.recorder is not None:
                try:
                    self._end(flight, status, error=why)
                except Exception:
                    log.exception("run %s could not be closed", flight.run_id)

    def _event(self, flight: _Flight, kind: str, info: dict) -> None:
        if self.options.on_event is not None:
            self.options.on_event(flight.run_id, kind, info)


def _record_metrics(db: Any, run_id: int, models) -> None:
    from workbench.judging import record_metrics

    try:
        record_metrics(db, run_id, models)
    except Exception:
        log.exception("fair metrics of run %s failed", run_id)


def drain(db: Any, db_path: Path, models, options: ExecutorOptions | None = None) -> int:
    """Run the queue of `db` through Ray until it is empty or a stop is requested;
    returns how many runs ended. Holds a worker slot while it drains (none free: returns
    0 at once, another worker drains this queue). Connects to `options.address` unless
    this process is connected already (and disconnects again if it connected)."""
    from contextlib import nullcontext

    from workbench.runner import StopRequest

    options = options or ExecutorOptions()
    stop = options.stop or StopRequest()
    on_main = threading.current_thread() is threading.main_thread()
    listening = stop.listening() if options.stop is None and on_main else nullcontext(stop)
    done = 0
    with listening:
        while True:
            with worker_slot(db_path, options.slots) as slot:
                if slot is None:
                    log.info("every worker slot of %s is taken: another worker drains its queue", db_path)
                    return done
                store_runs.mark_stale_runs(db)
                if store_runs.next_queued(db) is not None:
                    connected = connect(options.address)
                    try:
                        done += _Driver(db, models, options, stop).run()
                    finally:
                        if connected:
                            import ray

                            ray.shutdown()
            if stop.received or store_runs.next_queued(db) is None:
                return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.ray_executor", description="run the queued runs of a database on a Ray cluster"
    )
    parser.add_argument("--db", default=None, help="database file [default: $NST_DB or data/nst.duckdb]")
    parser.add_argument(
        "--ray-address",
        default=None,
        help="auto (this machine's cluster, after `ray start`), ray://HOST:PORT, or none: a Ray instance here",
    )
    parser.add_argument("--slots", type=int, default=1, help="worker slots of this machine to take [default: 1]")
    parser.add_argument("--max-in-flight", type=int, default=None, help="tasks at once [default: GPUs, else CPUs]")
    parser.add_argument("--cpus-per-task", type=int, default=1, help="CPUs per task without a GPU [default: 1]")
    parser.add_argument("--no-metrics", action="store_true", help="do not compute fair metrics after each run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from workbench.models import ModelCache

    options = ExecutorOptions(
        slots=args.slots,
        address=args.ray_address,
        max_in_flight=args.max_in_flight,
        cpus_per_task=args.cpus_per_task,
        metrics=not args.no_metrics,
    )
    done = drain(args.db, resolve_db_path(args.db), ModelCache(), options)
    logging.info("ray driver done: %d run(s)", done)
    return 0


if __name__ == "__main__":
    sys.exit(main())

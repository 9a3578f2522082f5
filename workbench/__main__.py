"""Command line: `python -m workbench {run,worker,list,show,export,layers,study,studies,report,metrics,sql,snapshot}`.

The `run` flags are generated from `TransferConfig`'s fields, so the CLI, the dashboard
and the stored config never disagree about options or defaults.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import pandas as pd

# Quieten TensorFlow's C++ start-up chatter before it is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from engine.backbones import BACKBONES, get_backbone, layer_names  # noqa: E402
from engine.config import FIELDS, validate  # noqa: E402
from engine.errors import ConfigError  # noqa: E402
from engine.images import load_image_file  # noqa: E402
from engine.judges import NEUTRAL_JUDGES  # noqa: E402
from engine.memory import check_fits  # noqa: E402
from engine.weights import is_random  # noqa: E402
from store import metrics as store_metrics  # noqa: E402
from store import runs as store_runs  # noqa: E402
from store import studies as store_studies  # noqa: E402
from store import userquery  # noqa: E402
from store.db import reading, resolve_db_path  # noqa: E402
from workbench.cli import (  # noqa: E402
    RUN_LOSS_NAMES,
    ProgressBar,
    config_from_args,
    format_run,
    given_fields,
    load_images,
    load_tensorflow,
    native_logs_silenced,
    parse_seeds,
    run_style_inputs,
    study_image_paths,
    weights_by_backbone,
)
from workbench.errors import USER_ERRORS, one_line  # noqa: E402
from workbench.executors import DEFAULT_EXECUTOR, EXECUTORS, Executor, ExecutorOptions, get_executor  # noqa: E402
from workbench.export import check_export_target, export_run, write_files  # noqa: E402
from workbench.models import ModelCache  # noqa: E402
from workbench.queue import resolve_inputs  # noqa: E402
from workbench.studies import PRESETS, get_preset, study_weights  # noqa: E402
from workbench.text import format_eta, format_progress  # noqa: E402

EXIT_USAGE = 2
SQL_FORMATS = ("table", "csv", "json")


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per `TransferConfig` field (`--lr` is an alias of `--learning-rate`)."""
    for f in FIELDS.values():
        flags = [f"--{f.name.replace('_', '-')}", *f.metadata["aliases"]]
        default = f.default if f.default is not None else "backbone default"
        limits = f.metadata["limits"]
        within = f"; {limits.describe()}" if limits else ""
        # A yes/no field is a switch pair (--jit-compile / --no-jit-compile).
        switch = {"action": argparse.BooleanOptionalAction} if f.type in (bool, "bool") else {}
        parser.add_argument(
            *flags,
            dest=f.name,
            default=None,
            choices=f.metadata.get("choices"),
            help=f"{f.metadata['help']} [default: {default}{within}]",
            **switch,
        )


def _add_weights_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """One `--weights-<backbone>` flag per backbone: a weights file is per backbone, so a
    grid over backbones (or a judge of the other backbone) needs one for each."""
    for name, bb in BACKBONES.items():
        parser.add_argument(
            f"--weights-{name}", dest=f"weights_{name}", default=None, metavar="PATH", help=f"{bb.label} {what}"
        )


def _add_study_parsers(sub) -> list[argparse.ArgumentParser]:
    study = sub.add_parser("study", help="launch or resume a study: a preset grid of runs")
    study.add_argument("--preset", required=True, choices=list(PRESETS), help="which study to run")
    study.add_argument("--content", action="append", help="content image file (repeatable; with --style)")
    study.add_argument("--style", action="append", help="style image file (repeatable): every content x every style")
    study.add_argument(
        "--pair",
        action="append",
        metavar="PHOTO:PAINTING",
        help="one content image with one style image (repeatable): instead of --content x --style",
    )
    study.add_argument("--seeds", default=None, help="comma-separated seeds, a cell each [default: --seed or 0]")
    study.add_argument("--name", default=None, help="study name; a new name starts a fresh study [default: preset]")
    study.add_argument("--wait", action="store_true", help="run the queue here and print progress")
    _add_weights_flags(study, "weights for that backbone's cells (beats --weights)")
    _add_config_flags(study)
    studies = sub.add_parser("studies", help="list studies with their progress")
    report = sub.add_parser("report", help="a study's tables, fair metrics and verdicts, from the store")
    report.add_argument("study_id", type=int)
    report.add_argument("--format", choices=("md", "csv"), default="md")
    report.add_argument("--table", default=None, help="with --format csv: this table (e.g. table5, verdicts) to stdout")
    report.add_argument("--out", default=None, help="with --format csv: one CSV file per table into this folder")
    metrics = sub.add_parser("metrics", help="(re)compute the fair metrics of finished runs")
    metrics.add_argument("run_ids", type=int, nargs="*", help="run ids")
    metrics.add_argument("--all", action="store_true", help="every finished run")
    metrics.add_argument("--missing", action="store_true", help="finished runs without metrics")
    _add_weights_flags(metrics, "weights file for that judge, for runs made with a weights file")
    for name in NEUTRAL_JUDGES:  # judges that produced neither output: ImageNet weights file, else Keras's cache
        metrics.add_argument(
            f"--weights-{name}", dest=f"weights_{name}", metavar="PATH", help=f"{name} weights file (neutral judge)"
        )
    return [study, studies, report, metrics]


def _add_executor_flags(parser: argparse.ArgumentParser) -> None:
    """Where queued runs execute (`workbench.executors.EXECUTORS`)."""
    parser.add_argument(
        "--executor",
        choices=list(EXECUTORS),
        default=DEFAULT_EXECUTOR,
        help="; ".join(f"{e.name}: {e.help}" for e in EXECUTORS.values()) + f" [default: {DEFAULT_EXECUTOR}]",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="with --executor ray: auto (the cluster this machine belongs to), ray://HOST:PORT, "
        "or unset (a Ray instance on this machine)",
    )


def _add_reader_parsers(sub) -> list[argparse.ArgumentParser]:
    """`sql` and `snapshot`: the store for the user's own tools, safe next to runs."""
    sql = sub.add_parser("sql", help="run your own SQL on the store, read-only (safe while runs write)")
    sql.add_argument("query", help='one SQL statement, e.g. "SELECT backbone, count(*) FROM runs GROUP BY ALL"')
    sql.add_argument(
        "--format", choices=SQL_FORMATS, default="table", help="output format; BLOBs show as <N bytes> [default: table]"
    )
    snap = sub.add_parser("snapshot", help="write a consistent copy of the store that other tools may keep open")
    snap.add_argument("--out", required=True, help="the copy's file (its folder must exist)")
    snap.add_argument("--force", action="store_true", help="replace an existing --out file")
    return [sql, snap]


class Parser(argparse.ArgumentParser):
    """argparse with the project's one-line errors: `error: ...` and exit 2 (argparse's
    own prints the usage block first); `--help` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog.removeprefix('python -m ')}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m workbench", description="Neural style transfer workbench")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one style transfer and record it")
    run.add_argument("--content", required=True, help="content image file")
    run.add_argument(
        "--style",
        required=True,
        action="append",
        help="style image file; repeat it to blend several (weights: --style-blend-weights, in the same order)",
    )
    run.add_argument(
        "--style-mask",
        action="append",
        default=None,
        metavar="FILE",
        help="region mask of a style image (greyscale, any resolution; white = this style here): "
        "none, or one per --style, in the same order",
    )
    _add_config_flags(run)
    worker = sub.add_parser("worker", help="run queued runs (the dashboard starts this)")
    worker.add_argument(
        "--slots",
        type=_positive_int,  # also checks $NST_WORKERS: argparse converts a text default
        default=os.environ.get("NST_WORKERS", "1"),
        help="runs at once per database on this machine, at least 1 [default: $NST_WORKERS or 1]",
    )
    lst = sub.add_parser("list", help="list recent runs")
    lst.add_argument("--limit", type=int, default=20, help="how many of the newest runs, at least 1 [default: 20]")
    show = sub.add_parser("show", help="show one run")
    show.add_argument("run_id", type=int)
    export = sub.add_parser("export", help="write a run's images, iterations and config to a folder")
    export.add_argument("run_id", type=int)
    export.add_argument(
        "--out",
        required=True,
        help="output folder: created if missing, an empty one is used; written completely or not at all",
    )
    export.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty --out folder, replacing the export's files there (others are kept)",
    )
    cancel = sub.add_parser(
        "cancel", help="cancel runs or a whole study: queued ones at once, running ones after their current step"
    )
    cancel.add_argument("run_ids", type=int, nargs="*", metavar="RUN_ID", help="runs to cancel")
    cancel.add_argument("--study", type=int, default=None, help="cancel every queued and running run of this study")
    layers = sub.add_parser("layers", help="list a backbone's selectable layer names")
    layers.add_argument("backbone")
    study_parsers = _add_study_parsers(sub)
    reader_parsers = _add_reader_parsers(sub)
    for p in (worker, study_parsers[0]):
        _add_executor_flags(p)
    for p in (run, worker, lst, show, export, cancel, *study_parsers, *reader_parsers):
        p.add_argument("--db", default=None, help="database file [default: $NST_DB or data/nst.duckdb]")
    for p in (run, worker, study_parsers[0], study_parsers[-1]):  # the commands that load TensorFlow
        p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up log lines")
    return parser


def cmd_run(args: argparse.Namespace, models: ModelCache) -> int:
    # Cheapest checks first: the images and the numbers need no network; the layer names
    # do (their graph is built to check them), so a typo in a path fails at once, before
    # TensorFlow is loaded.
    content = load_image_file(args.content)
    styles = run_style_inputs(args.style, args.style_mask)
    with native_logs_silenced(args.verbose):  # checking layer names builds a Keras graph
        cfg = resolve_inputs(validate(config_from_args(args)), styles)
    estimate = check_fits(cfg, content.shape[:2])  # MemoryBudgetError: nothing written
    print(f"memory: {estimate.describe()}", flush=True)
    load_tensorflow(args.verbose)
    from workbench.queue import queue_arrays
    from workbench.runner import RunHooks, execute_run

    models.backbone(cfg.backbone, cfg.weights, cfg.seed)  # fail before any row
    run_id = queue_arrays(args.db, cfg, (content, Path(args.content).name), styles)
    blend = f", {len(styles)} styles" if len(styles) > 1 else ""
    print(
        f"run {run_id}: {cfg.backbone}, {cfg.iterations} iterations at {cfg.size} px{blend}, "
        f"{cfg.loss_convention} losses -> {resolve_db_path(args.db)}"
    )
    bar = ProgressBar(cfg.iterations)
    outcome = execute_run(args.db, run_id, models, RunHooks(progress=bar, on_wait=bar.note))
    bar.close()
    if outcome.status != "finished":
        # A run cancelled from the dashboard has no reason to give.
        why = f": {outcome.error}" if outcome.error else ""
        print(f"run {run_id} {outcome.status}{why}", file=sys.stderr)
        return 1
    output = "the best image" if cfg.keep_best else "the last image"
    print(
        f"run {run_id} finished in {outcome.wall_seconds:.1f} s. Output loss ({output}, evaluated after the "
        f"last step; {cfg.loss_convention} convention): total {outcome.total_loss:.3g}, content "
        f"{outcome.content_loss:.3g}, style {outcome.style_loss:.3g}; best loss {outcome.best_loss:.3g}, "
        f"after {outcome.best_step} steps"
    )
    return 0


def cmd_worker(args: argparse.Namespace, models: ModelCache) -> int:
    executor = get_executor(args.executor)  # a missing `ray` package: one line, exit 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    load_tensorflow(args.verbose)
    options = ExecutorOptions(slots=args.slots, address=args.ray_address)
    done = executor.drain(args.db, resolve_db_path(args.db), models, options)
    logging.info("worker done: %d run(s)", done)
    return 0


def _reads_only(command):
    """A command that only reads the store: every store connection it makes opens the
    file read-only (`store.db.reading`), so it works on a file the user cannot write."""

    @functools.wraps(command)
    def read_only_command(args: argparse.Namespace, models: ModelCache) -> int:
        with reading():
            return command(args, models)

    return read_only_command


@_reads_only
def cmd_list(args: argparse.Namespace, models: ModelCache) -> int:
    if args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    df = store_runs.list_runs(args.db, limit=args.limit)
    table = df.drop(columns=["error"]).rename(columns=RUN_LOSS_NAMES)
    print("no runs yet" if df.empty else table.to_string(index=False))
    return 0


@_reads_only
def cmd_show(args: argparse.Namespace, models: ModelCache) -> int:
    run = store_runs.get_run(args.db, args.run_id)
    if run is None:
        raise ConfigError(f"no run {args.run_id} in {resolve_db_path(args.db)}")
    print(format_run(run, store_runs.get_iterations(args.db, args.run_id), store_runs.get_styles(args.db, args.run_id)))
    return 0


def cmd_cancel(args: argparse.Namespace, models: ModelCache) -> int:
    if not args.run_ids and args.study is None:
        raise ConfigError("give RUN_ID(s) or --study ID")
    where = resolve_db_path(args.db)
    if args.study is not None and store_studies.get_study(args.db, args.study) is None:
        raise ConfigError(f"no study {args.study} in {where}")
    missing = [i for i in args.run_ids if store_runs.get_run(args.db, i) is None]
    if missing:  # before anything is cancelled
        raise ConfigError(f"no run {', '.join(map(str, missing))} in {where}")
    if args.study is not None:
        n = store_studies.cancel_study(args.db, args.study)
        print(f"study {args.study}: {n['cancelled']} queued run(s) cancelled, {n['stopping']} running run(s) stopping")
    for run_id in args.run_ids:
        status = store_runs.request_cancel(args.db, run_id)
        print(f"run {run_id}: {'stopping' if status == 'running' else status}")
    return 0


@_reads_only
def cmd_export(args: argparse.Namespace, models: ModelCache) -> int:
    out = Path(args.out).expanduser()
    check_export_target(out, args.force)  # before reading anything
    run = store_runs.get_run(args.db, args.run_id)
    if run is None:
        raise ConfigError(f"no run {args.run_id} in {resolve_db_path(args.db)}")
    written = export_run(args.db, run, out, force=args.force)
    print(f"wrote {len(written)} files to {out.resolve()}")
    return 0


def cmd_layers(args: argparse.Namespace, models: ModelCache) -> int:
    bb = get_backbone(args.backbone)
    defaults = {bb.content_layer: "content default", **{s: "style default" for s in bb.style_layers}}
    for name in layer_names(bb.name):
        print(f"{name}\t{defaults[name]}" if name in defaults else name)
    return 0


def _study_inputs(args: argparse.Namespace) -> tuple[dict, list[int]]:
    """The study's overrides (given config flags) and seeds."""
    overrides = given_fields(args)
    if args.seeds is not None and "seed" in overrides:
        raise ConfigError("give --seeds or --seed, not both")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else [overrides.get("seed", 0)]
    overrides.pop("seed", None)
    return overrides, seeds


def cmd_study(args: argparse.Namespace, models: ModelCache) -> int:
    from workbench.queue import StudyInputs, launch_study, start_worker

    preset = get_preset(args.preset)
    executor = get_executor(args.executor)  # before anything is queued
    overrides, seeds = _study_inputs(args)
    weights = weights_by_backbone(args)
    photos, paintings, paired = study_image_paths(args.content, args.style, args.pair)
    contents, styles = load_images(photos), load_images(paintings)
    req = StudyInputs(preset, overrides, seeds, contents, styles, weights, args.name, paired)
    with native_logs_silenced(args.verbose):  # layer checks and weights load Keras
        for backbone, w in sorted(study_weights(preset, overrides, weights)):
            if not is_random(w):
                models.backbone(backbone, w, 0)  # fail before any row; kept for --wait and the judges
        launch = launch_study(args.db, req)
    c = launch.counts
    print(
        f"study {launch.study_id} ({preset.name}{', resumed' if launch.resumed else ''}): {launch.cells} cells: "
        f"{c['queued']} queued, {c['requeued']} re-queued, {c['finished']} already finished, "
        f"{c['active']} already queued or running -> {resolve_db_path(args.db)}"
    )
    if args.wait:
        load_tensorflow(args.verbose)
        return _wait_for_study(args.db, launch.study_id, models, executor, args.ray_address)
    if c["queued"] + c["requeued"] + c["active"]:
        proc = start_worker(resolve_db_path(args.db), executor.name, args.ray_address)
        started = f"worker started (pid {proc.pid})" if proc else "no worker started ($NST_NO_WORKER is set)"
        print(f"{started}; follow with `python -m workbench studies`")
    return 0


def _wait_for_study(db, study_id: int, models: ModelCache, executor: Executor, address: str | None) -> int:
    """Run the queue from this process (here, or as the Ray driver), printing the study's
    progress after each run; if another worker holds the queue, follow the study until
    its cells are done."""

    def show(_run_id: int | None = None) -> dict:
        progress = store_studies.study_progress(db, study_id)
        print(format_progress(study_id, progress), flush=True)
        return progress

    show()
    ran = executor.drain(db, resolve_db_path(db), models, ExecutorOptions(on_done=show, address=address))
    progress = store_studies.study_progress(db, study_id) if ran else show()
    while progress["queued"] + progress["running"] > 0:
        time.sleep(2.0)
        store_runs.mark_stale_runs(db)  # a foreign worker that died must not make us wait forever
        progress = store_studies.study_progress(db, study_id)
    if progress["finished"] < progress["cells"]:
        print(format_progress(study_id, progress), file=sys.stderr)
        return 1
    return 0


@_reads_only
def cmd_studies(args: argparse.Namespace, models: ModelCache) -> int:
    df = store_studies.list_studies(args.db)
    if df.empty:
        print("no studies yet")
        return 0
    df["eta"] = [format_eta(e) for e in df["eta_seconds"]]
    cols = ["id", "name", "preset", "cells", "finished", "failed", "stopped", "queued", "running", "eta", "created_at"]
    print(df[cols].to_string(index=False))
    return 0


@_reads_only
def cmd_report(args: argparse.Namespace, models: ModelCache) -> int:
    from workbench.report import build_report, csv_files, report_markdown

    if args.format == "csv" and (args.table is None) == (args.out is None):
        raise ConfigError("a CSV file holds one table: give --table ID for one to stdout, or --out DIR for all")
    report = build_report(args.db, args.study_id)
    if report is None:
        raise ConfigError(f"no study {args.study_id} in {resolve_db_path(args.db)}")
    if args.format == "md":
        sys.stdout.write(report_markdown(report))
    elif args.table is not None:
        sys.stdout.write(_one_csv(report, args.table))
    else:
        written = write_files(Path(args.out), csv_files(report.tables, report.verdicts))
        print(f"wrote {len(written)} CSV files to {Path(args.out).resolve()}")
    return 0


def _one_csv(report, table: str) -> str:
    from workbench.report import render_csv

    try:
        return render_csv(report.tables, report.verdicts, table)
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None


def cmd_metrics(args: argparse.Namespace, models: ModelCache) -> int:
    from workbench.judging import record_metrics

    if args.all or args.missing:
        run_ids = store_metrics.runs_for_metrics(args.db, missing_only=args.missing and not args.all)
    else:
        run_ids = args.run_ids
    if not run_ids:
        raise ConfigError("name run ids, or --all / --missing")
    neutral = {name: getattr(args, f"weights_{name}") for name in NEUTRAL_JUDGES if getattr(args, f"weights_{name}")}
    judges, failed = {**weights_by_backbone(args), **neutral}, 0
    load_tensorflow(args.verbose)
    for run_id in run_ids:
        try:
            print(f"run {run_id}: {record_metrics(args.db, run_id, models, judges)} metrics stored")
        except (ValueError, KeyError) as exc:
            print(f"run {run_id}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _printable(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with cells every format can write: BLOBs as their size (the images are
    for `snapshot` or `export`), DuckDB lists as Python lists."""

    def cell(value: object) -> object:
        if isinstance(value, bytes | bytearray | memoryview):
            return f"<{len(value)} bytes>"
        return value.tolist() if hasattr(value, "tolist") and not isinstance(value, str) else value

    out = df.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]):
            out[column] = out[column].map(cell)
    return out


def cmd_sql(args: argparse.Namespace, models: ModelCache) -> int:
    """Print the result of the user's SQL; the store runs it read-only (`store.userquery`)."""
    df = _printable(userquery.run_user_sql(args.db, args.query))
    if args.format == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif args.format == "json":
        print(df.to_json(orient="records", date_format="iso", default_handler=str))
    elif df.empty:
        print(f"{'  '.join(map(str, df.columns))}\n(0 rows)" if len(df.columns) else "(no result)")
    else:
        print(df.to_string(index=False))
    return 0


def cmd_snapshot(args: argparse.Namespace, models: ModelCache) -> int:
    """Write a consistent copy of the store that other tools may keep open."""
    target = userquery.snapshot(args.db, args.out, force=args.force)
    print(f"wrote a snapshot of {resolve_db_path(args.db)} to {target}")
    return 0


COMMANDS = {
    "run": cmd_run,
    "worker": cmd_worker,
    "list": cmd_list,
    "show": cmd_show,
    "export": cmd_export,
    "cancel": cmd_cancel,
    "layers": cmd_layers,
    "study": cmd_study,
    "studies": cmd_studies,
    "report": cmd_report,
    "metrics": cmd_metrics,
    "sql": cmd_sql,
    "snapshot": cmd_snapshot,
}


# Commands that show runs: a run whose process died must show as `interrupted`, not
# `running`. (`worker` and `study` reclaim before they decide what to run; `run` writes
# nothing before its input is known good.)
RECLAIMING = ("list", "show", "studies", "report", "export", "metrics", "cancel")


def _reclaim(args: argparse.Namespace) -> None:
    """Reclaim dead runs before a command that shows runs."""
    if args.command in RECLAIMING:
        store_runs.reclaim_before_reading(args.db)


def main(argv: list[str] | None = None, models: ModelCache | None = None) -> int:
    """Run one command; `models` holds the networks it builds (a fresh cache unless a
    caller, e.g. a test, shares one)."""
    args = build_parser().parse_args(argv)
    try:
        _reclaim(args)
        return COMMANDS[args.command](args, models if models is not None else ModelCache())
    except USER_ERRORS as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `python -m engine {run,worker,list,show,export,layers} ...`.

The `run` flags are generated from `TransferConfig`'s fields, so the CLI, the dashboard
and the stored config never disagree about options or defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

# Quieten TensorFlow's C++ start-up chatter before it is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from engine.backbones import UnknownBackboneError, UnknownLayerError, get_backbone, layer_names  # noqa: E402
from engine.cli_support import ProgressBar, config_from_args, export_run, format_run  # noqa: E402
from engine.config import ConfigError, TransferConfig, validate  # noqa: E402
from engine.images import ImageLoadError, load_image_file  # noqa: E402
from engine.weights import WeightsError, load_backbone  # noqa: E402
from store import runs as store_runs  # noqa: E402
from store.db import StoreError, resolve_db_path  # noqa: E402

USER_ERRORS = (ConfigError, UnknownBackboneError, UnknownLayerError, ImageLoadError, WeightsError, StoreError)
EXIT_USAGE = 2


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per `TransferConfig` field (`--lr` is an alias of `--learning-rate`)."""
    for f in dataclasses.fields(TransferConfig):
        flags = [f"--{f.name.replace('_', '-')}"]
        if f.name == "learning_rate":
            flags.append("--lr")
        default = f.default if f.default is not None else "backbone default"
        parser.add_argument(
            *flags,
            dest=f.name,
            default=None,
            choices=f.metadata.get("choices"),
            help=f"{f.metadata['help']} [default: {default}]",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Neural style transfer workbench")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one style transfer and record it")
    run.add_argument("--content", required=True, help="content image file")
    run.add_argument("--style", required=True, help="style image file")
    _add_config_flags(run)
    worker = sub.add_parser("worker", help="run queued runs (the dashboard starts this)")
    worker.add_argument(
        "--slots",
        type=int,
        default=int(os.environ.get("NST_WORKERS", "1")),
        help="runs at once per database on this machine [default: $NST_WORKERS or 1]",
    )
    lst = sub.add_parser("list", help="list recent runs")
    lst.add_argument("--limit", type=int, default=20)
    show = sub.add_parser("show", help="show one run")
    show.add_argument("run_id", type=int)
    export = sub.add_parser("export", help="write a run's images, iterations and config to a folder")
    export.add_argument("run_id", type=int)
    export.add_argument("--out", required=True, help="output folder (created if missing)")
    layers = sub.add_parser("layers", help="list a backbone's selectable layer names")
    layers.add_argument("backbone")
    for p in (run, worker, lst, show, export):
        p.add_argument("--db", default=None, help="database file [default: $NST_DB or data/nst.duckdb]")
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from engine.runner import execute_run, queue_run

    cfg = validate(config_from_args(args))
    content = load_image_file(args.content)
    style = load_image_file(args.style)
    model = load_backbone(get_backbone(cfg.backbone), cfg.weights)  # fail before any row
    run_id = queue_run(args.db, cfg, content, style, Path(args.content).name, Path(args.style).name)
    print(f"run {run_id}: {cfg.backbone}, {cfg.iterations} iterations at {cfg.size} px -> {resolve_db_path(args.db)}")
    bar = ProgressBar(cfg.iterations)
    outcome = execute_run(args.db, run_id, progress=bar, model=model)
    bar.close()
    if outcome.status != "finished":
        print(f"run {run_id} {outcome.status}: {outcome.error or ''}", file=sys.stderr)
        return 1
    print(
        f"run {run_id} finished in {outcome.wall_seconds:.1f} s: total {outcome.total_loss:.6g}, "
        f"content {outcome.content_loss:.6g}, style {outcome.style_loss:.6g}"
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.runner import work_queue

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    done = work_queue(args.db, resolve_db_path(args.db), args.slots)
    logging.info("worker done: %d run(s)", done)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store_runs.mark_stale_runs(args.db)
    df = store_runs.list_runs(args.db, limit=args.limit)
    print("no runs yet" if df.empty else df.drop(columns=["error"]).to_string(index=False))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    run = store_runs.get_run(args.db, args.run_id)
    if run is None:
        raise ConfigError(f"no run {args.run_id} in {resolve_db_path(args.db)}")
    print(format_run(run, store_runs.get_iterations(args.db, args.run_id)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    run = store_runs.get_run(args.db, args.run_id)
    if run is None:
        raise ConfigError(f"no run {args.run_id} in {resolve_db_path(args.db)}")
    written = export_run(args.db, run, Path(args.out))
    print(f"wrote {len(written)} files to {Path(args.out).resolve()}")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    bb = get_backbone(args.backbone)
    defaults = {bb.content_layer: "content default", **{s: "style default" for s in bb.style_layers}}
    for name in layer_names(bb.name):
        print(f"{name}\t{defaults[name]}" if name in defaults else name)
    return 0


COMMANDS = {
    "run": cmd_run,
    "worker": cmd_worker,
    "list": cmd_list,
    "show": cmd_show,
    "export": cmd_export,
    "layers": cmd_layers,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

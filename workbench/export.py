"""Writing files to a folder the user names: one run's images, iterations and settings
(`export RUN --out DIR`), a study's tables (`report --format csv --out DIR`).

The folder is written completely or not at all: the files go into a temporary folder next
to the target, which is renamed into place once everything is written (and removed if
anything fails), so an interrupted or failed export never leaves half a folder behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import UserError
from store import images as store_images
from store import runs as store_runs


class ExportError(UserError):
    """The export cannot be written where asked; the message says why in one line."""


def check_export_target(out: Path, force: bool = False) -> None:
    """Refuse, before anything is read or written, a target the export cannot use: a
    file, a path under a file, a folder it may not write, or (without `force`) a folder
    that already holds something."""
    out = Path(out).expanduser().resolve()
    if out.is_dir():
        if not force and any(out.iterdir()):
            raise ExportError(f"{out} is not empty; give a new or empty folder, or --force to write into it")
        _check_writable(out.parent, out)  # the finished folder is renamed in from next to it
        if force:
            _check_writable(out, out)
        return
    if out.exists() or out.is_symlink():
        raise ExportError(f"{out} is a file; give a folder for the export")
    ancestor = next(p for p in out.parents if p.exists())  # "/" always exists
    if not ancestor.is_dir():
        raise ExportError(f"cannot create folder {out}: {ancestor} is a file")
    _check_writable(ancestor, out)


def _check_writable(folder: Path, out: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {out}: no permission to write in {folder}")


def export_run(db: Any, run: dict[str, Any], out: Path, force: bool = False) -> list[Path]:
    """Write output.png, content.png, the style images (style.png for one style;
    style_1.png, style_2.png, ... for several, in blend order) with their masks (mask.png
    / mask_1.png, ... when the run has masks), snapshots/step_NNNNNN.png, iterations.csv
    and run.json (with a `styles` list: image, weight, mask, size) into `out` only;
    returns the files written.

    `out` may be missing (it is created, with its parents) or an empty folder; a
    non-empty folder only with `force`, which replaces the export's files in it and
    keeps the others. Anything else is an `ExportError` and nothing is written."""
    return write_folder(out, lambda folder: _write_files(db, run, folder), force)


def write_files(out: Path, files: dict[str, str | bytes], force: bool = False) -> list[Path]:
    """Write `files` (name -> text or bytes) into folder `out`, as `write_folder` does."""

    def write(folder: Path) -> list[str]:
        for name, data in files.items():
            (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
        return list(files)

    return write_folder(out, write, force)


def write_folder(out: Path, write: Callable[[Path], list[str]], force: bool = False) -> list[Path]:
    """Run `write(folder)` (returns the relative paths it wrote) on a temporary folder next
    to `out`, then rename it into place: `out` is written completely or not at all."""
    check_export_target(out, force)
    out = Path(out).expanduser().resolve()
    created = _make_folders(out.parent, out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        _remove_folders(created)
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        names = write(tmp)
        _move_into_place(tmp, out, names)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when it was renamed into place
        if not out.exists():
            _remove_folders(created)
    return [out / name for name in names]


def _write_files(db: Any, run: dict[str, Any], folder: Path) -> list[str]:
    """Write the export into `folder`; returns the written files' relative paths."""
    written: list[str] = []

    def write(name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)
        written.append(name)

    for key in ("output_image", "content_image"):
        png = store_images.get_png(db, run[key]) if run.get(key) else None
        if png is not None:
            write(f"{key.removesuffix('_image')}.png", png)
    styles = store_runs.get_styles(db, run["id"]) or [{"image_id": run.get("style_image"), "mask_image": None}]
    for name, image_id in _style_files(styles):
        png = store_images.get_png(db, image_id) if image_id else None
        if png is not None:
            write(name, png)
    snaps = store_runs.get_snapshots(db, run["id"])
    if not snaps.empty:
        (folder / "snapshots").mkdir()
    for step, image_id in snaps.itertuples(index=False):
        write(f"snapshots/step_{step:06d}.png", store_images.get_png(db, image_id))
    write("iterations.csv", store_runs.get_iterations(db, run["id"]).to_csv(index=False).encode())
    write("run.json", json.dumps({**run, "styles": styles}, indent=2, default=str).encode())
    return written


def _style_files(styles: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(file name, image id) of a run's style and mask images: style.png (and mask.png)
    for one style, as before several styles existed; style_1.png, mask_1.png, ... in
    blend order for several."""
    if len(styles) == 1:
        return [("style.png", styles[0]["image_id"]), ("mask.png", styles[0]["mask_image"])]
    files = []
    for i, s in enumerate(styles, start=1):
        files += [(f"style_{i}.png", s["image_id"]), (f"mask_{i}.png", s["mask_image"])]
    return files


def _move_into_place(tmp: Path, out: Path, names: list[str]) -> None:
    """A missing or empty `out` becomes the finished folder in one rename; into a
    non-empty one (`force`) the files move one by one, each replacing its namesake."""
    if not out.exists() or not any(out.iterdir()):
        os.replace(tmp, out)  # rename(2) replaces an empty folder
        return
    for name in names:
        (out / name).parent.mkdir(exist_ok=True)
        os.replace(tmp / name, out / name)


def _make_folders(folder: Path, out: Path) -> list[Path]:
    """Create `folder` and its missing parents; returns those created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        for path in missing:
            path.mkdir()
    except OSError as exc:
        _remove_folders(missing)
        raise ExportError(f"cannot create folder {path} for {out}: {exc.strerror or exc}") from None
    return missing


def _remove_folders(created: list[Path]) -> None:
    """Remove folders this export created (innermost first), if they are still empty."""
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()

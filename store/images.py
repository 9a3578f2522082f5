"""Images in the store: PNG blobs, content-addressed by the sha256 of their PNG bytes, so
an input used by a thousand runs is stored once. Every image gets a small thumbnail at
insert time, so galleries never decode full-size PNGs."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
from PIL import Image

from store.db import connect

THUMB_SIZE = 160


@dataclass(frozen=True)
class ImageBlob:
    """An image ready to insert: its id is the sha256 of `png`."""

    id: str
    width: int
    height: int
    png: bytes
    thumb_png: bytes


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB uint8 array -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def thumbnail_png(rgb: np.ndarray, size: int = THUMB_SIZE) -> bytes:
    """A PNG whose longest side is at most `size` px."""
    img = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_blob(rgb: np.ndarray) -> ImageBlob:
    """Encode an RGB uint8 array (H, W, 3) for the store."""
    png = encode_png(rgb)
    h, w = rgb.shape[:2]
    return ImageBlob(hashlib.sha256(png).hexdigest(), w, h, png, thumbnail_png(rgb))


def decode_png(data: bytes) -> np.ndarray:
    """A stored PNG -> RGB uint8 array."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def insert_blobs(con: duckdb.DuckDBPyConnection, blobs: list[ImageBlob], name: str | None = None) -> None:
    """Insert images inside an open transaction; already stored ones are skipped."""
    now = datetime.now(UTC).replace(tzinfo=None)
    for b in blobs:
        con.execute(
            "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            [b.id, b.width, b.height, b.png, b.thumb_png, name, now],
        )


def put_image(db: str | os.PathLike | None, rgb: np.ndarray, name: str | None = None) -> str:
    """Store an image (once) and return its id."""
    blob = make_blob(rgb)
    with connect(db) as con:
        insert_blobs(con, [blob], name)
    return blob.id


def put_blob(db: str | os.PathLike | None, blob: ImageBlob, name: str | None = None) -> str:
    """Store an already encoded image (once) and return its id."""
    with connect(db) as con:
        insert_blobs(con, [blob], name)
    return blob.id


def get_png(db: str | os.PathLike | None, image_id: str, thumb: bool = False) -> bytes | None:
    """The PNG bytes of an image (or of its thumbnail), None if absent."""
    column = "thumb_png" if thumb else "png"  # one of two fixed names, never user text
    with connect(db) as con:
        row = con.execute(f"SELECT {column} FROM images WHERE id = ?", [image_id]).fetchone()
    return None if row is None else bytes(row[0])


def get_array(db: str | os.PathLike | None, image_id: str) -> np.ndarray:
    """An image as an RGB uint8 array; KeyError if absent."""
    png = get_png(db, image_id)
    if png is None:
        raise KeyError(f"image {image_id} is not in the store")
    return decode_png(png)


def get_thumbs(db: str | os.PathLike | None, image_ids: list[str]) -> dict[str, bytes]:
    """Thumbnails for many images in one query (galleries)."""
    ids = [i for i in dict.fromkeys(image_ids) if i]
    if not ids:
        return {}
    with connect(db) as con:
        rows = con.execute("SELECT id, thumb_png FROM images WHERE list_contains(?, id)", [ids]).fetchall()
    return {r[0]: bytes(r[1]) for r in rows}


def get_shapes(db: str | os.PathLike | None, image_ids: list[str]) -> dict[str, tuple[int, int]]:
    """{id: (height, width)} of the stored images among `image_ids` (no pixels read)."""
    ids = [i for i in dict.fromkeys(image_ids) if i]
    if not ids:
        return {}
    with connect(db) as con:
        rows = con.execute("SELECT id, height, width FROM images WHERE list_contains(?, id)", [ids]).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def list_input_images(db: str | os.PathLike | None, role: str) -> list[tuple[str, str | None]]:
    """(id, name) of images used as `role` ("content" or "style") by any run, newest first.
    Style images are every style of a blend (`run_styles`), not only a run's first one;
    masks are not style images."""
    sql = {
        "content": "SELECT content_image AS image_id, created_at FROM runs",
        "style": "SELECT s.image_id, r.created_at FROM run_styles s JOIN runs r ON r.id = s.run_id",
    }[role]  # one of two fixed statements, never user text
    with connect(db) as con:
        return con.execute(
            f"SELECT i.id, any_value(i.name) FROM ({sql}) u JOIN images i ON i.id = u.image_id "
            "GROUP BY i.id ORDER BY max(u.created_at) DESC"
        ).fetchall()

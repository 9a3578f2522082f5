"""Several style images with blend weights and masks, style scale and tiling, from the
queue and the command line: what is stored, what is refused (one line, exit 2, nothing
written), and a real tiny run with two masked styles."""

import json

import numpy as np
import pytest
from PIL import Image

from engine.config import TransferConfig, validate
from engine.errors import ConfigError, ImageError
from store import runs as store_runs
from store.db import connect
from tests.conftest import synthetic_image
from workbench.__main__ import main
from workbench.queue import StyleInput, queue_arrays, queue_runs
from workbench.runner import load_styles

SECOND = synthetic_image(36, 44, seed=4)  # a second painting, 36 x 44 px


def _mask(h: int, w: int, left: bool) -> np.ndarray:
    """A grey mask: white on the left (or right) half."""
    m = np.zeros((h, w), np.uint8)
    if left:
        m[:, : w // 2] = 255
    else:
        m[:, w // 2 :] = 255
    return m


@pytest.fixture()
def style_files(image_files, tmp_path):
    """content.jpg, style.png (40 x 40), second.png (36 x 44) and two grey masks (20 x 30)."""
    second, left, right = tmp_path / "second.png", tmp_path / "left.png", tmp_path / "right.png"
    Image.fromarray(SECOND).save(second)
    Image.fromarray(_mask(20, 30, True)).save(left)
    Image.fromarray(_mask(20, 30, False)).save(right)
    return (*map(str, image_files), str(second), str(left), str(right))


def _counts(db) -> tuple[int, int, int]:
    """(runs, images, run_styles) rows; a store never opened counts as empty."""
    if not db.exists():
        return 0, 0, 0
    with connect(db) as con:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "images", "run_styles"))


def _cfg(**kw) -> TransferConfig:
    return validate(TransferConfig(**{"size": 64, "iterations": 2, "weights": "none", **kw}))


# --- the queue -------------------------------------------------------------------------------


def test_two_styles_with_weights_and_masks_are_stored_in_order_with_their_sizes(db, content_rgb, style_rgb):
    styles = [
        StyleInput(style_rgb, "a.png", mask=_mask(20, 30, True), mask_name="left.png"),
        StyleInput(SECOND, "b.png", mask=_mask(20, 30, False), mask_name="right.png"),
    ]
    run_id = queue_arrays(db, _cfg(style_blend_weights=(0.7, 0.3)), (content_rgb, "c.jpg"), styles)
    run = store_runs.get_run(db, run_id)
    rows = store_runs.get_styles(db, run_id)
    assert run["config"]["style_blend_weights"] == [0.7, 0.3]
    assert [(r["name"], r["weight"], r["mask_name"]) for r in rows] == [
        ("a.png", 0.7, "left.png"),
        ("b.png", 0.3, "right.png"),
    ]
    # At 64 px: the 40 x 40 painting goes in at 64 x 64, the 36 x 44 one at 52 x 64.
    assert [(r["height"], r["width"]) for r in rows] == [(64, 64), (52, 64)]
    assert run["style_image"] == rows[0]["image_id"]
    assert _counts(db) == (1, 5, 2)  # photo, two paintings, two masks
    # The worker reads them back in order, the masks as 0-1 maps at their own size.
    paintings, masks = load_styles(db, run_id, run["style_image"])
    assert [p.shape for p in paintings] == [style_rgb.shape, SECOND.shape]
    assert masks[0].shape == (20, 30) and masks[0][:, :15].min() == 1.0 and masks[0][:, 15:].max() == 0.0
    assert masks[1][:, 15:].min() == 1.0 and masks[1][:, :15].max() == 0.0


def test_one_style_pair_still_queues_as_runs_before_blending_did(db, content_rgb, style_rgb):
    run_id = queue_arrays(db, _cfg(), (content_rgb, None), (style_rgb, "s.png"))
    assert store_runs.get_run(db, run_id)["config"]["style_blend_weights"] is None  # one painting: unset
    paintings, masks = load_styles(db, run_id, store_runs.get_run(db, run_id)["style_image"])
    assert len(paintings) == 1 and masks is None
    assert [(r["weight"], r["height"], r["width"]) for r in store_runs.get_styles(db, run_id)] == [(1.0, 64, 64)]


def test_style_scale_2_stores_the_doubled_style_size(db, content_rgb, style_rgb):
    ids = [queue_arrays(db, _cfg(style_scale=s), (content_rgb, None), (style_rgb, None)) for s in (1.0, 2.0)]
    sizes = [[(r["height"], r["width"]) for r in store_runs.get_styles(db, i)] for i in ids]
    assert sizes == [[(64, 64)], [(128, 128)]]


def test_weights_given_with_the_styles_become_the_blend_weights(db, content_rgb, style_rgb):
    styles = [StyleInput(style_rgb, "a", weight=2.0), StyleInput(SECOND, "b", weight=1.0)]
    run_id = queue_arrays(db, _cfg(), (content_rgb, None), styles)
    assert store_runs.get_run(db, run_id)["config"]["style_blend_weights"] == [2.0, 1.0]
    with pytest.raises(ConfigError, match="differ"):
        queue_arrays(db, _cfg(style_blend_weights=(1.0, 1.0)), (content_rgb, None), styles)
    with pytest.raises(ConfigError, match="every style image, or for none"):
        queue_arrays(db, _cfg(), (content_rgb, None), [styles[0], StyleInput(SECOND, "b")])
    assert _counts(db) == (1, 3, 2)


@pytest.mark.parametrize(
    "weights, masks, error, message",
    [
        ((0.5,), 0, ConfigError, "1 style blend weights given for 2"),
        ((0.0, 0.0), 0, ConfigError, "all zero"),
        (None, 1, ConfigError, "1 style mask(s) given for 2"),
        (None, "not an image", ImageError, "a mask must be"),
    ],
)
def test_bad_style_inputs_write_nothing(db, content_rgb, style_rgb, weights, masks, error, message):
    bad_mask = np.zeros((4, 4, 2), np.uint8) if masks == "not an image" else None
    first = StyleInput(style_rgb, "a", mask=_mask(8, 8, True) if masks == 1 else bad_mask)
    second = StyleInput(SECOND, "b", mask=bad_mask)
    cfg = TransferConfig(size=64, iterations=2, weights="none", style_blend_weights=weights)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        queue_arrays(db, cfg, (content_rgb, None), [first, second])
    assert _counts(db) == (0, 0, 0)


def test_queue_runs_on_stored_images_writes_every_style_row(db, content_rgb, style_rgb):
    from store import images as store_images

    cid, a, b = (store_images.put_image(db, x) for x in (content_rgb, style_rgb, SECOND))
    ma, mb = (store_images.put_image(db, _mask(20, 30, left)) for left in (True, False))
    (one,) = queue_runs(db, [_cfg()], cid, a)
    (two,) = queue_runs(db, [_cfg(style_blend_weights=(1.0, 3.0))], cid, [a, b], masks=[ma, mb])
    assert [(r["image_id"], r["weight"], r["height"]) for r in store_runs.get_styles(db, one)] == [(a, 1.0, 64)]
    rows = store_runs.get_styles(db, two)
    assert [(r["image_id"], r["weight"], r["mask_image"], r["height"]) for r in rows] == [
        (a, 1.0, ma, 64),
        (b, 3.0, mb, 52),
    ]
    with pytest.raises(ConfigError, match="2 style blend weights given for 1"):
        queue_runs(db, [_cfg(style_blend_weights=(1.0, 3.0))], cid, a)
    assert _counts(db)[0] == 2


def test_study_cells_get_their_style_row(db, style_files, monkeypatch, capsys):
    monkeypatch.setenv("NST_NO_WORKER", "1")
    content, style, second = style_files[:3]
    flags = ["--preset", "backbones", "--size", "64", "--iterations", "2", "--snapshot-every", "0", "--weights", "none"]
    assert main(["study", *flags, "--content", content, "--style", style, "--style", second, "--db", str(db)]) == 0
    with connect(db) as con:
        rows = con.execute(
            "SELECT r.style_image = s.image_id, s.position, s.weight, s.height, s.width FROM runs r "
            "JOIN run_styles s ON s.run_id = r.id ORDER BY r.id"
        ).fetchall()
    assert len(rows) == 4  # 2 backbones x 2 paintings, one style row each
    assert sorted(set(rows)) == [(True, 0, 1.0, 52, 64), (True, 0, 1.0, 64, 64)]


# --- the command line ------------------------------------------------------------------------


def _run_args(files, *extra):
    content, style = files[:2]
    base = ["run", "--content", content, "--style", style, "--size", "32", "--iterations", "2", "--weights", "none"]
    return [*base, *map(str, extra)]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--style", "{second}", "--style-mask", "{left}"], "1 --style-mask file(s) given for 2 --style image(s)"),
        (["--style", "{second}", "--style-blend-weights", "0.7"], "1 style blend weights given for 2"),
        (["--style", "{second}", "--style-blend-weights", "0.7,-0.3"], "style blend weights"),
        (["--style-mask", "{text}"], "not a readable image"),
        (["--style-scale", "3"], "style scale"),
        (["--max-tile-px", "16"], "max tile px 16 is below vgg16's 32 px minimum"),
        (["--size", "512", "--max-tile-px", "0"], "--max-tile-px"),  # over the (patched) memory budget
    ],
)
def test_bad_style_flags_are_one_line_exit_2_and_nothing_written(
    db, style_files, tmp_path, monkeypatch, capsys, extra, message
):
    import engine.memory

    text = tmp_path / "mask.png"
    text.write_text("not a picture")
    names = {"second": style_files[2], "left": style_files[3], "text": str(text)}
    monkeypatch.setattr(engine.memory, "available_bytes", lambda: 1024**3)  # 1 GiB: 512 px does not fit
    args = [a.format(**names) for a in _run_args(style_files, *extra)]
    assert main([*args, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert _counts(db) == (0, 0, 0)


def test_show_and_export_list_every_style_and_mask(db, style_files, content_rgb, style_rgb, tmp_path, capsys):
    styles = [
        StyleInput(style_rgb, "style.png", mask=_mask(20, 30, True), mask_name="left.png"),
        StyleInput(SECOND, "second.png", mask=_mask(20, 30, False), mask_name="right.png"),
    ]
    run_id = queue_arrays(db, _cfg(style_blend_weights=(0.7, 0.3)), (content_rgb, "c.jpg"), styles)
    capsys.readouterr()
    assert main(["show", str(run_id), "--db", str(db)]) == 0
    shown = capsys.readouterr().out
    assert "style images (2, in blend order):" in shown
    assert "1. style.png" in shown and "weight 0.7, mask left.png" in shown and "64x64 px" in shown
    assert "2. second.png" in shown and "weight 0.3, mask right.png" in shown and "64x52 px" in shown
    out = tmp_path / "export"
    assert main(["export", str(run_id), "--out", str(out), "--db", str(db)]) == 0
    names = sorted(p.name for p in out.iterdir())
    files = ["content.png", "iterations.csv", "mask_1.png", "mask_2.png", "run.json", "style_1.png", "style_2.png"]
    assert names == files
    assert np.array_equal(np.asarray(Image.open(out / "style_2.png")), SECOND)
    assert np.asarray(Image.open(out / "mask_1.png").convert("L"))[:, :15].min() == 255
    exported = json.loads((out / "run.json").read_text())
    assert [s["weight"] for s in exported["styles"]] == [0.7, 0.3]


def test_a_run_prints_its_memory_estimate_and_stores_the_scaled_style_size(db, style_files, models, capsys):
    assert main([*_run_args(style_files, "--style-scale", "2"), "--db", str(db)], models) == 0
    out = capsys.readouterr().out
    assert "memory: ~" in out and "GiB peak" in out
    assert store_runs.get_run(db, 1)["status"] == "finished"
    # At 32 px with style scale 2, the 40 x 40 painting goes to the network at 64 x 64.
    assert [(r["height"], r["width"]) for r in store_runs.get_styles(db, 1)] == [(64, 64)]


def test_a_tiny_run_with_two_weighted_masked_styles_finishes(db, style_files, models, capsys):
    second, left, right = style_files[2:]
    extra = ["--style", second, "--style-blend-weights", "0.7,0.3", "--style-mask", left, "--style-mask", right]
    assert main([*_run_args(style_files, *extra, "--iterations", "3"), "--db", str(db)], models) == 0
    assert "2 styles" in capsys.readouterr().out
    run = store_runs.get_run(db, 1)
    assert run["status"] == "finished" and run["steps_done"] == 3 and run["output_image"]
    assert run["config"]["style_blend_weights"] == [0.7, 0.3]
    rows = store_runs.get_styles(db, 1)
    assert [(r["name"], r["weight"], r["mask_name"]) for r in rows] == [
        ("style.png", 0.7, "left.png"),
        ("second.png", 0.3, "right.png"),
    ]


def test_a_blends_fair_metrics_are_measured_against_its_heaviest_painting_and_say_so(db, style_files, models):
    from engine import metrics as fair
    from store import images as store_images
    from store import metrics as store_metrics

    second = style_files[2]
    extra = ["--style", second, "--style-blend-weights", "0.3,0.7", "--iterations", "2"]
    assert main([*_run_args(style_files, *extra), "--db", str(db)], models) == 0
    rows = store_metrics.get_metrics(db, [1])
    color = rows[(rows.metric == fair.COLOR_W2) & (rows.judge == "")].iloc[0]
    assert color.detail.startswith("against style 2 of 2 (blend weight 0.7, the heaviest)")
    run, styles = store_runs.get_run(db, 1), store_runs.get_styles(db, 1)
    output = store_images.get_array(db, run["output_image"])
    painting = store_images.get_array(db, styles[1]["image_id"])
    _, reference = fair.reference_images(output, output, painting, 32, 32)
    assert color.value == pytest.approx(fair.gaussian_w2(*fair.color_stats(output), *fair.color_stats(reference)))

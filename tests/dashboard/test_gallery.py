"""The Gallery page through AppTest: filters, comparable sorting, cards, and picking runs
for Compare (selection across pages, the button that opens `/compare?runs=...`)."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from store import runs as store_runs
from store.metrics import put_metrics
from tests.dashboard.conftest import ROOT, TIMEOUT_S, assert_clean, page
from tests.store.test_gallery import add_runs, add_study

EVIL = "**bold** ![t](http://127.0.0.1:9/x.png)"
EVIL_FILE = "/w/**bold** ![t](x.png).h5"  # a file name has no slashes


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def run_links(at: AppTest) -> list[int]:
    """The run ids of the cards, in page order (each card links to its Run detail)."""
    return [int(p.proto.query_string.removeprefix("run=")) for p in at.get("page_link") if p.proto.page == "run"]


def test_filters_by_weights_study_tag_and_status_narrow_the_cards(db):
    study = add_study(db, "grid")
    a, b, c, d = add_runs(
        db,
        [
            {"weights": "imagenet", "tags": ["keep"], "output": 0.5},
            {"weights": "/w/vgg16_notop.h5", "study": study, "output": 0.4},
            {"backbone": "resnet50", "weights": "/w/resnet50_notop.h5", "study": study, "tags": ["keep"]},
            {"backbone": "resnet50", "status": "failed"},
        ],
    )
    at = page("gallery.py").run()
    assert_clean(at)
    assert run_links(at) == [d, c, b, a] and "4 runs match" in texts(at.caption)
    weights = at.multiselect(key="gallery_weights")
    assert weights.options == ["ImageNet", "random (none)", "any local file", "file: resnet50_notop.h5",
                               "file: vgg16_notop.h5"]  # fmt: skip
    weights.set_value(["file"]).run()
    assert_clean(at)
    assert run_links(at) == [c, b]
    at.multiselect(key="gallery_weights").set_value(["/w/resnet50_notop.h5"]).run()
    assert run_links(at) == [c]
    at.multiselect(key="gallery_weights").set_value([])
    at.multiselect(key="gallery_studies").set_value([study]).run()
    assert run_links(at) == [c, b]
    at.multiselect(key="gallery_tags").set_value(["keep"]).run()
    assert run_links(at) == [c] and "1 run match" in texts(at.caption)
    at.multiselect(key="gallery_studies").set_value([])
    at.multiselect(key="gallery_tags").set_value([])
    at.multiselect(key="gallery_statuses").set_value(["failed"]).run()
    assert_clean(at)
    assert run_links(at) == [d]


def test_sorting_is_comparable_across_backbones_and_raw_loss_needs_one_backbone(db):
    # output / step 1: v1 0.5, r1 0.2, v2 0.1 (raw vgg16 losses are 1e7 times resnet50's)
    v1, r1, v2 = add_runs(
        db,
        [
            {"backbone": "vgg16", "first": 1.0, "output": 0.5},
            {"backbone": "resnet50", "first": 1.0, "output": 0.2},
            {"backbone": "vgg16", "first": 2.0, "output": 0.2},
        ],
    )
    at = page("gallery.py").run()
    sort = at.selectbox(key="gallery_sort")
    assert "output ÷ step 1 (normalised loss), lowest first" in sort.options
    assert not any("output loss" in o or "final loss" in o for o in sort.options)
    sort.set_value("output ÷ step 1 (normalised loss), lowest first").run()
    assert_clean(at)
    assert run_links(at) == [v2, r1, v1]
    at.selectbox(key="gallery_sort").set_value("oldest first").run()
    assert run_links(at) == [v1, r1, v2]

    at.multiselect(key="gallery_backbones").set_value(["vgg16"]).run()
    assert "output loss, lowest first" in at.selectbox(key="gallery_sort").options
    at.selectbox(key="gallery_sort").set_value("output loss, highest first").run()
    assert_clean(at)
    assert run_links(at) == [v1, v2]
    # Widening the filter to both backbones takes the raw-loss sort away, and says why.
    at.multiselect(key="gallery_backbones").set_value([]).run()
    assert_clean(at)
    assert at.selectbox(key="gallery_sort").value == "newest first"
    assert "needs runs of one backbone" in texts(at.caption)
    assert run_links(at) == [v2, r1, v1]


def test_sorting_by_a_fair_metric_puts_runs_without_it_last_and_says_so(db):
    a, b, c = add_runs(db, [{"output": 0.5}, {"backbone": "resnet50", "output": 0.2}, {"output": 0.3}])
    put_metrics(db, a, [("ssim", "", 0.3, "")])
    put_metrics(db, c, [("ssim", "", 0.9, "")])
    at = page("gallery.py").run()
    sort = at.selectbox(key="gallery_sort")
    assert "SSIM to the content, highest (best) first" in sort.options  # the labels shown
    sort.set_value("metric:ssim:").run()
    assert_clean(at)
    assert run_links(at) == [c, a, b]
    captions = texts(at.caption)
    assert "1 of them have no SSIM to the content yet: they come last" in captions
    assert "SSIM to the content: 0.9" in captions and "SSIM to the content: not computed" in captions


def test_cards_show_status_in_words_labelled_losses_and_escaped_user_text(db):
    study = add_study(db, EVIL)
    done, failed = add_runs(
        db,
        [
            {"weights": EVIL_FILE, "study": study, "tags": [EVIL], "first": 2.0, "output": 0.5},
            {"backbone": "resnet50", "status": "failed"},
        ],
    )
    at = page("gallery.py").run()
    assert_clean(at)
    markdown = texts(at.markdown)
    assert f"**#{done}**" in markdown and ":green-badge[finished]" in markdown and ":red-badge[failed]" in markdown
    captions = texts(at.caption)
    assert "final loss" not in captions.lower()
    assert "output ÷ step 1 **0.25** · output loss 5e+08 (vgg16, portable scale)" in captions
    assert "no output: the run failed" in captions and "no image yet" not in captions
    for prefix in ("tags: ", f"study #{study} ", " · weights "):
        line = next(c for c in captions.splitlines() if prefix in c)
        assert r"\*\*bold\*\*" in line and r"\!\[t\]" in line, line
        assert "**bold**" not in line and "![t](" not in line, line


def test_selection_survives_paging_and_clear_empties_it(db):
    ids = add_runs(db, [{"output": 0.5} for _ in range(15)])
    at = page("gallery.py").run()
    assert "15 runs match · page 1 of 2" in texts(at.caption)
    newest, oldest = ids[-1], ids[0]
    at.checkbox(key=f"gallery_pick_{newest}").check().run()
    assert_clean(at)
    assert f"**1 run selected:** #{newest}" in texts(at.markdown)
    at.get("pagination")[0].set_value(2).run()
    assert run_links(at) == [ids[2], ids[1], oldest]
    at.checkbox(key=f"gallery_pick_{oldest}").check().run()
    assert f"**2 runs selected:** #{newest}, #{oldest}" in texts(at.markdown)
    at.get("pagination")[0].set_value(1).run()
    assert_clean(at)
    assert at.checkbox(key=f"gallery_pick_{newest}").value is True
    assert f"**2 runs selected:** #{newest}, #{oldest}" in texts(at.markdown)
    # A filter change keeps the selection too.
    at.multiselect(key="gallery_backbones").set_value(["vgg16"]).run()
    assert f"**2 runs selected:** #{newest}, #{oldest}" in texts(at.markdown)
    at.button(key="gallery_clear").click().run()
    assert_clean(at)
    assert "selected:" not in texts(at.markdown)
    assert at.checkbox(key=f"gallery_pick_{newest}").value is False
    assert at.button(key="gallery_compare").disabled


def test_compare_selected_opens_compare_with_the_runs_in_the_url(db):
    first, second, _ = add_runs(db, [{"output": 0.5}, {"backbone": "resnet50", "output": 0.2}, {"output": 0.3}])
    at = AppTest.from_file(ROOT / "dashboard" / "Home.py", default_timeout=TIMEOUT_S).run()
    at.switch_page("views/gallery.py").run()
    assert at.title[0].value == "Gallery"
    at.checkbox(key=f"gallery_pick_{second}").check().run()
    at.checkbox(key=f"gallery_pick_{first}").check().run()
    compare = at.button(key="gallery_compare")
    assert compare.label == "Compare selected" and not compare.disabled
    compare.click().run()
    assert at.title[0].value == "Compare runs"
    assert at.query_params == {"runs": f"{second},{first}"}


def test_gallery_rerun_is_served_from_the_cache_until_the_store_changes(db, monkeypatch):
    (run_id,) = add_runs(db, [{"output": 0.5}])
    at = page("gallery.py").run()
    assert run_links(at) == [run_id]
    from store import gallery as store_gallery

    calls = []
    real = store_gallery.gallery_page
    monkeypatch.setattr(store_gallery, "gallery_page", lambda *a, **k: calls.append(1) or real(*a, **k))
    at.run()
    assert calls == [] and run_links(at) == [run_id]  # unchanged store: no query
    store_runs.set_notes_tags(db, run_id, "", ["fresh"])
    at.run()
    assert_clean(at)
    assert calls == [1] and re.search(r"tags: fresh", texts(at.caption))

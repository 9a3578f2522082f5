"""The Home page through AppTest: counts in words, comparable figures instead of raw
losses across backbones, latest outputs with links, and caching on the store's changes."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from store.metrics import put_metrics
from tests.dashboard.conftest import assert_clean, page
from tests.store.test_gallery import SCALE, add_runs


def everything(at: AppTest) -> str:
    """Every text a reader sees on the page, captions of images and tables included."""
    parts = [str(e.value) for kind in ("markdown", "caption", "subheader", "metric", "info") for e in at.get(kind)]
    parts += [c for img in at.image for c in img.captions]
    parts += [df.value.to_string() for df in at.dataframe]
    return "\n".join(parts)


def test_home_shows_no_raw_losses_side_by_side_across_backbones(db):
    # Raw output losses 5.489e+09 (vgg16) and 120.8 (resnet50): never shown next to each other.
    vgg, resnet = add_runs(
        db,
        [
            {"backbone": "vgg16", "first": 10.978, "output": 5.489e9 / SCALE["vgg16"]},
            {"backbone": "resnet50", "first": 1208 / SCALE["resnet50"], "output": 120.8 / SCALE["resnet50"]},
        ],
    )
    put_metrics(db, resnet, [("ssim", "", 0.61, "")])
    at = page("home.py").run()
    assert_clean(at)
    shown = everything(at)
    for raw in ("5.489e+09", "5.489e9", "5489000000", "120.8"):
        assert raw not in shown, raw
    assert "final loss" not in shown.lower() and "loss 5" not in shown
    captions = [c for img in at.image for c in img.captions]
    assert captions == [f"#{resnet} ResNet50 · output ÷ step 1 0.1 · SSIM 0.610", f"#{vgg} VGG16 · output ÷ step 1 0.5"]
    per_backbone = at.dataframe[1].value.set_index("variant")
    assert list(per_backbone.columns) == ["loss_convention", "finished", "norm_loss", "ssim"]
    assert per_backbone.loc["VGG16", "norm_loss"] == 0.5 and per_backbone.loc["ResNet50", "ssim"] == 0.61


def test_home_counts_statuses_in_words_and_links_the_latest_outputs(db):
    done, _, _ = add_runs(db, [{"output": 0.5}, {"backbone": "resnet50", "status": "failed"}, {"status": "queued"}])
    at = page("home.py").run()
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["All runs"] == "3"
    assert metrics["finished"] == "1" and metrics["failed"] == "1" and metrics["queued"] == "1"
    assert metrics["running"] == "0"
    badges = next(str(m.value) for m in at.markdown if "-badge[" in str(m.value))
    assert badges == ":gray-badge[queued] 1 · :green-badge[finished] 1 · :red-badge[failed] 1"
    links = [(p.label, p.proto.page, p.proto.query_string) for p in at.get("page_link")]
    assert (f"Run #{done}", "run", f"run={done}") in links
    assert len(at.image) == 1  # only the finished run has an output
    assert "ssim" not in at.dataframe[1].value.columns  # no metric computed: no empty column


def test_home_is_served_from_the_cache_until_the_store_changes(db, monkeypatch):
    add_runs(db, [{"output": 0.5}])
    at = page("home.py").run()
    assert {m.label: m.value for m in at.metric}["All runs"] == "1"
    from store import gallery as store_gallery

    calls = []
    real = store_gallery.overview_counts
    monkeypatch.setattr(store_gallery, "overview_counts", lambda db: calls.append(db) or real(db))
    at.run()
    assert calls == []  # an unchanged store is not queried again
    add_runs(db, [{"backbone": "resnet50", "output": 0.2}])
    at.run()
    assert_clean(at)
    assert len(calls) == 1 and {m.label: m.value for m in at.metric}["All runs"] == "2"

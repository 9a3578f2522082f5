"""Plain-text formatting shared by the command line and the dashboard (no TensorFlow,
no Streamlit): durations and a study's progress line."""

from __future__ import annotations

import math
from typing import Any

NONE = "–"  # shown where a value is unknown


def known(value: Any) -> bool:
    """False for None and NaN (a NULL read through pandas)."""
    try:
        return value is not None and not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def format_duration(seconds: Any) -> str:
    """Seconds as `1h02m`, `3m05s` or `12.3s`; an en dash when unknown."""
    if not known(seconds):
        return NONE
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def format_eta(seconds: Any) -> str:
    """A remaining time, or an en dash when unknown or nothing is left."""
    return format_duration(seconds) if known(seconds) and float(seconds) > 0 else NONE


def format_progress(study_id: int, progress: dict[str, Any]) -> str:
    """'study 3: 4/10 cells done (1 failed, 5 queued, 1 running), ETA 2m10s'."""
    cells = int(progress.get("cells", 0))
    done = int(progress.get("finished", 0))
    others = [(k, int(progress.get(k, 0) or 0)) for k in ("failed", "stopped", "queued", "running")]
    detail = ", ".join(f"{n} {k}" for k, n in others if n)
    eta = format_eta(progress.get("eta_seconds"))
    eta_text = f", ETA {eta}" if eta != NONE else ""
    return f"study {study_id}: {done}/{cells} cells done" + (f" ({detail})" if detail else "") + eta_text

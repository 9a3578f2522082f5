"""Durations and study progress lines, as the command line and the dashboard show them."""

import math

from workbench.text import NONE, format_duration, format_eta, format_progress


def test_durations_read_at_a_glance():
    assert format_duration(12.34) == "12.3s"
    assert format_duration(185) == "3m05s"
    assert format_duration(3720) == "1h02m"
    assert format_duration(None) == format_duration(math.nan) == NONE


def test_an_eta_is_shown_only_when_time_is_left():
    assert format_eta(90) == "1m30s"
    assert format_eta(0) == format_eta(-5) == format_eta(None) == NONE


def test_progress_names_what_is_not_done_and_the_eta():
    progress = {"cells": 10, "finished": 4, "failed": 1, "queued": 5, "running": 0, "eta_seconds": 130}
    assert format_progress(3, progress) == "study 3: 4/10 cells done (1 failed, 5 queued), ETA 2m10s"
    assert format_progress(3, {"cells": 2, "finished": 2, "eta_seconds": math.nan}) == "study 3: 2/2 cells done"

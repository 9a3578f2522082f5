"""Which errors are the user's to fix, and how they are shown: one line.

The one list both handlers use: the command line (`error: ...`, exit 2) and the dashboard
(shown under the form). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from engine.errors import UserError
from store.db import StoreError

USER_ERRORS: tuple[type[Exception], ...] = (UserError, StoreError)


def one_line(exc: BaseException) -> str:
    """`exc` as one short line: the first line of its message (a library's message may
    run on), or its class name if it has none."""
    text = str(exc).strip()
    return text.splitlines()[0][:400] if text else exc.__class__.__name__

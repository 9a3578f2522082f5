"""The errors a user can cause or act on, under one base class.

Each carries one line that says what is wrong and how to fix it; the command line prints
it as `error: ...` and exits 2, the dashboard shows it under the form. Anything else that
escapes is a bug and keeps its traceback. (The store's own `store.db.StoreError` is the
one user-facing error outside this tree: the store does not import the engine.)
"""

from __future__ import annotations


class UserError(Exception):
    """Base of every error whose message is meant for the user, in one line."""


class ConfigError(UserError, ValueError):
    """A configuration value is out of range or inconsistent."""


class UnknownBackboneError(ConfigError):
    """A backbone name that is not in `engine.backbones.BACKBONES`."""


class UnknownLayerError(ConfigError):
    """A layer name the backbone does not have; the message names the closest ones."""


class MemoryBudgetError(ConfigError):
    """The run would not fit in this machine's memory, even its largest tile; the message
    names a `--max-tile-px` that would."""


class ImageError(UserError, ValueError):
    """The input is not an image we can use; the message says why."""


class WeightsError(UserError, RuntimeError):
    """The requested weights cannot be loaded; the message says how to fix it."""


class DivergedError(UserError, RuntimeError):
    """The loss became NaN or infinite, or climbed far above its start; steps before
    `step` are valid. The run is stored as failed with this message."""

    def __init__(self, step: int, reason: str = "the loss became NaN or infinite") -> None:
        super().__init__(f"diverged at step {step}: {reason}")
        self.step = step

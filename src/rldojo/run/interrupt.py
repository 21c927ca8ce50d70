"""Ctrl-C as a request, not an exception: loops finish their step, checkpoint, and return."""

from __future__ import annotations

import signal

_requested = False


def _handler(signum, frame) -> None:  # noqa: ARG001
    global _requested
    _requested = True


def install() -> None:
    """Turn SIGINT (and SIGTERM) into a flag that `requested()` reads."""
    global _requested
    _requested = False
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def restore() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def requested() -> bool:
    return _requested


def request() -> None:
    """Ask running loops to stop (used by tests and by the trial when a sibling session fails)."""
    global _requested
    _requested = True

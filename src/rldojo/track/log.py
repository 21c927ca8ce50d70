"""loguru set-up: console through rich (so progress bars stay intact) and per-session log files."""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger
from rich.console import Console
from rich.text import Text

_console: Console | None = None
_console_sink: int | None = None


def console() -> Console:
    global _console
    if _console is None:
        # Logs and CI output are not terminals: give tables room instead of rich's 80 columns.
        _console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
    return _console


def setup_console(verbose: bool = False) -> None:
    """Route loguru to the rich console at INFO (DEBUG when verbose)."""
    global _console_sink
    logger.remove()
    level = "DEBUG" if verbose else "INFO"

    def sink(message) -> None:
        record = message.record
        style = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "bold red", "DEBUG": "dim"}.get(
            record["level"].name, ""
        )
        console().print(Text(message.rstrip("\n"), style=style), highlight=False, soft_wrap=True)

    _console_sink = logger.add(sink, level=level, format="{time:HH:mm:ss} {level: <7} {message}")


def setup_quiet_child(verbose: bool = False) -> None:
    """Session worker processes log to their files only; the parent owns the console."""
    logger.remove()
    if verbose:
        logger.add(sys.stderr, level="WARNING", format="{time:HH:mm:ss} {level: <7} {message}")


def add_file_log(path: Path, level: str = "DEBUG") -> int:
    return logger.add(
        str(path), level=level, format="{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}", enqueue=False
    )

"""loguru set-up: console through rich (so progress bars stay intact) and per-session log files.

Two consoles, so the CLI composes with pipes and redirections: `results()` writes what a command
answers (tables, reports, listings) to stdout; `console()` writes logs, progress bars, warnings and
errors to stderr. `rldojo specs | grep ppo` and `rldojo specs --fields > ref.txt` get the answer alone.

`import rldojo` disables rldojo's log messages (`logger.disable("rldojo")`): a library does not
write to the application's log sinks (loguru's default one prints DEBUG to stderr) unless asked.
The CLI turns them on (`setup_console`, `setup_quiet_child`), as may any application with
`logger.enable("rldojo")`. A session's log.txt is part of its run folder, so it is written either
way: `add_file_log` turns rldojo's messages on, and `remove_file_log` back off.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger
from rich.console import Console
from rich.text import Text

_console: Console | None = None
_results: Console | None = None
_console_sink: int | None = None
_app_enabled = False  # the CLI (or setup_* by an application) turned rldojo's logging on for good
_enabled_before = False  # rldojo's logging was on when the first open file log began
_open_file_logs = 0  # session log files open now: rldojo's logging stays on while any is


def console() -> Console:
    """stderr: logs, progress bars, warnings and errors."""
    global _console
    if _console is None:
        # Logs and CI output are not terminals: give tables room instead of rich's 80 columns.
        _console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
    return _console


def results() -> Console:
    """stdout: what a command answers (tables, reports, listings), to be read, piped or saved."""
    global _results
    if _results is None:
        _results = Console(width=None if sys.stdout.isatty() else 140)
    return _results


def setup_console(verbose: bool = False) -> None:
    """Route loguru to the rich console at INFO (DEBUG when verbose)."""
    global _console_sink
    logger.remove()
    _enable_for_good()
    level = "DEBUG" if verbose else "INFO"

    def sink(message) -> None:
        record = message.record
        style = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "bold red", "DEBUG": "dim"}.get(
            record["level"].name, ""
        )
        console().print(Text(message.rstrip("\n"), style=style), highlight=False, soft_wrap=True)

    # A traceback shows only with --verbose, and never with local variables (diagnose): they can be
    # large tensors, or secrets.
    _console_sink = logger.add(
        sink,
        level=level,
        format="{time:HH:mm:ss} {level: <7} {message}",
        backtrace=verbose,
        diagnose=False,
    )


def setup_quiet_child(verbose: bool = False) -> None:
    """Session worker processes log to their files only; the parent owns the console."""
    logger.remove()
    _enable_for_good()
    if verbose:
        logger.add(sys.stderr, level="WARNING", format="{time:HH:mm:ss} {level: <7} {message}", diagnose=False)


def _enable_for_good() -> None:
    global _app_enabled
    _app_enabled = True
    logger.enable("rldojo")


def _rldojo_enabled() -> bool:
    """Whether rldojo's messages are on now (loguru keeps no public switch to read; its activation
    list does, and without it the answer is the library default: off)."""
    activation = getattr(getattr(logger, "_core", None), "activation_list", None) or []
    for name, state in activation:
        if name == "rldojo.":
            return bool(state)
    return False


def add_file_log(path: Path, level: str = "DEBUG") -> int:
    """Log rldojo's messages at `level` and above to `path`; end with `remove_file_log(<the id>)`.

    A run folder's log.txt is written whether or not the application enabled rldojo's logging, so
    this enables it until `remove_file_log` (loguru cannot switch it back inside `logger.remove`,
    which holds the lock that `logger.disable` takes)."""
    global _open_file_logs, _enabled_before
    if _open_file_logs == 0:
        _enabled_before = _rldojo_enabled()  # an application's logger.enable("rldojo") outlives the run
    _open_file_logs += 1
    logger.enable("rldojo")
    return logger.add(
        str(path),
        level=level,
        format="{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}",
        enqueue=False,
        diagnose=False,
    )


def remove_file_log(handler_id: int) -> None:
    """Close a log file of `add_file_log`; rldojo's logging goes back off when no file log is open
    and no application enabled it."""
    global _open_file_logs
    logger.remove(handler_id)
    _open_file_logs = max(0, _open_file_logs - 1)
    if _open_file_logs == 0 and not _app_enabled and not _enabled_before:
        logger.disable("rldojo")

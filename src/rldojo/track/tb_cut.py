"""Cut a session's TensorBoard events back to a checkpoint's frame, so a resumed run's curves
continue from it instead of showing the killed run's later steps twice.

TensorBoard's `purge_step` only asks readers to hide the orphaned steps; tools that read the
event files directly (tbparse, EventFileLoader) still see both copies. Here the event files are
rewritten: every event up to the frame is kept (file headers and step-less events too), the rest
is dropped, and the old files are replaced by one new file.
"""

from __future__ import annotations

from pathlib import Path

from loguru import logger


def cut_events_after(tb_dir: Path, frame: int) -> int:
    """Keep the events of `tb_dir` with step <= `frame`; returns how many events were dropped."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from torch.utils.tensorboard.writer import FileWriter

    files = sorted(Path(tb_dir).glob("events.out.tfevents.*"))
    if not files:
        return 0
    kept, dropped = [], 0
    for path in files:
        for event in EventFileLoader(str(path)).Load():
            if event.HasField("file_version"):
                continue  # the new file writes its own header
            if event.HasField("summary") and event.step > frame:
                dropped += 1
                continue
            kept.append(event)
    if not dropped:
        return 0
    writer = FileWriter(str(tb_dir), filename_suffix=".cut")
    for event in kept:
        writer.add_event(event)
    writer.close()
    for path in files:
        path.unlink()
    logger.debug("TensorBoard events of {} cut back to frame {} ({} dropped)", tb_dir, frame, dropped)
    return dropped

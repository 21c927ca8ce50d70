"""Resume continues every output exactly from the checkpoint: metrics.csv, TensorBoard, best.pt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rldojo.run.checkpoint import load_checkpoint
from rldojo.run.recorder import Recorder
from rldojo.run.session import Session
from rldojo.run.trial import new_run_dir
from rldojo.track.tb_cut import cut_events_after
from rldojo.track.tracker import read_metrics

from .helpers import fast_spec


def _tb_steps(session_dir: Path, tag: str = "return_ma") -> list[int]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps = []
    for path in sorted((session_dir / "tb").glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            if event.HasField("summary") and any(v.tag == tag for v in event.summary.value):
                steps.append(event.step)
    return steps


def _spec():
    return fast_spec("track.tensorboard=true")


def _as_if_killed(session_dir: Path, last: Path | None) -> None:
    """What a SIGKILL leaves: outputs past the checkpoint (or none at all), no result.json."""
    (session_dir / "result.json").unlink()
    if last is None:
        (session_dir / "ckpt/last.pt").unlink()
    else:
        shutil.copy(last, session_dir / "ckpt/last.pt")


def test_a_session_killed_before_its_first_checkpoint_starts_again_with_no_duplicate_outputs(tmp_path):
    spec = _spec()
    run_dir = new_run_dir(spec, tmp_path)
    first = Session(spec, run_dir, 0).run()
    session_dir = run_dir / "s0"
    _as_if_killed(session_dir, last=None)
    logged = []
    from loguru import logger

    sink = logger.add(lambda message: logged.append(str(message)), level="WARNING")
    try:
        again = Session(spec, run_dir, 0).run()
    finally:
        logger.remove(sink)
    assert any("starts again from frame 0" in line for line in logged)
    frames = read_metrics(session_dir / "metrics.csv")["frame"]
    assert frames == sorted(set(frames)) and frames[-1] == 2048
    steps = _tb_steps(session_dir)
    assert steps == sorted(set(steps)), "TensorBoard must not hold the killed attempt's steps twice"
    assert again["frames"] == first["frames"] == 2048 and again["resumes"] == 0


def test_resume_cuts_metrics_and_tensorboard_back_and_sets_a_later_best_aside(tmp_path, monkeypatch):
    spec = _spec()
    run_dir = new_run_dir(spec, tmp_path)
    session_dir = run_dir / "s0"
    kept = tmp_path / "last_at_512.pt"
    original = Recorder.checkpoint

    def keep_the_first(self, name, agent):
        original(self, name, agent)
        if name == "last" and self.state.frame == 512:
            shutil.copy(self.session.ckpt_dir / "last.pt", kept)

    monkeypatch.setattr(Recorder, "checkpoint", keep_the_first)
    Session(spec, run_dir, 0).run()
    monkeypatch.setattr(Recorder, "checkpoint", original)
    best_frame = load_checkpoint(session_dir / "ckpt/best.pt")["frame"]
    assert best_frame > 512  # the evaluation at 1024 wrote it
    _as_if_killed(session_dir, last=kept)

    result = Session(spec, run_dir, 0).run()
    assert result["status"] == "done" and result["resumes"] == 1 and result["frames"] == 2048
    frames = read_metrics(session_dir / "metrics.csv")["frame"]
    assert frames == sorted(set(frames)) and frames[-1] == 2048
    steps = _tb_steps(session_dir)
    assert steps == sorted(set(steps)) and steps[-1] == 2048
    assert (session_dir / "ckpt" / f"best.discarded-f{best_frame}.pt").is_file()
    assert load_checkpoint(session_dir / "ckpt/best.pt")["frame"] > 512  # written again by this session
    assert json.loads((session_dir / "result.json").read_text())["frames"] == 2048


def test_cutting_tensorboard_events_keeps_each_step_once(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    for step in range(0, 100, 10):
        writer.add_scalar("x", float(step), step)
    writer.close()
    assert cut_events_after(tmp_path, 45) == 5
    writer = SummaryWriter(str(tmp_path))
    for step in range(50, 80, 10):
        writer.add_scalar("x", -1.0, step)
    writer.close()
    steps = []
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    for path in sorted(tmp_path.glob("events.out.tfevents.*")):
        steps += [e.step for e in EventFileLoader(str(path)).Load() if e.HasField("summary")]
    assert steps == [0, 10, 20, 30, 40, 50, 60, 70]


def test_resume_of_a_finished_run_says_it_is_finished(tmp_path):
    from rldojo.run.trial import run_trial, write_spec_file

    from .helpers import rldojo

    spec = fast_spec("train.max_frames=512", "train.eval_every=0")
    run_dir = new_run_dir(spec, tmp_path)
    write_spec_file(run_dir, spec, None)
    run_trial(spec, run_dir, show_progress=False)
    before = (run_dir / "s0/metrics.csv").read_text()
    result = rldojo("train", "--resume", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0 and "is finished" in result.stderr and "nothing to resume" in result.stderr
    assert (run_dir / "s0/metrics.csv").read_text() == before


def test_mp4_without_imageio_ffmpeg_is_refused_before_playing(tmp_path, monkeypatch):
    import importlib.util

    import pytest

    from rldojo.errors import UserError
    from rldojo.run.enjoy import record_episodes

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a)
    )

    class Unplayable:  # an agent that must never be asked to act
        def reset_greedy(self, n):
            raise AssertionError("played before checking the output format")

    with pytest.raises(UserError, match="imageio-ffmpeg"):
        record_episodes(fast_spec(), Unplayable(), 1, 0, tmp_path / "x.mp4")

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rldojo.run.recorder import Recorder
from rldojo.run.session import Session
from rldojo.run.trial import new_run_dir, run_trial, write_spec_file
from rldojo.track.tracker import TIMING_COLUMNS

from .helpers import FAST_CARTPOLE, fast_spec, rldojo_process


def metrics_without_timing(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def test_same_seed_gives_the_same_metrics(tmp_path):
    spec = fast_spec()
    first = Session(spec, tmp_path / "a", 0).run()
    second = Session(spec, tmp_path / "b", 0).run()
    rows_a = metrics_without_timing(tmp_path / "a/s0/metrics.csv")
    rows_b = metrics_without_timing(tmp_path / "b/s0/metrics.csv")
    assert len(rows_a) >= 8 and rows_a == rows_b
    assert first["final_return_ma"] == second["final_return_ma"]
    other = Session(fast_spec("meta.seed=4"), tmp_path / "c", 0).run()
    assert metrics_without_timing(tmp_path / "c/s0/metrics.csv") != rows_a
    assert other["seed"] == 4


def test_session_writes_the_run_layout(tmp_path):
    spec = fast_spec("track.plots=true", "track.tensorboard=true", "meta.sessions=2", "train.max_frames=1024")
    run_dir = new_run_dir(spec, tmp_path)
    write_spec_file(run_dir, spec, ["rldojo", "train"])
    trial = run_trial(spec, run_dir, show_progress=False)
    for name in ("spec.yaml", "trial.json", "report.md", "curve.png"):
        assert (run_dir / name).is_file(), name
    for index in (0, 1):
        session = run_dir / f"s{index}"
        for name in ("metrics.csv", "log.txt", "curve.png", "ckpt/last.pt", "ckpt/best.pt", "result.json"):
            assert (session / name).is_file(), f"s{index}/{name}"
        assert any((session / "tb").iterdir())
    spec_text = (run_dir / "spec.yaml").read_text()
    assert "provenance" in spec_text and "torch" in spec_text and "seeds:\n  - 3\n  - 4" in spec_text
    saved = json.loads((run_dir / "trial.json").read_text())
    assert [s["seed"] for s in saved["sessions"]] == [3, 4]
    assert saved["aggregate"]["final_return_ma"]["n"] == 2
    assert trial["status"] == "done"
    header = (run_dir / "s0/metrics.csv").read_text().splitlines()[0].split(",")
    for column in (
        "frame",
        "episode",
        "return",
        "return_ma",
        "length",
        "fps",
        "lr",
        "wall",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
    ):
        assert column in header


def _frames(metrics_csv: Path) -> list[int]:
    with open(metrics_csv, newline="") as handle:
        return [int(row["frame"]) for row in csv.DictReader(handle)]


def _start_training(tmp_path: Path, spec_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rldojo.cli", "train", str(spec_path), "--runs-dir", str(tmp_path / "runs"), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_checkpoint(tmp_path: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list((tmp_path / "runs").glob("*/s0/ckpt/last.pt"))
        if found:
            return found[0].parents[2]
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    pytest.fail("no checkpoint appeared")


def _long_spec(tmp_path: Path) -> Path:
    raw = json.loads(json.dumps(FAST_CARTPOLE))
    raw["train"].update(max_frames=16_384, checkpoint_every=1024, eval_every=0, log_every=512)
    path = tmp_path / "long.json"
    path.write_text(json.dumps(raw))
    return path


def test_resume_after_sigkill_finishes_the_budget(tmp_path):
    proc = _start_training(tmp_path, _long_spec(tmp_path))
    run_dir = _wait_for_checkpoint(tmp_path, proc)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait()
    assert not (run_dir / "s0/result.json").exists()
    killed_at = max(_frames(run_dir / "s0/metrics.csv"))
    assert killed_at < 16_384

    done = rldojo_process("train", "--resume", str(run_dir), "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads((run_dir / "s0/result.json").read_text())
    assert result["status"] == "done" and result["frames"] == 16_384 and result["resumes"] == 1
    frames = _frames(run_dir / "s0/metrics.csv")
    assert frames == sorted(set(frames)), "rows after the checkpoint must not be duplicated"
    assert frames[-1] == 16_384


def test_ctrl_c_writes_a_checkpoint_and_exits_cleanly(tmp_path):
    proc = _start_training(tmp_path, _long_spec(tmp_path))
    run_dir = _wait_for_checkpoint(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "resume with" in stderr
    result = json.loads((run_dir / "s0/result.json").read_text())
    assert result["status"] == "interrupted" and result["frames"] < 16_384
    from rldojo.run.checkpoint import load_checkpoint

    assert load_checkpoint(run_dir / "s0/ckpt/last.pt")["frame"] == result["frames"]


def test_evaluation_and_its_best_checkpoint_are_not_training_time(tmp_path, monkeypatch):
    """fps and time-to-solve count training only: evaluations and the best checkpoints they write
    are kept out (here each best checkpoint is made to take 0.3 s)."""
    written = []
    original = Recorder.checkpoint

    def slow_checkpoint(self, name, agent):
        if name == "best":
            written.append(name)
            time.sleep(0.3)
        return original(self, name, agent)

    monkeypatch.setattr(Recorder, "checkpoint", slow_checkpoint)
    spec = fast_spec(
        "train.max_frames=1024", "train.eval_every=256", "train.eval_episodes=1", "train.checkpoint_every=0"
    )
    result = Session(spec, new_run_dir(spec, tmp_path), 0).run()
    assert written  # the first evaluation is always a best
    assert result["train_seconds"] < result["wall_s"] - 0.3 * len(written)

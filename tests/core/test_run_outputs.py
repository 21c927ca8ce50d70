"""What a run and `rldojo eval` write: file modes, eval.json's run folder, curve labels, and no log
lines from the library unless the application asks for them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from rldojo.run.trial import new_run_dir, run_trial, write_spec_file
from rldojo.track.files import write_json_atomic, write_text_atomic
from rldojo.track.plots import eval_label

from .helpers import fast_spec, rldojo


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """umask(value): set the process umask for the test, restored after."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_atomic_writes_get_the_mode_a_plain_open_gives(tmp_path, umask, mask):
    umask(mask)
    (tmp_path / "plain.txt").write_text("x")
    write_text_atomic(tmp_path / "atomic.txt", "x")
    write_json_atomic(tmp_path / "atomic.json", {"a": 1})
    assert _mode(tmp_path / "atomic.txt") == _mode(tmp_path / "atomic.json") == _mode(tmp_path / "plain.txt")
    assert _mode(tmp_path / "atomic.txt") == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_atomic_overwrite_keeps_the_files_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "kept.json"
    path.write_text("{}")
    path.chmod(0o640)
    write_json_atomic(path, {"b": 2})
    assert _mode(path) == 0o640 and json.loads(path.read_text()) == {"b": 2}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    spec = fast_spec("train.max_frames=1024", "train.eval_every=512", "train.checkpoint_every=512")
    run_dir = new_run_dir(spec, tmp_path_factory.mktemp("runs"))
    write_spec_file(run_dir, spec, None)
    run_trial(spec, run_dir, show_progress=False)
    return run_dir


def test_eval_json_names_its_run_folder_and_has_the_run_files_mode(tmp_path, finished_run):
    result = rldojo("eval", str(finished_run), "--episodes", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    eval_json = finished_run / "eval.json"
    assert json.loads(eval_json.read_text())["what"]["run_dir"] == str(finished_run)
    assert _mode(eval_json) == _mode(finished_run / "spec.yaml")  # written with open(): the umask's mode
    assert _mode(finished_run / "trial.json") == _mode(finished_run / "spec.yaml")
    # given a checkpoint file, the run folder is the one it belongs to
    out = tmp_path / "from_ckpt.json"
    ckpt = finished_run / "s0" / "ckpt" / "last.pt"
    result = rldojo("eval", str(ckpt), "--episodes", "2", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["what"]["run_dir"] == str(finished_run)


def test_the_eval_curve_says_what_its_points_are():
    tensor_run = {"frame": [1.0], "return": [1.0], "eval_return": [2.0], "eval_success": [float("nan")]}
    assert eval_label(tensor_run) == "eval return (greedy)"
    language_model_run = {**tensor_run, "stage": [0.0], "eval_success": [0.5]}
    assert eval_label(language_model_run) == "held-out mean reward (eval temperature)"


def test_the_language_model_curve_uses_its_label(tmp_path, monkeypatch):
    import matplotlib.axes

    from rldojo.track.plots import plot_session_curve

    labels = []
    original = matplotlib.axes.Axes.plot
    monkeypatch.setattr(
        matplotlib.axes.Axes, "plot", lambda self, *a, **k: labels.append(k.get("label")) or original(self, *a, **k)
    )
    metrics = {"frame": [0.0, 8.0], "return": [0.0, 1.0], "return_ma": [0.0, 0.5], "eval_return": [0.2, 0.6]}
    plot_session_curve({**metrics, "stage": [0.0, 1.0]}, tmp_path / "curve.png", "lm")
    assert "held-out mean reward (eval temperature)" in labels and "eval return (greedy)" not in labels
    assert (tmp_path / "curve.png").stat().st_size > 0


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True, timeout=240
    )


def test_the_library_writes_nothing_to_stderr_unless_asked(tmp_path):
    result = _python(
        """
        import rldojo
        from rldojo.envs import make_env, make_vec

        venv = make_vec("CartPole-v1", 2, vectorize="auto")
        venv.reset(seed=0)
        venv.close()
        env = make_env("CartPole-v1")
        env.reset(seed=0)
        env.close()
        import sys
        print("ASKED", file=sys.stderr)
        from loguru import logger
        logger.enable("rldojo")
        make_vec("CartPole-v1", 2, vectorize="auto").close()
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    before, _, after = result.stderr.partition("ASKED")
    assert before == "", before
    assert "make_vec auto" in after  # an application that enables rldojo's logging gets it


def test_a_session_run_from_python_still_writes_its_log_file(tmp_path):
    """log.txt is part of the run folder: written without the CLI too."""
    result = _python(
        f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from tests.core.helpers import fast_spec
        from rldojo.run.session import Session

        spec = fast_spec("train.max_frames=512", "train.eval_every=0", "train.checkpoint_every=0")
        Session(spec, {str(tmp_path)!r}, 0).run()
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "s0" / "log.txt").read_text()
    assert "session 0 seed 3: CartPole-v1 x4" in log and "DEBUG" in log, log


def test_a_log_file_turns_the_librarys_logging_on_until_it_is_removed(tmp_path):
    result = _python(
        f"""
        import sys
        from rldojo.envs import make_vec
        from rldojo.track.log import add_file_log, remove_file_log

        handler = add_file_log({str(tmp_path / "log.txt")!r})
        make_vec("CartPole-v1", 2, vectorize="auto").close()
        remove_file_log(handler)
        print("REMOVED", file=sys.stderr)
        make_vec("CartPole-v1", 2, vectorize="auto").close()
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "make_vec auto" in (tmp_path / "log.txt").read_text()
    assert result.stderr.partition("REMOVED")[2].strip() == ""


def test_an_application_that_enabled_the_logs_keeps_them_after_a_run(tmp_path):
    result = _python(
        f"""
        import sys
        from loguru import logger
        import rldojo
        from rldojo.envs import make_vec
        from rldojo.track.log import add_file_log, remove_file_log

        logger.remove()
        logger.add(sys.stderr, format="{{message}}")
        logger.enable("rldojo")  # as the Python API's docs say
        remove_file_log(add_file_log({str(tmp_path / "log.txt")!r}))
        print("REMOVED", file=sys.stderr)
        make_vec("CartPole-v1", 2, vectorize="auto").close()
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "make_vec auto" in result.stderr.partition("REMOVED")[2]

"""`rldojo report` rebuilds a run's summary without losing data, and every JSON it writes is valid."""

from __future__ import annotations

import json
import math

import pytest

from rldojo.track.files import write_json_atomic

from .helpers import fast_spec, rldojo


def _strict_load(path):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_report_keeps_the_trial_wall_time_and_writes_valid_json(tmp_path):
    from rldojo.run.trial import new_run_dir, run_trial, write_spec_file

    spec = fast_spec("train.max_frames=512", "train.eval_every=0")
    run_dir = new_run_dir(spec, tmp_path)
    write_spec_file(run_dir, spec, None)
    trained = run_trial(spec, run_dir, show_progress=False)
    assert trained["trial_wall_s"] > 0
    result = rldojo("report", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rebuilt = _strict_load(run_dir / "trial.json")
    assert rebuilt["trial_wall_s"] == pytest.approx(trained["trial_wall_s"])
    for path in run_dir.rglob("*.json"):
        _strict_load(path)


def test_json_writes_turn_non_finite_numbers_into_null(tmp_path):
    path = write_json_atomic(tmp_path / "x.json", {"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf}})
    assert _strict_load(path) == {"a": None, "b": [1.0, None], "c": {"d": None}}


def test_an_unexpected_failure_is_one_paragraph_without_a_traceback(tmp_path, monkeypatch):
    import rldojo.run.trial as trial

    def broken(run_dir):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(trial, "read_run_spec", broken)
    result = rldojo("report", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "failed: RuntimeError: the disk went away" in result.stderr
    assert "Traceback" not in result.stderr and "--verbose" in result.stderr

"""What a trial reports: the last defined value of a column, or last_k_per_env, over sessions."""

from __future__ import annotations

import math

import pytest

from rldojo.errors import UserError
from rldojo.run.spec import spec_from_raw
from rldojo.search.metric import TrialMetric, check_metric


def test_a_column_keeps_its_last_defined_value():
    metric = TrialMetric("eval_return")
    metric.on_row(0, {"frame": 64, "return_ma": 10.0, "eval_return": math.nan})
    assert math.isnan(metric.value())
    metric.on_row(0, {"frame": 128, "return_ma": 12.0, "eval_return": 30.0})
    metric.on_row(0, {"frame": 192, "return_ma": 14.0, "eval_return": math.nan})
    assert (metric.value(), metric.frame) == (30.0, 192)


def test_last_k_per_env_weighs_every_env_alike():
    metric = TrialMetric("last_k_per_env", last_k=2)
    # env 0 fails fast (many short episodes), env 1 plays two long ones
    for value in (5.0, 6.0, 7.0, 8.0):
        metric.on_episode(0, {"return": value, "env": 0})
    for value in (100.0, 200.0):
        metric.on_episode(0, {"return": value, "env": 1})
    assert metric.value() == pytest.approx(((7 + 8) / 2 + (100 + 200) / 2) / 2)


def test_several_sessions_report_their_mean_and_their_frames_add_up():
    metric = TrialMetric("return_ma")
    metric.on_row(0, {"frame": 100, "return_ma": 10.0})
    metric.on_row(1, {"frame": 50, "return_ma": 20.0})
    assert (metric.value(), metric.frame) == (15.0, 150)


def test_a_column_the_rows_do_not_have_is_a_user_error():
    metric = TrialMetric("retrun_ma")
    with pytest.raises(UserError, match="not a column of this run's metric rows"):
        metric.on_row(0, {"frame": 1, "return_ma": 1.0})


def test_the_metric_is_checked_against_the_agents_columns(search_raw):
    spec = spec_from_raw(search_raw, ["search.metric=approx_kl"], source="t")
    check_metric(spec)  # a PPO column
    with pytest.raises(UserError, match="'q_loss' is not a column of ppo's metric rows. Columns: frame"):
        check_metric(spec_from_raw(search_raw, ["search.metric=q_loss"], source="t"))
    with pytest.raises(UserError, match="train.eval_every is 0"):
        check_metric(spec_from_raw(search_raw, ["search.metric=eval_return"], source="t"))


def test_last_k_per_env_follows_the_episodes_of_a_real_run(tmp_path, search_raw, monkeypatch):
    import inspect

    from rldojo.run.recorder import Recorder
    from rldojo.run.trial import run_trial

    seam = "env" in inspect.signature(Recorder.episode_done).parameters
    if not seam:  # the loops' on_episode hook, as the Recorder reports it once it takes the env index
        original = Recorder.episode_done

        def episode_done(self, episode_return, length, success, env=None):
            original(self, episode_return, length, success)
            self._notify("on_episode", {"return": float(episode_return), "length": length, "env": env})

        monkeypatch.setattr(Recorder, "episode_done", episode_done)
    search_raw.pop("search")
    spec = spec_from_raw(search_raw, ["train.max_frames=512"], source="t")
    metric = TrialMetric("last_k_per_env", last_k=3)
    trial = run_trial(spec, tmp_path, show_progress=False, hooks=[metric])
    figures = metric.sessions[0]
    assert figures.episodes == trial["sessions"][0]["episodes"] > 0
    assert math.isfinite(metric.value())
    if seam:
        assert sorted(figures.by_env) == list(range(spec.env.num_envs))
        assert all(len(returns) <= 3 for returns in figures.by_env.values())

"""track.video_every: evaluation episodes filmed into the run folder, headless, linked from report.md."""

from __future__ import annotations

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

import rldojo
from rldojo.errors import UserError
from rldojo.run.spec import load_spec

FAST = [
    "meta.sessions=1",
    "train.max_frames=2048",
    "train.eval_every=0",
    "train.checkpoint_every=0",
    "train.log_every=1024",
    "track.tensorboard=false",
    "track.plots=false",
]


def test_videos_are_written_and_linked(tmp_path) -> None:
    run = rldojo.train("classic/ppo_cartpole", overrides=[*FAST, "track.video_every=1024"], out=tmp_path)
    videos = sorted((run.path / "s0" / "videos").iterdir())
    assert [v.name for v in videos] == ["frame_1024.mp4", "frame_2048.mp4"]
    frames = imageio.mimread(videos[-1])
    # CartPole's rgb frames, one per step of the episode plus the first
    assert len(frames) >= 9 and frames[0].shape == (400, 600, 3)
    assert np.asarray(frames[0]).std() > 0  # a picture, not a blank
    report = (run.path / "report.md").read_text()
    assert "## Videos of evaluation episodes" in report
    assert "[frame 1,024](s0/videos/frame_1024.mp4)" in report


def test_gif_when_mp4_cannot_be_written(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("rldojo.run.videos.video_suffix", lambda: ".gif")
    run = rldojo.train("classic/ppo_cartpole", overrides=[*FAST, "track.video_every=4096"], out=tmp_path)
    videos = sorted((run.path / "s0" / "videos").iterdir())
    assert [v.name for v in videos] == ["frame_2048.gif"]  # no mark reached: only the final policy
    frames = imageio.mimread(videos[0])
    assert frames[0].shape[:2] == (200, 300)  # gifs of wide frames are halved
    assert "![last evaluation episode](s0/videos/frame_2048.gif)" in (run.path / "report.md").read_text()


class _Blind(gym.Env):
    metadata = {"render_modes": []}
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, True, False, {}


def test_envs_without_frames_are_a_clear_error(tmp_path) -> None:
    if "rldojo-test/Blind-v0" not in gym.registry:
        gym.register("rldojo-test/Blind-v0", entry_point=_Blind, max_episode_steps=5)
    with pytest.raises(UserError, match="track.video_every: rldojo-test/Blind-v0 (does not render|could not be built)"):
        rldojo.train(
            "classic/ppo_cartpole",
            overrides=[*FAST, "env.id=rldojo-test/Blind-v0", "track.video_every=1024", "env.vectorize=sync"],
            out=tmp_path,
        )


def test_language_model_specs_refuse_video_every() -> None:
    with pytest.raises(Exception, match="track.video_every") as info:
        load_spec("llm/sat_sft_grpo", ["track.video_every=100"])
    assert "text worlds have no frames" in str(info.value)

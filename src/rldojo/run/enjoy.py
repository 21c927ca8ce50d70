"""Watch a trained agent: a window when there is a display, else a gif/mp4 file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from loguru import logger

from rldojo.algos.base import TensorAgent
from rldojo.envs import make_env
from rldojo.errors import UserError
from rldojo.evaluate.play import play_rendered
from rldojo.run.spec import Spec
from rldojo.track.video import can_write_mp4, write_video


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def record_episodes(
    spec: Spec, agent: TensorAgent, episodes: int, seed: int, out: Path | None, fps: int = 30
) -> tuple[list[float], Path | None]:
    """Play `episodes` greedy episodes; write frames to `out` (.gif or .mp4) or show a window."""
    to_file = out is not None or not has_display()
    if to_file and out is None:
        raise UserError("no display: give --out FILE.gif (or .mp4) to record the episodes.")
    if out is not None and out.suffix.lower() not in (".gif", ".mp4"):
        raise UserError(f"--out '{out}' must end in .gif or .mp4.")
    if out is not None and out.suffix.lower() == ".mp4" and not can_write_mp4():
        # say so before playing, not after
        raise UserError(
            f"--out '{out}': writing mp4 needs imageio-ffmpeg (pip install 'rldojo[video]'), or use a .gif."
        )
    atari = spec.env.atari_options()
    env = make_env(
        spec.env.id,
        spec.env.kwargs,
        spec.env.max_episode_steps,
        render_mode="rgb_array" if to_file else "human",
        atari=atari.for_eval() if atari else False,
    )
    frames: list[np.ndarray] = []
    returns: list[float] = []
    try:
        for episode in range(episodes):
            episode_frames, total = play_rendered(agent, env, seed + episode)
            if to_file:
                frames += episode_frames
            returns.append(total)
            logger.info("episode {}: return {:.1f}", episode, total)
    finally:
        env.close()
    if to_file:
        write_video(frames, out, fps)
    return returns, out

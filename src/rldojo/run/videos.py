"""`track.video_every`: one greedy evaluation episode filmed every N frames, as CleanRL's capture_video.

Frames come from a single env of the run's id built with `render_mode="rgb_array"` (headless: no
window is opened; MuJoCo needs `MUJOCO_GL=egl` or `osmesa`), played with the evaluation seed and
the evaluation's Atari settings. Videos go to `s<i>/videos/frame_<N>.mp4` (gif without
imageio-ffmpeg); filming counts as evaluation time, not training time.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from loguru import logger

from rldojo.algos.base import TensorAgent
from rldojo.envs import make_env
from rldojo.errors import UserError
from rldojo.evaluate.play import play_rendered
from rldojo.run.spec import Spec
from rldojo.track.video import MAX_VIDEO_FRAMES, video_suffix, write_video


class VideoRecorder:
    """Films evaluation episodes of one session into `session_dir/videos/`."""

    def __init__(self, spec: Spec, session_dir: Path, seed: int) -> None:
        env_spec = spec.env
        atari = env_spec.atari_options()
        try:
            self.env = make_env(
                env_spec.id,
                env_spec.kwargs,
                env_spec.max_episode_steps,
                render_mode="rgb_array",
                atari=atari.for_eval() if atari else False,
            )
        except Exception as exc:  # noqa: BLE001 - any failure to build a rendering env is the same answer
            raise UserError(
                f"track.video_every: {env_spec.id} could not be built with render_mode rgb_array ({exc}); "
                "set track.video_every: 0 for envs that do not render"
            ) from None
        modes = self.env.metadata.get("render_modes", [])
        if "rgb_array" not in modes:
            self.env.close()
            raise UserError(
                f"track.video_every: {env_spec.id} does not render frames (its render modes: "
                f"{', '.join(modes) or 'none'}); set track.video_every: 0"
            )
        self.fps = int(self.env.metadata.get("render_fps") or 30)
        self.dir, self.seed = session_dir / "videos", seed

    def record(self, agent: TensorAgent, frame: int) -> Path:
        frames, total = play_rendered(agent, self.env, self.seed, max_frames=MAX_VIDEO_FRAMES)
        out = write_video(frames, self.dir / f"frame_{frame}{video_suffix()}", self.fps)
        logger.info("video of an evaluation episode at frame {} (return {:.1f}): {}", frame, total, out)
        return out

    def close(self) -> None:
        self.env.close()


def first_video_mark(state: Any, every: int) -> None:
    """Checkpoints from before videos existed have no mark: the next multiple of `every`."""
    if every and math.isinf(state.next_video):
        state.next_video = (state.frame // every + 1) * every


def video_links(session_dir: Path) -> list[tuple[int, Path]]:
    """The videos a session wrote, by frame: (frame, path)."""
    found = []
    for path in (session_dir / "videos").glob("frame_*"):
        try:
            found.append((int(path.stem.removeprefix("frame_")), path))
        except ValueError:
            continue
    return sorted(found)

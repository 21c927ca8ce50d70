"""Videos of episodes: frames -> mp4 (with imageio-ffmpeg, the `video` extra) or gif.

Used by `rldojo enjoy --out` and by `track.video_every`, which records one evaluation episode
into `s<i>/videos/` as training goes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from rldojo.errors import UserError

#: Frames kept per video: a long episode (a whole Atari game) is cut here rather than filling memory.
MAX_VIDEO_FRAMES = 3000
#: Gifs hold every pixel of every frame: frames wider than this are halved (mp4 compresses instead).
GIF_MAX_WIDTH = 320


def can_write_mp4() -> bool:
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def video_suffix() -> str:
    """The format videos are written in here: mp4 when ffmpeg is available, else gif."""
    return ".mp4" if can_write_mp4() else ".gif"


def write_video(frames: list[np.ndarray], out: Path, fps: int) -> Path:
    """Write `frames` (H x W x 3 uint8) to `out` (.gif or .mp4); returns `out`."""
    import imageio.v2 as imageio

    if not frames:
        raise UserError(f"no frames to write to '{out}': the env rendered nothing (render_mode rgb_array?)")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".gif":
        step = 2 if frames[0].shape[1] > GIF_MAX_WIDTH else 1
        imageio.mimsave(out, [frame[::step, ::step] for frame in frames], duration=1000 / fps, loop=0)
        return out
    try:
        # macro_block_size 1: any frame size (CartPole's 600x400 is not a multiple of 16)
        imageio.mimsave(out, frames, fps=fps, macro_block_size=1)
    except (ImportError, ValueError) as exc:
        raise UserError(
            f"writing mp4 needs imageio-ffmpeg (pip install 'rldojo[video]'), or use a .gif: {exc}"
        ) from None
    return out

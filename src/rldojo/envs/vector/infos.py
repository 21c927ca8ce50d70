"""Reading a SAME_STEP step's infos, whatever the `vectorize` mode: the final observations of the
episodes that just ended, and their success."""

from __future__ import annotations

import numpy as np


def final_observations(infos: dict, done: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """The observation each env ended its episode on (rows of `next_obs` where it did not end)."""
    final = np.array(next_obs, copy=True)
    if done.any() and "final_obs" in infos:
        mask = infos.get("_final_obs", done)
        for i in np.flatnonzero(mask):
            final[i] = infos["final_obs"][i]
    return final


_SUCCESS_KEYS = ("is_success", "success", "won")


def episode_success(infos: dict, done: np.ndarray) -> np.ndarray:
    """Per env: 1.0/0.0 success of an episode that just ended, NaN where the env defines none."""
    out = np.full(done.shape, np.nan)
    final_info = infos.get("final_info")
    if not done.any() or not isinstance(final_info, dict):
        return out
    for key in _SUCCESS_KEYS:
        if key in final_info:
            values = np.asarray(final_info[key], dtype=float)
            present = np.asarray(final_info.get("_" + key, np.ones_like(done)), dtype=bool)
            sel = done & present
            out[sel] = values[sel]
            break
    return out

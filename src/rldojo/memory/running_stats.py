"""Running mean and variance over batches (Chan et al.'s parallel update), for normalisation."""

from __future__ import annotations

import numpy as np
import torch


class RunningMeanStd:
    """Mean and variance of everything passed to `update`, per element of `shape`.

    Starts with a tiny pseudo-count (as SB3's VecNormalize), so the first batch sets the statistics."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64)
        batch_mean, batch_var, batch_count = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict:
        # Tensors, so checkpoints keep loading with torch.load(weights_only=True).
        return {
            "mean": torch.from_numpy(np.array(self.mean, dtype=np.float64)),
            "var": torch.from_numpy(np.array(self.var, dtype=np.float64)),
            "count": self.count,
        }

    def load_state_dict(self, state: dict) -> None:
        self.mean = _array(state["mean"])
        self.var = _array(state["var"])
        self.count = float(state["count"])


def _array(value) -> np.ndarray:
    return np.array(value.numpy() if isinstance(value, torch.Tensor) else value, dtype=np.float64)

"""Optimizers and schedules, built from `OptimConfig`, shared by every tensor agent."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from rldojo.config import OptimConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    params = list(params)
    if cfg.name in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        # The fused kernel is several times faster than the per-tensor loop on small CPU nets.
        return cls(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay, fused=True)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def scheduled(start: float, schedule: str, progress: float, end: float = 0.0) -> float:
    """Value of a schedule at `progress` in [0, 1] of the budget (`constant` or `linear` to `end`)."""
    if schedule == "constant":
        return start
    progress = min(max(progress, 0.0), 1.0)
    return start + (end - start) * progress


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr

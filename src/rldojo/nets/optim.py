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


def clip_grad_norm(params: Iterable[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale the gradients so their global L2 norm is at most `max_norm`; returns the norm before.

    The same result as `torch.nn.utils.clip_grad_norm_` with fewer tensor ops and device moves,
    which is most of its cost for the dozen small tensors of a CPU policy (PPO clips every epoch)."""
    return clip_gradients_([p.grad for p in params if p.grad is not None], max_norm)


def clip_gradients_(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale `grads` in place so their global L2 norm is at most `max_norm`; returns the norm before."""
    if not grads:
        return torch.tensor(0.0)
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (norm + 1e-6)).clamp_(max=1.0))
    return norm


def gradient_step(
    optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], loss: torch.Tensor, max_grad_norm: float | None
) -> torch.Tensor | None:
    """`loss.backward()`, clip the global gradient norm to `max_grad_norm` (None: no clipping),
    `optimizer.step()`; returns the norm before clipping (None without clipping).

    The same update, leaner for the many small steps of an on-policy learner: the gradients come
    from `torch.autograd.grad` (no `.grad` buffers to zero and accumulate into), and a fused torch
    Adam/AdamW applies them with its kernel directly, reading and writing the optimizer's own state
    (so checkpoints and other callers of `optimizer.step()` see one state). torch.optim's step
    bookkeeping costs several times its kernel on a CPU policy's dozen small tensors. Any other
    optimizer gets the gradients in `.grad` and its own `step()`."""
    pairs = [p for p in params if p.requires_grad]
    grads = list(torch.autograd.grad(loss, pairs, allow_unused=True))
    used = [i for i, g in enumerate(grads) if g is not None]
    if len(used) < len(pairs):  # a parameter the loss does not reach is skipped, as torch.optim does
        pairs, grads = [pairs[i] for i in used], [grads[i] for i in used]
    norm = None if max_grad_norm is None else clip_gradients_(grads, max_grad_norm)
    kernel = _fused_adam_kernel(optimizer) if grads else None
    if kernel is not None:
        _fused_adam_apply(kernel, optimizer, pairs, grads)
    else:
        for param, grad in zip(pairs, grads):
            param.grad = grad
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return norm


def _fused_adam_kernel(optimizer: torch.optim.Optimizer):
    """torch's fused Adam/AdamW kernel when `optimizer` is a plain fused one (one param group, no
    amsgrad, maximize or differentiable options), else None."""
    defaults = optimizer.defaults
    if (
        type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW)
        or len(optimizer.param_groups) != 1
        or not defaults.get("fused")
        or defaults.get("amsgrad")
        or defaults.get("maximize")
        or defaults.get("differentiable")
        or defaults.get("capturable")
    ):
        return None
    return torch._fused_adamw_ if type(optimizer) is torch.optim.AdamW else torch._fused_adam_


def _fused_adam_apply(
    kernel, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], grads: list[torch.Tensor]
) -> None:
    """What `torch.optim.Adam(fused=True).step()` does on CPU for one group, given the gradients."""
    group = optimizer.param_groups[0]
    exp_avgs, exp_avg_sqs, steps = [], [], []
    for param in params:
        state = optimizer.state[param]
        if not state:  # the state torch.optim.Adam creates for a fused group
            state["step"] = torch.zeros((), dtype=torch.float32, device=param.device)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        exp_avgs.append(state["exp_avg"])
        exp_avg_sqs.append(state["exp_avg_sq"])
        steps.append(state["step"])
    beta1, beta2 = group["betas"]
    torch._foreach_add_(steps, 1)
    kernel(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
        amsgrad=False,
        lr=float(group["lr"]),
        beta1=float(beta1),
        beta2=float(beta2),
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=False,
    )


def scheduled(start: float, schedule: str, progress: float, end: float = 0.0) -> float:
    """Value of a schedule at `progress` in [0, 1] of the budget (`constant` or `linear` to `end`)."""
    if schedule == "constant":
        return start
    progress = min(max(progress, 0.0), 1.0)
    return start + (end - start) * progress


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr

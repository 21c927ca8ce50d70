"""One optimizer path for every agent, tensor or language model.

- `build_optimizer(params, cfg)`: the torch optimizer an `OptimConfig` names.
- `lr_factor(step, total, cfg)`: the learning-rate schedule (warm-up, then constant, linear or cosine
  decay), applied by `set_lr_factor(optimizer, factor)` to the rate each optimizer was built with;
  `load_optimizer_state` restores a checkpoint without losing that base rate.
- One place where gradients are clipped and applied: `gradient_step(optimizer, params, loss, max_grad_norm)`
  from a loss, or `step_accumulated(optimizer, params, max_grad_norm)` after the caller's own
  `backward()` calls (gradients accumulated over micro-batches).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from rldojo.config import OptimConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimizer `cfg` names over `params`, at the peak learning rate `cfg.lr`."""
    params = list(params)
    if cfg.name in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        # The fused kernel is several times faster than the per-tensor loop on small CPU nets (and
        # saves ~10% of a small language model's step); it takes floating CPU or CUDA tensors only.
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
        return cls(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay, fused=fused or None)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


# ---- learning-rate schedule -----------------------------------------------------------------------
def lr_factor(step: int, total: int, cfg: OptimConfig) -> float:
    """Multiplier of the peak learning rate after `step` of `total` (frames for tensor agents,
    optimizer steps for a language-model stage): a linear warm-up over the first `cfg.warmup` share of
    the budget, then `cfg.schedule` over the rest (constant 1, linear to 0, or half a cosine to 0)."""
    warm = int(round(cfg.warmup * total))
    if step < warm:
        return (step + 1) / (warm + 1)
    if cfg.schedule == "constant" or total <= warm:
        return 1.0
    progress = min(max((step - warm) / max(1, total - warm), 0.0), 1.0)
    if cfg.schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr_factor(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set each param group's learning rate to `factor` times its base rate: the rate it was built
    with, remembered as `initial_lr` in the group (where torch's LR schedulers keep it too), so
    optimizers with their own rates (SAC's `alpha_lr`) follow the same schedule."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """`optimizer.load_state_dict(state)`, keeping the base rates `optimizer` was built with: they
    come from the spec, and checkpoints written before schedules kept them have none."""
    base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, base_lr in zip(optimizer.param_groups, base_lrs):
        group["initial_lr"] = base_lr


def scheduled(start: float, schedule: str, progress: float, end: float = 0.0) -> float:
    """Value of a non-lr schedule (epsilon, PER beta, PPO's clip range) at `progress` in [0, 1] of the
    budget: `constant` stays at `start`, `linear` goes from `start` to `end`."""
    if schedule == "constant":
        return start
    progress = min(max(progress, 0.0), 1.0)
    return start + (end - start) * progress


# ---- gradient steps -------------------------------------------------------------------------------
def global_grad_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all of `grads` together (one device; mixed dtypes are promoted)."""
    if not grads:
        return torch.tensor(0.0)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def clip_gradients_(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale `grads` in place so their global L2 norm is at most `max_norm`; returns the norm before.

    The formula of `torch.nn.utils.clip_grad_norm_` (scale by max_norm / (norm + 1e-6), at most 1)
    with fewer tensor ops and device moves, which are most of its cost for the dozen small tensors
    of a CPU policy (PPO clips every minibatch)."""
    norm = global_grad_norm(grads)
    if grads:
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


def step_accumulated(
    optimizer: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter], max_grad_norm: float | None
) -> float:
    """Apply gradients the caller accumulated in `.grad` with its own `backward()` calls (e.g. over
    the micro-batches of one language-model step): clip their global norm to `max_grad_norm` (None:
    no clipping), `optimizer.step()`, and zero them. Returns the norm before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = global_grad_norm(grads) if max_grad_norm is None else clip_gradients_(grads, max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)

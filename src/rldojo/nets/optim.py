"""One optimizer path for every agent, tensor or language model.

- `build_optimizer(params, cfg)`: the torch optimizer an `OptimConfig` names.
- `lr_factor(step, total, cfg)`: the learning-rate schedule (warm-up, then constant, linear or cosine
  decay), applied by `set_lr_factor(optimizer, factor)` to the rate each optimizer was built with;
  `load_optimizer_state` restores a checkpoint without losing that base rate.
- One place where gradients are clipped and applied: `gradient_step(optimizer, params, loss, max_grad_norm)`
  from a loss, or `step_accumulated(optimizer, params, max_grad_norm)` after the caller's own
  `backward()` calls (gradients accumulated over micro-batches).
- Data parallel (several processes started by `accelerate launch`, each with a share of a batch):
  `process_group()` says which process this is; `step_accumulated` sums the accumulated gradients
  over the processes before it clips them, and `all_reduce_sums` / `all_gather_objects` combine
  what each process measured. With one process each is the identity and costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist

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


# ---- data parallel --------------------------------------------------------------------------------
def process_group() -> tuple[int, int]:
    """(rank of this process, number of processes) of a data-parallel run: torch.distributed as
    `accelerate launch` sets it up (`rldojo.run.distributed`); (0, 1) in a run of one process."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sums(values: dict[str, float]) -> dict[str, float]:
    """Each value summed over the processes (the same keys in every process); `values` itself with
    one process."""
    if process_group()[1] == 1:
        return values
    keys = sorted(values)
    packed = torch.tensor([float(values[key]) for key in keys], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(packed)
    return dict(zip(keys, packed.tolist()))


def all_gather_objects(value: Any) -> list[Any]:
    """Every process's `value` (picklable), in rank order; `[value]` with one process."""
    world = process_group()[1]
    if world == 1:
        return [value]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, value)
    return out


def _collective_device() -> torch.device:
    """Where collectives take their tensors: the GPU of this process under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_gradients_(params: list[torch.nn.Parameter]) -> None:
    """Sum `.grad` of `params` over the processes, in place (a parameter without a gradient in one
    process counts as zeros there), in one flat buffer per dtype. Every process's loss is normalised
    by the counts of the whole batch, so the sum is the gradient of the whole batch."""
    device = _collective_device()
    by_dtype: dict[torch.dtype, list[torch.nn.Parameter]] = {}
    for param in params:
        by_dtype.setdefault(param.dtype, []).append(param)
    for group in by_dtype.values():
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in group]
        flat = torch.cat([g.reshape(-1).to(device) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for param in group:
            size = param.numel()
            param.grad = flat[offset : offset + size].view_as(param).to(param.device)
            offset += size


def step_accumulated(
    optimizer: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter], max_grad_norm: float | None
) -> float:
    """Apply gradients the caller accumulated in `.grad` with its own `backward()` calls (e.g. over
    the micro-batches of one language-model step): clip their global norm to `max_grad_norm` (None:
    no clipping), `optimizer.step()`, and zero them. Returns the norm before clipping.

    In a data-parallel run the gradients are first summed over the processes (each process
    normalised its loss by the whole batch's counts), so every process takes the same step."""
    params = list(params)
    if process_group()[1] > 1:
        all_reduce_gradients_([p for p in params if p.requires_grad])
    grads = [p.grad for p in params if p.grad is not None]
    norm = global_grad_norm(grads) if max_grad_norm is None else clip_gradients_(grads, max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)

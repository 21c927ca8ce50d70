"""Config building blocks shared by every layer: the strict base model, nets and optimizers.

Field docstrings are the spec reference (`rldojo specs --fields` prints them), so write them for
users: what the field does, its unit, and when to change it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """A spec section: unknown keys are errors, field docstrings are the reference."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_default=True)


Activation = Literal["tanh", "relu", "elu", "gelu", "silu"]


class NetConfig(StrictModel):
    """The function approximator."""

    type: Literal["mlp"] = "mlp"
    """Network family. `mlp`: fully connected layers on flat observations."""
    hidden: list[int] = Field(default_factory=lambda: [64, 64])
    """Hidden layer widths, input to output, e.g. [64, 64]."""
    activation: Activation = "tanh"
    """Nonlinearity between hidden layers."""
    shared: bool = False
    """Actor and critic share the hidden layers (one trunk, two heads) instead of two networks."""
    log_std_init: float = 0.0
    """Initial log standard deviation of Gaussian policies (continuous actions only)."""


class OptimConfig(StrictModel):
    """The optimizer and its learning-rate schedule."""

    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    """Optimizer (torch.optim). Adam variants use the fused CPU/GPU kernel when torch has one."""
    lr: float = Field(3.0e-4, gt=0)
    """Learning rate at the start of training."""
    schedule: Literal["constant", "linear"] = "constant"
    """`linear` anneals the learning rate to 0 over the frame budget."""
    eps: float = Field(1.0e-5, gt=0)
    """Epsilon of Adam/RMSprop, added to the denominator for numerical stability."""
    weight_decay: float = Field(0.0, ge=0)
    """L2 penalty (decoupled for adamw)."""

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


Activation = Literal["tanh", "relu", "elu", "gelu", "silu", "selu"]


class NetConfig(StrictModel):
    """The function approximator."""

    type: Literal["auto", "mlp", "cnn"] = "auto"
    """Network family. `mlp`: fully connected layers on flat observations (images are flattened and
    scaled to [0, 1]). `cnn`: the Nature CNN (Mnih et al., 2015: 32 8x8/4, 64 4x4/2, 64 3x3/1 convolutions
    and a `cnn_features`-unit layer) on uint8 images, scaled by 1/255. `auto`: cnn for image
    observations (uint8 Boxes of 2 or 3 dimensions), mlp otherwise."""
    hidden: list[int] = Field(default_factory=lambda: [64, 64])
    """Hidden layer widths, input to output, e.g. [64, 64]. With a CNN or a recurrent core they come after
    it (the RL Zoo's Atari nets use [])."""
    activation: Activation = "tanh"
    """Nonlinearity between hidden layers (the CNN's own layers use ReLU)."""
    shared: bool = False
    """Actor and critic share the hidden layers (one trunk, two heads) instead of two networks. The
    encoder (CNN) and the recurrent core are always shared."""
    log_std_init: float = 0.0
    """Initial log standard deviation of Gaussian policies (continuous actions only)."""
    cnn_features: int = Field(512, ge=1)
    """Width of the CNN's fully connected feature layer (512 in the Nature DQN)."""
    recurrent: Literal["gru"] | None = None
    """A2C and PPO only: a recurrent core between the encoder and the hidden layers. `gru` carries a hidden
    state per env through the rollout (reset at episode starts), and PPO trains on whole env sequences
    (backpropagation through the rollout from the stored initial states). None: feed-forward."""
    recurrent_size: int = Field(64, ge=1)
    """Hidden-state width of the recurrent core."""


def feedforward_only(net: NetConfig, algo: str) -> NetConfig:
    """For agents whose update samples single transitions: refuse a recurrent net (a pydantic validator
    helper, so the spec error names the field)."""
    if net.recurrent is not None:
        raise ValueError(
            f"net.recurrent '{net.recurrent}' needs whole env sequences, which {algo} does not train "
            "on; recurrent nets are for a2c and ppo. Remove net.recurrent"
        )
    return net


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

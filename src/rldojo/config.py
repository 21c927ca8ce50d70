"""Config building blocks shared by every layer: the strict base model, nets and optimizers, and the
field groups and checks the algorithm configs share.

Field docstrings are the spec reference (`rldojo specs --fields` prints them), so write them for
users: what the field does, its unit, and when to change it.

Two rules hold for every algorithm's `agent:` section:
- A nested section keeps the algorithm's defaults for the keys a spec leaves out (`section_field`):
  `optim: {schedule: linear}` on DQN keeps DQN's learning rate.
- A key the algorithm would ignore is refused when the spec sets it (`refuse_set_keys`), with the
  reason and the fix; keys left at their defaults never are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo


class StrictModel(BaseModel):
    """A spec section: unknown keys are errors, field docstrings are the reference. Every float must
    be finite: NaN or inf in a rate, a coefficient or a return target is a typo, never a setting."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_default=True, allow_inf_nan=False)


def section_field(model: type[StrictModel], **defaults: Any) -> Any:
    """A nested section whose defaults are the algorithm's own, e.g.
    `optim: OptimConfig = section_field(OptimConfig, lr=1e-3)`.

    The keys a spec writes override these defaults one by one, and the rest keep them: a plain
    `Field(default_factory=lambda: OptimConfig(lr=1e-3))` would drop lr back to the class default
    as soon as the spec writes any key of the section."""

    def under_defaults(value: Any) -> Any:
        if isinstance(value, BaseModel):  # a section built in Python: the keys it set count as written
            value = value.model_dump(include=value.model_fields_set)
        return {**defaults, **value} if isinstance(value, dict) else value

    return FieldInfo.from_annotation(
        Annotated[model, BeforeValidator(under_defaults), Field(default_factory=lambda: model(**defaults))]
    )


def refuse_set_keys(section: BaseModel, path: str, reasons: Mapping[str, str]) -> None:
    """Raise a ValueError (a spec error) for the first key of `reasons` that the spec set in `section`
    to something other than its default, saying why it has no effect (`reasons[key]`) and to remove
    it. `path` is the section's place in the spec (`net`, `optim`, `agent`).

    A key at its default value passes even when written: a run's resolved spec.yaml (read again on
    resume and by the session workers) writes every key."""
    fields = type(section).model_fields
    for key, why in reasons.items():
        value = getattr(section, key)
        if key in section.model_fields_set and value != fields[key].get_default(call_default_factory=True):
            raise ValueError(f"{path}.{key} ({value!r}) has no effect here: {why}. Remove {path}.{key}")


# ---- nets ---------------------------------------------------------------------------------------
Activation = Literal["tanh", "relu", "elu", "gelu", "silu", "selu"]


class NetConfig(StrictModel):
    """The function approximator."""

    type: Literal["auto", "mlp", "cnn"] = "auto"
    """Network family. `mlp`: fully connected layers on flat observations (images are flattened and
    scaled to [0, 1]). `cnn`: the Nature CNN (Mnih et al., 2015: 32 8x8/4, 64 4x4/2, 64 3x3/1 convolutions
    and a `cnn_features`-unit layer) on uint8 images, scaled by 1/255. `auto`: cnn for image
    observations (uint8 Boxes of 2 or 3 dimensions), mlp otherwise."""
    hidden: list[int] = Field(default_factory=lambda: [64, 64])
    """Hidden layer widths, input to output, e.g. [64, 64], each at least 1. With a CNN or a recurrent
    core they come after it (the RL Zoo's Atari nets use [])."""
    activation: Activation = "tanh"
    """Nonlinearity between hidden layers (the CNN's own layers use ReLU)."""
    shared: bool = False
    """Actor-critic agents (ppo, a2c, reinforce): actor and critic share the hidden layers (one trunk,
    two heads) instead of two networks. The encoder (CNN) and the recurrent core are always shared."""
    log_std_init: float = 0.0
    """Actor-critic agents (ppo, a2c, reinforce): initial log standard deviation of the Gaussian policy
    (continuous actions only)."""
    cnn_features: int = Field(512, ge=1)
    """Width of the CNN's fully connected feature layer (512 in the Nature DQN)."""
    recurrent: Literal["gru"] | None = None
    """A2C and PPO only: a recurrent core between the encoder and the hidden layers. `gru` carries a hidden
    state per env through the rollout (reset at episode starts), and PPO trains on whole env sequences
    (backpropagation through the rollout from the stored initial states). None: feed-forward."""
    recurrent_size: int = Field(64, ge=1)
    """Hidden-state width of the recurrent core (with `recurrent` only)."""

    # A validator rather than list[PositiveInt]: the spec reference shows the type as plain list[int].
    @field_validator("hidden")
    @classmethod
    def _widths_at_least_one(cls, widths: list[int]) -> list[int]:
        for index, width in enumerate(widths):
            if width < 1:
                raise ValueError(f"hidden layer {index} has width {width}; every width must be at least 1")
        return widths

    @model_validator(mode="after")
    def _keys_in_use(self) -> NetConfig:
        if self.recurrent is None:
            refuse_set_keys(
                self, "net", {"recurrent_size": "it sizes the recurrent core, and net.recurrent is not set"}
            )
        if self.type == "mlp":
            refuse_set_keys(self, "net", {"cnn_features": "it sizes the CNN, and net.type is mlp"})
        return self


#: Keys of `net` that a Q-network (dqn, sarsa) ignores, with the reason.
Q_NETWORK_UNUSED = {
    "shared": "a Q-network is one network, with no actor and critic to share layers",
    "log_std_init": "Q-learning has no Gaussian policy (its actions are discrete)",
}


def net_checks(*fields: str, recurrent: bool = False, cnn: bool = True, unused: Mapping[str, str] | None = None) -> Any:
    """The validator of an algorithm's net section(s) `fields`: refuses a recurrent core (unless
    `recurrent`), a CNN (unless `cnn`), and each key of `unused` (key -> why the algorithm ignores it)
    that the spec set (`refuse_set_keys`). In a config class:
    `_net_checks = net_checks("net", unused=Q_NETWORK_UNUSED)`."""

    def check(net: NetConfig, info: ValidationInfo) -> NetConfig:
        path, algo = info.field_name, info.data.get("algo", "this algorithm")
        if not recurrent and net.recurrent is not None:
            raise ValueError(
                f"{path}.recurrent '{net.recurrent}' needs whole env sequences, which {algo} does not train "
                f"on; recurrent nets are for a2c and ppo. Remove {path}.recurrent"
            )
        if not cnn:
            if net.type == "cnn":
                raise ValueError(
                    f"{path}.type 'cnn': {algo}'s nets are MLPs on flat observations; for images use ppo, "
                    f"a2c or dqn, which have the Nature CNN. Use {path}.type: mlp (or auto)"
                )
            refuse_set_keys(net, path, {"cnn_features": f"{algo}'s nets are MLPs, with no CNN"})
        refuse_set_keys(net, path, unused or {})
        return net

    return field_validator(*fields)(check)


# ---- optimizers ---------------------------------------------------------------------------------
class OptimConfig(StrictModel):
    """The optimizer and its learning-rate schedule (tensor agents and language-model stages alike).
    Every optimizer of the agent follows the schedule, e.g. SAC's actor, critics and temperature."""

    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    """Optimizer (torch.optim). Adam variants use the fused CPU/GPU kernel."""
    lr: float = Field(3.0e-4, gt=0)
    """Peak learning rate: the rate after warm-up, before any decay."""
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    """How the learning rate decays after warm-up, over the rest of the budget (frames for tensor
    agents, optimizer steps for a language-model stage): `constant` keeps `lr`; `linear` anneals it
    to 0 at the end; `cosine` follows half a cosine from `lr` to 0."""
    warmup: float = Field(0.0, ge=0, lt=1)
    """Share of the budget over which the learning rate first rises linearly from near 0 to `lr`
    (0: no warm-up). Helps large models and large learning rates start stably."""
    eps: float = Field(1.0e-5, gt=0)
    """Epsilon of Adam, AdamW and RMSprop, added to the denominator for numerical stability (SGD has
    none and ignores it). Language-model stages default to 1e-8, torch's and TRL's value."""
    weight_decay: float = Field(0.0, ge=0)
    """L2 penalty on the weights; decoupled from the gradient for adamw."""


# ---- field groups of the algorithm configs --------------------------------------------------------
class AgentConfig(StrictModel):
    """What every tensor agent's `agent:` section has: the algorithm's name and the discount."""

    algo: str
    """Algorithm name."""
    gamma: float = Field(0.99, gt=0, le=1)
    """Discount factor."""


class QLearningConfig(AgentConfig):
    """The fields Q-learning agents (dqn, sarsa) share: epsilon-greedy exploration, gradient clipping,
    the Q-network and its optimizer."""

    epsilon_start: float = Field(1.0, ge=0, le=1)
    """Epsilon-greedy exploration: the rate of uniformly random actions at the start."""
    epsilon_end: float = Field(0.05, ge=0, le=1)
    """Epsilon-greedy exploration: the rate after the decay."""
    max_grad_norm: float | None = Field(10.0, gt=0)
    """Clip the global gradient norm to this (None: no clipping)."""
    net: NetConfig = section_field(NetConfig, hidden=[64, 64], activation="relu")
    """Q-network."""
    optim: OptimConfig = section_field(OptimConfig, lr=1e-3)
    """Optimizer."""

    _net_checks = net_checks("net", unused=Q_NETWORK_UNUSED)

"""MLPs with orthogonal init, and observation encoding for flat gymnasium spaces."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "selu": nn.SELU,
}


def orthogonal_init(layer: nn.Linear, gain: float) -> nn.Linear:
    """Orthogonal weights, zero bias: the init PPO's implementation details call for."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def mlp(
    in_dim: int,
    hidden: list[int],
    activation: str,
    out_dim: int | None = None,
    out_gain: float = 1.0,
) -> nn.Sequential:
    """`in_dim -> hidden... [-> out_dim]`; hidden layers get gain sqrt(2), the output `out_gain`."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers += [orthogonal_init(nn.Linear(width, size), math.sqrt(2)), ACTIVATIONS[activation]()]
        width = size
    if out_dim is not None:
        layers.append(orthogonal_init(nn.Linear(width, out_dim), out_gain))
    return nn.Sequential(*layers)


class TwinMLP(nn.Module):
    """Two MLPs of the same shape (e.g. actor and critic trunks) evaluated together.

    Each layer's weights are stacked as [2, in, out] and applied with one batched matmul
    (`torch.baddbmm`), so the math is exactly that of two separate MLPs with half the kernel
    launches and autograd nodes, which is what small networks on a CPU are bound by.
    `forward(x) -> (features_a, features_b)`.
    """

    def __init__(self, in_dim: int, hidden: list[int], activation: str) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("TwinMLP needs at least one hidden layer")
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        width = in_dim
        for size in hidden:
            weight = torch.empty(2, width, size)
            for copy in weight:  # each copy initialised as its own orthogonal layer
                nn.init.orthogonal_(copy.T, math.sqrt(2))
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(torch.zeros(2, 1, size)))
            width = size
        self.activation = ACTIVATIONS[activation]()
        self.activation_name = activation

    def _layers(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        # The lists' own dicts: iterating a ParameterList goes through string indexing per item,
        # which costs as much as a layer's matmul on the few rows of an acting step.
        return list(self.weights._parameters.values()), list(self.biases._parameters.values())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights, biases = self._layers()
        if self.activation_name in _TwinTrunk.activations:
            if torch.is_grad_enabled():
                h = _TwinTrunk.apply(self.activation_name, False, x, *weights, *biases)
            else:  # acting: the same numbers without the autograd node
                h = _twin_layers(self.activation_name, x, weights, biases)[0]
        else:
            h = x.unsqueeze(0).expand(2, -1, -1)
            for weight, bias in zip(weights, biases):
                h = self.activation(torch.baddbmm(bias, h, weight))
        features_a, features_b = h.unbind(0)  # one backward node; indexing twice allocates two zero grads
        return features_a, features_b

    def forward_heads(self, x: torch.Tensor, head_a: nn.Linear, head_b: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        """`(head_a(features_a), head_b(features_b))`; when training with tanh or relu, the layers
        and both heads run as one autograd node."""
        if self.activation_name in _TwinTrunk.activations and torch.is_grad_enabled():
            weights, biases = self._layers()
            return _TwinTrunk.apply(
                self.activation_name, True, x, *weights, *biases, head_a.weight, head_a.bias, head_b.weight, head_b.bias
            )
        features_a, features_b = self(x)
        return head_a(features_a), head_b(features_b)


def _twin_layers(activation: str, x: torch.Tensor, weights, biases) -> tuple[torch.Tensor, list, list]:
    """TwinMLP's forward for tanh or relu -> (output [2, B, H], each layer's input, each layer's output)."""
    h = x.unsqueeze(0).expand(2, -1, -1)
    inputs, outputs = [], []
    for weight, bias in zip(weights, biases):
        inputs.append(h)
        h = torch.baddbmm(bias, h, weight)
        if activation == "tanh" and h.numel() >= 4096:  # tanh(z) = 2 sigmoid(2z) - 1, in place
            h.mul_(2).sigmoid_().mul_(2).sub_(1)
        elif activation == "tanh":  # on a few rows four kernel calls cost more than the slow one
            h.tanh_()
        else:
            h.relu_()
        outputs.append(h)
    return h, inputs, outputs


class _TwinTrunk(torch.autograd.Function):
    """TwinMLP's layers (and optionally one linear head on each twin) as one autograd node, with the
    backward written out: per layer a batched matmul for the weight gradient, one for the input
    gradient, a sum for the bias. Autograd's generic graph of the same layers costs several times
    more than the math on small CPU batches (PPO runs 20 gradient steps per 256 frames). tanh is
    computed as 2 sigmoid(2x) - 1 on large batches (within 1e-6 of torch.tanh): torch's CPU tanh
    kernel is about 3x slower than its sigmoid.

    apply(activation, heads, x, *weights, *biases[, weight_a, bias_a, weight_b, bias_b])
    -> the stacked features [2, B, H], or with heads (out_a [B, A], out_b [B, C])."""

    activations = ("tanh", "relu")

    @staticmethod
    def forward(ctx, activation: str, heads: bool, x: torch.Tensor, *params: torch.Tensor):
        layers = (len(params) - (4 if heads else 0)) // 2
        weights = params[:layers]
        h, inputs, outputs = _twin_layers(activation, x, weights, params[layers : 2 * layers])
        ctx.activation, ctx.heads, ctx.layers = activation, heads, layers
        if not heads:
            ctx.save_for_backward(*inputs, *outputs, *weights)
            return h
        weight_a, bias_a, weight_b, bias_b = params[2 * layers :]
        ctx.save_for_backward(*inputs, *outputs, *weights, weight_a, weight_b)
        return torch.addmm(bias_a, h[0], weight_a.t()), torch.addmm(bias_b, h[1], weight_b.t())

    @staticmethod
    def backward(ctx, *output_grads: torch.Tensor):
        saved, layers = ctx.saved_tensors, ctx.layers
        inputs, outputs, weights = saved[:layers], saved[layers : 2 * layers], saved[2 * layers : 3 * layers]
        needs = ctx.needs_input_grad[3:]  # weights..., biases..., [head params]
        head_grads: list[torch.Tensor | None] = []
        if ctx.heads:
            (grad_a, grad_b), (weight_a, weight_b) = output_grads, saved[3 * layers :]
            features = outputs[-1]
            head_grads = [
                grad_a.t() @ features[0] if needs[2 * layers] else None,
                grad_a.sum(0) if needs[2 * layers + 1] else None,
                grad_b.t() @ features[1] if needs[2 * layers + 2] else None,
                grad_b.sum(0) if needs[2 * layers + 3] else None,
            ]
            grad = torch.stack((grad_a @ weight_a, grad_b @ weight_b))
        else:
            grad = output_grads[0]
        weight_grads: list[torch.Tensor | None] = [None] * layers
        bias_grads: list[torch.Tensor | None] = [None] * layers
        input_grad = None
        for layer in reversed(range(layers)):
            y = outputs[layer]
            if ctx.activation == "tanh":
                grad = torch.ops.aten.tanh_backward(grad, y)  # grad * (1 - y^2), one kernel
            else:
                grad = torch.ops.aten.threshold_backward(grad, y, 0.0)
            if needs[layer]:
                weight_grads[layer] = torch.bmm(inputs[layer].transpose(1, 2), grad)
            if needs[layers + layer]:
                bias_grads[layer] = grad.sum(1, keepdim=True)
            if layer > 0:
                grad = torch.bmm(grad, weights[layer].transpose(1, 2))
            elif ctx.needs_input_grad[2]:  # both copies read the same x
                input_grad = torch.bmm(grad, weights[0].transpose(1, 2)).sum(0)
        return (None, None, input_grad, *weight_grads, *bias_grads, *head_grads)


def flat_obs_dim(space: gym.Space) -> int:
    """Size of the flat vector an observation becomes (Box flattened, Discrete one-hot)."""
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    raise TypeError(
        f"MLP nets take Box or Discrete observations, got {space}; "
        "use another net type for images, text or dict observations."
    )


def is_image_space(space: gym.Space) -> bool:
    """A uint8 Box of 2 or 3 dimensions: pixels (kept as uint8 until the net scales them)."""
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)


def encode_obs(obs: np.ndarray, space: gym.Space) -> torch.Tensor:
    """Batch of raw observations -> float32 tensor [batch, flat_obs_dim], or for images the uint8
    tensor [batch, *shape] (the net's encoder scales it).

    Always a copy: vector engines may hand out views of buffers that the next step overwrites,
    and agents keep these tensors past that step.
    """
    if is_image_space(space):
        return torch.from_numpy(np.array(obs, dtype=np.uint8, copy=True))
    if isinstance(space, gym.spaces.Discrete):
        idx = torch.as_tensor(np.asarray(obs, dtype=np.int64) - int(space.start))
        return torch.nn.functional.one_hot(idx, int(space.n)).float()
    array = np.array(obs, dtype=np.float32, copy=True)
    return torch.from_numpy(array.reshape(array.shape[0], -1))

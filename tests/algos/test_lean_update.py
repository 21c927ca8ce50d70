"""The lean pieces of the on-policy update compute what the plain torch code computes:
TwinMLP's hand-written backward, `gradient_step` (autograd.grad + clipping + the fused Adam kernel
on torch.optim's own state) and the inverse-CDF categorical sampler."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from rldojo.config import OptimConfig
from rldojo.nets import mlp as mlp_module
from rldojo.nets.mlp import TwinMLP
from rldojo.nets.optim import build_optimizer, gradient_step
from rldojo.nets.policy import CategoricalHead


def reference_twin(net: TwinMLP, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TwinMLP's math through plain autograd ops and torch's own activations."""
    act = {"tanh": torch.tanh, "relu": torch.relu}[net.activation_name]
    h = x.unsqueeze(0).expand(2, -1, -1)
    for weight, bias in zip(net.weights, net.biases):
        h = act(torch.baddbmm(bias, h, weight))
    return h[0], h[1]


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("rows", [8, 300])  # few rows take torch.tanh, many the sigmoid form
def test_twin_mlp_forward_and_gradients_match_autograd(activation, rows):
    torch.manual_seed(0)
    net = TwinMLP(5, [16, 12], activation)
    x = torch.randn(rows, 5, requires_grad=True)
    upstream_a, upstream_b = torch.randn(rows, 12), torch.randn(rows, 12)

    fast_a, fast_b = net(x)
    params = [x, *net.parameters()]
    fast_grads = torch.autograd.grad((fast_a * upstream_a).sum() + (fast_b * upstream_b).sum(), params)
    ref_a, ref_b = reference_twin(net, x)
    ref_grads = torch.autograd.grad((ref_a * upstream_a).sum() + (ref_b * upstream_b).sum(), params)

    torch.testing.assert_close(fast_a, ref_a, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(fast_b, ref_b, atol=2e-6, rtol=1e-5)
    for fast, ref in zip(fast_grads, ref_grads):
        torch.testing.assert_close(fast, ref, atol=2e-5, rtol=1e-4)
    with torch.no_grad():  # acting takes the path without an autograd node: the same numbers
        torch.testing.assert_close(net(x)[0], fast_a.detach())


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_twin_mlp_with_heads_matches_autograd(activation):
    torch.manual_seed(4)
    net, head_a, head_b = TwinMLP(5, [16, 12], activation), nn.Linear(12, 3), nn.Linear(12, 1)
    x = torch.randn(300, 5, requires_grad=True)
    upstream_a, upstream_b = torch.randn(300, 3), torch.randn(300, 1)
    params = [x, *net.parameters(), *head_a.parameters(), *head_b.parameters()]

    out_a, out_b = net.forward_heads(x, head_a, head_b)
    fast = torch.autograd.grad((out_a * upstream_a).sum() + (out_b * upstream_b).sum(), params)
    ref_a, ref_b = reference_twin(net, x)
    ref_out_a, ref_out_b = head_a(ref_a), head_b(ref_b)
    ref = torch.autograd.grad((ref_out_a * upstream_a).sum() + (ref_out_b * upstream_b).sum(), params)

    torch.testing.assert_close(out_a, ref_out_a, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(out_b, ref_out_b, atol=2e-6, rtol=1e-5)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, atol=5e-5, rtol=1e-4)
    # Only one head in the loss (a value-only update): the other head's parameters get zero gradient.
    value_only = torch.autograd.grad(net.forward_heads(x, head_a, head_b)[1].sum(), [head_a.weight, head_b.bias])
    assert value_only[0].abs().sum() == 0 and value_only[1].item() == 300


def test_twin_mlp_gradients_when_only_one_twin_is_used_and_input_needs_none():
    torch.manual_seed(1)
    net = TwinMLP(3, [8], "tanh")
    x = torch.randn(64, 3)
    fast = torch.autograd.grad(net(x)[1].pow(2).sum(), list(net.parameters()))
    ref = torch.autograd.grad(reference_twin(net, x)[1].pow(2).sum(), list(net.parameters()))
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert fast[0][0].abs().sum() == 0  # the unused twin gets zero gradient


def test_other_activations_keep_the_generic_path():
    net = TwinMLP(3, [8], "elu")
    assert net.activation_name not in mlp_module._TwinTrunk.activations
    x = torch.randn(4, 3)
    torch.testing.assert_close(net(x)[0], torch.nn.functional.elu(x @ net.weights[0][0] + net.biases[0][0]))


def small_net() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))


def plain_step(net, optimizer, x, target, max_grad_norm):
    loss = (net(x) - target).pow(2).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = None
    if max_grad_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
    optimizer.step()
    return norm


@pytest.mark.parametrize("name,max_grad_norm", [("adam", 0.5), ("adam", None), ("adamw", 0.1), ("rmsprop", 0.5)])
def test_gradient_step_equals_backward_clip_and_step(name, max_grad_norm):
    cfg = OptimConfig(name=name, lr=3e-3, weight_decay=0.01 if name == "adamw" else 0.0)
    lean_net, plain_net = small_net(), small_net()
    lean_opt = build_optimizer(lean_net.parameters(), cfg)
    plain_opt = build_optimizer(plain_net.parameters(), cfg)
    params = list(lean_net.parameters())
    generator = torch.Generator().manual_seed(3)
    for _step in range(5):
        x, target = torch.randn(32, 4, generator=generator), torch.randn(32, 2, generator=generator)
        lean_norm = gradient_step(lean_opt, params, (lean_net(x) - target).pow(2).mean(), max_grad_norm)
        plain_norm = plain_step(plain_net, plain_opt, x, target, max_grad_norm)
        if max_grad_norm is None:
            assert lean_norm is None
        else:
            assert math.isclose(float(lean_norm), float(plain_norm), rel_tol=1e-5)
    for a, b in zip(lean_net.parameters(), plain_net.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    # One optimizer state: a checkpoint of the lean optimizer loads into a plain one and carries on alike.
    lean_state, plain_state = lean_opt.state_dict()["state"], plain_opt.state_dict()["state"]
    assert lean_state.keys() == plain_state.keys()
    for key in lean_state:
        for field, value in plain_state[key].items():
            torch.testing.assert_close(lean_state[key][field], value, atol=1e-7, rtol=1e-5)
    resumed = build_optimizer(lean_net.parameters(), cfg)
    resumed.load_state_dict(copy.deepcopy(lean_opt.state_dict()))
    x, target = torch.randn(32, 4, generator=generator), torch.randn(32, 2, generator=generator)
    gradient_step(resumed, params, (lean_net(x) - target).pow(2).mean(), max_grad_norm)
    plain_step(plain_net, plain_opt, x, target, max_grad_norm)
    for a, b in zip(lean_net.parameters(), plain_net.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_gradient_step_skips_parameters_the_loss_does_not_reach():
    used, unused = nn.Linear(3, 1), nn.Linear(3, 1)
    params = list(used.parameters()) + list(unused.parameters())
    before = [p.detach().clone() for p in unused.parameters()]
    optimizer = build_optimizer(params, OptimConfig(name="adam", lr=1e-2))
    gradient_step(optimizer, params, used(torch.randn(5, 3)).sum(), 1.0)
    assert all(torch.equal(p, b) for p, b in zip(unused.parameters(), before))
    assert all(p not in optimizer.state for p in unused.parameters())  # as torch.optim leaves them


def test_categorical_sampler_draws_each_action_with_its_probability():
    head = CategoricalHead(4)
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    logits = probs.log().expand(200_000, 4)
    actions, log_probs = head.sample(logits, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(actions, minlength=4).double() / actions.numel()
    # 4 standard errors of a binomial proportion at n = 200k is under 0.005.
    torch.testing.assert_close(frequencies, probs.double(), atol=0.005, rtol=0)
    torch.testing.assert_close(log_probs, probs.log()[actions])
    # A row whose probability sits all on the last action never draws past it.
    certain = torch.tensor([[-1e9, -1e9, 0.0]]).expand(1000, 3)
    assert (CategoricalHead(3).sample(certain, torch.Generator().manual_seed(1))[0] == 2).all()

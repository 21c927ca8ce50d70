"""One optimizer path: the learning-rate schedule (`lr_factor`), applied by the agent base to every
optimizer an agent has, the optimizer builder, the accumulated-gradient step, and the algorithm
defaults a partial `optim:` or `net:` section keeps."""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rldojo.algos.dqn import DQNConfig
from rldojo.algos.normalized import NormalizedAgent
from rldojo.algos.ppo import PPO, PPOConfig
from rldojo.algos.sac import SAC, SACConfig
from rldojo.config import OptimConfig
from rldojo.nets.optim import build_optimizer, gradient_step, lr_factor, set_lr_factor, step_accumulated

BOX_OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


# ---- lr_factor ------------------------------------------------------------------------------------
@pytest.mark.parametrize("frame", [0, 1, 250, 999, 1000, 1500])
def test_linear_without_warmup_is_the_tensor_agents_schedule(frame):
    # lr * (1 - frame / max_frames), clipped at 0: what shipped specs with `schedule: linear` always had.
    assert lr_factor(frame, 1000, OptimConfig(schedule="linear")) == pytest.approx(max(0.0, 1 - frame / 1000))


def test_warmup_then_cosine_and_constant():
    cosine = OptimConfig(schedule="cosine", warmup=0.2)  # 20 of 100 steps warm up
    assert lr_factor(0, 100, cosine) == pytest.approx(1 / 21)
    assert lr_factor(19, 100, cosine) == pytest.approx(20 / 21)
    assert lr_factor(20, 100, cosine) == pytest.approx(1.0)
    assert lr_factor(60, 100, cosine) == pytest.approx(0.5)  # halfway through the decay
    assert lr_factor(100, 100, cosine) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(150, 100, cosine) == pytest.approx(0.0, abs=1e-12)  # past the budget: stays at 0
    constant = OptimConfig(warmup=0.1)
    assert lr_factor(4, 100, constant) == pytest.approx(5 / 11) and lr_factor(50, 100, constant) == 1.0
    assert lr_factor(7, 100, OptimConfig()) == 1.0


def test_set_lr_factor_scales_each_group_from_its_own_base_rate():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.02}])
    set_lr_factor(optimizer, 0.5)
    set_lr_factor(optimizer, 0.25)  # from the base rate, not compounded
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.025, 0.005])
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.1, 0.02]


# ---- the agent base schedules every optimizer -------------------------------------------------------
def fill_replay(agent, steps: int, rng: np.random.Generator) -> None:
    for _ in range(steps):
        obs = rng.uniform(-1, 1, (agent.num_envs, 3)).astype(np.float32)
        agent.act(obs)
        done = np.zeros(agent.num_envs, bool)
        agent.observe(np.ones(agent.num_envs, np.float32), done, done, obs, obs)


def lrs(agent) -> dict[str, float]:
    return {name: optim.param_groups[0]["lr"] for name, optim in agent.optimizers().items()}


def make_sac(**overrides) -> SAC:
    cfg = SACConfig(
        learning_starts=8,
        batch_size=8,
        actor_net={"hidden": [8]},
        critic_net={"hidden": [8]},
        **{"optim": {"lr": 1e-3, "schedule": "linear"}, "alpha_lr": 2e-3, **overrides},
    )
    return SAC(cfg, BOX_OBS, gym.spaces.Box(-1.0, 1.0, (1,), np.float32), num_envs=2, total_frames=1_000, seed=0)


def test_sac_schedules_actor_critic_and_alpha_learning_rates():
    agent, rng = make_sac(), np.random.default_rng(0)
    fill_replay(agent, 10, rng)
    agent.frames = 400
    agent.update(0.4)
    assert lrs(agent) == pytest.approx({"actor_optim": 6e-4, "critic_optim": 6e-4, "alpha_optim": 1.2e-3})
    agent.frames = 900
    agent.update(0.9)
    assert lrs(agent) == pytest.approx({"actor_optim": 1e-4, "critic_optim": 1e-4, "alpha_optim": 2e-4})
    assert agent.current_lr() == pytest.approx(1e-4)


def test_ppo_warmup_and_cosine():
    cfg = PPOConfig(
        rollout_steps=4, minibatch_size=8, epochs=1, optim={"lr": 1e-3, "schedule": "cosine", "warmup": 0.25}
    )
    agent = PPO(cfg, BOX_OBS, gym.spaces.Discrete(2), num_envs=2, total_frames=800, seed=0)
    rng = np.random.default_rng(0)
    expected = {8: 1e-3 * 9 / 201, 200: 1e-3, 500: 1e-3 * 0.5 * (1 + math.cos(math.pi * 0.5))}
    for frames, lr in expected.items():
        for _ in range(4):
            obs = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
            agent.act(obs)
            done = np.zeros(2, bool)
            ready = agent.observe(np.ones(2, np.float32), done, done, obs, obs)
        assert ready
        agent.frames = frames
        agent.update(frames / 800)
        assert agent.current_lr() == pytest.approx(lr)


def test_normalized_agent_schedules_the_wrapped_agents_optimizers():
    inner = make_sac()
    agent = NormalizedAgent(inner, normalize_obs=True)
    fill_replay(agent, 10, np.random.default_rng(0))
    inner.frames = 500
    agent.update(0.5)
    assert lrs(inner) == pytest.approx({"actor_optim": 5e-4, "critic_optim": 5e-4, "alpha_optim": 1e-3})
    assert agent.current_lr() == pytest.approx(5e-4)


def test_checkpoints_keep_the_base_rates_with_or_without_them():
    agent, rng = make_sac(), np.random.default_rng(0)
    fill_replay(agent, 10, rng)
    agent.frames = 500
    agent.update(0.5)
    state = agent.state_dict()
    old = copy.deepcopy(state)  # a checkpoint from before the schedules: no initial_lr in its groups
    for optim_state in old["optimizers"].values():
        for group in optim_state["param_groups"]:
            del group["initial_lr"]
    for saved in (state, old):
        resumed = make_sac()
        resumed.load_state_dict(saved)
        assert lrs(resumed)["alpha_optim"] == pytest.approx(1e-3)  # the checkpoint's scheduled rate
        resumed.frames = 750
        resumed.update(0.75)
        assert lrs(resumed) == pytest.approx({"actor_optim": 2.5e-4, "critic_optim": 2.5e-4, "alpha_optim": 5e-4})


# ---- partial sections keep the algorithm's defaults ---------------------------------------------------
def test_partial_optim_and_net_sections_keep_the_algorithms_defaults():
    cfg = DQNConfig(optim={"schedule": "linear"}, net={"hidden": [32]})
    assert (cfg.optim.lr, cfg.optim.schedule) == (1e-3, "linear")  # DQN's lr, not OptimConfig's 3e-4
    assert (cfg.net.hidden, cfg.net.activation) == ([32], "relu")  # DQN's activation, not tanh
    assert DQNConfig(optim=OptimConfig(name="rmsprop")).optim.lr == 1e-3  # a section built in Python too
    sac = SACConfig(actor_net={"hidden": [16]})
    assert (sac.actor_net.activation, sac.critic_net.hidden) == ("relu", [256, 256])


# ---- build_optimizer and the gradient steps -------------------------------------------------------------
@pytest.mark.parametrize(
    "name, cls",
    [
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("sgd", torch.optim.SGD),
        ("rmsprop", torch.optim.RMSprop),
    ],
)
def test_build_optimizer_names(name, cls):
    optimizer = build_optimizer(nn.Linear(2, 2).parameters(), OptimConfig(name=name, lr=0.01))
    assert type(optimizer) is cls and optimizer.param_groups[0]["lr"] == 0.01
    if name in ("adam", "adamw"):
        assert optimizer.defaults["fused"] is True  # floating CPU parameters take the fused kernel
        meta = build_optimizer([nn.Parameter(torch.empty(2, device="meta"))], OptimConfig(name=name))
        assert meta.defaults["fused"] is None  # no fused kernel off CPU and CUDA


@pytest.mark.parametrize("max_grad_norm", [0.05, None])
def test_step_accumulated_equals_backward_clip_and_step(max_grad_norm):
    torch.manual_seed(0)
    accumulated = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    plain = copy.deepcopy(accumulated)
    cfg = OptimConfig(name="adamw", lr=1e-2, weight_decay=0.01)
    accumulated_opt, plain_opt = (
        build_optimizer(accumulated.parameters(), cfg),
        build_optimizer(plain.parameters(), cfg),
    )
    generator = torch.Generator().manual_seed(1)
    for _step in range(3):
        micro_batches = [torch.randn(16, 4, generator=generator) for _ in range(2)]
        for x in micro_batches:  # gradients accumulated over micro-batches, as the language-model stages do
            (accumulated(x).pow(2).mean() / 2).backward()
        norm = step_accumulated(accumulated_opt, list(accumulated.parameters()), max_grad_norm)
        assert all(p.grad is None for p in accumulated.parameters())

        plain_loss = sum(plain(x).pow(2).mean() / 2 for x in micro_batches)
        plain_opt.zero_grad()
        plain_loss.backward()
        if max_grad_norm is None:
            plain_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in plain.parameters()]))
        else:
            plain_norm = torch.nn.utils.clip_grad_norm_(plain.parameters(), max_grad_norm)
        plain_opt.step()
        assert isinstance(norm, float) and norm == pytest.approx(float(plain_norm), rel=1e-5)
    for a, b in zip(accumulated.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_sac_alpha_step_goes_through_gradient_step():
    # The temperature's Adam gets the same update from gradient_step as from backward + step.
    log_alpha = nn.Parameter(torch.tensor(0.3))
    reference = nn.Parameter(torch.tensor(0.3))
    optimizer, reference_opt = torch.optim.Adam([log_alpha], lr=0.1), torch.optim.Adam([reference], lr=0.1)
    for target in (1.0, -2.0, 0.5):
        gradient_step(optimizer, [log_alpha], -(log_alpha * target), None)
        reference_opt.zero_grad()
        (-(reference * target)).backward()
        reference_opt.step()
    assert torch.equal(log_alpha, reference)

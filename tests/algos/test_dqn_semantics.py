"""DQN details that decide whether it matches its anchor (SB3): target-copy timing, what a
time-limit truncation stores, and the double-DQN target."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rldojo.algos.dqn import DQN, DQNConfig

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
ACTIONS = gym.spaces.Discrete(2)


def make_agent(**overrides) -> DQN:
    cfg = DQNConfig(
        **{
            "learning_starts": 8,
            "train_every": 8,
            "gradient_steps": 4,
            "batch_size": 4,
            "target_update_every": 2,
            "net": {"hidden": [8]},
            **overrides,
        }
    )
    return DQN(cfg, OBS, ACTIONS, num_envs=1, total_frames=1_000, seed=0)


def play(agent: DQN, steps: int, rng: np.random.Generator, terminated: bool = False, truncated: bool = False) -> bool:
    ready = False
    for _ in range(steps):
        obs = rng.uniform(-1, 1, (1, 3)).astype(np.float32)
        agent.act(obs)
        next_obs = rng.uniform(-1, 1, (1, 3)).astype(np.float32)
        ready = agent.observe(np.ones(1, np.float32), np.array([terminated]), np.array([truncated]), next_obs, next_obs)
    return ready


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(module.parameters()).detach().clone()


def test_target_is_the_online_net_at_the_start_of_each_update_phase():
    # target_update_every (2 frames) <= train_every (8): one copy per phase, before its first
    # gradient step, so all gradient steps of a phase regress on the same frozen target (SB3).
    agent, rng = make_agent(), np.random.default_rng(0)
    assert play(agent, 8, rng)
    before_first = flat(agent.q_net)
    agent.update(0.1)
    assert torch.equal(flat(agent.target_net), before_first)
    assert not torch.equal(flat(agent.q_net), before_first)
    assert play(agent, 8, rng)
    before_second = flat(agent.q_net)
    agent.update(0.2)
    assert torch.equal(flat(agent.target_net), before_second)


def test_target_copy_waits_for_target_update_every_frames():
    agent, rng = make_agent(target_update_every=16), np.random.default_rng(0)
    initial = flat(agent.target_net)
    assert play(agent, 8, rng)
    agent.update(0.1)  # 8 frames since the last copy at frame 0: no copy
    assert torch.equal(flat(agent.target_net), initial)
    assert play(agent, 8, rng)
    before = flat(agent.q_net)
    agent.update(0.2)  # 16 frames: copied before the phase's first step
    assert torch.equal(flat(agent.target_net), before)


def test_truncation_is_stored_as_bootstrapped_and_termination_is_not():
    agent, rng = make_agent(), np.random.default_rng(0)
    play(agent, 1, rng, truncated=True)
    play(agent, 1, rng, terminated=True)
    assert agent.replay.dones[:2].tolist() == [0.0, 1.0]


def test_double_target_uses_online_argmax_valued_by_target_net():
    agent = make_agent(double=True, gamma=0.5, gradient_steps=1, batch_size=1, learning_starts=1, train_every=1)
    # Online net prefers action 1 everywhere, target net values action 0 at 10 and action 1 at 0.2.
    with torch.no_grad():
        for net, bias in ((agent.q_net, (0.0, 1.0)), (agent.target_net, (10.0, 0.2))):
            for p in net.trunk.parameters():
                p.zero_()
            net.q.weight.zero_()
            net.q.bias.copy_(torch.tensor(bias))
    agent.cfg.target_update_every = 10**9  # keep the hand-set target
    agent.cfg.max_grad_norm = None
    agent.cfg.optim.lr = 1.0
    agent.optimizer = torch.optim.SGD(agent.q_net.parameters(), lr=1.0)
    rng = np.random.default_rng(0)
    play(agent, 1, rng)  # reward 1, not terminal
    action = int(agent.replay.actions[0])
    q = 1.0 if action == 1 else 0.0
    # double: the target net's value of the online argmax (action 1) is 0.2 (plain DQN would take max = 10)
    target = 1.0 + 0.5 * 0.2
    agent.update(0.0)
    # SGD with lr 1 on huber(q - target) moves the chosen action's bias by -clip(q - target, -1, 1).
    expected = q - float(np.clip(q - target, -1, 1))
    assert abs(agent.q_net.q.bias[action].item() - expected) < 1e-6


def test_boltzmann_exploration_samples_softmax_of_q_over_temperature():
    # Q(s, .) = (0, ln 3) whatever s: softmax at temperature 1 gives P(a=1) = 3/4; at the end
    # temperature 0.25 it gives 3^4 / (1 + 3^4) = 81/82.
    agent = DQN(
        DQNConfig(
            exploration="boltzmann",
            temperature_start=1.0,
            temperature_end=0.25,
            exploration_fraction=0.5,
            net={"hidden": []},
        ),
        OBS,
        ACTIONS,
        num_envs=4000,
        total_frames=16_000,
        seed=0,
    )
    with torch.no_grad():
        agent.q_net.q.weight.zero_()
        agent.q_net.q.bias.copy_(torch.tensor([0.0, np.log(3.0)]))
    obs = np.zeros((4000, 3), np.float32)
    assert agent.temperature() == 1.0 and agent.epsilon() == 0.0
    assert abs(agent.act(obs).mean() - 0.75) < 0.03  # 4000 draws: 3 sigma is 0.021
    agent.frames = 8_000  # the end of the decay (half of the budget)
    assert agent.temperature() == 0.25
    assert abs(agent.act(obs).mean() - 81 / 82) < 0.01
    assert np.array_equal(agent.act_greedy(obs), np.ones(4000, np.int64))


def test_epsilon_greedy_has_no_temperature_and_boltzmann_has_no_epsilon():
    assert make_agent().temperature() == 0.0 and make_agent().epsilon() == 1.0
    boltzmann = make_agent(exploration="boltzmann")
    assert boltzmann.epsilon() == 0.0 and boltzmann.temperature() == 1.0

"""SAC: soft actor-critic with twin critics and automatic entropy tuning (Haarnoja et al., 2018),
for continuous actions (tanh-Gaussian policy) and discrete ones (Christodoulou, 2019).

Per gradient step, on a replay batch (s, a, r, s', d):

    y           = r + gamma (1 - d) * E_{a'~pi(s')}[ min_i Q_targ_i(s', a') - alpha log pi(a'|s') ]
    critic loss = sum_i mean (Q_i(s, a) - y)^2
    actor loss  = mean E_{a~pi(s)}[ alpha log pi(a|s) - min_i Q_i(s, a) ]
    alpha loss  = mean -log(alpha) * (log pi(a|s) + target_entropy)

Continuous: the expectations are single reparameterised samples, target entropy -action_dim.
Discrete: the expectations are exact sums over actions, target entropy scale * log(n_actions).
Targets are Polyak-averaged with `tau`.
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from rldojo.algos.base import ReplayAgent
from rldojo.config import AgentConfig, NetConfig, OptimConfig, net_checks, refuse_set_keys, section_field
from rldojo.memory.replay import ReplayBuffer
from rldojo.nets.mlp import encode_obs, flat_obs_dim, is_image_space, mlp
from rldojo.nets.optim import build_optimizer, gradient_step

_LOG_STD_MIN, _LOG_STD_MAX = -20.0, 2.0

#: Keys of `actor_net` and `critic_net` that SAC ignores, with the reason.
_SAC_NET_UNUSED = {
    "shared": "SAC's actor and critics are separate networks, each set by its own section",
    "log_std_init": "SAC's policy outputs its log standard deviation for each state",
}


class SACConfig(AgentConfig):
    """`agent:` section for `algo: sac` (continuous or discrete actions, chosen by the env)."""

    algo: Literal["sac"] = "sac"
    """Algorithm name."""
    tau: float = Field(0.005, gt=0, le=1)
    """Polyak factor of the target critics."""
    buffer_size: int = Field(1_000_000, ge=1)
    """Replay capacity in transitions."""
    batch_size: int = Field(256, ge=1)
    """Transitions per gradient step."""
    learning_starts: int = Field(1_000, ge=0)
    """Frames of uniformly random actions before learning starts."""
    train_every: int = Field(1, ge=1)
    """Vector steps between updates."""
    gradient_steps: int = Field(1, ge=1)
    """Gradient steps per update."""
    initial_alpha: float = Field(1.0, gt=0)
    """Entropy temperature at the start."""
    auto_alpha: bool = True
    """Tune the temperature to hold the policy's entropy at the target."""
    alpha_lr: float = Field(3e-4, gt=0)
    """Peak learning rate of the temperature (its own Adam optimizer; it follows `optim`'s schedule)."""
    target_entropy: float | None = None
    """Entropy target; None: -action_dim (continuous) or target_entropy_scale * log(n_actions)."""
    target_entropy_scale: float = Field(0.98, gt=0, le=1)
    """Discrete actions: the target as a share of the maximum entropy log(n_actions)."""
    actor_net: NetConfig = section_field(NetConfig, hidden=[256, 256], activation="relu")
    """Policy network (an MLP)."""
    critic_net: NetConfig = section_field(NetConfig, hidden=[256, 256], activation="relu")
    """Each of the twin Q-networks (MLPs)."""
    optim: OptimConfig = section_field(OptimConfig, lr=3e-4)
    """Optimizer of actor and critics, and the schedule of all three learning rates."""

    _net_checks = net_checks("actor_net", "critic_net", cnn=False, unused=_SAC_NET_UNUSED)

    @model_validator(mode="after")
    def _keys_in_use(self) -> SACConfig:
        if not self.auto_alpha:
            tuning = "it tunes the temperature, and auto_alpha is false (alpha stays at initial_alpha)"
            refuse_set_keys(
                self, "agent", dict.fromkeys(("alpha_lr", "target_entropy", "target_entropy_scale"), tuning)
            )
        if self.target_entropy is not None:
            refuse_set_keys(self, "agent", {"target_entropy_scale": "target_entropy sets the target itself"})
        return self


class TanhGaussianActor(nn.Module):
    """a = low + (tanh(u) + 1) / 2 * (high - low), u ~ N(mu(s), sigma(s))."""

    def __init__(self, obs_dim: int, space: gym.spaces.Box, cfg: NetConfig) -> None:
        super().__init__()
        self.trunk = mlp(obs_dim, cfg.hidden, cfg.activation)
        width = cfg.hidden[-1] if cfg.hidden else obs_dim
        action_dim = int(np.prod(space.shape))
        self.mean = nn.Linear(width, action_dim)
        self.log_std = nn.Linear(width, action_dim)
        self.register_buffer("scale", torch.as_tensor((space.high - space.low) / 2, dtype=torch.float32))
        self.register_buffer("center", torch.as_tensor((space.high + space.low) / 2, dtype=torch.float32))

    def forward(
        self, obs: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(obs)
        mean = self.mean(features)
        if greedy:
            return torch.tanh(mean) * self.scale + self.center, torch.zeros(mean.shape[0], device=mean.device)
        log_std = self.log_std(features).clamp(_LOG_STD_MIN, _LOG_STD_MAX)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        pre_tanh = mean + noise * log_std.exp()
        squashed = torch.tanh(pre_tanh)
        log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # Change of variables through tanh and the affine map to the action bounds.
        log_prob = log_prob - torch.log(self.scale * (1 - squashed.pow(2)) + 1e-6).sum(-1)
        return squashed * self.scale + self.center, log_prob


class CategoricalActor(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, cfg: NetConfig) -> None:
        super().__init__()
        self.net = mlp(obs_dim, cfg.hidden, cfg.activation, n_actions)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (probabilities, log-probabilities) over all actions."""
        log_probs = torch.log_softmax(self.net(obs), dim=-1)
        return log_probs.exp(), log_probs


class TwinQ(nn.Module):
    """Two independent Q-networks; `forward` -> (Q1, Q2). Continuous: Q(s, a) scalars;
    discrete: Q(s, .) over all actions."""

    def __init__(self, in_dim: int, out_dim: int, cfg: NetConfig) -> None:
        super().__init__()
        self.q1 = mlp(in_dim, cfg.hidden, cfg.activation, out_dim)
        self.q2 = mlp(in_dim, cfg.hidden, cfg.activation, out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q1(x), self.q2(x)


class SAC(ReplayAgent):
    metric_names = ("critic_loss", "actor_loss", "alpha", "alpha_loss", "entropy", "q_mean")

    def __init__(self, cfg: SACConfig, obs_space, action_space, num_envs, total_frames, seed, device="cpu") -> None:
        super().__init__(cfg, obs_space, action_space, num_envs, total_frames, seed, device)
        if is_image_space(obs_space):
            raise TypeError(
                f"SAC's nets are MLPs on flat observations, not CNNs (observations: {obs_space}); "
                "for images use ppo, a2c or dqn, which have the Nature CNN"
            )
        obs_dim = flat_obs_dim(obs_space)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if self.discrete:
            n = int(action_space.n)
            self.actor = CategoricalActor(obs_dim, n, cfg.actor_net)
            self.critic = TwinQ(obs_dim, n, cfg.critic_net)
            default_target = cfg.target_entropy_scale * math.log(n)
            action_shape, action_dtype = (), np.int64
        elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            action_dim = int(action_space.shape[0])
            self.actor = TanhGaussianActor(obs_dim, action_space, cfg.actor_net)
            self.critic = TwinQ(obs_dim + action_dim, 1, cfg.critic_net)
            default_target = -float(action_dim)
            action_shape, action_dtype = (action_dim,), np.float32
        else:
            raise TypeError(f"SAC takes Discrete or 1-D Box action spaces, got {action_space}")
        self.target_entropy = cfg.target_entropy if cfg.target_entropy is not None else default_target
        self.actor, self.critic = self.actor.to(self.device), self.critic.to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.initial_alpha), device=self.device))
        self.actor_params = list(self.actor.parameters())
        self.critic_params = list(self.critic.parameters())
        self.critic_target_params = list(self.critic_target.parameters())
        self.actor_optim = build_optimizer(self.actor_params, cfg.optim)
        self.critic_optim = build_optimizer(self.critic_params, cfg.optim)
        self.alpha_optim = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr)
        self.replay = ReplayBuffer(cfg.buffer_size, (obs_dim,), action_shape, action_dtype, device=self.device)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_host = encode_obs(obs, self.obs_space)  # kept in the (host) replay
        if self.frames < self.cfg.learning_starts:  # warm-up: uniform random actions
            if self.discrete:
                actions = self.rng.integers(0, int(self.action_space.n), len(obs_host))
            else:
                low, high = self.action_space.low, self.action_space.high
                actions = self.rng.uniform(low, high, (len(obs_host), len(low))).astype(np.float32)
        elif self.discrete:
            probs, _ = self.actor(self.to_device(obs_host))
            actions = self.to_numpy(torch.multinomial(probs, 1, generator=self.generator).squeeze(-1))
        else:
            actions = self.to_numpy(self.actor(self.to_device(obs_host), self.generator)[0])
        self._obs, self._actions = obs_host.numpy(), actions
        return self._to_env(actions)

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        if self.discrete:
            return actions.astype(np.int64) + int(self.action_space.start)
        return np.clip(actions, self.action_space.low, self.action_space.high).astype(self.action_space.dtype)

    @torch.no_grad()
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        obs_t = self.to_device(encode_obs(obs, self.obs_space))
        if self.discrete:
            return self._to_env(self.to_numpy(self.actor(obs_t)[0].argmax(-1)))
        return self._to_env(self.to_numpy(self.actor(obs_t, greedy=True)[0]))

    # ---- learning -----------------------------------------------------------------------------
    def _next_soft_value(self, next_obs: torch.Tensor) -> torch.Tensor:
        """E_{a'~pi}[min_i Q_targ_i(s', a') - alpha log pi(a'|s')]."""
        if self.discrete:
            probs, log_probs = self.actor(next_obs)
            min_q = torch.min(*self.critic_target(next_obs))
            return (probs * (min_q - self.alpha * log_probs)).sum(-1)
        actions, log_prob = self.actor(next_obs, self.generator)
        min_q = torch.min(*self.critic_target(torch.cat([next_obs, actions], -1))).squeeze(-1)
        return min_q - self.alpha * log_prob

    def learn(self, progress: float) -> dict[str, float]:
        cfg = self.cfg
        stats = []
        for _ in range(cfg.gradient_steps):
            batch = self.replay.sample(cfg.batch_size, self.rng)
            obs, actions = batch["obs"], batch["actions"]
            with torch.no_grad():
                next_soft = self._next_soft_value(batch["next_obs"])
                target = batch["rewards"] + cfg.gamma * (1 - batch["dones"]) * next_soft

            if self.discrete:
                q1, q2 = (q.gather(-1, actions.unsqueeze(-1)).squeeze(-1) for q in self.critic(obs))
            else:
                q1, q2 = (q.squeeze(-1) for q in self.critic(torch.cat([obs, actions], -1)))
            critic_loss = 0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean())
            gradient_step(self.critic_optim, self.critic_params, critic_loss, None)

            # Actor: the critic is held fixed (gradient_step differentiates for the actor's
            # parameters only, so no gradient of the critic's weights is computed here).
            if self.discrete:
                probs, log_probs = self.actor(obs)
                with torch.no_grad():
                    min_q = torch.min(*self.critic(obs))
                actor_loss = (probs * (self.alpha * log_probs - min_q)).sum(-1).mean()
                expected_log_prob = (probs * log_probs).sum(-1).detach()
            else:
                new_actions, log_prob = self.actor(obs, self.generator)
                min_q = torch.min(*self.critic(torch.cat([obs, new_actions], -1))).squeeze(-1)
                actor_loss = (self.alpha * log_prob - min_q).mean()
                expected_log_prob = log_prob.detach()
            gradient_step(self.actor_optim, self.actor_params, actor_loss, None)

            alpha_loss = torch.zeros((), device=self.device)
            if cfg.auto_alpha:
                alpha_loss = -(self.log_alpha * (expected_log_prob + self.target_entropy)).mean()
                gradient_step(self.alpha_optim, [self.log_alpha], alpha_loss, None)

            with torch.no_grad():  # Polyak averaging of the target critic
                torch._foreach_lerp_(self.critic_target_params, self.critic_params, cfg.tau)
            stats.append(
                torch.stack(
                    [
                        critic_loss.detach(),
                        actor_loss.detach(),
                        self.alpha,
                        alpha_loss.detach(),
                        -expected_log_prob.mean(),
                        q1.detach().mean(),
                    ]
                )
            )
        self.updates += 1
        return dict(zip(self.metric_names, torch.stack(stats).mean(0).tolist()))

    # ---- checkpointing ------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor_optim": self.actor_optim, "critic_optim": self.critic_optim, "alpha_optim": self.alpha_optim}

    def extra_state(self) -> dict:
        return {**super().extra_state(), "log_alpha": self.log_alpha.detach().clone()}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])

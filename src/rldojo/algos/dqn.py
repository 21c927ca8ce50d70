"""DQN (Mnih et al., 2015), with the Double-DQN target, dueling heads and prioritized replay.

Act epsilon-greedily (or sample softmax(Q / temperature), `exploration: boltzmann`), store
transitions in a replay buffer, and every `train_every` vector steps (after `learning_starts`
frames) take `gradient_steps` steps on the Huber TD loss

    y    = r + gamma * (1 - terminated) * Q_target(s', argmax_a Q(s', a))   (double: true)
                                        * max_a Q_target(s', a)             (double: false)
    loss = mean_i  w_i * huber(Q(s_i, a_i) - y_i)

with importance weights w_i from prioritized replay (1 for uniform replay). The target network is
copied every `target_update_every` frames, or Polyak-averaged with `tau` < 1.

Target copies happen before a gradient step, once at least `target_update_every` frames have been
observed since the last copy. As in Stable-Baselines3, where `target_update_interval` counts env
steps: with `target_update_every` <= `train_every` (the RL Zoo's CartPole setting: 10 and 256) the
target is the online net as it stands at the start of each update phase, fixed for its
`gradient_steps` steps.
"""

from __future__ import annotations

import copy
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from rldojo.algos.base import ReplayAgent
from rldojo.config import QLearningConfig, StrictModel, refuse_set_keys
from rldojo.memory.replay import PrioritizedReplayBuffer, ReplayBuffer
from rldojo.nets.encoders import obs_storage
from rldojo.nets.mlp import encode_obs
from rldojo.nets.optim import build_optimizer, gradient_step, scheduled
from rldojo.nets.q_network import QNetwork


class PrioritizedConfig(StrictModel):
    """Prioritized experience replay (proportional, sum-tree)."""

    alpha: float = Field(0.6, ge=0, le=1)
    """How much priorities count: 0 is uniform, 1 fully proportional to |TD error|."""
    beta_start: float = Field(0.4, ge=0, le=1)
    """Importance-weight exponent at the start; annealed linearly to 1 over the frame budget."""
    epsilon: float = Field(1e-6, gt=0)
    """Added to |TD error| so no transition gets zero priority."""


class DQNConfig(QLearningConfig):
    """`agent:` section for `algo: dqn` (DQN, Double DQN, dueling, prioritized replay)."""

    algo: Literal["dqn"] = "dqn"
    """Algorithm name."""
    double: bool = False
    """Double DQN: the online net picks the next action, the target net values it."""
    dueling: bool = False
    """Dueling head: Q = V + A - mean(A)."""
    buffer_size: int = Field(100_000, ge=1)
    """Replay capacity in transitions."""
    batch_size: int = Field(64, ge=1)
    """Transitions per gradient step."""
    learning_starts: int = Field(1_000, ge=0)
    """Frames of experience collected before learning starts."""
    train_every: int = Field(1, ge=1)
    """Vector steps between updates."""
    gradient_steps: int = Field(1, ge=1)
    """Gradient steps per update."""
    target_update_every: int = Field(1_000, ge=1)
    """Frames between copies of the online net into the target net (when tau = 1)."""
    tau: float = Field(1.0, gt=0, le=1)
    """Polyak factor: 1 copies the net every target_update_every frames; < 1 blends every update."""
    exploration: Literal["epsilon_greedy", "boltzmann"] = "epsilon_greedy"
    """How training actions explore: a random action with probability epsilon, or an action sampled
    from softmax(Q / temperature) (SLM-Lab's `boltzmann` policy: it prefers the near-best actions)."""
    temperature_start: float = Field(1.0, gt=0)
    """boltzmann: softmax temperature at the start."""
    temperature_end: float = Field(0.05, gt=0)
    """boltzmann: softmax temperature after the decay."""
    exploration_fraction: float = Field(0.1, gt=0, le=1)
    """Share of the frame budget over which epsilon (or the temperature) decays linearly."""
    prioritized: PrioritizedConfig | None = None
    """Prioritized replay settings (None: uniform replay)."""

    @model_validator(mode="after")
    def _keys_in_use(self) -> DQNConfig:
        if self.exploration == "boltzmann":
            unused = dict.fromkeys(("epsilon_start", "epsilon_end"), "exploration is boltzmann, not epsilon_greedy")
        else:
            unused = dict.fromkeys(("temperature_start", "temperature_end"), "exploration is epsilon_greedy")
        if self.tau < 1:
            unused["target_update_every"] = "with tau < 1 the target net is blended at every gradient step"
        refuse_set_keys(self, "agent", unused)
        return self


class DQN(ReplayAgent):
    metric_names = ("loss", "q_mean", "td_abs", "epsilon", "temperature", "beta")

    def __init__(self, cfg: DQNConfig, obs_space, action_space, num_envs, total_frames, seed, device="cpu") -> None:
        super().__init__(cfg, obs_space, action_space, num_envs, total_frames, seed, device)
        self.q_net = QNetwork(obs_space, action_space, cfg.net, cfg.dueling).to(self.device)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.params = list(self.q_net.parameters())
        self.optimizer = build_optimizer(self.params, cfg.optim)
        obs_shape, obs_dtype = obs_storage(obs_space)  # images stay uint8 in the replay
        buffer_args = (cfg.buffer_size, obs_shape, (), np.int64)
        if cfg.prioritized is None:
            self.replay = ReplayBuffer(*buffer_args, obs_dtype=obs_dtype, device=self.device)
        else:
            self.replay = PrioritizedReplayBuffer(
                *buffer_args,
                alpha=cfg.prioritized.alpha,
                epsilon=cfg.prioritized.epsilon,
                obs_dtype=obs_dtype,
                device=self.device,
            )
        self.last_target_update = 0

    def _exploration_progress(self) -> float:
        return self.frames / (self.cfg.exploration_fraction * self.total_frames)

    def epsilon(self) -> float:
        """Probability of a uniformly random action now (0 under boltzmann exploration)."""
        if self.cfg.exploration != "epsilon_greedy":
            return 0.0
        return scheduled(self.cfg.epsilon_start, "linear", self._exploration_progress(), end=self.cfg.epsilon_end)

    def temperature(self) -> float:
        """Softmax temperature now (0 under epsilon-greedy exploration)."""
        if self.cfg.exploration != "boltzmann":
            return 0.0
        return scheduled(
            self.cfg.temperature_start, "linear", self._exploration_progress(), end=self.cfg.temperature_end
        )

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_host = encode_obs(obs, self.obs_space)  # kept in the (host) replay
        q_values = self.q_net(self.to_device(obs_host))
        if self.cfg.exploration == "boltzmann":
            probs = self.to_numpy(torch.softmax(q_values / self.temperature(), dim=-1).double())
            # Inverse-CDF sampling, one uniform draw per env: vectorized, seeded by the agent's rng.
            cdf = probs.cumsum(-1)
            draws = self.rng.random((len(probs), 1)) * cdf[:, -1:]
            actions = np.minimum((draws > cdf).sum(-1), self.q_net.n_actions - 1)
        else:
            actions = self.to_numpy(q_values.argmax(-1))
            explore = self.rng.random(len(actions)) < self.epsilon()
            actions = np.where(explore, self.rng.integers(0, self.q_net.n_actions, len(actions)), actions)
        self._obs, self._actions = obs_host.numpy(), actions
        return actions + int(self.action_space.start)

    @torch.no_grad()
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        q_values = self.q_net(self.to_device(encode_obs(obs, self.obs_space)))
        return self.to_numpy(q_values.argmax(-1)) + int(self.action_space.start)

    # ---- learning -----------------------------------------------------------------------------
    def learn(self, progress: float) -> dict[str, float]:
        cfg = self.cfg
        beta = 1.0
        if cfg.prioritized is not None:
            beta = scheduled(cfg.prioritized.beta_start, "linear", progress, end=1.0)
        stats = []
        for _ in range(cfg.gradient_steps):
            self._update_target()
            if cfg.prioritized is None:
                batch = self.replay.sample(cfg.batch_size, self.rng)
            else:
                batch = self.replay.sample(cfg.batch_size, self.rng, beta=beta)
            with torch.no_grad():
                next_q_target = self.target_net(batch["next_obs"])
                if cfg.double:
                    next_actions = self.q_net(batch["next_obs"]).argmax(-1, keepdim=True)
                    next_q = next_q_target.gather(-1, next_actions).squeeze(-1)
                else:
                    next_q = next_q_target.max(-1).values
                target = batch["rewards"] + cfg.gamma * (1 - batch["dones"]) * next_q
            q = self.q_net(batch["obs"]).gather(-1, batch["actions"].unsqueeze(-1)).squeeze(-1)
            td = q - target
            loss = (batch["weights"] * torch.nn.functional.huber_loss(q, target, reduction="none")).mean()
            gradient_step(self.optimizer, self.params, loss, cfg.max_grad_norm)
            if cfg.prioritized is not None:
                self.replay.update_priorities(batch["indices"].numpy(), self.to_numpy(td.detach()))
            stats.append(torch.stack([loss.detach(), q.detach().mean(), td.detach().abs().mean()]))
        self.updates += 1
        loss_mean, q_mean, td_abs = torch.stack(stats).mean(0).tolist()
        return {
            "loss": loss_mean,
            "q_mean": q_mean,
            "td_abs": td_abs,
            "epsilon": self.epsilon(),
            "temperature": self.temperature(),
            "beta": beta,
        }

    @torch.no_grad()
    def _update_target(self) -> None:
        """Before each gradient step: blend (tau < 1), or copy once `target_update_every` frames have passed."""
        if self.cfg.tau < 1.0:
            for target, online in zip(self.target_net.parameters(), self.q_net.parameters()):
                target.lerp_(online, self.cfg.tau)
        elif self.frames - self.last_target_update >= self.cfg.target_update_every:
            self.target_net.load_state_dict(self.q_net.state_dict())
            self.last_target_update = self.frames

    # ---- checkpointing ------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        return {"q_net": self.q_net, "target_net": self.target_net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def extra_state(self) -> dict:
        return {**super().extra_state(), "last_target_update": self.last_target_update}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.last_target_update = int(state["last_target_update"])

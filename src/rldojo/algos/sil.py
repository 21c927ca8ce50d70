"""Self-Imitation Learning (Oh et al., 2018): an add-on for A2C and PPO (`sil:` in their config).

Finished episodes go into a prioritized replay as (s, a, R) with R the discounted return from s.
After each on-policy update, `updates` extra gradient steps imitate only the actions that did
better than the critic expected:

    loss = -mean(w * log pi(a|s) * (R - V(s))+) + value_coef * mean(w * 0.5 * (R - V(s))+^2)

with priorities (R - V(s))+ and importance weights w.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from rldojo.config import StrictModel
from rldojo.memory.replay import PrioritizedReplayBuffer
from rldojo.nets.actor_critic import ActorCritic
from rldojo.nets.optim import gradient_step


class SILConfig(StrictModel):
    """Self-imitation learning settings."""

    updates: int = Field(4, ge=1)
    """SIL gradient steps after each on-policy update."""
    batch_size: int = Field(512, ge=1)
    """Transitions per SIL gradient step."""
    buffer_size: int = Field(100_000, ge=1)
    """Capacity of the SIL replay in transitions."""
    value_coef: float = Field(0.01, ge=0)
    """Weight of the SIL value loss (beta^SIL in the paper)."""
    alpha: float = Field(0.6, ge=0, le=1)
    """Priority exponent of the SIL replay."""
    beta: float = Field(0.1, ge=0, le=1)
    """Importance-weight exponent of the SIL replay."""
    learning_starts: int = Field(1_000, ge=0)
    """Transitions in the SIL replay before SIL updates start."""


def sil_feedforward_only(cfg):
    """Validator for A2C/PPO configs: SIL replays single transitions, which a recurrent net cannot score."""
    if cfg.sil is not None and cfg.net.recurrent is not None:
        raise ValueError(
            "sil replays single transitions without their hidden state, so it cannot be combined "
            "with net.recurrent; remove one of them"
        )
    return cfg


class SelfImitation:
    def __init__(
        self,
        cfg: SILConfig,
        net: ActorCritic,
        optimizer: torch.optim.Optimizer,
        num_envs: int,
        obs_shape: int | tuple[int, ...],
        action_shape: tuple[int, ...],
        action_dtype: np.dtype,
        gamma: float,
        rng: np.random.Generator,
        obs_dtype: np.dtype = np.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        obs_shape = (obs_shape,) if isinstance(obs_shape, int) else tuple(obs_shape)
        self.cfg, self.net, self.optimizer, self.gamma = cfg, net, optimizer, gamma
        self.params = list(net.parameters())
        self.replay = PrioritizedReplayBuffer(  # batches come out on the net's device
            cfg.buffer_size, obs_shape, action_shape, action_dtype, alpha=cfg.alpha, obs_dtype=obs_dtype, device=device
        )
        self.rng = rng  # the agent's generator, checkpointed with the agent
        # Per env: the current episode's observations, actions and rewards.
        self.episodes: list[list[tuple[np.ndarray, np.ndarray, float]]] = [[] for _ in range(num_envs)]

    def record(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, done: np.ndarray) -> None:
        for env in range(len(rewards)):
            self.episodes[env].append((obs[env].copy(), np.array(actions[env]), float(rewards[env])))
            if done[env]:
                self._store(self.episodes[env])
                self.episodes[env] = []

    def _store(self, episode: list[tuple[np.ndarray, np.ndarray, float]]) -> None:
        returns = np.zeros(len(episode), dtype=np.float32)
        running = 0.0
        for t in reversed(range(len(episode))):
            running = episode[t][2] + self.gamma * running
            returns[t] = running
        obs = np.stack([step[0] for step in episode])
        actions = np.stack([step[1] for step in episode])
        # The replay's reward column holds the return R; next_obs/dones are unused by SIL.
        self.replay.add(obs, actions, returns, obs, np.zeros(len(episode), dtype=np.float32))

    def train(self, generator: torch.Generator, max_grad_norm: float | None) -> dict[str, float]:
        if len(self.replay) < max(self.cfg.learning_starts, 1):
            return {"sil_loss": float("nan"), "sil_valid": float("nan")}
        losses, valid = [], []
        for _ in range(self.cfg.updates):
            batch = self.replay.sample(self.cfg.batch_size, self.rng, beta=self.cfg.beta)
            head_out, values = self.net(batch["obs"])
            log_probs = self.net.head.log_prob(head_out, batch["actions"])
            advantage = (batch["rewards"] - values).clamp(min=0.0)
            weights = batch["weights"]
            policy_loss = -(weights * log_probs * advantage.detach()).mean()
            value_loss = 0.5 * (weights * advantage.pow(2)).mean()
            loss = policy_loss + self.cfg.value_coef * value_loss
            gradient_step(self.optimizer, self.params, loss, max_grad_norm)
            self.replay.update_priorities(batch["indices"].numpy(), advantage.detach().cpu().numpy())
            losses.append(float(loss.detach()))
            valid.append(float((advantage > 0).float().mean()))
        return {"sil_loss": float(np.mean(losses)), "sil_valid": float(np.mean(valid))}

    def state_dict(self) -> dict:
        return {"replay": self.replay.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        # Episodes in progress at the checkpoint are dropped with the env (see Session).
        self.replay.load_state_dict(state["replay"])

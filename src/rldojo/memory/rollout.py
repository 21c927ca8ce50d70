"""On-policy rollout buffer with GAE, in numpy (per-step writes are cheaper than in torch); the
update's tensors are handed out on the learner's `device`, moved once per update (no copy on the CPU).

For recurrent policies it also keeps, per env, the hidden state at the start of the rollout and a
mask of the steps that begin an episode, so the update can replay each env's sequence exactly as
it was acted (truncated backpropagation through time over the rollout).
"""

from __future__ import annotations

import numpy as np
import torch


class RolloutBuffer:
    """`rollout_steps` x `num_envs` transitions, then GAE over them in one backward pass."""

    def __init__(
        self,
        rollout_steps: int,
        num_envs: int,
        obs_dim: int | tuple[int, ...],
        action_shape: tuple[int, ...],
        action_dtype: np.dtype,
        obs_dtype: np.dtype = np.float32,
        hidden_size: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        """`obs_dim`: width of a flat observation, or the shape of an image one (with `obs_dtype` uint8);
        `hidden_size` > 0 keeps what a recurrent policy needs; `device`: where `sequence_tensors` puts them."""
        self.rollout_steps, self.num_envs = rollout_steps, num_envs
        self.device = torch.device(device)
        shape = (rollout_steps, num_envs)
        obs_shape = (obs_dim,) if isinstance(obs_dim, int) else tuple(obs_dim)
        self.obs = np.zeros(shape + obs_shape, dtype=obs_dtype)  # uint8 for images
        self.actions = np.zeros(shape + action_shape, dtype=action_dtype)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.dones = np.zeros(shape, dtype=np.float32)  # the episode ended at this step
        self.recurrent = hidden_size > 0
        if self.recurrent:
            self.starts = np.zeros(shape, dtype=np.float32)  # this step's observation begins an episode
            self.initial_hidden = np.zeros((num_envs, hidden_size), dtype=np.float32)  # before step 0
        self.step = 0

    @property
    def full(self) -> bool:
        return self.step == self.rollout_steps

    def add_policy_step(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        log_probs: np.ndarray,
        values: np.ndarray,
        starts: np.ndarray | None = None,
        hidden: np.ndarray | None = None,
    ) -> None:
        """One acting step. Recurrent: `starts` marks envs whose episode begins at this observation and
        `hidden` is the state the policy held before it (kept for step 0 only)."""
        if self.recurrent:
            self.starts[self.step] = starts
            if self.step == 0:
                self.initial_hidden[:] = hidden
        self.obs[self.step] = obs
        self.actions[self.step] = actions
        self.log_probs[self.step] = log_probs
        self.values[self.step] = values

    def add_env_step(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        self.rewards[self.step] = rewards
        self.dones[self.step] = dones
        self.step += 1

    def advantages_and_returns(
        self, last_values: np.ndarray, gamma: float, gae_lambda: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """GAE(gamma, lambda). A done step does not bootstrap from the next (new-episode) state;
        truncated episodes were bootstrapped into their last reward by the agent."""
        advantages = np.zeros_like(self.rewards)
        running = np.zeros(self.num_envs, dtype=np.float32)
        next_values = last_values.astype(np.float32)
        for t in reversed(range(self.rollout_steps)):
            not_done = 1.0 - self.dones[t]
            delta = self.rewards[t] + gamma * next_values * not_done - self.values[t]
            running = delta + gamma * gae_lambda * not_done * running
            advantages[t] = running
            next_values = self.values[t]
        return advantages, advantages + self.values

    def sequence_tensors(self, advantages: np.ndarray, returns: np.ndarray) -> dict[str, torch.Tensor]:
        """All transitions as [rollout_steps, num_envs, ...] tensors on the buffer's device (zero-copy views
        on the CPU), with `starts` and the initial `hidden` [num_envs, H] when recurrent: select env
        columns for sequence minibatches."""
        arrays = {
            "obs": self.obs,
            "actions": self.actions,
            "log_probs": self.log_probs,
            "values": self.values,
            "advantages": advantages,
            "returns": returns,
        }
        if self.recurrent:
            arrays.update(starts=self.starts, hidden=self.initial_hidden)
        return {name: torch.as_tensor(array, device=self.device) for name, array in arrays.items()}

    def reset(self) -> None:
        self.step = 0

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        # A resumed run starts a fresh rollout: the env was rebuilt, so half a rollout is stale.
        self.step = 0

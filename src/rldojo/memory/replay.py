"""Replay buffers for off-policy agents: uniform, and prioritized (sum-tree) with importance weights.

Storage is preallocated numpy, written a whole vector step at a time; sampling is vectorized (one
numpy call per batch, no per-item Python loops) and a sampled batch is moved to the learner's
`device` once (no copy on the CPU); the storage stays in host memory, so a large replay never has
to fit on a GPU. Both buffers checkpoint their full contents, so a resumed run continues with the
experience it had.
"""

from __future__ import annotations

import numpy as np
import torch


class ReplayBuffer:
    """Ring buffer of (obs, action, reward, next_obs, done) transitions, sampled uniformly."""

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...],
        action_dtype: np.dtype,
        obs_dtype: np.dtype = np.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        self.capacity = int(capacity)
        self.device = torch.device(device)
        self.obs = np.zeros((self.capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((self.capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((self.capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.dones = np.zeros(self.capacity, dtype=np.float32)  # terminated: no bootstrap
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray, dones: np.ndarray
    ) -> np.ndarray:
        """Store a batch of transitions (one per env); returns the slots written."""
        count = len(rewards)
        slots = (self.position + np.arange(count)) % self.capacity
        self.obs[slots] = obs
        self.actions[slots] = actions
        self.rewards[slots] = rewards
        self.next_obs[slots] = next_obs
        self.dones[slots] = dones
        self.position = (self.position + count) % self.capacity
        self.size = min(self.size + count, self.capacity)
        return slots

    def _gather(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        """The transitions at `idx`, on the buffer's device; `indices` stays on the host (priorities are numpy)."""
        device = self.device
        return {
            "obs": torch.as_tensor(self.obs[idx], device=device),
            "actions": torch.as_tensor(self.actions[idx], device=device),
            "rewards": torch.as_tensor(self.rewards[idx], device=device),
            "next_obs": torch.as_tensor(self.next_obs[idx], device=device),
            "dones": torch.as_tensor(self.dones[idx], device=device),
            "indices": torch.from_numpy(idx),
        }

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self.size, size=batch_size)
        batch = self._gather(idx)
        batch["weights"] = torch.ones(batch_size, device=self.device)
        return batch

    def state_dict(self) -> dict:
        n = self.size
        return {
            "obs": torch.from_numpy(self.obs[:n].copy()),
            "next_obs": torch.from_numpy(self.next_obs[:n].copy()),
            "actions": torch.from_numpy(self.actions[:n].copy()),
            "rewards": torch.from_numpy(self.rewards[:n].copy()),
            "dones": torch.from_numpy(self.dones[:n].copy()),
            "position": self.position,
            "size": n,
        }

    def load_state_dict(self, state: dict) -> None:
        n = int(state["size"])
        for name in ("obs", "next_obs", "actions", "rewards", "dones"):
            getattr(self, name)[:n] = state[name].numpy()
        self.position, self.size = int(state["position"]), n


class SumTree:
    """Binary tree whose leaves hold priorities and inner nodes their sums: O(log n) prefix-sum
    search. Updates and searches run level by level over whole index arrays (vectorized)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = 1
        while self.capacity < capacity:
            self.capacity *= 2
        self.nodes = np.zeros(2 * self.capacity, dtype=np.float64)  # node 1 is the root

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def update(self, leaves: np.ndarray, priorities: np.ndarray) -> None:
        # Keep the last write per leaf (duplicates in one batch), then refresh parents per level.
        leaves, last = np.unique(leaves[::-1], return_index=True)
        nodes = leaves + self.capacity
        self.nodes[nodes] = priorities[::-1][last]
        nodes = np.unique(nodes // 2)
        while nodes[0] >= 1:
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]
            if nodes[0] == 1:
                break
            nodes = np.unique(nodes // 2)

    def find(self, prefix_sums: np.ndarray) -> np.ndarray:
        """Leaf index for each prefix sum (all searched together, one tree level per step)."""
        nodes = np.ones(len(prefix_sums), dtype=np.int64)
        values = prefix_sums.astype(np.float64).copy()
        while nodes[0] < self.capacity:
            left = 2 * nodes
            go_right = values > self.nodes[left]
            values -= np.where(go_right, self.nodes[left], 0.0)
            nodes = np.where(go_right, left + 1, left)
        return nodes - self.capacity

    def leaf_values(self, leaves: np.ndarray) -> np.ndarray:
        return self.nodes[leaves + self.capacity]


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al., 2016): P(i) ~ p_i^alpha, importance weights
    (N P(i))^-beta normalised by their max, beta annealed to 1 by the agent."""

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...],
        action_dtype: np.dtype,
        alpha: float = 0.6,
        epsilon: float = 1e-6,
        obs_dtype: np.dtype = np.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(capacity, obs_shape, action_shape, action_dtype, obs_dtype, device)
        self.alpha, self.epsilon = alpha, epsilon
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0

    def add(self, obs, actions, rewards, next_obs, dones) -> np.ndarray:
        slots = super().add(obs, actions, rewards, next_obs, dones)
        # New experience gets the highest priority seen, so it is replayed at least once soon.
        self.tree.update(slots, np.full(len(slots), self.max_priority**self.alpha))
        return slots

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 0.4) -> dict[str, torch.Tensor]:
        # Stratified: one draw from each of batch_size equal slices of the total priority mass.
        total = self.tree.total
        bounds = np.linspace(0.0, total, batch_size + 1)
        prefix = rng.uniform(bounds[:-1], bounds[1:])
        idx = np.minimum(self.tree.find(prefix), self.size - 1)
        probs = self.tree.leaf_values(idx) / total
        weights = (self.size * np.maximum(probs, 1e-12)) ** (-beta)
        batch = self._gather(idx)
        batch["weights"] = torch.as_tensor((weights / weights.max()).astype(np.float32), device=self.device)
        return batch

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        priorities = np.abs(td_errors) + self.epsilon
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(np.asarray(indices), priorities**self.alpha)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state.update(tree=torch.from_numpy(self.tree.nodes.copy()), max_priority=self.max_priority)
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.tree.nodes[:] = state["tree"].numpy()
        self.max_priority = float(state["max_priority"])

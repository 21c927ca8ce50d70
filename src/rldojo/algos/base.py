"""The contract between a tensor agent and the Session loop.

Per vector step the Session calls `act(obs)`, steps the env, then `observe(...)`; when `observe`
returns True the agent's buffer is ready and the Session calls `update(progress)` and logs the
returned metrics. `update` sets every optimizer's learning rate by the `optim` schedule, then runs
the algorithm's `learn`, so no algorithm schedules its learning rates itself. Evaluation calls
`reset_greedy(num_envs)`, then `act_greedy` each step and `greedy_done(done)` after it (agents
with memory, e.g. recurrent policies, reset it per episode). Checkpoints store `state_dict()`.

Devices: the env hands numpy to `act` and takes numpy actions back; the agent's nets, optimizer
states, sampling generator and learning batches live on `self.device` (`meta.device`). Each batch
of observations is moved there once (`to_device`), results come back once (`to_numpy`); on the CPU
both are free (no copy). Buffers keep their storage in numpy on the host and hand out batches on
the device (as SB3 does): per-step writes stay cheap, and a replay of a million frames never has
to fit in GPU memory.

`ReplayAgent` is the shared part of the off-policy agents (DQN, SAC): storing each transition in a
replay buffer and learning every `train_every` vector steps once `learning_starts` frames are in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rldojo.nets.device import generator_state, restore_generator
from rldojo.nets.mlp import encode_obs
from rldojo.nets.optim import load_optimizer_state, lr_factor, set_lr_factor


class TensorAgent(ABC):
    """Base of agents that act on batches of tensor observations from a vector env."""

    #: Names of the metrics `update` returns; they become columns of metrics.csv.
    metric_names: tuple[str, ...] = ()

    def __init__(
        self,
        cfg: Any,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_envs: int,
        total_frames: int,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.cfg = cfg  # the `agent:` section; its `optim` schedules every optimizer's learning rate
        self.obs_space, self.action_space = obs_space, action_space
        self.num_envs, self.total_frames = num_envs, total_frames
        self.device = torch.device(device)
        #: `tensor` on the host as numpy. On a CPU agent it is `Tensor.numpy` itself (a view, no copy
        #: and no call in between): it runs several times per vector step.
        self.to_numpy: Callable[[torch.Tensor], np.ndarray] = (
            torch.Tensor.numpy if self.device.type == "cpu" else _host_numpy
        )
        # All sampling goes through these generators, so a seed fixes the whole run (on one kind of
        # device: the torch generator draws on the agent's device, where the numbers are used).
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.frames = 0  # frames observed, for schedules that run in frames (epsilon, beta, warm-up)
        self.updates = 0

    # ---- host -> device (device -> host is `self.to_numpy`) ------------------------------------------
    def to_device(self, array: np.ndarray | torch.Tensor) -> torch.Tensor:
        """`array` as a tensor on the agent's device (the same memory when it is a CPU tensor on a CPU agent)."""
        return torch.as_tensor(array, device=self.device)

    @abstractmethod
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Sample actions for a batch of observations (and remember what learning needs)."""

    @abstractmethod
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic action for each observation (evaluation)."""

    def reset_greedy(self, num_envs: int) -> None:
        """Greedy play starts on `num_envs` envs: forget any memory of earlier greedy play."""

    def greedy_done(self, done: np.ndarray) -> None:
        """Greedy play: the episodes of envs where `done` is True just ended (the next `act_greedy` begins new ones)."""

    @abstractmethod
    def observe(
        self,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: np.ndarray,
        final_obs: np.ndarray,
    ) -> bool:
        """Record the env's answer to the last `act`; return True when `update` should run.

        `next_obs` is what the env returned (a new episode's first observation where one ended);
        `final_obs[i]` is the last observation of env i's episode where it just ended
        (terminated or truncated), so truncated episodes can be bootstrapped.
        """

    def update(self, progress: float) -> dict[str, float]:
        """One learning step at `progress` in [0, 1] of the budget; returns metrics to log.

        Every optimizer's learning rate is set to its base rate times the schedule's factor at this
        frame (`cfg.optim`: warm-up, then constant, linear or cosine decay over the frame budget),
        then the algorithm learns."""
        factor = lr_factor(self.frames, self.total_frames, self.cfg.optim)
        for optimizer in self.optimizers().values():
            set_lr_factor(optimizer, factor)
        return self.learn(progress)

    @abstractmethod
    def learn(self, progress: float) -> dict[str, float]:
        """The algorithm's update (its losses and gradient steps) at `progress` in [0, 1] of the
        budget, with the learning rates already scheduled; returns metrics to log."""

    @abstractmethod
    def modules(self) -> dict[str, torch.nn.Module]:
        """The torch modules to checkpoint, by name."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers to checkpoint, by name."""

    def current_lr(self) -> float:
        """The first optimizer's learning rate (metrics.csv's `lr`)."""
        optim = next(iter(self.optimizers().values()))
        return float(optim.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return {
            "modules": {name: m.state_dict() for name, m in self.modules().items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers().items()},
            "generator": generator_state(self.generator),
            "rng": self.rng.bit_generator.state,
            "frames": self.frames,
            "updates": self.updates,
            "extra": self.extra_state(),
        }

    def extra_state(self) -> dict:
        """Algorithm state beyond modules and optimizers (e.g. a replay buffer)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def load_state_dict(self, state: dict) -> None:
        for name, module in self.modules().items():
            module.load_state_dict(state["modules"][name])
        for name, optim in self.optimizers().items():
            load_optimizer_state(optim, state["optimizers"][name])
        restore_generator(self.generator, state["generator"])
        self.rng.bit_generator.state = state["rng"]
        self.frames = int(state["frames"])
        self.updates = int(state["updates"])
        self.load_extra_state(state["extra"])


def _host_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.cpu().numpy()


class ReplayAgent(TensorAgent):
    """Off-policy agents: `act` remembers its observations and actions in `_obs` and `_actions`,
    `observe` stores the transitions in `self.replay`, and learning runs every `cfg.train_every`
    vector steps once `cfg.learning_starts` frames are in. The replay is checkpointed with the agent,
    so a resumed run keeps its experience."""

    replay: Any  # a ReplayBuffer or PrioritizedReplayBuffer, built by the algorithm

    def __init__(
        self,
        cfg: Any,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_envs: int,
        total_frames: int,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(cfg, obs_space, action_space, num_envs, total_frames, seed, device)
        self.steps = 0  # vector steps observed
        self._obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    def observe(self, rewards, terminated, truncated, next_obs, final_obs) -> bool:
        # Store the episode's true last state (final_obs); only termination stops bootstrapping.
        self.replay.add(
            self._obs,
            self._actions,
            rewards,
            encode_obs(final_obs, self.obs_space).numpy(),
            terminated.astype(np.float32),
        )
        self.frames += self.num_envs
        self.steps += 1
        return self.frames >= self.cfg.learning_starts and self.steps % self.cfg.train_every == 0

    def extra_state(self) -> dict:
        return {"replay": self.replay.state_dict(), "steps": self.steps}

    def load_extra_state(self, state: dict) -> None:
        self.replay.load_state_dict(state["replay"])
        self.steps = int(state["steps"])

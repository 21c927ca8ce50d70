"""Shared config fields, acting and storage for on-policy actor-critic agents (PPO, A2C): sample
from the policy, fill a rollout buffer, bootstrap time-limit cuts, feed self-imitation, checkpoint.
Each algorithm file keeps only its own config fields and its `learn` (the loss).

Recurrent nets (`net.recurrent: gru`): the agent carries one hidden state per env, zeroed where an
episode begins; the buffer keeps each env's state at the rollout's start and the episode-start
mask, and `evaluate(data, envs)` replays whole env sequences from them, so the update sees the
same hidden states the actions were sampled with (until the weights change)."""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from rldojo.algos.base import TensorAgent
from rldojo.algos.sil import SelfImitation, SILConfig, sil_feedforward_only
from rldojo.config import AgentConfig, NetConfig, section_field
from rldojo.memory.rollout import RolloutBuffer
from rldojo.nets.actor_critic import ActorCritic
from rldojo.nets.encoders import obs_storage
from rldojo.nets.mlp import encode_obs
from rldojo.nets.optim import build_optimizer
from rldojo.nets.policy import to_env_actions


class ActorCriticConfig(AgentConfig):
    """The fields A2C and PPO share (each adds `rollout_steps`, `optim` and its own)."""

    vf_coef: float = Field(0.5, ge=0)
    """Weight of the value loss 0.5 * mean((V - R)^2). The 0.5 is CleanRL's convention; SB3 drops it, so with
    a shared actor-critic trunk SB3's vf_coef c is 2c here. With separate trunks (`net.shared: false`, the default)
    Adam and RMSprop are nearly scale-free per parameter and the factor acts only through grad-norm clipping."""
    ent_coef: float = Field(0.0, ge=0)
    """Weight of the entropy bonus."""
    max_grad_norm: float | None = Field(0.5, gt=0)
    """Clip the global gradient norm to this (None: no clipping)."""
    sil: SILConfig | None = None
    """Self-imitation learning on top of the on-policy update (A2C+SIL, PPO+SIL); None turns it off."""
    net: NetConfig = section_field(NetConfig)
    """Actor-critic network."""

    _sil_needs_feedforward = model_validator(mode="after")(sil_feedforward_only)


class ActorCriticAgent(TensorAgent):
    """Needs an `ActorCriticConfig` with `rollout_steps` and `optim`."""

    def __init__(
        self, cfg: ActorCriticConfig, obs_space, action_space, num_envs, total_frames, seed, device="cpu"
    ) -> None:
        super().__init__(cfg, obs_space, action_space, num_envs, total_frames, seed, device)
        self.net = ActorCritic(obs_space, action_space, cfg.net).to(self.device)
        self.params = list(self.net.parameters())
        self.optimizer = build_optimizer(self.params, cfg.optim)
        action_shape = () if self.net.head.discrete else (self.net.head.out_dim,)
        action_dtype = np.int64 if self.net.head.discrete else np.float32
        obs_shape, obs_dtype = obs_storage(obs_space)
        self.recurrent = self.net.recurrent
        self.buffer = RolloutBuffer(
            cfg.rollout_steps,
            num_envs,
            obs_shape,
            action_shape,
            action_dtype,
            obs_dtype=obs_dtype,
            hidden_size=self.net.hidden_size,
            device=self.device,
        )
        self.sil = None
        if cfg.sil is not None:
            self.sil = SelfImitation(
                cfg.sil,
                self.net,
                self.optimizer,
                num_envs,
                obs_shape,
                action_shape,
                action_dtype,
                cfg.gamma,
                self.rng,
                obs_dtype=obs_dtype,
                device=self.device,
            )
            self.metric_names = self.metric_names + ("sil_loss", "sil_valid")
        self._last_obs: torch.Tensor | None = None
        if self.recurrent:  # per env: the state before the next observation, and whether it starts an episode
            self.hidden = self.net.initial_state(num_envs)
            self.episode_start = np.ones(num_envs, dtype=np.float32)
            self._last_hidden, self._last_starts = self.hidden, self.episode_start
            self._greedy_hidden: torch.Tensor | None = None
            self._greedy_starts: np.ndarray | None = None

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_host = encode_obs(obs, self.obs_space)  # kept in the (host) buffer
        obs_t = self.to_device(obs_host)
        if self.recurrent:
            hidden_before = self.hidden
            head_out, values, self.hidden = self.net.sequence(
                obs_t.unsqueeze(0), self.to_device(self.episode_start).unsqueeze(0), self.hidden
            )
        else:
            head_out, values = self.net(obs_t)
        actions, log_probs = self.net.head.sample(head_out, self.generator)
        to_numpy = self.to_numpy
        actions_host = to_numpy(actions)  # one copy back from the device, for the buffer and the env
        if self.recurrent:
            self.buffer.add_policy_step(
                obs_host.numpy(),
                actions_host,
                to_numpy(log_probs),
                to_numpy(values),
                starts=self.episode_start,
                hidden=to_numpy(hidden_before),
            )
        else:
            self.buffer.add_policy_step(obs_host.numpy(), actions_host, to_numpy(log_probs), to_numpy(values))
        return to_env_actions(actions_host, self.action_space)

    @torch.no_grad()
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        obs_t = self.to_device(encode_obs(obs, self.obs_space))
        if not self.recurrent:
            return to_env_actions(self.net.head.mode(self.net.policy(obs_t)), self.action_space)
        if self._greedy_hidden is None or self._greedy_hidden.shape[0] != obs_t.shape[0]:
            self.reset_greedy(obs_t.shape[0])
        head_out, _, self._greedy_hidden = self.net.sequence(
            obs_t.unsqueeze(0), self.to_device(self._greedy_starts).unsqueeze(0), self._greedy_hidden
        )
        self._greedy_starts = np.zeros(obs_t.shape[0], dtype=np.float32)
        return to_env_actions(self.net.head.mode(head_out), self.action_space)

    def reset_greedy(self, num_envs: int) -> None:
        if self.recurrent:
            self._greedy_hidden = self.net.initial_state(num_envs)
            self._greedy_starts = np.ones(num_envs, dtype=np.float32)

    def greedy_done(self, done: np.ndarray) -> None:
        if self.recurrent and self._greedy_starts is not None and len(done) == len(self._greedy_starts):
            self._greedy_starts = np.maximum(self._greedy_starts, np.asarray(done, dtype=np.float32))

    # ---- what the update needs ----------------------------------------------------------------
    @torch.no_grad()
    def last_values(self) -> np.ndarray:
        """Values of the observations after the rollout (they bootstrap its end)."""
        if self.recurrent:
            return self.to_numpy(
                self.net.sequence(
                    self._last_obs.unsqueeze(0), self.to_device(self._last_starts).unsqueeze(0), self._last_hidden
                )[1]
            )
        return self.to_numpy(self.net.value(self._last_obs))

    def evaluate(
        self, data: dict[str, torch.Tensor], index: torch.Tensor | None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Policy head output and values for a minibatch of `data` ([T, N, ...] tensors from
        `buffer.sequence_tensors`), with the minibatch's per-step tensors flattened alike.
        Feed-forward: `index` picks transitions of the flattened batch. Recurrent: `index` picks env
        columns, whose whole sequences are replayed from the stored initial states. None: everything."""
        steps = ("obs", "actions", "log_probs", "values", "advantages", "returns")
        if self.recurrent:
            cols = {k: (v if index is None else v[:, index]) for k, v in data.items() if k != "hidden"}
            hidden = data["hidden"] if index is None else data["hidden"][index]
            head_out, values, _ = self.net.sequence(cols["obs"], cols["starts"], hidden)
            mb = {k: cols[k].flatten(0, 1) for k in steps}
            return mb, head_out, values
        flat = {k: data[k].flatten(0, 1) for k in steps}
        mb = flat if index is None else {k: v[index] for k, v in flat.items()}
        head_out, values = self.net(mb["obs"])
        return mb, head_out, values

    @torch.no_grad()
    def observe(self, rewards, terminated, truncated, next_obs, final_obs) -> bool:
        if self.sil is not None:
            step = self.buffer.step
            self.sil.record(self.buffer.obs[step], self.buffer.actions[step], rewards, terminated | truncated)
        rewards = rewards.astype(np.float32)
        cut = truncated & ~terminated
        if cut.any():  # a time limit is not the end of the task: bootstrap from the last state
            rewards = rewards.copy()
            final_t = self.to_device(encode_obs(final_obs[cut], self.obs_space))
            if self.recurrent:  # the final observation continues the episode: the state carries on
                cut_t = self.to_device(cut)
                final_values = self.net.sequence(
                    final_t.unsqueeze(0), torch.zeros(1, int(cut.sum()), device=self.device), self.hidden[cut_t]
                )[1]
            else:
                final_values = self.net.value(final_t)
            rewards[cut] += self.cfg.gamma * self.to_numpy(final_values)
        done = terminated | truncated
        self.buffer.add_env_step(rewards, done)
        self.frames += self.num_envs
        if self.recurrent:
            self.episode_start = done.astype(np.float32)
        if self.buffer.full:  # bootstraps the end of the rollout
            self._last_obs = self.to_device(encode_obs(next_obs, self.obs_space))
            if self.recurrent:
                self._last_hidden, self._last_starts = self.hidden, self.episode_start
        return self.buffer.full

    def sil_update(self, max_grad_norm: float | None) -> dict[str, float]:
        return {} if self.sil is None else self.sil.train(self.generator, max_grad_norm)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def extra_state(self) -> dict:
        return {} if self.sil is None else {"sil": self.sil.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if self.recurrent:  # the env is rebuilt on resume: every env starts a new episode
            self.hidden = self.net.initial_state(self.num_envs)
            self.episode_start = np.ones(self.num_envs, dtype=np.float32)
        if self.sil is not None and "sil" in state:
            self.sil.load_state_dict(state["sil"])

"""Scripted blue policies for NetDefense: the baselines a trained defender should beat.

Both read only blue's observation (never the true state) and act on a batch of observations
(`act(obs)` with obs of shape (n, 52) -> n action indices, or one observation -> one index). They
also offer `act_greedy` / `reset_greedy` / `greedy_done`, so rldojo's evaluation (`play_greedy`)
plays them exactly as it plays a trained agent.

- `SleepPolicy`: never acts (CAGE-2's floor: red walks through the network unopposed).
- `ReactRestorePolicy`: each step, find the hosts blue's table marks compromised (user or
  privileged) and act on the most valuable one: Restore it if it is worth a Restore (an enterprise
  or operational host: red's root there costs 1 per step, or 10 once the server goes down), else
  Remove red's user-level session (a user host costs 0.1 per step, less than the 1 a Restore
  costs). With nothing marked, it places a decoy on a host red is scanning, or sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rldojo.envs.cyber.scenario import HOSTS, SUBNETS
from rldojo.envs.errors import EnvInputError

#: Hosts by how much red's hold on them costs blue, most first (the react policy's priority).
HOSTS_BY_VALUE: tuple[str, ...] = (
    "Op_Server0",
    "Enterprise2",
    "Enterprise1",
    "Enterprise0",
    "Op_Host0",
    "Op_Host1",
    "Op_Host2",
    "Defender",
    "User1",
    "User2",
    "User3",
    "User4",
    "User0",
)


class SleepPolicy:
    """Blue that never acts: action `Sleep` (index 0 in both action sets) every step."""

    def __init__(self, action_names: Sequence[str] | None = None) -> None:
        names = list(action_names) if action_names is not None else ["Sleep"]
        self.sleep = names.index("Sleep")

    def act(self, obs: np.ndarray) -> np.ndarray | int:
        obs = np.asarray(obs)
        if obs.ndim == 1:
            return self.sleep
        return np.full(obs.shape[0], self.sleep, dtype=np.int64)

    act_greedy = act

    def reset_greedy(self, num_envs: int) -> None:
        """Stateless: nothing to forget."""

    def greedy_done(self, done: np.ndarray) -> None:
        """Stateless: nothing to forget."""


class ReactRestorePolicy:
    """React to what blue's table shows: Restore valuable hosts, Remove on user hosts (see module docstring)."""

    def __init__(self, action_names: Sequence[str], restore_subnets: Sequence[str] = ("Enterprise", "Operational")):
        names = list(action_names)
        unknown = [subnet for subnet in restore_subnets if subnet not in SUBNETS]
        if unknown:
            raise EnvInputError(f"restore_subnets {unknown} are not subnets; subnets: {', '.join(SUBNETS)}")
        restore_hosts = {host for subnet in restore_subnets for host in SUBNETS[subnet]}
        try:
            self.sleep = names.index("Sleep")
            # Per host row of the observation: the action taken when it is marked compromised.
            self.react = np.array(
                [names.index(f"{'Restore' if host in restore_hosts else 'Remove'} {host}") for host in HOSTS]
            )
        except ValueError as exc:
            raise EnvInputError(
                f"ReactRestorePolicy needs NetDefense's action names (env.unwrapped.action_names): {exc}"
            ) from None
        decoy = "Decoy" if "Decoy User1" in names else None
        self.decoy = np.array([names.index(f"{decoy} {host}") if decoy else -1 for host in HOSTS])
        self.priority = np.array([HOSTS.index(host) for host in HOSTS_BY_VALUE])

    def act(self, obs: np.ndarray) -> np.ndarray | int:
        obs = np.asarray(obs)
        single = obs.ndim == 1
        rows = obs.reshape(-1, len(HOSTS), 4)[:, self.priority]  # hosts, most valuable first
        compromised = rows[:, :, 3] > 0.5  # compromise bits 01 (user) or 11 (privileged)
        scanned = (rows[:, :, 0] > 0.5) & (rows[:, :, 1] < 0.5)  # activity bits 10 (scan)
        actions = np.full(rows.shape[0], self.sleep, dtype=np.int64)
        first = compromised.argmax(axis=1)
        hit = compromised.any(axis=1)
        actions[hit] = self.react[self.priority[first[hit]]]
        if self.decoy[0] >= 0:
            lure = ~hit & scanned.any(axis=1)
            actions[lure] = self.decoy[self.priority[scanned.argmax(axis=1)[lure]]]
        return int(actions[0]) if single else actions

    act_greedy = act

    def reset_greedy(self, num_envs: int) -> None:
        """Stateless: blue's table already remembers what it has seen."""

    def greedy_done(self, done: np.ndarray) -> None:
        """Stateless: nothing to forget."""

"""`dojo/NetDefense-v0`: defend a CAGE-2 network as blue against a scripted red attacker.

The world is CAGE Challenge 2's: 13 hosts in three subnets (User0-4; Enterprise0-2 and Defender;
Op_Server0 and Op_Host0-2), red starting from a foothold on User0, green users making noise, and
blue watching every host. It runs on CybORG (`csle-cyborg`) with rldojo's scenario in CybORG's
format, or the user's own `Scenario2.yaml` (`scenario=`).

- Observation: 52 floats, 4 per host (rows in `HOSTS` order): activity (none 00, scan 10,
  exploit 11) and compromise as blue believes it (no 00, unknown 10, user 01, privileged 11).
- Actions: `action_set="reduced"` (54, default) or `"full"` (CAGE-2's 145); see `actions.py`.
  `env.unwrapped.action_names` names them.
- Reward: CAGE-2's, each step: -0.1 per user or operational host where red holds root/SYSTEM,
  -1 per enterprise host and on the operational server, -10 while the operational server's
  service is down (red's Impact), -1 for each Restore. Always in `info["native_reward"]`; the
  returned reward adds a workflow's shaping term when `workflow` is set (`workflow.py`).
- Episodes end by truncation after `episode_length` steps (CAGE-2 scores 30, 50 and 100).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rldojo.envs.cyber.actions import ACTION_SETS, REDUCED_ACTIONS
from rldojo.envs.cyber.cyborg import RED_AGENTS, BlueSeat
from rldojo.envs.cyber.scenario import HOSTS, load_scenario
from rldojo.envs.cyber.workflow import shaping_term, workflow_items, workflow_weights
from rldojo.envs.errors import EnvInputError

OBS_SIZE = 4 * len(HOSTS)


class NetDefenseConfig(BaseModel):
    """Options of `dojo/NetDefense-v0` (the spec's `env.kwargs`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    red_agent: Literal["b_line", "meander", "sleep"] = "b_line"
    """Red's script: `b_line` heads straight for the operational server (user host, enterprise
    host, Enterprise2, Op_Server0, then Impact); `meander` scans and takes every subnet in turn
    before it reaches the operational server; `sleep` never acts (to measure green noise)."""
    episode_length: int = Field(100, ge=1, le=10_000)
    """Steps per episode (truncation). CAGE-2 scores episodes of 30, 50 and 100 steps."""
    green: bool = True
    """Green users scan hosts at random, which blue sees as scan activity (false alarms)."""
    action_set: Literal["reduced", "full"] = "reduced"
    """`reduced`: 54 actions (one decoy choice per host); `full`: CAGE-2's 145."""
    scenario: str | None = None
    """A CybORG scenario file (e.g. CAGE-2's Scenario2.yaml, its images/ folder beside it); None:
    rldojo's own. It must have CAGE-2's 13 hosts under their CAGE-2 names."""
    workflow: str | list[str] | None = None
    """Defence priorities that shape the reward: a preset (uniform, operational_first,
    enterprise_first, user_first, op_server_first) or subnets/hosts in priority order; None: the
    native reward only."""
    workflow_weight: float = Field(0.1, ge=0.0)
    """Scale of the workflow's shaping term (a host of weight 1 held at root costs this per step)."""

    @field_validator("workflow")
    @classmethod
    def _known_workflow(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None:
            workflow_items(value)  # raises EnvInputError naming what is allowed
        return value

    @field_validator("scenario")
    @classmethod
    def _scenario_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise EnvInputError(
                f"scenario file '{value}' does not exist; give the path of a CybORG scenario YAML "
                "(with its images/ folder beside it), or leave scenario unset for rldojo's own."
            )
        return value


def netdefense_config(**kwargs: Any) -> NetDefenseConfig:
    """Validate NetDefense options, answering a bad one with the option, its value and what is allowed."""
    try:
        return NetDefenseConfig(**kwargs)
    except EnvInputError:
        raise
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'options'}={err.get('input')!r}: "
            f"{str(err.get('ctx', {}).get('error', err['msg'])).rstrip('.')}"
            for err in exc.errors()
        )
        allowed = ", ".join(NetDefenseConfig.model_fields)
        raise EnvInputError(
            f"dojo/NetDefense-v0 options are wrong ({problems}). Options: {allowed}; red_agent is one of "
            f"{', '.join(RED_AGENTS)}, action_set one of {', '.join(ACTION_SETS)}."
        ) from None


class NetDefenseEnv(gym.Env):
    """Blue defends a CAGE-2 network (see the module docstring)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None, **options: Any) -> None:
        if render_mode not in (None, "ansi"):
            raise EnvInputError(
                f"dojo/NetDefense-v0 renders as text only: render_mode 'ansi' or None, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.config = netdefense_config(**options)
        self.seat = BlueSeat(load_scenario(self.config.scenario), self.config.red_agent, self.config.green)
        if self.config.action_set == "full":
            self.action_names: list[str] = list(self.seat.action_names)
        else:
            self.action_names = list(REDUCED_ACTIONS)
        self._full_index = np.array(
            [self.seat.index(name) if not name.startswith("Decoy ") else -1 for name in self.action_names]
        )
        self._sleep = self.seat.index("Sleep")
        self.observation_space = gym.spaces.Box(0.0, 1.0, (OBS_SIZE,), np.float32)
        self.action_space = gym.spaces.Discrete(len(self.action_names))
        self._weights = None if self.config.workflow is None else workflow_weights(self.config.workflow)
        self._steps = 0
        self._obs = np.zeros(OBS_SIZE, np.float32)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Host of each observation row (4 floats each)."""
        return HOSTS

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        # The simulator's own random state follows gymnasium's seeding: one seed replays an episode.
        raw = self.seat.reset(int(self.np_random.integers(2**63 - 1)))
        self._steps = 0
        np.copyto(self._obs, raw)
        return self._obs.copy(), {"native_reward": 0.0, "shaping": 0.0}

    def step(self, action: Any):
        choice = int(action)
        if not 0 <= choice < len(self.action_names):
            raise EnvInputError(
                f"dojo/NetDefense-v0 action {action!r} is out of range: the {self.config.action_set} action set "
                f"has actions 0..{len(self.action_names) - 1}."
            )
        index = int(self._full_index[choice])
        if index < 0:  # the reduced set's Decoy: the most luring decoy that still fits the host
            decoy = self.seat.decoy_for(self.action_names[choice].split(" ", 1)[1])
            index = self._sleep if decoy is None else self.seat.index(decoy)
        raw, native = self.seat.step(index)
        self._steps += 1
        np.copyto(self._obs, raw)
        shaping = 0.0
        if self._weights is not None:
            shaping = shaping_term(self._weights, self.seat.red_access(), self.config.workflow_weight)
        truncated = self._steps >= self.config.episode_length
        info = {"native_reward": native, "shaping": shaping}
        return self._obs.copy(), native + shaping, False, truncated, info

    def red_access(self) -> dict[str, int]:
        """The true state: per host, 0 red holds nothing, 1 user-level, 2 root/SYSTEM."""
        return dict(zip(HOSTS, self.seat.red_access().tolist()))

    def last_actions(self) -> dict[str, str]:
        """What each agent did on the last step, as CybORG names it (e.g. {'Red': 'Impact Op_Server0'})."""
        return {agent: self.seat.last_action(agent) for agent in ("Blue", "Red", "Green")}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        activity = {(0, 0): "None", (1, 0): "Scan", (1, 1): "Exploit"}
        compromise = {(0, 0): "No", (1, 0): "Unknown", (0, 1): "User", (1, 1): "Privileged"}
        truth = {0: "-", 1: "user", 2: "root"}
        access = self.seat.red_access()
        rows = [f"step {self._steps}  " + "  ".join(f"{a}: {b}" for a, b in self.last_actions().items())]
        rows.append(f"{'host':<12}{'activity':<10}{'blue sees':<12}red holds")
        for i, host in enumerate(HOSTS):
            bits = self._obs[4 * i : 4 * i + 4].astype(int)
            rows.append(
                f"{host:<12}{activity.get((bits[0], bits[1]), '?'):<10}"
                f"{compromise.get((bits[2], bits[3]), '?'):<12}{truth[int(access[i])]}"
            )
        return "\n".join(rows)

"""`dojo/SciWorld-v0`: ScienceWorld's 30 science-experiment task families through the `scienceworld` package.

Tasks
    A task is one (task family, variation) pair of the chosen split. Splits are the package's own:
    `train`, `dev` and `test` variations of each family (`ScienceWorldEnv.get_variations_*`; the
    ranges are kept in `sciworld_splits.json` so no JVM is needed to list tasks, and a test checks
    them against the package). A split's tasks never include another split's variations (AgentGym
    served train variations in its test set). Task ids index the split's pairs in the package's
    task order, then variation; without a task id, a family is drawn uniformly, then a variation.

Rewards
    ScienceWorld scores an episode from -100 to 100. The reward is the step's change of the score
    clipped below at 0 and divided by 100, so an episode's rewards add up to a [0, 1] score
    (`info["score"]`); the raw score is `info["raw_score"]`. The episode is won at score 100 and
    ends without winning when the task fails (ScienceWorld then reports completion with a score
    below 100, usually -100).

Actions and expert
    `available_actions` are the package's valid action-object combinations for the current state
    (`list_actions=False` skips them: they take a JVM round trip of 10-300 ms each turn). A command
    the simulator cannot parse is answered "No known action matches that input." and counted
    invalid. Observations are the simulator's, with each listed block of contents sorted (the
    simulator's own order changes between loads; see `canonical`), and actions are listed sorted.
    The expert is the package's gold action sequence of the task (made when the task is loaded
    with `generateGoldPath=True`), followed in order: it advances when the agent takes its action,
    so it is open-loop: after a detour that changes the world it may no longer win.

The JVM
    Java 17 runs the simulator. It starts on the first reset (4-5 s), is closed by `close()` and
    on interpreter exit (every live env is tracked), and a step or load that does not answer within
    `step_timeout` / `load_timeout` seconds kills the JVM; the episode is then truncated with a
    message saying so, and the next reset starts a fresh JVM.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import functools
import json
import shutil
import weakref
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from loguru import logger

from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.protocol import NOTHING_HAPPENS, TextEnv, WorldStep

SPLITS = ("train", "dev", "test")
UNKNOWN_ACTION = "No known action matches that input."
HINT = (
    "Commands look like: look around | open door to kitchen | go to kitchen | pick up X | move X to Y | "
    "focus on X | activate X | wait | inventory."
)

_LIVE: weakref.WeakSet[SciWorldEnv] = weakref.WeakSet()


@atexit.register
def _close_every_jvm() -> None:
    for env in list(_LIVE):
        env._stop_jvm()


@functools.cache
def split_table() -> dict[str, dict[str, tuple[int, int]]]:
    """Task family -> split -> [start, stop) of its variations (the package's own split)."""
    text = resources.files("rldojo.envs.text").joinpath("sciworld_splits.json").read_text()
    return {name: {s: tuple(r) for s, r in splits.items()} for name, splits in json.loads(text)["tasks"].items()}


def canonical(text: str) -> str:
    """Sort each block of tab-indented lines (a room's or container's contents).

    ScienceWorld lists contents in an order that changes from one load of the same variation to
    the next (hash order inside the simulator); sorting the listed lines makes an episode a function
    of the task and the actions, and changes nothing else.
    """
    lines = text.strip().split("\n")
    out: list[str] = []
    block: list[str] = []
    for line in lines + [""]:
        if line.startswith("\t"):
            block.append(line)
            continue
        out.extend(sorted(block))
        block = []
        out.append(line)
    return "\n".join(out[:-1])


def task_families() -> list[str]:
    """ScienceWorld's 30 task families, in the package's order."""
    return list(split_table())


class SciWorldEnv(TextEnv):
    """ScienceWorld as a text world (see the module docstring)."""

    has_expert = True

    def __init__(
        self,
        max_turns: int = 100,
        split: str = "train",
        tasks: Sequence[str] | str | None = None,
        simplifications: str = "",
        list_actions: bool = True,
        gold_path: bool = True,
        step_timeout: float = 60.0,
        load_timeout: float = 180.0,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        if split not in SPLITS:
            raise EnvInputError(f"unknown SciWorld split {split!r}; allowed: {', '.join(SPLITS)}")
        table = split_table()
        chosen = list(table) if tasks is None else ([tasks] if isinstance(tasks, str) else list(tasks))
        unknown = [t for t in chosen if t not in table]
        if unknown or not chosen:
            raise EnvInputError(f"unknown SciWorld task families {unknown or chosen}; allowed: {', '.join(table)}")
        if not isinstance(simplifications, str):
            raise EnvInputError(f"simplifications is a comma-separated string, got {simplifications!r}")
        for name, timeout in (("step_timeout", step_timeout), ("load_timeout", load_timeout)):
            if not isinstance(timeout, (int, float)) or not timeout > 0:
                raise EnvInputError(f"{name} must be a positive number of seconds, got {timeout!r}")
        self.split = split
        self.families = chosen
        self.simplifications = simplifications
        self.list_actions = bool(list_actions)
        self.gold_path = bool(gold_path)
        self.step_timeout = float(step_timeout)
        self.load_timeout = float(load_timeout)
        self.tasks: list[tuple[str, int]] = [(family, v) for family in chosen for v in range(*table[family][split])]
        self._first_of: dict[str, tuple[int, int]] = {}
        for i, (family, _) in enumerate(self.tasks):
            start, _stop = self._first_of.get(family, (i, i))
            self._first_of[family] = (start, i + 1)
        self._sw: Any = None  # scienceworld.ScienceWorldEnv, started lazily
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.family = ""
        self.variation = -1
        self.gold: list[str] = []
        self._gold_next = 0
        self._raw_score = 0
        self._actions_cache: tuple[int, list[str]] | None = None
        _LIVE.add(self)

    # ---- the JVM ------------------------------------------------------------------------------

    @property
    def jvm_pid(self) -> int | None:
        """The simulator's Java process id while it runs."""
        if self._sw is None:
            return None
        return self._sw._gateway.java_process.pid

    def _call(self, timeout: float, fn, *args):
        """Run one JVM call with a time limit; on timeout kill the JVM and raise TimeoutError."""
        if self._sw is None:
            self._start_jvm()
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            logger.warning(f"SciWorld: the JVM did not answer within {timeout:g} s; restarting it")
            self._stop_jvm(kill=True)
            raise TimeoutError from None

    def _start_jvm(self) -> None:
        if shutil.which("java") is None:
            raise EnvInputError("dojo/SciWorld-v0 needs Java 17 on PATH (e.g. apt-get install openjdk-17-jre-headless)")
        from scienceworld import ScienceWorldEnv

        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sciworld")
        self._sw = self._pool.submit(ScienceWorldEnv, "", None, 10**9).result(timeout=self.load_timeout)

    def _stop_jvm(self, kill: bool = False) -> None:
        sw, self._sw = self._sw, None
        pool, self._pool = self._pool, None
        if sw is not None:
            process = sw._gateway.java_process
            try:
                if kill:
                    process.kill()
                else:
                    sw.close()
                process.wait(timeout=10)
            except Exception as exc:  # noqa: BLE001 - the JVM may already be gone
                logger.debug(f"SciWorld: stopping the JVM: {exc}")
                process.kill()
            try:
                sw._gateway.shutdown()
            except Exception:  # noqa: BLE001
                pass
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._stop_jvm()
        super().close()

    # ---- protocol hooks -----------------------------------------------------------------------

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def _sample_task_id(self, rng: np.random.Generator, options: dict[str, Any]) -> int:
        family = options.get("task_family")
        if family is None:
            family = self.families[int(rng.integers(len(self.families)))]
        if family not in self._first_of:
            raise EnvInputError(f"task_family {family!r} is not among this env's families: {', '.join(self.families)}")
        start, stop = self._first_of[family]
        return int(rng.integers(start, stop))

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        self.family, self.variation = self.tasks[task_id]
        self._raw_score = 0
        self._actions_cache = None
        self._gold_next = 0

        def load(sw):
            sw.load(self.family, self.variation, self.simplifications, generateGoldPath=self.gold_path)
            gold = sw.get_gold_action_sequence() if self.gold_path else []
            observation, _ = sw.reset()
            return gold, sw.get_task_description(), observation, int(round(100 * sw.server.getScore()))

        try:
            self.gold, description, observation, self._raw_score = self._call(self.load_timeout, lambda: load(self._sw))
        except TimeoutError:
            raise RuntimeError(
                f"ScienceWorld did not load {self.family} variation {self.variation} within {self.load_timeout:g} s"
            ) from None
        return description.strip(), canonical(observation)

    def _vet(self, action: Any) -> tuple[str | None, str]:
        # Unusable input (empty, not a string, too long) gets the simulator's own answer to any
        # action it cannot parse: every invalid action reads alike, as in the original.
        problem, command = super()._vet(action)
        return (None if problem is None else UNKNOWN_ACTION), command

    def _step_world(self, action: str) -> WorldStep:
        def step(sw):
            observation = sw.server.step(action)
            return observation, int(round(100 * sw.server.getScore())), bool(sw.server.getCompleted())

        try:
            observation, score, completed = self._call(self.step_timeout, lambda: step(self._sw))
        except TimeoutError:
            message = (
                f"{NOTHING_HAPPENS} The simulator did not answer within {self.step_timeout:g} s and was "
                f"restarted; the episode ends here."
            )
            return WorldStep(message, valid=False, truncated=True)
        self._actions_cache = None
        valid = not observation.startswith(UNKNOWN_ACTION)
        if self._gold_next < len(self.gold) and action.lower() == self.gold[self._gold_next].lower():
            self._gold_next += 1
        before = max(self._raw_score, 0)
        self._raw_score = score
        reward = (max(score, 0) - before) / 100.0
        won = score >= 100
        failed = not won and (score < 0 or completed)
        return WorldStep(canonical(observation), reward=reward, valid=valid, won=won, done=failed)

    def _available_actions(self) -> list[str]:
        if not self.list_actions or self._sw is None:
            return []
        if self._actions_cache is None or self._actions_cache[0] != self.turn:
            try:
                actions = self._call(self.step_timeout, lambda: sorted(self._sw.get_valid_action_object_combinations()))
            except TimeoutError:
                actions = []
            self._actions_cache = (self.turn, actions)
        return list(self._actions_cache[1])

    def _expert_action(self) -> str | None:
        return self.gold[self._gold_next] if self._gold_next < len(self.gold) else None

    def _native_score(self) -> float:
        return max(self._raw_score, 0) / 100.0

    def _action_hint(self) -> str:
        return HINT

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        info.update(raw_score=self._raw_score, task_family=self.family, variation=self.variation, split=self.split)
        return info

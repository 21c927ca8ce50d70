"""Training and held-out tasks: a fixed hash of the task id decides which split a task is in.

Tasks are drawn the way the world draws them (`reset(seed=s)` picks the task, so a world's own
task distribution, e.g. TextCraft's depths, is kept); draws that land in the other split are
skipped. The split depends on the task id only, so it is the same in every run and every process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import gymnasium as gym

from rldojo.errors import UserError

_SPLIT_SALT = b"rldojo-task-split-v1"
_MAX_DRAWS = 10_000


def is_held_out(task_id: int, fraction: float) -> bool:
    digest = hashlib.blake2b(str(int(task_id)).encode(), key=_SPLIT_SALT, digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < fraction


@dataclass(frozen=True)
class EpisodeStart:
    """Which task an episode plays, with which seed, in which group."""

    seed: int
    task_id: int
    group: int = 0


class TaskStream:
    """Endless, deterministic draws of tasks of one split."""

    def __init__(self, probe_env: gym.Env, held_out: bool, fraction: float, seed: int, cursor: int = 0) -> None:
        self.env, self.held_out, self.fraction = probe_env, held_out, fraction
        self.seed, self.cursor = seed, cursor

    def next(self) -> EpisodeStart:
        for _ in range(_MAX_DRAWS):
            seed = self.seed + self.cursor
            self.cursor += 1
            _, info = self.env.reset(seed=seed)
            task_id = int(info.get("task_id") or 0)
            if is_held_out(task_id, self.fraction) == self.held_out:
                return EpisodeStart(seed=seed, task_id=task_id)
        split = "held-out" if self.held_out else "training"
        name = self.env.spec.id if self.env.spec else "the env"
        raise UserError(
            f"no {split} task found in {_MAX_DRAWS} draws of {name}: "
            f"the world offers too few tasks for tasks.held_out={self.fraction}. Allow more tasks "
            "(e.g. more depths or levels) or change tasks.held_out."
        )

    def groups(self, count: int, group_size: int, first_group: int = 0) -> list[EpisodeStart]:
        """`count` tasks, each repeated `group_size` times with different episode seeds."""
        starts = []
        for g in range(count):
            task = self.next()
            starts += [
                EpisodeStart(seed=task.seed * 1_000 + k, task_id=task.task_id, group=first_group + g)
                for k in range(group_size)
            ]
        return starts

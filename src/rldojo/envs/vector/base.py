"""`EngineVectorEnv`: what the engines of modes sync, workers, pool and ray share — spaces, seeds,
action checks, buffers, infos.

Every engine returns gymnasium 1.x results in SAME_STEP autoreset mode, exactly as
`gymnasium.vector.SyncVectorEnv(..., autoreset_mode=SAME_STEP)` does for the same seeds and actions.

Buffers are double: step t writes observations, rewards, terminated and truncated into buffer
t % 2 and returns views of it (no copy), so the arrays a step returned stay valid through the
next step (`obs` and `next_obs` can be held together) and are overwritten by the one after.
Copy them to keep them longer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from rldojo.envs.errors import EnvInputError
from rldojo.envs.vector.env_slice import Record, iter_actions
from rldojo.envs.vector.shared_memory import ArraySpec, BatchLayout, fill_rows


def buffer_specs(obs_space: gym.Space, act_space: gym.Space, num_envs: int, slots: int) -> list[ArraySpec]:
    """The arrays an engine keeps: double-buffered obs/reward/terminated/truncated, the final
    observations of episodes that just ended, actions, and one cursor per worker."""
    specs: list[ArraySpec] = []
    if BatchLayout.supports(obs_space):
        layout = BatchLayout(obs_space, num_envs)
        specs += layout.array_specs("obs", lead=(2,)) + layout.array_specs("final")
    if BatchLayout.supports(act_space):
        specs += BatchLayout(act_space, num_envs).array_specs("act")
    specs += [
        ArraySpec("reward", (2, num_envs), "<f8"),
        ArraySpec("terminated", (2, num_envs), "|b1"),
        ArraySpec("truncated", (2, num_envs), "|b1"),
        ArraySpec("cursor", (max(slots, 1),), "<i8"),
    ]
    return specs


def local_arrays(specs: list[ArraySpec]) -> dict[str, np.ndarray]:
    return {spec.name: np.zeros(spec.shape, dtype=spec.dtype) for spec in specs}


class EngineVectorEnv(VectorEnv):
    """Base of rldojo's engines: subclasses implement reset/step/call/set_attr/close_extras."""

    def __init__(self, probe: gym.Env, num_envs: int, arrays: dict[str, np.ndarray], env_name: str = "") -> None:
        super().__init__()
        self.num_envs = num_envs
        self.env_name = env_name or (probe.spec.id if probe.spec is not None else type(probe.unwrapped).__name__)
        self.autoreset_mode = AutoresetMode.SAME_STEP
        self.metadata = dict(probe.metadata)
        self.metadata["autoreset_mode"] = self.autoreset_mode
        self.render_mode = probe.render_mode
        self.spec = probe.spec
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        self._arrays = arrays
        obs_space, act_space = self.single_observation_space, self.single_action_space
        self._obs_layout = BatchLayout(obs_space, num_envs) if BatchLayout.supports(obs_space) else None
        self._act_layout = BatchLayout(act_space, num_envs) if BatchLayout.supports(act_space) else None
        if self._obs_layout is not None:
            self._obs_views = [self._obs_layout.views(arrays, "obs", b) for b in (0, 1)]
            self._obs_leaves = [self._obs_layout.leaf_arrays(v) for v in self._obs_views]
            self._final_view = self._obs_layout.views(arrays, "final")
        else:  # Text and other object spaces: observations are Python objects kept in lists
            self._obs_items: list[list[Any]] = [[None] * num_envs, [None] * num_envs]
        if self._act_layout is not None:
            self._act_view = self._act_layout.views(arrays, "act")
            self._act_leaves = self._act_layout.leaf_arrays(self._act_view)
        self._rew, self._term, self._trunc = arrays["reward"], arrays["terminated"], arrays["truncated"]
        if self._obs_layout is not None:  # the views a step returns, made once
            self._results = [(self._obs_views[b], self._rew[b], self._term[b], self._trunc[b]) for b in (0, 1)]
        self._cursor = arrays["cursor"]
        self._buf = 0  # the buffer the last reset/step wrote
        self._seeds: list[int | None] = [None] * num_envs

    # ---- seeds and options, as SyncVectorEnv reads them ------------------------------------
    def _seed_list(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise EnvInputError(
                f"reset got {len(seeds)} seeds for {self.num_envs} envs; pass one int "
                "(env i gets seed + i), None, or a list with one seed per env."
            )
        return seeds

    def _pop_reset_mask(self, options: dict[str, Any] | None) -> np.ndarray | None:
        if options is None or "reset_mask" not in options:
            return None
        mask = options.pop("reset_mask")
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise EnvInputError(
                f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},), got {mask!r}"
            )
        if not mask.any():
            raise EnvInputError("options['reset_mask'] must select at least one env")
        return mask

    # ---- actions -------------------------------------------------------------------------------
    def _check_count(self, actions: Any) -> None:
        """Object action spaces (Text): one action per env, any sequence."""
        try:
            count = len(actions)
        except TypeError:
            count = None
        if count != self.num_envs:
            raise EnvInputError(
                f"step got {count if count is not None else type(actions).__name__} actions "
                f"for {self.num_envs} envs; pass one action per env"
            )

    def _write_actions(self, actions: Any) -> None:
        """Copy the batch of actions into the action arrays (shared memory for the workers)."""
        if len(self._act_leaves) == 1 and isinstance(actions, np.ndarray):
            target = self._act_leaves[0]
            if actions.shape != target.shape:
                raise EnvInputError(
                    f"step got actions of shape {actions.shape}; the action space "
                    f"{self.action_space} needs shape {target.shape}"
                )
            target[...] = actions
            return
        try:
            leaves = self._act_layout.leaf_arrays(actions)
        except (AttributeError, KeyError, TypeError):
            raise EnvInputError(
                f"step got actions {type(actions).__name__}; the action space is {self.action_space}"
            ) from None
        for target, value in zip(self._act_leaves, leaves, strict=True):
            if np.shape(value) != target.shape:
                raise EnvInputError(
                    f"step got actions of shape {np.shape(value)}; the action space "
                    f"{self.action_space} needs shape {target.shape}"
                )
            target[...] = value

    def _iterate_actions(self, actions: Any) -> Any:
        return iter_actions(self.action_space, actions)

    # ---- observations ---------------------------------------------------------------------------
    def _write_obs(self, buf: int, start: int, items: list[Any], out: Any = None) -> None:
        """Store observations of envs start.. in buffer `buf` (`out`: precomputed row views)."""
        if self._obs_layout is None:
            self._obs_items[buf][start : start + len(items)] = items
        else:
            if out is None:
                out = self._obs_layout.views(self._arrays, "obs", (buf, slice(start, start + len(items))))
            fill_rows(out, items)

    def _obs_row(self, buf: int, env: int) -> Any:
        """A copy of one env's observation in buffer `buf`."""
        if self._obs_layout is None:
            return self._obs_items[buf][env]
        return _index_tree(self._obs_views[buf], env)

    def _copy_rows(self, src: int, dst: int, rows: np.ndarray | slice) -> None:
        """Copy observation rows between the two buffers (envs that a masked reset leaves alone)."""
        if self._obs_layout is None:
            for i in np.arange(self.num_envs)[rows]:
                self._obs_items[dst][i] = self._obs_items[src][i]
        else:
            for s, d in zip(self._obs_leaves[src], self._obs_leaves[dst], strict=True):
                d[rows] = s[rows]

    def _batch_obs(self, buf: int) -> Any:
        if self._obs_layout is None:
            return concatenate(
                self.single_observation_space,
                self._obs_items[buf],
                create_empty_array(self.single_observation_space, self.num_envs),
            )
        return self._obs_views[buf]

    # ---- infos -----------------------------------------------------------------------------------
    def _merge_step(
        self,
        infos: dict[str, Any],
        start: int,
        done: list[int],
        records: list[Record],
        finals: dict[int, Any] | None = None,
        positions: Any = None,
        add_info: Any = None,
    ) -> dict[str, Any]:
        """Add the infos of envs start+j from one step, in env order, as SyncVectorEnv builds them.

        `done`: the j whose episode ended; they get `final_obs` (from `finals` {j: obs}, else the
        shared final buffer) and `final_info`. `records` carry the non-empty infos. `positions`:
        where env start+j sits in the returned batch (pool mode), default start+j; `add_info`:
        gymnasium's `_add_info` for a batch of another size (pool mode)."""
        add_info = add_info or self._add_info
        if done:
            # final_obs / final_info of every ended episode at once: the arrays and masks gymnasium's
            # _add_info builds one env at a time (its per-call cost is most of a cheap env's batch)
            size = add_info.__self__.num_envs
            if "final_obs" not in infos:
                infos["final_obs"] = np.full(size, None, dtype=object)
                infos["_final_obs"] = np.zeros(size, dtype=np.bool_)
            final_infos = {j: final_info for j, final_info, _ in records if final_info}
            for j in sorted(done):
                at = start + j if positions is None else positions[j]
                infos["final_obs"][at] = finals[j] if finals is not None else _index_tree(self._final_view, start + j)
                infos["_final_obs"][at] = True
                if j in final_infos:
                    infos = add_info(infos, {"final_info": final_infos[j]}, at)
                else:
                    infos.setdefault("final_info", {})
                    infos.setdefault("_final_info", np.zeros(size, dtype=np.bool_))[at] = True
        for j, _, info in sorted(records, key=lambda record: record[0]):
            if info:
                infos = add_info(infos, info, start + j if positions is None else positions[j])
        return infos

    def _merge_reset(
        self, infos: dict[str, Any], start: int, records: list[Record], positions: Any = None, add_info: Any = None
    ) -> dict[str, Any]:
        add_info = add_info or self._add_info
        for j, _, info in records:
            infos = add_info(infos, info, start + j if positions is None else positions[j])
        return infos

    # ---- crash recovery (worker engines) ------------------------------------------------------
    def _restart_seeds(self, envs: range, restarts: int) -> list[int | None]:
        """Fresh, reproducible seeds for restarted envs (None where the env was reset without one)."""
        return [
            None
            if self._seeds[g] is None
            else int(np.random.SeedSequence([self._seeds[g], restarts]).generate_state(1)[0])
            for g in envs
        ]

    def _restart_truncation(
        self, buf: int, envs: range, last_obs: dict[int, Any], reset_records: list[Record]
    ) -> tuple[list[Record], dict[int, Any]]:
        """What a step reports for envs whose worker was replaced: reward 0, truncated, the last
        observation as final_obs, `worker_restarted` in final_info and in the infos (with the reset's)."""
        rows = slice(envs.start, envs.stop)
        self._rew[buf, rows] = 0.0
        self._term[buf, rows] = False
        self._trunc[buf, rows] = True
        reset_info = {j: info for j, _, info in reset_records}
        flag = {"worker_restarted": True}
        return [(j, dict(flag), {**reset_info.get(j, {}), **flag}) for j in range(len(envs))], last_obs

    def _step_result(self, buf: int, infos: dict[str, Any]) -> tuple:
        self._buf = buf
        if self._obs_layout is None:
            return self._batch_obs(buf), self._rew[buf], self._term[buf], self._trunc[buf], infos
        return (*self._results[buf], infos)

    # ---- shared conveniences -------------------------------------------------------------------
    def get_attr(self, name: str) -> tuple[Any, ...]:
        """The attribute `name` of every env."""
        return self.call(name)

    def render(self) -> tuple[Any, ...] | None:
        return self.call("render")

    def _set_attr_values(self, values: Any) -> list[Any]:
        if not isinstance(values, (list, tuple)):
            return [values] * self.num_envs
        if len(values) != self.num_envs:
            raise EnvInputError(
                f"set_attr got {len(values)} values for {self.num_envs} envs; pass one value "
                "for all envs or a list/tuple with one value per env."
            )
        return list(values)

    def __enter__(self) -> EngineVectorEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env_name}, num_envs={self.num_envs})"


def _index_tree(tree: Any, i: int) -> Any:
    if isinstance(tree, dict):
        return {k: _index_tree(v, i) for k, v in tree.items()}
    if isinstance(tree, tuple):
        return tuple(_index_tree(v, i) for v in tree)
    return tree[i].copy()

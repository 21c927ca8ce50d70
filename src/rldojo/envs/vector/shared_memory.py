"""Shared memory for the worker engine (modes workers and pool): one segment per vector env, numpy
views into it.

`SharedArrays` lays named arrays out in a single `multiprocessing.shared_memory` segment; the
process that creates it owns it and unlinks it, workers attach by name. `BatchLayout` says how a
batched gymnasium space (Box, Discrete, MultiDiscrete, MultiBinary, and Dict/Tuple of them) maps
to flat arrays and rebuilds the nested dict/tuple of views the caller sees. Spaces that hold
Python objects (Text, Graph, Sequence) have no layout: they travel through the pipes instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import create_empty_array

_ALIGN = 64  # a cache line: no two arrays share one, so workers do not contend on writes


@dataclass(frozen=True)
class ArraySpec:
    """One array in a segment: its name, shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str


def _layout(specs: list[ArraySpec]) -> tuple[list[int], int]:
    offsets, end = [], 0
    for spec in specs:
        end = -(-end // _ALIGN) * _ALIGN
        offsets.append(end)
        end += int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(spec.dtype).itemsize
    return offsets, end


class _Segment(shared_memory.SharedMemory):
    """A SharedMemory that a still-held numpy view does not turn into an error at garbage collection."""

    def __del__(self) -> None:
        try:
            self.close()
        except BufferError:
            pass  # a view is still alive: the mapping goes when the last one does


class SharedArrays:
    """Named numpy arrays in one shared-memory segment (created when `name` is None, else attached)."""

    def __init__(self, specs: list[ArraySpec], name: str | None = None) -> None:
        offsets, size = _layout(specs)
        self.owner = name is None
        self._shm = _Segment(name=name, create=self.owner, size=max(size, 1) if self.owner else 0)
        self.name = self._shm.name
        self.specs = specs
        # frombuffer keeps a buffer export on the mapping for as long as any view lives, so the
        # mapping cannot be unmapped under a caller's array (np.ndarray(buffer=...) would not).
        self.arrays: dict[str, np.ndarray] = {
            spec.name: np.frombuffer(
                self._shm.buf, dtype=spec.dtype, count=int(np.prod(spec.shape, dtype=np.int64)), offset=offset
            ).reshape(spec.shape)
            for spec, offset in zip(specs, offsets, strict=True)
        }
        if self.owner:
            for array in self.arrays.values():
                array.fill(0)

    def close(self) -> bool:
        """Drop this process's mapping; False (and the mapping kept) while someone still holds a view."""
        self.arrays = {}
        try:
            self._shm.close()
            return True
        except BufferError:
            return False

    def unlink(self) -> None:
        """Remove the segment's name (owner only); the memory is freed once every mapping is gone."""
        if self.owner:
            self.owner = False
            try:
                self._shm.unlink()
            except FileNotFoundError:
                pass


Path = tuple[Any, ...]


def _leaves(tree: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    if isinstance(tree, dict):
        return [leaf for key, sub in tree.items() for leaf in _leaves(sub, path + (key,))]
    if isinstance(tree, tuple):
        return [leaf for i, sub in enumerate(tree) for leaf in _leaves(sub, path + (i,))]
    return [(path, tree)]


def _rebuild(tree: Any, get: Callable[[Path], Any], path: Path = ()) -> Any:
    if isinstance(tree, dict):
        return {key: _rebuild(sub, get, path + (key,)) for key, sub in tree.items()}
    if isinstance(tree, tuple):
        return tuple(_rebuild(sub, get, path + (i,)) for i, sub in enumerate(tree))
    return get(path)


def fill_rows(out: Any, items: list[Any]) -> None:
    """Write a list of single observations into row views `out` (a nested dict/tuple of arrays).

    Plain slice assignment: several times cheaper than np.stack(..., out=) for small batches."""
    if isinstance(out, dict):
        for key, sub in out.items():
            fill_rows(sub, [item[key] for item in items])
    elif isinstance(out, tuple):
        for i, sub in enumerate(out):
            fill_rows(sub, [item[i] for item in items])
    else:
        out[...] = items


class BatchLayout:
    """A batched space as flat arrays: `(path, shape, dtype)` per leaf, for `n` rows."""

    def __init__(self, space: gym.Space, n: int) -> None:
        self.space = space
        self.n = n
        self._template = create_empty_array(space, n=n, fn=np.zeros)
        self.leaves = [(path, array.shape[1:], array.dtype.str) for path, array in _leaves(self._template)]

    @staticmethod
    def supports(space: gym.Space) -> bool:
        """True when every leaf of `space` is a fixed-shape numeric array."""
        if isinstance(space, gym.spaces.Dict):
            return len(space.spaces) > 0 and all(BatchLayout.supports(s) for s in space.spaces.values())
        if isinstance(space, gym.spaces.Tuple):
            return len(space.spaces) > 0 and all(BatchLayout.supports(s) for s in space.spaces)
        return isinstance(
            space, (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
        )

    def array_specs(self, prefix: str, lead: tuple[int, ...] = ()) -> list[ArraySpec]:
        """One ArraySpec per leaf, named `prefix/path`, shaped `lead + (n, *leaf_shape)`."""
        return [
            ArraySpec(self.leaf_name(prefix, path), lead + (self.n, *shape), dtype)
            for path, shape, dtype in self.leaves
        ]

    @staticmethod
    def leaf_name(prefix: str, path: Path) -> str:
        return "/".join([prefix, *map(str, path)])

    def views(self, arrays: dict[str, np.ndarray], prefix: str, index: Any = ()) -> Any:
        """The nested dict/tuple of `arrays[prefix/path][index]` views, shaped like the space's batch."""
        return _rebuild(self._template, lambda path: arrays[self.leaf_name(prefix, path)][index])

    def gather(self, arrays: dict[str, np.ndarray], prefix: str, parts: list[tuple[Any, ...]]) -> Any:
        """A batch (a copy) made of `arrays[prefix/path][index]` for each index in `parts`, stacked."""
        return _rebuild(
            self._template,
            lambda path: np.concatenate([arrays[self.leaf_name(prefix, path)][index] for index in parts]),
        )

    def leaf_arrays(self, tree: Any) -> list[np.ndarray]:
        """The leaves of a batch (same order as `self.leaves`)."""
        return [leaf for _, leaf in _leaves(tree)]

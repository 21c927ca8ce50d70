"""Comparing vector-env results exactly (observations, infos with their masks and object arrays)."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """a and b hold the same values with the same structure (and the same dtypes for arrays)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (
            f"{where}: keys {sorted(a)} != {sorted(b) if isinstance(b, dict) else b}"
        )
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert isinstance(b, np.ndarray) and b.dtype == object and a.shape == b.shape, f"{where}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif a is None or isinstance(a, str):
        assert a == b, f"{where}: {a!r} != {b!r}"
    else:
        x, y = np.asarray(a), np.asarray(b)
        assert x.shape == y.shape and np.array_equal(x, y), f"{where}: {a!r} != {b!r}"
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            assert a.dtype == b.dtype, f"{where}: dtype {a.dtype} != {b.dtype}"


def assert_same_step(expected: tuple, got: tuple, step: int) -> None:
    names = ("obs", "reward", "terminated", "truncated", "infos")
    for name, x, y in zip(names, expected, got):
        assert_same(x, y, f"step {step} {name}")

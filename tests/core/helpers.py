"""Small, fast specs for core tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rldojo.run.spec import Spec, spec_from_raw

FAST_CARTPOLE = {
    "name": "fast_cartpole",
    "env": {"id": "CartPole-v1", "num_envs": 4, "vectorize": "sync"},
    "agent": {
        "algo": "ppo",
        "gamma": 0.98,
        "gae_lambda": 0.8,
        "rollout_steps": 32,
        "epochs": 4,
        "minibatch_size": 64,
        "net": {"hidden": [32, 32]},
        "optim": {"lr": 1.0e-3},
    },
    "train": {"max_frames": 2048, "eval_every": 1024, "eval_episodes": 3, "checkpoint_every": 512, "log_every": 256},
    "meta": {"sessions": 1, "seed": 3},
    "track": {"tensorboard": False, "plots": False},
}


def fast_spec(*overrides: str, raw: dict | None = None) -> Spec:
    return spec_from_raw(raw or FAST_CARTPOLE, list(overrides), source="test")


class CliResult:
    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode, self.stderr = returncode, stderr


def rldojo(*args: str, cwd: Path) -> CliResult:
    """Run the CLI in-process (fast): exit code and everything it printed."""
    from typer.testing import CliRunner

    from rldojo.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    finally:
        os.chdir(old)
    return CliResult(result.exit_code, result.output)


def rldojo_process(*args: str, cwd: Path, timeout: float = 120, **popen) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, in a subprocess."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "rldojo.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **popen,
    )

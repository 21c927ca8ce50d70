"""Data parallel on the CPU: 2 processes (gloo) train as 1 process does with the same total batch.

Episodes are deterministic here (greedy choices, rewards drawn from each episode's seed), so the
two runs see the same batches and differ only in how each sum is split over the processes: every
metric and weight must agree to float rounding. Tolerance: rtol 1e-4, atol 1e-6.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch
import torch.multiprocessing as mp
import yaml

from rldojo.envs.text.protocol import TextEnv, WorldStep
from rldojo.track.tracker import read_metrics

from .test_sft import lm_spec

#: Columns that measure time, not learning: they differ between any two runs.
TIMING = {"wall", "fps", "tokens_per_s", "rollout_s", "update_s"}
RTOL, ATOL = 1e-4, 1e-6
SGD = {"name": "sgd", "lr": 0.5, "schedule": "constant"}  # weights move by the gradient itself


class SeedReward(TextEnv):
    """One turn; the reward comes from the episode's seed, not the action, so greedy groups still
    have rewards that vary (and advantages that move the weights)."""

    def __init__(self, max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)

    @property
    def num_tasks(self) -> int:
        return 1000

    def _load_task(self, task_id, rng):
        self.payout = float(self.np_random.integers(3)) / 2
        return "Open a door.", "You see a blue door and a red door."

    def _step_world(self, action: str) -> WorldStep:
        return WorldStep(observation="Done.", reward=self.payout, won=self.payout > 0.5, done=True)

    def _available_actions(self) -> list[str]:
        return ["open blue door", "open red door"]

    def _expert_action(self) -> str:
        return "open red door"


SEED_REWARD = "rldojo-test/SeedReward-v0"


def register() -> None:
    if SEED_REWARD not in gym.registry:
        gym.register(SEED_REWARD, entry_point=SeedReward)


def grpo_raw(iterations: int = 3) -> dict:
    raw = lm_spec(
        {
            "algo": "grpo",
            "group_size": 2,
            "groups": 4,  # 2 whole groups per process
            "minibatches": 2,  # old log-probabilities computed per process, 2 steps per iteration
            "beta": 0.05,
            "micro_batch_size": 1,
            "optim": SGD,
            "max_grad_norm": 1.0,
        },
        env={"id": SEED_REWARD, "num_envs": 4},
        max_new_tokens=8,
        iterations=iterations,
        eval_every=2,
        checkpoint_every=1,
    )
    raw["agent"]["generation"].update(action_mode="choose", temperature=0.0)
    raw["agent"]["model"]["max_model_len"] = 256
    raw["train"]["eval_episodes"] = 2
    return raw


def lm_ppo_raw() -> dict:
    raw = grpo_raw(iterations=2)
    agent = raw["agent"]
    del agent["beta"]
    agent.update(algo="lm_ppo", ppo_epochs=1, minibatches=2, kl_coef=0.05)  # old values and KL gathered
    return raw


SFT_RAW = lm_spec(
    {
        "algo": "sft",
        "demo_episodes": 14,
        "val_fraction": 0.3,
        "epochs": 1,
        "batch_size": 5,
        "micro_batch_size": 2,
        "optim": {**SGD, "lr": 0.2},
    },
    eval_every=0,
)
SFT_RAW["train"]["eval_episodes"] = 2


# ---- running a spec in this process, or in 2 spawned processes ------------------------------------------
class StopAfterFirstIteration:
    def on_row(self, session: int, row: dict) -> bool:
        return row["frame"] == 0  # the base model's row goes on; the first iteration's row stops


def run(job: str, raw: dict | None, where: Path) -> None:
    """`train` a spec into the folder `where`, or `stop` after its first iteration and `resume` it
    (the processes build everything again from the run folder and its checkpoint)."""
    from rldojo.run.spec import spec_from_raw
    from rldojo.run.trial import check_resume, new_run_dir, read_run_spec, run_trial, write_spec_file

    register()
    spec = spec_from_raw(raw, [], source="test")
    run_dir = new_run_dir(spec, where)
    write_spec_file(run_dir, spec, None)
    stopping = job == "stop_and_resume"
    trial = run_trial(spec, run_dir, show_progress=False, hooks=[StopAfterFirstIteration()] if stopping else None)
    if stopping:
        assert trial["status"] == "stopped"
        assert read_metrics(run_dir / "s0/metrics.csv")["frame"] == [0, 8]  # stopped after iteration 1
        spec = read_run_spec(run_dir)
        check_resume(spec, run_dir)
        assert run_trial(spec, run_dir, show_progress=False)["status"] == "done"


def _process(rank: int, world: int, port: int, job: str, raw: dict | None, where: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    run(job, raw, Path(where))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_in_two_processes(job: str, raw: dict | None, where: Path) -> None:
    mp.spawn(_process, args=(2, free_port(), job, raw, str(where)), nprocs=2, join=True)


def only_run_dir(root: Path) -> Path:
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs  # one run folder, however many processes
    return runs[0]


# ---- comparing runs -----------------------------------------------------------------------------------
def assert_same_metrics(one: Path, other: Path) -> tuple[int, float]:
    """metrics.csv of two sessions agree on every column but the timings; returns the values compared
    and the largest relative difference."""
    a, b = read_metrics(one / "s0/metrics.csv"), read_metrics(other / "s0/metrics.csv")
    assert a.keys() == b.keys()
    compared, worst = 0, 0.0
    for column in sorted(set(a) - TIMING):
        assert len(a[column]) == len(b[column]), column
        for x, y in zip(a[column], b[column]):
            if isinstance(x, float) and math.isnan(x):
                assert math.isnan(y), column
                continue
            assert y == pytest.approx(x, rel=RTOL, abs=ATOL), column
            compared += 1
            worst = max(worst, abs(y - x) / max(abs(x), 1e-12))
    return compared, worst


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from rldojo.run.checkpoint import load_checkpoint

    return load_checkpoint(run_dir / "s0/ckpt/last.pt")["agent"]["weights"]


def assert_same_weights(one: Path, other: Path) -> float:
    """The final weights of two sessions agree; returns the largest absolute difference."""
    a, b = final_weights(one), final_weights(other)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=RTOL, atol=ATOL)
    return max(float((a[name] - b[name]).abs().max()) for name in a)


def report(what: str, metrics: tuple[int, float], weights: float) -> None:
    """The measured differences (shown with pytest -s)."""
    print(f"{what}: {metrics[0]} metric values, largest relative difference {metrics[1]:.2g}; weights {weights:.2g}")


@pytest.fixture(scope="module")
def grpo_alone(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("grpo_one")
    run("train", grpo_raw(), root)
    return only_run_dir(root)


# ---- the tests ----------------------------------------------------------------------------------------
def test_each_process_trains_a_contiguous_share_of_whole_groups(monkeypatch):
    import rldojo.algos.stage as stage

    shares = []
    for rank in range(3):
        monkeypatch.setattr(stage, "process_group", lambda rank=rank: (rank, 3))
        shares.append(stage.my_share(12, unit=2))  # 6 groups of 2 over 3 processes
    assert shares == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    monkeypatch.setattr(stage, "process_group", lambda: (1, 2))
    assert stage.my_share(5) == [2, 3, 4]


def test_a_tensor_agent_is_refused_data_parallel(monkeypatch):
    import rldojo.run.distributed as distributed
    from rldojo.errors import UserError
    from rldojo.run.spec import spec_from_raw

    spec = spec_from_raw({"name": "ppo", "env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo"}}, [], source="test")
    monkeypatch.setattr(distributed, "process_group", lambda: (0, 2))
    with pytest.raises(UserError, match="data-parallel training .* is for language-model stages"):
        distributed.check_data_parallel(spec)


def test_grpo_in_two_processes_matches_one_process_with_the_same_batch(grpo_alone, tmp_path):
    run_in_two_processes("train", grpo_raw(), tmp_path)
    two = only_run_dir(tmp_path)
    # the main process wrote the run folder alone: one spec, one session with one metrics file and log
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in grpo_alone.iterdir())
    assert sorted(p.name for p in (two / "s0").iterdir()) == sorted(p.name for p in (grpo_alone / "s0").iterdir())
    metrics = read_metrics(two / "s0/metrics.csv")
    assert len(metrics["frame"]) == 1 + 3 + 1  # base model, 3 iterations, after the stage
    assert metrics["frame"][-1] == 3 * 8  # each iteration: 4 groups of 2 one-turn episodes
    assert any(abs(x) > 1e-3 for x in metrics["loss"] if not math.isnan(x))  # it learned something
    compared = assert_same_metrics(grpo_alone, two)
    assert compared[0] > 50
    report("GRPO, 2 processes vs 1", compared, assert_same_weights(grpo_alone, two))


def test_lm_ppo_in_two_processes_matches_one_process(tmp_path):
    run("train", lm_ppo_raw(), tmp_path / "one")
    run_in_two_processes("train", lm_ppo_raw(), tmp_path / "two")
    one, two = only_run_dir(tmp_path / "one"), only_run_dir(tmp_path / "two")
    compared = assert_same_metrics(one, two)
    assert compared[0] > 50
    report("LM-PPO, 2 processes vs 1", compared, assert_same_weights(one, two))


def test_grpo_in_two_processes_resumes_from_its_checkpoint(grpo_alone, tmp_path):
    run_in_two_processes("stop_and_resume", grpo_raw(), tmp_path)
    run_dir = only_run_dir(tmp_path)
    assert read_metrics(run_dir / "s0/metrics.csv")["frame"] == read_metrics(grpo_alone / "s0/metrics.csv")["frame"]
    assert json.loads((run_dir / "s0/result.json").read_text())["resumes"] == 1
    report(
        "GRPO resumed, 2 processes vs 1",
        assert_same_metrics(grpo_alone, run_dir),
        assert_same_weights(grpo_alone, run_dir),
    )


def test_sft_under_accelerate_launch_matches_one_process(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    if accelerate is None:
        pytest.skip("accelerate's launcher is not installed")
    spec_path = tmp_path / "sft.yaml"
    spec_path.write_text(yaml.safe_dump(SFT_RAW))
    one, two = tmp_path / "one", tmp_path / "two"
    run("train", SFT_RAW, one)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": str(free_port())}
    # --multi_gpu picks accelerate's torchrun launcher (--cpu would ask for MPI); without a GPU the processes use gloo
    launch = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", env["MASTER_PORT"]]
    done = subprocess.run(
        [*launch, "-m", "rldojo", "train", str(spec_path), "--runs-dir", str(two), "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder:") == 1  # the results are printed once, by the main process
    one_dir, two_dir = only_run_dir(one), only_run_dir(two)
    assert "trains data-parallel over 2 processes (gloo)" in (two_dir / "s0/log.txt").read_text()
    assert (two_dir / "report.md").is_file() and (two_dir / "s0/models/0_sft/config.json").is_file()
    metrics = read_metrics(two_dir / "s0/metrics.csv")
    assert len([x for x in metrics["sft_loss"] if not math.isnan(x)]) == 2  # 10 training demos, 5 a step
    compared = assert_same_metrics(one_dir, two_dir)
    assert compared[0] > 20
    report("SFT, accelerate launch with 2 processes vs 1", compared, assert_same_weights(one_dir, two_dir))

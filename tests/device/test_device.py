"""`meta.device`: resolution and its errors, every tensor agent with explicit devices, checkpoints
that move between devices. This machine may have no GPU: CUDA is simulated where only the answer of
`torch.cuda` matters, and tensors created on an implicit device are caught by making the default
device `meta` (a tensor that does not name its device lands there and cannot mix with the agent's)."""

from __future__ import annotations

import copy
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from loguru import logger
from typer.testing import CliRunner

from rldojo.errors import CheckpointError, SpecError, UserError
from rldojo.nets.device import generator_state, resolve_device, restore_generator
from rldojo.run.agents import build_agent
from rldojo.run.recorder import on_host
from rldojo.run.spec import spec_from_raw

HAS_CUDA = torch.cuda.is_available()
needs_no_cuda = pytest.mark.skipif(HAS_CUDA, reason="checks the error of a machine without CUDA")

SMALL = {"hidden": [16, 16]}
AGENTS = {
    "ppo": ({"algo": "ppo", "rollout_steps": 16, "minibatch_size": 32, "epochs": 2, "net": SMALL}, "CartPole-v1"),
    "ppo_gru": (
        {"algo": "ppo", "rollout_steps": 16, "minibatch_size": 32, "epochs": 2, "net": {**SMALL, "recurrent": "gru"}},
        "CartPole-v1",
    ),
    "ppo_pendulum": ({"algo": "ppo", "rollout_steps": 16, "minibatch_size": 32, "net": SMALL}, "Pendulum-v1"),
    "a2c_sil": (
        {
            "algo": "a2c",
            "rollout_steps": 8,
            "net": SMALL,
            "sil": {"updates": 1, "batch_size": 16, "learning_starts": 8},
        },
        "CartPole-v1",
    ),
    "dqn_per": (
        {"algo": "dqn", "learning_starts": 64, "batch_size": 16, "double": True, "dueling": True, "prioritized": {}},
        "CartPole-v1",
    ),
    "sac_discrete": ({"algo": "sac", "learning_starts": 64, "batch_size": 16}, "CartPole-v1"),
    "sac": ({"algo": "sac", "learning_starts": 64, "batch_size": 16}, "Pendulum-v1"),
    "reinforce": ({"algo": "reinforce", "net": SMALL}, "CartPole-v1"),
    "sarsa": ({"algo": "sarsa", "rollout_steps": 8, "n_steps": 2, "net": SMALL}, "CartPole-v1"),
}
NUM_ENVS = 4


def spec_for(agent: dict, env_id: str = "CartPole-v1", device: str = "cpu", **train):
    raw = {
        "name": "device_test",
        "env": {"id": env_id, "num_envs": NUM_ENVS, "vectorize": "sync"},
        "agent": agent,
        "train": {"max_frames": 4096, "eval_every": 0, "log_every": 256, **train},
        "meta": {"sessions": 1, "seed": 0, "device": device},
        "track": {"tensorboard": False, "plots": False},
    }
    return spec_from_raw(raw, [], "test")


def warnings_logged() -> tuple[list[str], int]:
    logged: list[str] = []
    return logged, logger.add(lambda message: logged.append(str(message)), level="WARNING")


@pytest.fixture()
def two_gpus(monkeypatch):
    """torch answers as on a machine with two CUDA devices, the second one current."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)


# ---- resolution and errors ------------------------------------------------------------------------
def test_cpu_and_auto_resolve_on_this_machine():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")


@needs_no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_is_a_user_error_naming_what_is_available(name):
    with pytest.raises(UserError, match=f"meta.device is '{name}'") as caught:
        resolve_device(name)
    message = str(caught.value)
    assert "only the CPU is available" in message and "Available here: auto, cpu." in message
    assert "--set meta.device=auto" in message
    assert caught.value.exit_code == 2


def test_auto_and_cuda_pick_the_current_gpu_when_torch_sees_one(two_gpus):
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert resolve_device("cpu") == torch.device("cpu")


def test_a_gpu_index_out_of_range_names_the_gpus_there_are(two_gpus):
    with pytest.raises(UserError) as caught:
        resolve_device("cuda:2")
    message = str(caught.value)
    assert "meta.device is 'cuda:2'" in message and "2 CUDA devices (cuda:0 to cuda:1)" in message
    assert "Available here: auto, cpu, cuda, cuda:0, cuda:1." in message


def test_loading_falls_back_to_the_cpu_with_a_warning(two_gpus):
    logged, sink = warnings_logged()
    try:
        assert resolve_device("cuda:5", fallback=True) == torch.device("cpu")
    finally:
        logger.remove(sink)
    assert any("cuda:5" in line and "loading on the CPU" in line for line in logged)


def test_the_spec_takes_the_four_forms_and_refuses_others():
    assert spec_for({"algo": "ppo"}).meta.device == "cpu"
    raw = yaml.safe_load(yaml.safe_dump({"name": "x", "env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo"}}))
    assert spec_from_raw(raw, [], "test").meta.device == "auto"  # the default
    assert spec_from_raw(raw, ["meta.device=CUDA:1"], "test").meta.device == "cuda:1"
    for bad in ("gpu", "mps", "cuda:x", "cuda:-1"):
        with pytest.raises(SpecError, match=r"meta\.device.*auto, cpu, cuda or cuda:N"):
            spec_from_raw(raw, [f"meta.device={bad}"], "test")


@needs_no_cuda
def test_the_cli_exits_2_before_writing_a_run_folder(tmp_path):
    from rldojo.cli import app

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({"name": "x", "env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo"}}))
    runs = tmp_path / "runs"
    args = ["dev", str(spec_file), "--set", "meta.device=cuda:1", "--runs-dir", str(runs)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "meta.device is 'cuda:1'" in result.output and "only the CPU is available" in result.output
    assert not runs.exists() or not any(runs.iterdir())


# ---- every tensor agent ---------------------------------------------------------------------------
def play(agent, env: gym.vector.VectorEnv, obs: np.ndarray, updates: int, limit: int = 400):
    """Train until `updates` more updates ran; -> (their metrics, the last observations)."""
    metrics = []
    for _ in range(limit):
        next_obs, rewards, terminated, truncated, _ = env.step(agent.act(obs))
        if agent.observe(rewards, terminated, truncated, next_obs, next_obs.copy()):
            metrics.append(agent.update(0.5))
        obs = next_obs
        if len(metrics) == updates:
            break
    assert len(metrics) == updates, f"{len(metrics)} updates in {limit} steps"
    return metrics, obs


@pytest.mark.parametrize("device", ["cpu", "auto"])
@pytest.mark.parametrize("name", sorted(AGENTS))
def test_every_tensor_agent_trains_with_every_tensor_on_its_device(name, device):
    agent_raw, env_id = AGENTS[name]
    spec = spec_for(agent_raw, env_id, device)
    env = gym.make_vec(env_id, NUM_ENVS, vectorization_mode="sync")
    try:
        agent = build_agent(spec, env.single_observation_space, env.single_action_space, NUM_ENVS, 0)
        expected = resolve_device(device)
        assert agent.device == expected and agent.generator.device.type == expected.type
        before = {}
        for module_name, module in agent.modules().items():
            for key, tensor in module.state_dict().items():
                assert tensor.device == expected, f"{module_name}.{key} is on {tensor.device}"
                before[f"{module_name}.{key}"] = tensor.clone()
        # The first update outside the guard below: torch.optim creates some of its state (step
        # counters) on the default device on purpose.
        _, obs = play(agent, env, env.reset(seed=0)[0], 1)
        # Anything rldojo creates without naming its device lands on `meta` and cannot mix with the agent's tensors.
        with torch.device("meta"):
            updates, obs = play(agent, env, obs, 2)
            agent.reset_greedy(NUM_ENVS)
            greedy = agent.act_greedy(obs)
    finally:
        env.close()
    assert all(math.isfinite(v) for m in updates for k, v in m.items() if "sil" not in k), updates
    assert env.single_action_space.contains(greedy[0])
    after = {f"{n}.{k}": t for n, m in agent.modules().items() for k, t in m.state_dict().items()}
    assert all(tensor.device == expected for tensor in after.values())
    trained = [key for key, tensor in before.items() if tensor.is_floating_point() and "target" not in key]
    assert any(not torch.equal(before[key], after[key]) for key in trained)
    for optimizer in agent.optimizers().values():
        for param, state in optimizer.state.items():
            # Adam's fused kernel keeps its step count with the parameter; other optimizers on the host.
            assert all(v.device in (param.device, torch.device("cpu")) for v in state.values() if torch.is_tensor(v))


# ---- checkpoints between devices ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ppo_gru", "dqn_per", "sac", "a2c_sil"])
def test_a_checkpoint_loads_with_a_map_location_and_continues_the_same_run(tmp_path, name):
    agent_raw, env_id = AGENTS[name]
    spec = spec_for(agent_raw, env_id)
    env = gym.make_vec(env_id, NUM_ENVS, vectorization_mode="sync")
    try:
        space = env.single_observation_space, env.single_action_space
        agent = build_agent(spec, *space, NUM_ENVS, 0)
        _, obs = play(agent, env, env.reset(seed=0)[0], 2)
        path = tmp_path / "agent.pt"
        torch.save(on_host(agent.state_dict()), path)
        # As a checkpoint of a GPU run is read on a CPU machine: every storage mapped to the CPU.
        for map_location in (torch.device("cpu"), lambda storage, location: storage, {"cuda:0": "cpu"}):
            state = torch.load(path, map_location=map_location, weights_only=True)
            restored = build_agent(spec, *space, NUM_ENVS, 0, device="cpu")
            restored.load_state_dict(state)
            for (key, mine), (_, theirs) in zip(_tensors(agent), _tensors(restored), strict=True):
                assert torch.equal(mine, theirs), key
            # The same generators and replay: both continue with the same actions and the same update.
            twin = copy.deepcopy(agent)
            assert np.array_equal(twin.act(obs), restored.act(obs))
            if hasattr(agent, "replay"):
                assert len(restored.replay) == len(agent.replay)
    finally:
        env.close()


def _tensors(agent):
    """Every tensor of the agent's modules and optimizer states, by name."""
    for name, module in agent.modules().items():
        for key, tensor in module.state_dict().items():
            yield f"{name}.{key}", tensor
    for name, optimizer in agent.optimizers().items():
        for index, state in enumerate(optimizer.state.values()):
            for key, value in state.items():
                if torch.is_tensor(value):
                    yield f"{name}.{index}.{key}", value


def test_the_state_of_an_optimizer_goes_to_its_parameters_device():
    agent_raw, env_id = AGENTS["ppo"]
    spec = spec_for(agent_raw, env_id)
    env = gym.make_vec(env_id, NUM_ENVS, vectorization_mode="sync")
    try:
        agent = build_agent(spec, env.single_observation_space, env.single_action_space, NUM_ENVS, 0)
        play(agent, env, env.reset(seed=0)[0], 1)
    finally:
        env.close()
    state = on_host(agent.state_dict())
    # A checkpoint where Adam's state sits somewhere else than the parameters (as a GPU run's,
    # mapped to the CPU, would for a GPU agent): loading moves it next to them.
    restored = build_agent(spec, env.single_observation_space, env.single_action_space, NUM_ENVS, 0, device="cpu")
    optimizer_state = state["optimizers"]["optimizer"]["state"]
    for entry in optimizer_state.values():
        entry["exp_avg"] = entry["exp_avg"].to(torch.float64)  # torch casts the state to the parameter's dtype too
    restored.load_state_dict(state)
    for param, entry in restored.optimizer.state.items():
        assert entry["exp_avg"].device == param.device and entry["exp_avg"].dtype == param.dtype
        assert entry["step"].device == param.device  # the fused Adam kernel's step count lives with the parameter


def test_a_random_stream_from_another_kind_of_device_continues_from_a_derived_seed():
    cpu = torch.Generator().manual_seed(7)
    saved = generator_state(cpu)
    assert saved["device"] == "cpu"
    exact = torch.Generator()
    restore_generator(exact, saved)
    assert torch.equal(torch.rand(4, generator=exact), torch.rand(4, generator=cpu))
    old_format = torch.Generator()
    restore_generator(old_format, torch.Generator().manual_seed(7).get_state())  # a bare state, as before
    assert torch.equal(torch.rand(4, generator=old_format), torch.rand(4, generator=torch.Generator().manual_seed(7)))
    # A CUDA generator's state (seed and offset, 16 bytes) cannot be set on a CPU generator.
    cuda_state = {"state": torch.tensor(list(range(16)), dtype=torch.uint8), "device": "cuda"}
    first, second = torch.Generator(), torch.Generator()
    restore_generator(first, cuda_state)
    restore_generator(second, cuda_state)
    draws = torch.rand(4, generator=first)
    assert torch.equal(draws, torch.rand(4, generator=second))  # a fixed stream
    assert not torch.equal(draws, torch.rand(4, generator=torch.Generator()))  # not the default one


# ---- sessions: resume and load on another device ----------------------------------------------------
def _write_run(tmp_path, spec):
    from rldojo.run.session import Session
    from rldojo.run.trial import write_spec_file

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_spec_file(run_dir, spec, None)
    result = Session(spec, run_dir, 0).run()
    return run_dir, result


def _as_trained_on(run_dir, device: str) -> None:
    """Make the run look as if trained on `device`: its spec says so, and its checkpoint's random
    stream is a CUDA generator's when `device` is a GPU."""
    spec_file = run_dir / "spec.yaml"
    raw = yaml.safe_load(spec_file.read_text())
    raw["meta"]["device"] = device
    spec_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    for name in ("last.pt", "best.pt"):
        path = run_dir / "s0" / "ckpt" / name
        if path.exists():
            payload = torch.load(path, map_location="cpu", weights_only=True)
            payload["agent"]["generator"] = {"state": torch.arange(16, dtype=torch.uint8), "device": "cuda"}
            torch.save(payload, path)


def test_a_session_on_auto_resumes_the_checkpoint_of_a_gpu_run(tmp_path):
    from rldojo.run.session import Session
    from rldojo.run.trial import read_run_spec

    agent_raw, env_id = AGENTS["ppo"]
    spec = spec_for(agent_raw, env_id, "auto", max_frames=512, checkpoint_every=256)
    run_dir, result = _write_run(tmp_path, spec)
    assert result["status"] == "done" and result["frames"] == 512
    _as_trained_on(run_dir, "auto")
    (run_dir / "s0" / "result.json").unlink()  # the session stopped after its last checkpoint
    resumed = Session(read_run_spec(run_dir), run_dir, 0).run()
    assert resumed["status"] == "done" and resumed["resumes"] == 1 and resumed["frames"] == 512


@needs_no_cuda
def test_a_gpu_run_loads_for_evaluation_on_the_cpu_but_does_not_resume_there(tmp_path):
    from rldojo.evaluate.play import play_greedy
    from rldojo.run.load import load_agent
    from rldojo.run.session import Session
    from rldojo.run.trial import read_run_spec

    agent_raw, env_id = AGENTS["ppo_gru"]
    spec = spec_for(agent_raw, env_id, "cpu", max_frames=256, checkpoint_every=256, eval_every=256, eval_episodes=2)
    run_dir, _ = _write_run(tmp_path, spec)
    _as_trained_on(run_dir, "cuda:0")
    logged, sink = warnings_logged()
    try:
        loaded_spec, agent, _ = load_agent(run_dir, "last")
    finally:
        logger.remove(sink)
    assert loaded_spec.meta.device == "cuda:0" and agent.device == torch.device("cpu")
    assert any("loading on the CPU" in line for line in logged)
    episodes = play_greedy(agent, env_id, 3, seed=5)  # the evaluation path: numpy in, numpy out
    assert len(episodes) == 3 and all(episode["length"] >= 1 for episode in episodes)
    (run_dir / "s0" / "result.json").unlink()
    with pytest.raises(UserError, match="meta.device is 'cuda:0'.*--device cpu"):  # training asks for the GPU
        Session(read_run_spec(run_dir), run_dir, 0).run()


@needs_no_cuda
def test_a_gpu_run_resumes_on_the_cpu_with_the_device_option(tmp_path):
    from rldojo.cli import app

    agent_raw, env_id = AGENTS["ppo"]
    spec = spec_for(agent_raw, env_id, "cpu", max_frames=512, checkpoint_every=256)
    run_dir, _ = _write_run(tmp_path, spec)
    _as_trained_on(run_dir, "cuda:0")
    (run_dir / "s0" / "result.json").unlink()
    refused = CliRunner().invoke(app, ["train", "--resume", str(run_dir), "-q"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2 and "--device cpu" in refused.output
    bad = CliRunner().invoke(app, ["train", "--resume", str(run_dir), "--device", "gpu", "-q"])
    assert bad.exit_code == 2 and "auto, cpu, cuda or cuda:N" in bad.output
    result = CliRunner().invoke(app, ["train", "--resume", str(run_dir), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    resumed = json.loads((run_dir / "s0" / "result.json").read_text())
    assert resumed["status"] == "done" and resumed["resumes"] == 1 and resumed["frames"] == 512


def test_checkpoint_errors_stay_checkpoint_errors(tmp_path):
    from rldojo.run.checkpoint import load_checkpoint

    path = tmp_path / "last.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


# ---- language models ------------------------------------------------------------------------------
TINY = {
    "vocab_size": 400,
    "hidden_size": 32,
    "layers": 2,
    "heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1024,
    "corpus_episodes": 30,
}


def lm_spec(device: str):
    raw = {
        "name": "device_lm",
        "env": {"id": "dojo/TextCraft-v0", "num_envs": 4, "kwargs": {"depths": [1], "max_turns": 3}},
        "agent": {
            "algo": "grpo",
            "group_size": 2,
            "groups": 2,
            "micro_batch_size": 4,
            "optim": {"lr": 1e-3},
            "model": {"path": "tiny", "max_model_len": 768, "tiny": TINY, "lora": {"r": 4, "alpha": 8}},
            "generation": {"max_new_tokens": 6},
        },
        "train": {"iterations": 2, "eval_episodes": 2},
        "meta": {"sessions": 1, "seed": 0, "device": device},
    }
    return spec_from_raw(raw, [], "test")


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_a_language_model_trains_on_its_device_and_its_checkpoint_loads_on_the_cpu(tmp_path, device):
    from rldojo.run.agents import build_lm_agent, make_text_envs

    spec = lm_spec(device)
    expected = resolve_device(device)
    envs = make_text_envs(spec, spec.env.num_envs)
    try:
        agent = build_lm_agent(spec, 0, envs)
        assert agent.device == expected and agent.generator.device.type == expected.type
        trainer = agent.begin_stage(0)  # fresh LoRA adapters, on the device of the layers they adapt
        assert {p.device for p in agent.lm.model.parameters()} == {expected}
        report = next(trainer.steps())
        assert math.isfinite(report.metrics["loss"])
        state = on_host(agent.state_dict())
        assert all(tensor.device.type == "cpu" for tensor in agent.lm.weights().values())
        path = tmp_path / "lm.pt"
        torch.save(state, path)
        loaded = torch.load(path, map_location=lambda storage, location: storage, weights_only=True)
        loaded["generator"] = {"state": torch.arange(16, dtype=torch.uint8), "device": "cuda"}  # as from a GPU
        restored = build_lm_agent(spec, 0, envs, device="cpu")
        restored.load_state_dict(loaded)
        mine, theirs = agent.lm.model.state_dict(), restored.lm.model.state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k].cpu(), theirs[k]) for k in mine)
        assert next(restored.trainer.steps()).frames > 0  # the restored stage goes on training
    finally:
        for env in envs:
            env.close()

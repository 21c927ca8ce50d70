"""`rldojo export` for tensor agents: TorchScript and ONNX files that choose the checkpoint's greedy
actions, loaded with plain torch and onnxruntime (and in a Python where rldojo cannot be imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rldojo.cli import app
from rldojo.run.export import export_run, reference_actions, sample_observations
from rldojo.run.load import load_agent

from .conftest import CASES

onnxruntime = pytest.importorskip("onnxruntime")
# torch.jit is deprecated upstream but loads everywhere; TorchScript is what users of torch.jit.load expect
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def run_torchscript(path, obs, hidden=None):
    module = torch.jit.load(str(path))
    with torch.no_grad():
        if hidden is None:
            return module(torch.from_numpy(obs)).numpy(), None
        action, hidden = module(torch.from_numpy(obs), torch.from_numpy(hidden))
        return action.numpy(), hidden.numpy()


def run_onnx(path, obs, hidden=None, _sessions={}):  # noqa: B006 - a cache of loaded sessions
    if path not in _sessions:
        _sessions[path] = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session = _sessions[path]
    if hidden is None:
        return session.run(None, {"obs": obs})[0], None
    return tuple(session.run(None, {"obs": obs, "hidden": hidden}))


RUNNERS = {"torchscript": run_torchscript, "onnx": run_onnx}


def exported_actions(fmt, path, obs, done, hidden_size):
    """Actions of the file on obs [steps, envs, ...]; recurrent files step through them, hidden
    state zeroed where an episode ended."""
    run = RUNNERS[fmt]
    if not hidden_size:
        flat = obs.reshape((-1,) + obs.shape[2:])
        return run(path, flat)[0].reshape(obs.shape[:2] + run(path, flat[:1])[0].shape[1:])
    hidden = np.zeros((obs.shape[1], hidden_size), np.float32)
    actions = []
    for t in range(obs.shape[0]):
        action, hidden = run(path, obs[t], hidden)
        actions.append(action)
        hidden = np.where(done[t][:, None], 0.0, hidden).astype(np.float32)
    return np.stack(actions)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("case", list(CASES))
def test_exported_policy_chooses_the_checkpoints_greedy_actions(trained, case, fmt, tmp_path):
    run_dir = trained(case)
    out = tmp_path / f"policy.{fmt}"
    result = export_run(run_dir, fmt, out)
    assert result.path == out and out.is_file() and (tmp_path / f"policy.{fmt}.json").is_file()

    spec, agent, _ = load_agent(run_dir)
    obs, done = sample_observations(spec, agent, envs=8, steps=24, seed=7)
    if isinstance(agent.obs_space, gym.spaces.Discrete):
        obs = obs.astype(np.int64)
    expected = reference_actions(agent, obs, done)
    recurrent = result.metadata["recurrent"]
    got = exported_actions(fmt, out, obs, done, recurrent and recurrent["hidden_size"])

    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    if isinstance(agent.action_space, gym.spaces.Discrete):
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
        assert np.all(got >= agent.action_space.low) and np.all(got <= agent.action_space.high)


def test_normalisation_and_encoding_live_inside_the_file(trained, tmp_path):
    """The normalised run's file takes raw observations: fed pre-normalised ones it acts differently."""
    run_dir = trained("a2c_pendulum_normalized")
    out = tmp_path / "policy.pt"
    export_run(run_dir, "torchscript", out)
    spec, agent, _ = load_agent(run_dir)
    assert agent.obs_rms is not None and np.any(np.abs(agent.obs_rms.mean) > 1e-3)
    obs, _ = sample_observations(spec, agent, envs=4, steps=16)
    flat = obs.reshape(-1, 3).astype(np.float32)
    raw_actions, _ = run_torchscript(out, flat)
    np.testing.assert_allclose(raw_actions, agent.act_greedy(flat), atol=1e-5)
    twice, _ = run_torchscript(out, agent.normalize_obs(flat))
    assert not np.allclose(twice, raw_actions, atol=1e-3)


def test_files_describe_themselves_and_batches_of_one_work(trained, tmp_path):
    run_dir = trained("ppo_cartpole_gru")
    pt, onnx_path = tmp_path / "p.pt", tmp_path / "p.onnx"
    export_run(run_dir, "torchscript", pt)
    export_run(run_dir, "onnx", onnx_path)
    extra = {"policy.json": ""}
    torch.jit.load(str(pt), _extra_files=extra)
    embedded = json.loads(extra["policy.json"])
    sidecar = json.loads((tmp_path / "p.pt.json").read_text())
    assert embedded == sidecar
    assert embedded["recurrent"] == {"kind": "gru", "hidden_size": 16}
    assert embedded["inputs"] == ["obs", "hidden"] and embedded["outputs"] == ["action", "hidden"]
    assert embedded["env"]["id"] == "CartPole-v1" and embedded["algo"] == "ppo"
    assert embedded["action"] == {"type": "Discrete", "n": 2, "start": 0, "dtype": "int64", "shape": []}

    import onnx

    model = onnx.load(str(onnx_path))
    meta = json.loads({p.key: p.value for p in model.metadata_props}["rldojo"])
    assert meta["outputs"] == ["action", "hidden_out"] and meta["format"] == "onnx"
    obs = np.zeros((1, 4), np.float32)
    action, hidden = run_onnx(onnx_path, obs, np.zeros((1, 16), np.float32))
    assert action.shape == (1,) and hidden.shape == (1, 16)
    action_pt, hidden_pt = run_torchscript(pt, obs, np.zeros((1, 16), np.float32))
    assert action_pt.tolist() == action.tolist()
    np.testing.assert_allclose(hidden_pt, hidden, atol=1e-5)


def test_exported_files_run_without_rldojo(trained, tmp_path):
    """A Python in which `import rldojo` fails loads both files and gets the checkpoint's actions."""
    checks = []
    for case in ("a2c_pendulum_normalized", "ppo_images_cnn"):
        run_dir = trained(case)
        spec, agent, _ = load_agent(run_dir)
        obs, _ = sample_observations(spec, agent, envs=4, steps=8)
        flat = obs.reshape((-1,) + obs.shape[2:])
        np.save(tmp_path / f"{case}_obs.npy", flat)
        np.save(tmp_path / f"{case}_expected.npy", agent.act_greedy(flat))
        for fmt, suffix in (("torchscript", "pt"), ("onnx", "onnx")):
            export_run(run_dir, fmt, tmp_path / f"{case}.{suffix}")
            checks.append((case, suffix))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["rldojo"] = None  # any import of rldojo now fails
        import numpy as np, torch, onnxruntime
        folder = {str(tmp_path)!r}
        for case, suffix in {checks!r}:
            obs = np.load(f"{{folder}}/{{case}}_obs.npy")
            expected = np.load(f"{{folder}}/{{case}}_expected.npy")
            path = f"{{folder}}/{{case}}.{{suffix}}"
            if suffix == "pt":
                got = torch.jit.load(path)(torch.from_numpy(obs)).numpy()
            else:
                got = onnxruntime.InferenceSession(path).run(None, {{"obs": obs}})[0]
            assert got.dtype == expected.dtype, (case, suffix, got.dtype)
            assert np.allclose(got, expected, atol=1e-5), (case, suffix)
        print("ok", len({checks!r}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok 4"


# ---- the command --------------------------------------------------------------------------------
def test_cli_export_writes_the_default_file_and_says_what_it_is(trained):
    run_dir = trained("ppo_pendulum")
    result = cli("export", run_dir, "--format", "onnx")
    assert result.exit_code == 0, result.output
    path = run_dir / "export" / "policy_s0_best.onnx"
    assert path.is_file() and (run_dir / "export" / "policy_s0_best.onnx.json").is_file()
    out = " ".join(result.output.split())
    assert "as onnx" in out and "input: obs float32 [batch, 3]" in out
    assert "output: action float32 [batch, 1]: the Gaussian policy's mean, clipped to the action bounds" in out
    assert "checked: 256 observations of Pendulum-v1, the same greedy actions as the checkpoint" in out
    assert "onnxruntime.InferenceSession" in out

    # an existing file is kept unless --force
    before = path.read_bytes()
    again = cli("export", run_dir, "--format", "onnx")
    assert again.exit_code == 2 and "already exists" in again.output and "--force" in again.output
    assert path.read_bytes() == before
    forced = cli("export", run_dir, "--format", "onnx", "--force", "--ckpt", "last", "--out", path)
    assert forced.exit_code == 0, forced.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "hf"], "hf is for language-model runs"),
        (["--format", "tflite"], "allowed: torchscript, onnx"),
        (["--adapter"], "--adapter exports a language model's LoRA adapter"),
        (["--ckpt", "newest"], "--ckpt 'newest' is unknown"),
    ],
)
def test_cli_export_refuses_bad_input_with_exit_2(trained, args, message):
    run_dir = trained("ppo_cartpole")
    result = cli("export", run_dir, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (run_dir / "export").exists() or not any((run_dir / "export").glob("*.tmp"))


def test_cli_export_of_a_missing_run_is_exit_2(tmp_path):
    result = cli("export", tmp_path / "nope")
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.fixture
def hide(monkeypatch):
    """hide("onnx", ...): find_spec answers None for these top-level modules."""
    import importlib.util

    real = importlib.util.find_spec
    hidden: set[str] = set()

    def find_spec(name, *args, **kwargs):
        return None if name.split(".")[0] in hidden else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return lambda *names: hidden.update(names)


def test_onnx_without_its_exporter_packages_names_the_extra(trained, hide, tmp_path):
    hide("onnxscript")
    result = cli("export", trained("ppo_cartpole"), "--format", "onnx", "--out", tmp_path / "p.onnx")
    assert result.exit_code == 2 and "pip install 'rldojo[export]'" in result.output
    assert not (tmp_path / "p.onnx").exists() and not list(tmp_path.iterdir())


def test_onnx_without_onnxruntime_is_written_but_says_it_is_unchecked(trained, hide, tmp_path):
    hide("onnxruntime")
    result = cli("export", trained("ppo_cartpole"), "--format", "onnx", "--out", tmp_path / "p.onnx")
    assert result.exit_code == 0, result.output
    assert "not checked: onnxruntime is not installed" in result.output and (tmp_path / "p.onnx").is_file()

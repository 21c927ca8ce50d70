"""`rldojo export`: a trained agent as files that run without rldojo.

Tensor agents become one file holding their greedy policy: TorchScript (`torch.jit.load`) or ONNX
(onnxruntime and any other ONNX runtime). The file takes a batch of raw observations, as the run's
env returns them (after its wrappers: Atari preprocessing and frame stacking stay in the env), and
returns the actions `rldojo eval` would play:

- inside: the observation encoding (Discrete one-hot, Box flattened, images kept uint8 and scaled
  by the net), the frozen observation normalisation of `env.normalize_obs`, the net, and the greedy
  choice: argmax of Q (dqn, sarsa), the actor's mode (ppo, a2c, reinforce: argmax of the logits,
  or the Gaussian mean clipped to the action bounds), SAC's tanh(mean) scaled to the bounds (its
  most probable action for discrete actions);
- recurrent (GRU) policies take and return the hidden state: `action, hidden = policy(obs, hidden)`,
  with `hidden` zeros of shape [batch, hidden_size] where an episode starts;
- a description (`policy.json`: spaces, dtypes, the env, the run) is embedded in the file (TorchScript
  extra file, ONNX metadata `rldojo`) and written beside it.

Every export is checked before it is kept: the file, loaded back by its runtime, must choose the
checkpoint's own greedy actions on observations from the run's env.

Language-model runs become a Hugging Face model folder (LoRA merged into the weights) that
`transformers.AutoModelForCausalLM.from_pretrained` loads, or with `adapter=True` a peft adapter
folder for the run's base model (`model.path`). rldojo merges adapters at the end of each stage,
so the adapter is recovered from the weights: the difference between the checkpoint and the base
model, which on each adapted layer has rank at most r per stage, factored exactly by an SVD.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rldojo.errors import UserError

#: `--format` values: files for tensor agents, a Hugging Face folder for language models.
TENSOR_FORMATS = ("torchscript", "onnx")
LM_FORMAT = "hf"
SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}

#: Observations the export is checked on: envs x steps of greedy play in the run's env.
CHECK_ENVS, CHECK_STEPS = 8, 32


@dataclass
class ExportResult:
    """What `export_run` wrote, for the CLI to show."""

    kind: str  # torchscript, onnx, hf or adapter
    path: Path
    checkpoint: Path
    files: list[Path]
    lines: list[str] = field(default_factory=list)  # facts to print, one per line
    metadata: dict[str, Any] = field(default_factory=dict)


# ==== the greedy policy as plain torch modules ====================================================
class ObservationIn(nn.Module):
    """Raw observations [B, *obs_shape] -> the net's input, computed as the agent computes it:
    normalised with the frozen running statistics (float64, clipped, then float32, as
    `NormalizedAgent`), Discrete one-hot, Box flattened to float32; images stay uint8 (the net
    scales them)."""

    def __init__(self, space: gym.Space, mean: np.ndarray | None, var: np.ndarray | None, clip: float, eps: float):
        super().__init__()
        from rldojo.nets.mlp import is_image_space

        self.image = is_image_space(space)
        self.discrete = isinstance(space, gym.spaces.Discrete)
        self.normalize = mean is not None
        self.start = int(space.start) if self.discrete else 0
        self.register_buffer("choices", torch.arange(int(space.n) if self.discrete else 1))
        self.register_buffer("mean", torch.as_tensor(np.zeros(1) if mean is None else mean, dtype=torch.float64))
        std = np.ones(1) if var is None else np.sqrt(np.asarray(var, dtype=np.float64) + eps)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float64))
        self.clip = float(clip)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.image:
            return obs.to(torch.uint8)
        if self.discrete:
            # one-hot without F.one_hot: a comparison exports to every runtime
            return ((obs.to(torch.int64) - self.start).unsqueeze(-1) == self.choices).to(torch.float32)
        x = obs
        if self.normalize:
            x = ((x.to(torch.float64) - self.mean) / self.std).clamp(-self.clip, self.clip)
        return x.to(torch.float32).reshape(x.shape[0], -1)


class ArgmaxOut(nn.Module):
    """Scores [B, n] -> Discrete actions (int64, offset by the space's start)."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start = int(start)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.argmax(-1) + self.start


class BoundsOut(nn.Module):
    """Continuous actions clipped to the Box bounds, in the space's dtype (as `np.clip` at the env)."""

    def __init__(self, space: gym.spaces.Box) -> None:
        super().__init__()
        self.register_buffer("low", torch.as_tensor(np.asarray(space.low, dtype=np.float32)))
        self.register_buffer("high", torch.as_tensor(np.asarray(space.high, dtype=np.float32)))

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        # maximum/minimum rather than clamp: ONNX's Clip takes scalar bounds only
        return torch.minimum(torch.maximum(actions, self.low), self.high)


def _actor_trunk(net: nn.Module) -> nn.Sequential:
    """The actor's hidden layers of an ActorCritic as a plain Sequential. Separate actor and critic
    layers live in one TwinMLP (stacked weights, a custom autograd node); copy 0 is the actor's."""
    from rldojo.nets.mlp import ACTIVATIONS, TwinMLP

    if not isinstance(net.trunk, TwinMLP):
        return copy.deepcopy(net.trunk)
    layers: list[nn.Module] = []
    for weight, bias in zip(net.trunk.weights, net.trunk.biases):
        linear = nn.Linear(weight.shape[1], weight.shape[2])
        with torch.no_grad():
            linear.weight.copy_(weight[0].T)
            linear.bias.copy_(bias[0, 0])
        layers += [linear, ACTIVATIONS[net.trunk.activation_name]()]
    return nn.Sequential(*layers)


class ActorBody(nn.Module):
    """ppo, a2c, reinforce (feed-forward): encoder -> actor layers -> policy head output (logits or mean)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(net.encoder)
        self.trunk = _actor_trunk(net)
        self.actor = copy.deepcopy(net.actor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.actor(self.trunk(self.encoder(x)))


class RecurrentActorBody(nn.Module):
    """ppo, a2c with `net.recurrent: gru`: one step of the GRU core from the given hidden state."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(net.encoder)
        self.core = copy.deepcopy(net.core)
        self.trunk = _actor_trunk(net)
        self.actor = copy.deepcopy(net.actor)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.core(self.encoder(x), hidden)
        return self.actor(self.trunk(hidden)), hidden


class QBody(nn.Module):
    """dqn, sarsa: Q(s, .)."""

    def __init__(self, q_net: nn.Module) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(q_net.encoder)
        self.trunk = copy.deepcopy(q_net.trunk)
        self.q = copy.deepcopy(q_net.q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q(self.trunk(self.encoder(x)))


class DuelingQBody(nn.Module):
    """dqn with `dueling: true`: Q = V + A - mean(A)."""

    def __init__(self, q_net: nn.Module) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(q_net.encoder)
        self.trunk = copy.deepcopy(q_net.trunk)
        self.value = copy.deepcopy(q_net.value)
        self.advantage = copy.deepcopy(q_net.advantage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.trunk(self.encoder(x))
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=-1, keepdim=True)


class SquashedMeanBody(nn.Module):
    """sac, continuous: tanh(mean) scaled to the bounds (the tanh-Gaussian's deterministic action)."""

    def __init__(self, actor: nn.Module) -> None:
        super().__init__()
        self.trunk = copy.deepcopy(actor.trunk)
        self.mean = copy.deepcopy(actor.mean)
        self.register_buffer("scale", actor.scale.detach().clone())
        self.register_buffer("center", actor.center.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mean(self.trunk(x))) * self.scale + self.center


class CategoricalProbsBody(nn.Module):
    """sac, discrete: the policy's probabilities (SAC's greedy action is their argmax)."""

    def __init__(self, actor: nn.Module) -> None:
        super().__init__()
        self.net = copy.deepcopy(actor.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(x), dim=-1).exp()


class GreedyPolicy(nn.Module):
    """`policy(obs) -> actions`: raw observations in, the agent's greedy env actions out."""

    def __init__(self, obs_in: nn.Module, body: nn.Module, act_out: nn.Module) -> None:
        super().__init__()
        self.obs_in, self.body, self.act_out = obs_in, body, act_out

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.act_out(self.body(self.obs_in(obs)))


class RecurrentGreedyPolicy(nn.Module):
    """`policy(obs, hidden) -> (actions, hidden)`; pass zeros as `hidden` where an episode starts."""

    def __init__(self, obs_in: nn.Module, body: nn.Module, act_out: nn.Module) -> None:
        super().__init__()
        self.obs_in, self.body, self.act_out = obs_in, body, act_out

    def forward(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, hidden = self.body(self.obs_in(obs), hidden)
        return self.act_out(out), hidden


def greedy_policy(agent: Any) -> tuple[nn.Module, dict[str, Any]]:
    """The agent's greedy policy as a plain torch module, and a description of it (what greedy means,
    the recurrent state's size). Refuses agents it cannot express with a UserError."""
    from rldojo.algos.normalized import NormalizedAgent
    from rldojo.algos.sac import CategoricalActor, TanhGaussianActor
    from rldojo.nets.actor_critic import ActorCritic
    from rldojo.nets.q_network import QNetwork

    inner, stats = agent, None
    if isinstance(agent, NormalizedAgent):
        inner, stats = agent.agent, agent.obs_rms
    obs_in = ObservationIn(
        inner.obs_space,
        None if stats is None else stats.mean,
        None if stats is None else stats.var,
        agent.obs_clip if stats is not None else 0.0,
        agent.epsilon if stats is not None else 0.0,
    )
    space = inner.action_space
    discrete = isinstance(space, gym.spaces.Discrete)
    act_out: nn.Module = ArgmaxOut(int(space.start)) if discrete else BoundsOut(space)
    info: dict[str, Any] = {"recurrent": None, "normalized_obs": stats is not None}
    net, q_net, actor = (getattr(inner, name, None) for name in ("net", "q_net", "actor"))
    if isinstance(net, ActorCritic):
        if net.recurrent:
            policy: nn.Module = RecurrentGreedyPolicy(obs_in, RecurrentActorBody(net), act_out)
            info["recurrent"] = {"kind": "gru", "hidden_size": int(net.hidden_size)}
        else:
            policy = GreedyPolicy(obs_in, ActorBody(net), act_out)
        info["greedy"] = (
            "argmax of the actor's logits" if discrete else "the Gaussian policy's mean, clipped to the action bounds"
        )
    elif isinstance(q_net, QNetwork):
        policy = GreedyPolicy(obs_in, DuelingQBody(q_net) if q_net.dueling else QBody(q_net), act_out)
        info["greedy"] = "argmax of Q(s, .)"
    elif isinstance(actor, TanhGaussianActor):
        policy = GreedyPolicy(obs_in, SquashedMeanBody(actor), act_out)
        info["greedy"] = "tanh of the policy's mean, scaled to the action bounds"
    elif isinstance(actor, CategoricalActor):
        policy = GreedyPolicy(obs_in, CategoricalProbsBody(actor), act_out)
        info["greedy"] = "argmax of the policy's probabilities"
    else:
        raise UserError(
            f"rldojo export knows the greedy policies of ppo, a2c, reinforce, dqn, sarsa and sac; this "
            f"agent ({type(inner).__name__}) has none it can write as a standalone file."
        )
    policy.eval().requires_grad_(False)
    return policy, info


# ==== describing the observations and actions ===================================================
def _space_facts(space: gym.Space) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start), "dtype": "int64", "shape": []}
    if isinstance(space, gym.spaces.Box):
        facts: dict[str, Any] = {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype)}
        if space.dtype != np.uint8:  # an image's bounds are 0..255 and would fill the file
            # null for an unbounded side: JSON has no infinity
            facts["low"] = [
                None if not np.isfinite(v) else v for v in np.asarray(space.low, np.float64).ravel().tolist()
            ]
            facts["high"] = [
                None if not np.isfinite(v) else v for v in np.asarray(space.high, np.float64).ravel().tolist()
            ]
        return facts
    return {"type": type(space).__name__, "repr": str(space)}


def _input_dtype(space: gym.Space) -> np.dtype:
    """What the exported file takes: int64 indices for Discrete observations, else the space's dtype."""
    return np.dtype(np.int64) if isinstance(space, gym.spaces.Discrete) else np.dtype(space.dtype)


def _describe_array(name: str, dtype: Any, shape: list) -> str:
    return f"{name} {np.dtype(dtype).name} [{', '.join(['batch', *map(str, shape)])}]"


# ==== observations to check an export on ==========================================================
def sample_observations(spec: Any, agent: Any, envs: int = CHECK_ENVS, steps: int = CHECK_STEPS, seed: int = 0):
    """Observations from the run's env under the agent's greedy play: -> (obs [steps, envs, ...],
    done [steps, envs]): done[t] marks the envs whose episode ended at step t (so step t + 1 begins
    a new one). Recurrent checks replay them in order."""
    from rldojo.envs import make_env

    made = [
        make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps, atari=spec.env.atari_options())
        for _ in range(envs)
    ]
    try:
        obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(made)])
        agent.reset_greedy(envs)
        seen, dones = [], []
        for _ in range(steps):
            seen.append(obs.copy())
            actions = agent.act_greedy(obs)
            done = np.zeros(envs, dtype=bool)
            rows = []
            for i, env in enumerate(made):
                next_obs, _, terminated, truncated, _ = env.step(actions[i])
                if terminated or truncated:
                    done[i] = True
                    next_obs, _ = env.reset()
                rows.append(next_obs)
            agent.greedy_done(done)
            dones.append(done)
            obs = np.stack(rows)
        agent.reset_greedy(envs)
        return np.stack(seen), np.stack(dones)
    finally:
        for env in made:
            env.close()


def reference_actions(agent: Any, obs: np.ndarray, done: np.ndarray) -> np.ndarray:
    """The checkpoint's own greedy actions on `obs` [steps, envs, ...] (recurrent agents carry their
    memory through the steps and reset it where `done` says an episode ended)."""
    agent.reset_greedy(obs.shape[1])
    actions = []
    for t in range(obs.shape[0]):
        actions.append(agent.act_greedy(obs[t]))
        agent.greedy_done(done[t])
    return np.stack(actions)


def same_actions(expected: np.ndarray, got: np.ndarray, space: gym.Space) -> tuple[bool, float]:
    """Discrete: equal; Box: equal within float32 rounding of the net (relative to the bounds)."""
    got = np.asarray(got).reshape(expected.shape)
    if isinstance(space, gym.spaces.Discrete):
        return bool(np.array_equal(expected, got)), float(np.mean(expected != got))
    diff = float(np.max(np.abs(expected.astype(np.float64) - got.astype(np.float64)))) if expected.size else 0.0
    finite = np.isfinite(space.low) & np.isfinite(space.high)
    scale = float(np.max(space.high[finite] - space.low[finite])) if finite.any() else 1.0
    return diff <= 1e-4 * max(1.0, scale), diff


# ==== runtimes ====================================================================================
@contextmanager
def _quiet_exporters() -> Iterator[None]:
    """torch.jit is deprecated upstream (it still works and loads everywhere) and the ONNX exporter
    logs its steps and optional packages it lacks: none of it is news to the user."""
    names = ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _example_inputs(space: gym.Space, info: dict[str, Any], batch: int = 2) -> tuple:
    sample = np.stack([space.sample() for _ in range(batch)]).astype(_input_dtype(space))
    inputs: tuple = (torch.from_numpy(sample),)
    if info["recurrent"]:
        inputs += (torch.zeros(batch, info["recurrent"]["hidden_size"]),)
    return inputs


def _write_torchscript(policy: nn.Module, path: Path, metadata: dict[str, Any]) -> None:
    with _quiet_exporters():
        scripted = torch.jit.script(policy)
        torch.jit.save(
            scripted, str(path), _extra_files={"policy.json": json.dumps(metadata, indent=2, allow_nan=False)}
        )


def _write_onnx(policy: nn.Module, path: Path, metadata: dict[str, Any], example: tuple) -> None:
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"--format onnx needs {' and '.join(missing)} (torch's ONNX exporter): pip install 'rldojo[export]'. "
            "--format torchscript needs nothing more."
        )
    batch = torch.export.Dim("batch")
    recurrent = len(example) == 2
    with _quiet_exporters():
        program = torch.onnx.export(
            policy,
            example,
            input_names=["obs", "hidden"] if recurrent else ["obs"],
            output_names=["action", "hidden_out"] if recurrent else ["action"],
            dynamic_shapes=({0: batch}, {0: batch}) if recurrent else ({0: batch},),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        program.model.metadata_props["rldojo"] = json.dumps(metadata, allow_nan=False)
        program.save(str(path), external_data=False)


def _load_runner(kind: str, path: Path):
    """A function of numpy inputs -> numpy outputs (a tuple) running the exported file in its own runtime."""
    if kind == "torchscript":
        with _quiet_exporters():
            module = torch.jit.load(str(path))

        def run_torchscript(*arrays: np.ndarray) -> tuple:
            with torch.no_grad():
                out = module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays))
            return tuple(o.numpy() for o in (out if isinstance(out, tuple) else (out,)))

        return run_torchscript
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a check on a few hundred rows; threads would only contend
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run_onnx(*arrays: np.ndarray) -> tuple:
        return tuple(session.run(None, dict(zip(names, arrays))))

    return run_onnx


def check_export(kind: str, path: Path, agent: Any, obs: np.ndarray, done: np.ndarray, info: dict) -> dict:
    """Run the file at `path` in its runtime on `obs` [steps, envs, ...] and compare with the
    checkpoint's greedy actions. -> {"observations", "same", "mismatch"} (Box: the largest difference;
    Discrete: the share of different actions)."""
    space = agent.action_space
    expected = reference_actions(agent, obs, done)
    run = _load_runner(kind, path)
    dtype = _input_dtype(agent.obs_space)
    if info["recurrent"]:
        hidden = np.zeros((obs.shape[1], info["recurrent"]["hidden_size"]), dtype=np.float32)
        got = []
        for t in range(obs.shape[0]):
            actions, hidden = run(obs[t].astype(dtype), hidden)
            got.append(actions)
            hidden = np.where(done[t][:, None], 0.0, hidden).astype(np.float32)  # episode ended: start anew
        got_actions = np.stack(got)
    else:
        flat = obs.reshape((-1,) + obs.shape[2:]).astype(dtype)
        got_actions = run(flat)[0].reshape(expected.shape)
    same, mismatch = same_actions(expected, got_actions, space)
    return {"observations": int(obs.shape[0] * obs.shape[1]), "same": same, "mismatch": mismatch}


# ==== the command =================================================================================
def default_out(run_dir: Path, ckpt_path: Path, kind: str) -> Path:
    """runs/<run>/export/policy_s0_best.pt (.onnx), model_s0_best/ or adapter_s0_best/."""
    tag = f"{ckpt_path.parent.parent.name}_{ckpt_path.stem}"
    folder = run_dir / "export"
    if kind in SUFFIX:
        return folder / f"policy_{tag}{SUFFIX[kind]}"
    return folder / f"{'adapter' if kind == 'adapter' else 'model'}_{tag}"


def check_format(fmt: str | None, lm: bool, adapter: bool) -> str:
    """The export kind for `--format` on this run, or a UserError saying what fits it."""
    if lm:
        if fmt not in (None, LM_FORMAT):
            raise UserError(
                f"--format {fmt}: this run trains a language model, exported as a Hugging Face model folder "
                f"(--format {LM_FORMAT}, the default for it; --adapter for the LoRA adapter alone)."
            )
        return "adapter" if adapter else LM_FORMAT
    if adapter:
        raise UserError("--adapter exports a language model's LoRA adapter; this run trains a tensor agent.")
    if fmt is None:
        return "torchscript"
    if fmt not in TENSOR_FORMATS:
        allowed = ", ".join(TENSOR_FORMATS)
        hint = " (hf is for language-model runs)" if fmt == LM_FORMAT else ""
        raise UserError(f"--format '{fmt}' is unknown for a tensor agent{hint}; allowed: {allowed}.")
    return fmt


def _check_out(out: Path, folder: bool, force: bool) -> None:
    """Never overwrite what is there unless --force, and even then only an earlier export."""
    if not out.exists():
        return
    if not force:
        raise UserError(f"'{out}' already exists; choose another --out, or give --force to replace it.")
    if folder != out.is_dir():
        raise UserError(
            f"'{out}' is a {'folder' if out.is_dir() else 'file'}; this export writes a "
            f"{'folder' if folder else 'file'}. Choose another --out."
        )
    if folder and any(out.iterdir()) and not any((out / n).is_file() for n in ("config.json", "adapter_config.json")):
        raise UserError(
            f"'{out}' holds files that are not a model export; --force replaces only an earlier export. "
            "Choose another --out."
        )


def export_run(
    target: Path,
    fmt: str | None = None,
    out: Path | None = None,
    which: str = "best",
    session: int | None = None,
    adapter: bool = False,
    force: bool = False,
) -> ExportResult:
    """Export the agent of a run folder, session folder or checkpoint file (see the module docstring)."""
    from rldojo.algos.registry import plays_episodes
    from rldojo.run.load import locate_checkpoint
    from rldojo.run.trial import read_run_spec

    run_dir, ckpt_path = locate_checkpoint(target, which, session)
    spec = read_run_spec(run_dir)
    kind = check_format(fmt, plays_episodes(spec.agent.algo), adapter)
    out = Path(out) if out is not None else default_out(run_dir, ckpt_path, kind)
    _check_out(out, kind not in SUFFIX, force)
    if kind in SUFFIX:
        return export_tensor_agent(target, which, session, kind, out)
    return export_language_model(spec, run_dir, ckpt_path, out, adapter=kind == "adapter")


def _provenance(spec: Any, run_dir: Path, ckpt_path: Path, checkpoint: dict) -> dict[str, Any]:
    from rldojo.version import __version__

    return {
        "rldojo_version": __version__,
        "run": run_dir.name,
        "checkpoint": str(ckpt_path.relative_to(run_dir)) if ckpt_path.is_relative_to(run_dir) else ckpt_path.name,
        "frame": checkpoint.get("frame"),
        "algo": spec.agent.algo,
        "env": {
            "id": spec.env.id,
            "kwargs": dict(spec.env.kwargs),
            "max_episode_steps": spec.env.max_episode_steps,
            # the preprocessing the observations went through before the policy sees them
            "atari": _atari_facts(spec.env),
        },
    }


def _atari_facts(env: Any) -> dict[str, Any] | None:
    """The Atari preprocessing of the run's env (None for other envs): the exported policy expects
    observations after it."""
    from dataclasses import asdict, is_dataclass

    options = env.atari_options()
    if options is False:
        return None
    if is_dataclass(options):
        return asdict(options)
    return options.model_dump(mode="json") if hasattr(options, "model_dump") else {"options": str(options)}


def export_tensor_agent(target: Path, which: str, session: int | None, kind: str, out: Path) -> ExportResult:
    from rldojo.run.checkpoint import load_checkpoint
    from rldojo.run.load import load_agent

    # On the CPU whatever device the run trained on: the exported file is a CPU policy.
    spec, agent, ckpt_path = load_agent(target, which, session, device="cpu")
    run_dir = ckpt_path.parent.parent.parent
    policy, info = greedy_policy(agent)
    obs_space, action_space = agent.obs_space, agent.action_space
    recurrent = info["recurrent"]
    metadata = {
        "format": kind,
        **_provenance(spec, run_dir, ckpt_path, load_checkpoint(ckpt_path)),
        "inputs": ["obs", "hidden"] if recurrent else ["obs"],
        "outputs": ["action", "hidden_out" if kind == "onnx" else "hidden"] if recurrent else ["action"],
        "observation": {**_space_facts(obs_space), "input_dtype": _input_dtype(obs_space).name},
        "action": _space_facts(action_space),
        "greedy": info["greedy"],
        "normalized_obs": info["normalized_obs"],
        "recurrent": recurrent,
        "usage": _usage(kind, recurrent),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target under a temporary name and renamed once checked: a failed export
    # leaves nothing, and an earlier file is replaced (--force) only by a good one.
    tmp = _temporary(out)
    try:
        if kind == "torchscript":
            _write_torchscript(policy, tmp, metadata)
        else:
            _write_onnx(policy, tmp, metadata, _example_inputs(obs_space, info))
        obs, done = sample_observations(spec, agent)
        checked: dict[str, Any] | None = None
        if kind == "torchscript" or importlib.util.find_spec("onnxruntime") is not None:
            checked = check_export(kind, tmp, agent, obs, done, info)
            if not checked["same"]:
                raise RuntimeError(
                    f"the exported policy does not choose the checkpoint's greedy actions (difference "
                    f"{checked['mismatch']:.3g} on {checked['observations']} observations); nothing was written"
                )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    sidecar = out.with_name(out.name + ".json")
    sidecar.write_text(json.dumps(metadata, indent=2, allow_nan=False) + "\n")
    inputs = [_describe_array("obs", _input_dtype(obs_space), list(np.shape(obs_space.sample())))]
    outputs = [_describe_array("action", metadata["action"]["dtype"], list(metadata["action"]["shape"]))]
    if recurrent:
        inputs.append(_describe_array("hidden", np.float32, [recurrent["hidden_size"]]))
        outputs.append(_describe_array(metadata["outputs"][1], np.float32, [recurrent["hidden_size"]]))
    lines = [
        f"input: {', '.join(inputs)}"
        + (" (normalised inside with the run's frozen statistics)" if info["normalized_obs"] else ""),
        f"output: {', '.join(outputs)}: {info['greedy']}",
    ]
    if recurrent:
        lines.append("recurrent: pass the hidden state back each step, zeros where an episode starts")
    if checked is None:
        lines.append("not checked: onnxruntime is not installed (pip install 'rldojo[export]')")
    else:
        lines.append(
            f"checked: {checked['observations']} observations of {spec.env.id}, the same greedy actions as the checkpoint"
            + (
                ""
                if isinstance(action_space, gym.spaces.Discrete)
                else f" (largest difference {checked['mismatch']:.1e})"
            )
        )
    lines.append(f"load: {metadata['usage']}")
    return ExportResult(kind, out, ckpt_path, [out, sidecar], lines, metadata)


def _usage(kind: str, recurrent: dict | None) -> str:
    args = "obs, hidden" if recurrent else "obs"
    if kind == "torchscript":
        call = "action, hidden = policy(obs, hidden)" if recurrent else "action = policy(obs)"
        return f"policy = torch.jit.load(PATH); {call}  (torch tensors, batch first)"
    feeds = '{"obs": obs, "hidden": hidden}' if recurrent else '{"obs": obs}'
    result = "action, hidden" if recurrent else "(action,)"
    return f"session = onnxruntime.InferenceSession(PATH); {result} = session.run(None, {feeds})  (numpy {args})"


# ==== language models =============================================================================
def export_language_model(spec: Any, run_dir: Path, ckpt_path: Path, out: Path, adapter: bool) -> ExportResult:
    """A Hugging Face folder of the checkpoint's model (adapters merged), or its LoRA adapter."""
    from rldojo.run.agents import build_lm_agent, make_text_envs
    from rldojo.run.checkpoint import load_checkpoint
    from rldojo.run.load import load_device

    model_cfg = spec.agent.model
    if adapter and model_cfg.lora is None:
        raise UserError(
            "--adapter: this run trained every weight (no model.lora), so there is no adapter; export the "
            "whole model (drop --adapter)."
        )
    if adapter and model_cfg.path == "tiny":
        raise UserError(
            "--adapter: the run's base model is rldojo's tiny model, built inside the run and saved nowhere, so "
            "an adapter alone could not be loaded onto anything; export the merged model (drop --adapter)."
        )
    checkpoint = load_checkpoint(ckpt_path)
    envs = make_text_envs(
        spec, spec.env.num_envs
    )  # as the run had them: a stage resumed in the checkpoint may need all
    try:
        # The run's device when this machine has it (a quantised base needs its GPU), else the CPU.
        agent = build_lm_agent(spec, int(checkpoint.get("seed", 0)), envs, device=load_device(spec))
        base = agent.lm.weights() if adapter else None  # the base model, before the checkpoint's weights
        try:
            agent.load_state_dict(checkpoint["agent"])
        except (KeyError, RuntimeError) as exc:
            raise UserError(f"checkpoint '{ckpt_path}' does not match the run's spec ({exc}).") from None
    finally:
        for env in envs:
            env.close()
    metadata = {
        "format": "adapter" if adapter else LM_FORMAT,
        **_provenance(spec, run_dir, ckpt_path, checkpoint),
        "base_model": model_cfg.path,
        "prompt": spec.agent.prompt.model_dump(mode="json"),
        "generation": spec.agent.generation.model_dump(mode="json"),
    }
    tmp = _temporary(out)
    tmp.mkdir()
    try:
        if adapter:
            lines = _write_adapter(agent, base, tmp, checkpoint, model_cfg, str(ckpt_path))
        else:
            agent.lm.export(tmp)
            lines = [
                "a Hugging Face model folder"
                + (" (LoRA adapters merged into the weights)" if model_cfg.lora else "")
                + " with its tokenizer; load with transformers.AutoModelForCausalLM.from_pretrained(PATH)"
            ]
        (tmp / "rldojo_export.json").write_text(json.dumps(metadata, indent=2) + "\n")
        if out.exists():  # --force, checked by _check_out: an earlier export
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return ExportResult(metadata["format"], out, ckpt_path, files, lines, metadata)


def _temporary(out: Path) -> Path:
    """A name beside `out` for writing it before the rename (created by the writer, so the umask
    gives it the usual permissions, not a temp file's owner-only ones)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    tmp.unlink(missing_ok=True)
    return tmp


def _write_adapter(
    agent: Any, base: dict[str, torch.Tensor], folder: Path, checkpoint: dict, model_cfg, checkpoint_name: str
) -> list[str]:
    """The LoRA adapter that turns the base model into the checkpoint's: per changed linear layer,
    the weight difference factored as B @ A by an SVD at the rank the run's stages can have produced
    (r per stage, each stage's adapters having been merged), with alpha = rank (scaling 1)."""
    from peft import LoraConfig, get_peft_model

    lm = agent.lm
    trained = copy.deepcopy(lm.model).merge_and_unload() if lm.has_adapters else lm.model
    weights = trained.state_dict()
    modules = dict(trained.named_modules())
    stages_run = int(checkpoint["agent"].get("stage", 0)) + 1
    rank_cap = model_cfg.lora.r * stages_run
    deltas: dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        if key not in base or base[key].shape != value.shape:
            raise UserError(
                f"the checkpoint's weight '{key}' has no counterpart in the base model; cannot export an adapter."
            )
        delta = value.detach().to("cpu", torch.float64) - base[key].double()  # the base is a host copy
        if not torch.any(delta != 0):
            continue
        name, _, leaf = key.rpartition(".")
        if leaf != "weight" or not isinstance(modules.get(name), nn.Linear):
            raise UserError(
                f"the run changed '{key}', which a LoRA adapter cannot hold (only linear layers' weights); "
                "export the merged model (drop --adapter)."
            )
        deltas[name] = delta
    if not deltas:
        raise UserError(
            f"checkpoint '{checkpoint_name}' holds the base model unchanged (written before any stage trained, or no "
            "later evaluation beat the base model's), so there is no adapter to export; try --ckpt last."
        )
    rank = min(rank_cap, max(min(d.shape) for d in deltas.values()))
    config = LoraConfig(
        r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules=sorted(deltas), bias="none", task_type="CAUSAL_LM"
    )
    base_model = copy.deepcopy(trained)
    base_model.load_state_dict(base)
    with warnings.catch_warnings():  # peft 0.21 calls a transformers 5 name deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = get_peft_model(base_model, config)
    worst = 0.0
    with torch.no_grad():
        for name, delta in deltas.items():
            layer = peft_model.base_model.model.get_submodule(name)
            u, s, vh = torch.linalg.svd(delta, full_matrices=False)
            k = min(rank, s.shape[0])
            b = torch.zeros(delta.shape[0], rank, dtype=torch.float64)
            a = torch.zeros(rank, delta.shape[1], dtype=torch.float64)
            b[:, :k], a[:k] = u[:, :k] * s[:k], vh[:k]
            layer.lora_A["default"].weight.copy_(a.float())
            layer.lora_B["default"].weight.copy_(b.float())
            worst = max(worst, float((b.float() @ a.float() - delta).abs().max() / delta.abs().max()))
    if worst > 1e-3:
        raise RuntimeError(
            f"the run's weight changes do not fit a rank-{rank} adapter (relative error {worst:.1e}); "
            "export the merged model (drop --adapter)"
        )
    peft_model.peft_config["default"].base_model_name_or_path = str(Path(model_cfg.path).expanduser().resolve())
    peft_model.save_pretrained(str(folder))
    return [
        f"a LoRA adapter (rank {rank}, {len(deltas)} layers) for the base model {model_cfg.path}; load with "
        "peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), PATH)",
        f"the adapter reproduces the run's weight changes to a relative error of {worst:.1e}",
    ]

"""The public Python API: train a spec, load what it learned, evaluate it, and watch training.

```python
import rldojo

run = rldojo.train("classic/ppo_cartpole", overrides=["meta.sessions=1"])
agent = rldojo.load(run)
action, _ = agent.predict(obs, deterministic=True)
print(rldojo.evaluate(agent, episodes=20)["return_mean"])
```

Everything here goes through the same code as the CLI: `train` writes the same run folder as
`rldojo train` (spec.yaml with provenance, checkpoints, trial.json, report.md), so a run started
from Python can be resumed, evaluated, compared and reported from the command line, and back.
Errors in the input raise `rldojo.UserError` (a `SpecError` for a spec) with the one-paragraph
message the CLI prints. rldojo writes no logs to your handlers unless you ask
(`loguru.logger.enable("rldojo")`); each session's log.txt is written either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rldojo.algos.registry import plays_episodes
from rldojo.errors import UserError
from rldojo.run.recorder import StopTraining
from rldojo.run.spec import Spec, load_spec, spec_from_raw

__all__ = ["Callback", "LMPolicy", "Policy", "Run", "StopTraining", "evaluate", "load", "train"]

DEFAULT_SPEC = "classic/ppo_cartpole"

SpecLike = str | Path | Mapping[str, Any] | Spec
"""A spec file (`path.yaml`, `path.yaml:name`), a shipped spec's name, a dict, or a `Spec`."""


# ---- callbacks ----------------------------------------------------------------------------------
class Callback:
    """Hooks on the training loop of both kinds of agents; subclass it, or pass functions.

    Each hook gets the session index first. Returning False (not None) or raising `StopTraining`
    stops that session like Ctrl-C does: the last checkpoint is written, its status is `stopped`,
    and `Run.resume()` continues it to the budget. Other sessions of the trial still run (each is
    asked in turn). Any other exception fails the run.

    - `on_row(session, row)`: a metric row was written (the columns of metrics.csv: frame,
      return_ma, success_ma, fps, lr, the algorithm's losses, eval_return on evaluation rows ...).
    - `on_eval(session, summary)`: an evaluation finished (return_mean, return_std, success,
      episodes, frame; language models add invalid_rate, unparsed_rate ...).
    - `on_checkpoint(session, name, path, frame)`: ckpt/last.pt or ckpt/best.pt was written.
    - `on_episode(session, episode)`: a training episode ended (frame, return, length, success, and
      `env`: the index of the vector env's copy that played it; None for language-model agents).

    ```python
    class StopAt(rldojo.Callback):
        def on_row(self, session, row):
            return row["frame"] < 50_000

    rldojo.train(spec, callbacks=[StopAt(), rldojo.Callback(on_eval=lambda s, e: print(e["return_mean"]))])
    ```

    Callbacks are objects of your process, so `train(..., callbacks=...)` runs the sessions in it,
    one after another (as `meta.max_parallel: 1` does).
    """

    def __init__(
        self,
        on_row: Callable[[int, dict[str, Any]], bool | None] | None = None,
        on_eval: Callable[[int, dict[str, Any]], bool | None] | None = None,
        on_checkpoint: Callable[[int, str, Path, int], bool | None] | None = None,
        on_episode: Callable[[int, dict[str, Any]], bool | None] | None = None,
    ) -> None:
        # Functions given here replace the methods of this instance (a subclass overrides them instead).
        hooks = (("on_row", on_row), ("on_eval", on_eval), ("on_checkpoint", on_checkpoint), ("on_episode", on_episode))
        for name, function in hooks:
            if function is not None:
                setattr(self, name, function)

    def on_row(self, session: int, row: dict[str, Any]) -> bool | None:
        return None

    def on_eval(self, session: int, summary: dict[str, Any]) -> bool | None:
        return None

    def on_checkpoint(self, session: int, name: str, path: Path, frame: int) -> bool | None:
        return None

    def on_episode(self, session: int, episode: dict[str, Any]) -> bool | None:
        return None


# ---- runs ---------------------------------------------------------------------------------------
class Run:
    """A run folder: `path`, the trial's summary (`trial`, as in trial.json), `resume()`, `load()`."""

    def __init__(self, path: str | Path, trial: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        if trial is None:
            trial_path = self.path / "trial.json"
            trial = json.loads(trial_path.read_text()) if trial_path.is_file() else None
        self.trial: dict[str, Any] | None = trial
        """trial.json: per session and over sessions (final/best return MA with CI, fps, wall time); None
        for a run that has not finished once."""

    @property
    def spec(self) -> Spec:
        """The run's resolved spec (spec.yaml)."""
        from rldojo.run.trial import read_run_spec

        return read_run_spec(self.path)

    @property
    def status(self) -> str | None:
        """`done`, `stopped` (a callback), `interrupted` (Ctrl-C), or None before the first end."""
        return None if self.trial is None else self.trial["status"]

    @property
    def final_return_ma(self) -> float | None:
        """Mean over sessions of the final return moving average."""
        return None if self.trial is None else self.trial["aggregate"]["final_return_ma"]["mean"]

    def resume(self, *, callbacks: Callback | Sequence[Callback] | None = None, progress: bool = False) -> Run:
        """Continue the unfinished sessions from their last checkpoints to the budget (as `rldojo train
        --resume`); a finished run is returned as it is."""
        from rldojo.run.trial import check_resume, finished_sessions, run_trial

        spec = self.spec
        if finished_sessions(spec, self.path) == spec.meta.sessions:
            return Run(self.path)
        check_resume(spec, self.path)
        trial = run_trial(spec, self.path, show_progress=progress, hooks=_hooks(callbacks))
        return Run(self.path, trial)

    def load(self, which: str = "best", session: int | None = None) -> Policy | LMPolicy:
        """`rldojo.load(run, which, session)`."""
        return load(self, which, session)

    def __repr__(self) -> str:
        ma = self.final_return_ma
        return (
            f"Run('{self.path}', status={self.status!r}" + ("" if ma is None else f", final_return_ma={ma:.2f}") + ")"
        )


def _hooks(callbacks: Callback | Sequence[Callback] | None) -> list[Any] | None:
    if callbacks is None:
        return None
    return [callbacks] if isinstance(callbacks, Callback) else list(callbacks)


def _spec(spec: SpecLike, overrides: Sequence[str]) -> tuple[Spec, str]:
    """The validated spec (with `overrides` applied) and how to name it in provenance."""
    overrides = list(overrides)
    if isinstance(spec, Spec):
        return spec_from_raw(spec.model_dump(mode="json"), overrides, source=f"'{spec.name}'"), spec.name
    if isinstance(spec, Mapping):
        return spec_from_raw(dict(spec), overrides, source="(dict)"), "<dict>"
    if isinstance(spec, (str, Path)):
        return load_spec(str(spec), overrides), str(spec)
    raise UserError(
        f"a spec is a file path, a shipped spec's name, a dict or a rldojo Spec; got {type(spec).__name__}."
    )


def train(
    spec: SpecLike = DEFAULT_SPEC,
    overrides: Sequence[str] = (),
    out: str | Path = "runs",
    *,
    callbacks: Callback | Sequence[Callback] | None = None,
    progress: bool = False,
) -> Run:
    """Train every session of `spec` into `out/<name>_<timestamp>/`, the run folder of `rldojo train`.

    `overrides` are `--set` values (`["agent.optim.lr=3e-4", "meta.sessions=2"]`). The spec is
    checked first (optional packages, env, agent) and nothing is written when it fails (UserError).
    Several sessions run in parallel processes unless `meta.max_parallel` is 1 or `callbacks` are
    given (then in this process, one after another); processes are spawned, so a script that trains
    with several parallel sessions needs the usual `if __name__ == "__main__":` guard. `progress`
    shows the progress bars (on stderr). Ctrl-C stops training with a last checkpoint: the Run's
    status is then `interrupted` and `run.resume()` continues it.
    """
    from rldojo.run.trial import new_run_dir, preflight, run_trial, write_spec_file

    resolved, label = _spec(spec, overrides)
    preflight(resolved)
    run_dir = new_run_dir(resolved, Path(out))
    call = f"rldojo.train({label!r}" + (f", overrides={list(overrides)!r}" if overrides else "") + ")"
    write_spec_file(run_dir, resolved, [call])
    trial = run_trial(resolved, run_dir, show_progress=progress, hooks=_hooks(callbacks))
    return Run(run_dir, trial)


# ---- trained agents -----------------------------------------------------------------------------
class Policy:
    """A trained tensor agent (PPO, DQN, SAC, ...) for inference: `predict` as in Stable-Baselines3."""

    def __init__(self, spec: Spec, agent: Any, checkpoint: Path, run_dir: Path) -> None:
        self.spec, self.agent, self.checkpoint, self.run_dir = spec, agent, checkpoint, run_dir
        self.observation_space = agent.obs_space
        self.action_space = agent.action_space

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """The greedy action for one observation, or actions for a batch (first axis) -> (action, None).

        Stable-Baselines3's signature. The state is None: a recurrent policy (`net.recurrent: gru`)
        keeps its memory inside; pass `episode_start` (one bool per observation, True where it
        begins an episode) so it forgets at episode ends. Only deterministic actions are offered:
        a tensor agent's sampling `act` belongs to training (it records into the learning buffer).
        """
        del state  # the agent holds a recurrent policy's memory itself
        if not deterministic:
            raise ValueError(
                "rldojo's tensor agents predict their greedy (deterministic) action; sampling belongs to "
                "training. Call predict(obs, deterministic=True)."
            )
        obs = np.asarray(observation)
        single = obs.shape == tuple(self.observation_space.shape or ())
        batch = obs[None] if single else obs
        if episode_start is not None:
            self.agent.greedy_done(np.asarray(episode_start, dtype=bool).reshape(-1))
        with torch.no_grad():
            actions = np.asarray(self.agent.act_greedy(batch))
        return (actions[0] if single else actions), None

    def __repr__(self) -> str:
        return f"Policy({self.spec.agent.algo} on {self.spec.env.id}, checkpoint='{self.checkpoint}')"


class LMPolicy:
    """A trained language-model agent: `act(observation, info)` -> the action its reply names.

    It holds the run's model, tokenizer, prompt template and text envs; `close()` (or `with`)
    closes the envs.
    """

    def __init__(self, spec: Spec, agent: Any, envs: list, checkpoint: Path, run_dir: Path, seed: int = 0) -> None:
        self.spec, self.agent, self.envs, self.checkpoint, self.run_dir = spec, agent, envs, checkpoint, run_dir
        self.generator = torch.Generator(device=agent.device).manual_seed(seed)
        self.last_reply: str | None = None
        """The model's whole reply to the last `act` (the action is parsed out of it)."""

    def act(self, observation: str, info: dict[str, Any] | None = None) -> str:
        """The action for one observation: the prompt of an episode's first turn (the world's
        instruction and, in `info["available_actions"]`, the actions it lists), a reply sampled at the
        evaluation temperature (0: greedy), parsed as evaluation does, without the fallback to the
        first listed action: a reply nothing matches comes back as the model wrote it. Each call is
        a fresh conversation; `rldojo.evaluate` plays whole episodes with their history."""
        from rldojo.llm.parse import parse_action
        from rldojo.llm.rollout import _choose

        info = dict(info or {})
        actor, params = self.agent.actor, self.agent.sampling(evaluation=True)
        prompt = actor.prompt(observation, info)
        actor.check_fits(prompt, params.max_new_tokens)
        available = list(info.get("available_actions") or [])
        if actor.action_mode == "choose":  # the model scores the listed actions and picks one
            draw = torch.randint(2**62, (1,), generator=self.generator, device=self.generator.device)
            rng = np.random.default_rng(int(draw))
            reply = _choose(actor, [info], [prompt], params.temperature, rng)[0][0]
            self.last_reply = reply.text
            return reply.text
        reply = actor.backend.generate([prompt], params, self.generator)[0]
        self.last_reply = reply.text
        return parse_action(reply.text, available, fallback=False).action

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []

    def __enter__(self) -> LMPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LMPolicy({self.spec.agent.algo} on {self.spec.env.id}, checkpoint='{self.checkpoint}')"


def load(target: Run | str | Path, which: str = "best", session: int | None = None) -> Policy | LMPolicy:
    """The trained agent of a run folder (its best session by default), a session folder (`s0`) or
    a checkpoint file; `which`: the `best` or `last` checkpoint. A tensor agent comes back as a
    `Policy` (`predict`), a language model as an `LMPolicy` (`act`)."""
    from rldojo.run.load import load_agent, load_lm_agent, locate_checkpoint
    from rldojo.run.trial import read_run_spec

    run_dir, ckpt_path = locate_checkpoint(Path(target.path if isinstance(target, Run) else target), which, session)
    spec = read_run_spec(run_dir)
    if plays_episodes(spec.agent.algo):
        agent, envs = load_lm_agent(spec, ckpt_path)
        return LMPolicy(spec, agent, envs, ckpt_path, run_dir)
    _, agent, _ = load_agent(ckpt_path)
    return Policy(spec, agent, ckpt_path, run_dir)


# ---- evaluation ---------------------------------------------------------------------------------
def evaluate(
    agent: Policy | LMPolicy | Run | str | Path,
    env_id: str | None = None,
    episodes: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Play `episodes` evaluation episodes on `env_id` (default: the run's env) and summarise them.

    Tensor agents play greedy episodes; language models play held-out tasks with the world's native
    reward and no parse fallback. By default the session's own evaluation set is played (its seed
    and episode count, and a language model's recorded tasks), as `rldojo eval` does, so the figure
    matches the run's own. Returns `env_id`, `seed`, `runs_own_set` and the summary: episodes,
    return_mean, return_std, length_mean, success (None where the env reports none) with
    success_low/success_high (80% Jeffreys interval); language models add invalid_rate, truncated,
    parse (the share of turns per parse strategy) and unparsed_rate. `agent` may also be a run or
    a path, loaded with `load` first.
    """
    from rldojo.evaluate.play import summarize

    if not isinstance(agent, (Policy, LMPolicy)):
        loaded = load(agent)
        try:
            return evaluate(loaded, env_id, episodes, seed)
        finally:
            if isinstance(loaded, LMPolicy):
                loaded.close()
    spec = agent.spec
    env_id = env_id or spec.env.id
    chosen_seed, chosen_episodes, own, starts = _eval_set(agent, env_id, episodes, seed)
    if isinstance(agent, LMPolicy):
        played = _play_language_model(agent, env_id, chosen_seed, chosen_episodes, starts)
    else:
        played = _play_tensor_agent(agent, env_id, chosen_seed, chosen_episodes)
    return {"env_id": env_id, "seed": chosen_seed, "runs_own_set": own, **summarize(played)}


def _eval_set(agent: Policy | LMPolicy, env_id: str, episodes: int | None, seed: int | None):
    """(seed, episodes, the run's own set?, recorded held-out tasks or None), as `rldojo eval` picks."""
    from rldojo.run.agents import EVAL_SEED_OFFSET, eval_set_starts, read_eval_set
    from rldojo.run.checkpoint import load_checkpoint

    record = read_eval_set(agent.checkpoint.parent.parent) or {
        # runs written before the set was recorded: the rule the session used
        "seed": int(load_checkpoint(agent.checkpoint).get("seed", 0)) + EVAL_SEED_OFFSET,
        "episodes": agent.spec.train.eval_episodes,
    }
    chosen_seed = record["seed"] if seed is None else seed
    chosen_episodes = record["episodes"] if episodes is None else episodes
    if chosen_episodes < 1:
        raise UserError(f"episodes={chosen_episodes}: evaluate at least 1 episode.")
    own = env_id == agent.spec.env.id and (chosen_seed, chosen_episodes) == (record["seed"], record["episodes"])
    starts = eval_set_starts(record) if own and "tasks" in record else None
    return chosen_seed, chosen_episodes, own, starts


def _play_tensor_agent(agent: Policy, env_id: str, seed: int, episodes: int) -> list[dict[str, Any]]:
    from rldojo.envs import make_env
    from rldojo.evaluate.play import play_greedy

    env_spec = agent.spec.env
    if env_id == env_spec.id:
        kwargs, limit, atari = dict(env_spec.kwargs), env_spec.max_episode_steps, env_spec.atari_options()
    else:  # another env is made with its own defaults, and must have the spaces the agent learned on
        kwargs, limit, atari = {}, None, None
        other = make_env(env_id)
        try:
            if other.observation_space != agent.observation_space or other.action_space != agent.action_space:
                raise UserError(
                    f"the agent was trained on {env_spec.id} (observations {agent.observation_space}, actions "
                    f"{agent.action_space}) and cannot play {env_id} (observations {other.observation_space}, "
                    f"actions {other.action_space}); evaluate it on envs with the same spaces."
                )
        finally:
            other.close()
    return play_greedy(
        agent.agent, env_id, episodes, seed=seed, env_kwargs=kwargs, max_episode_steps=limit, atari=atari
    )


def _play_language_model(agent: LMPolicy, env_id: str, seed: int, episodes: int, starts: list | None):
    from rldojo.envs.text import TextEnv
    from rldojo.evaluate.play import play_held_out
    from rldojo.run.agents import held_out_starts, make_text_envs

    spec = agent.spec
    own_env = env_id == spec.env.id
    envs = agent.envs if own_env else make_text_envs(spec, spec.env.num_envs, env_id=env_id)
    try:
        if not isinstance(envs[0].unwrapped, TextEnv):
            raise UserError(f"the agent is a language model; {env_id} is not a text world.")
        agent.agent.set_world(env_id)
        starts = starts or held_out_starts(spec, seed, episodes, env_id=env_id)
        return play_held_out(agent.agent, starts, seed, envs=envs)
    finally:
        agent.agent.set_world(spec.env.id)
        if not own_env:
            for env in envs:
                env.close()

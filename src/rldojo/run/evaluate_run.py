"""`rldojo eval`: play a trained agent on its own env or on several, one episode list per env.

Tensor agents play greedily (`evaluate.play.play_greedy`) on every env whose observation and
action spaces are the ones they were trained on. Language-model agents play held-out tasks of each
text world (tasks drawn from the evaluation seed, native rewards: training-time shaping is off),
with the model, tokenizer and prompt template of the run. The spec's `env.kwargs` and
`max_episode_steps` apply to the run's own env only; another env id is made with its defaults.

By default the run's own env is played on the session's recorded evaluation set
(`s<i>/eval_set.json`: its seed, episode count and, for language models, its held-out tasks), so
`rldojo eval` reproduces the run's own figure for the same checkpoint exactly. `--seed` or
`--episodes` choose other episodes, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from rldojo.errors import UserError

#: Episodes per env id: one {return, length, success} dict per episode.
EpisodesByEnv = dict[str, list[dict[str, Any]]]


@dataclass
class EvalSet:
    """The episodes an evaluation plays on one env: the seed they are drawn from, how many, and for
    language models the held-out tasks; `own` when they are the run's own evaluation set."""

    seed: int
    episodes: int
    own: bool
    starts: list | None = None

    def describe(self, env_id: str) -> str:
        if self.own:
            return f"{env_id}: the run's own evaluation set ({self.episodes} episodes from seed {self.seed})"
        return (
            f"{env_id}: {self.episodes} episodes from seed {self.seed}, NOT the run's evaluation set; "
            "its figures are not comparable to the run's own"
        )


@dataclass
class EvalRun:
    spec: Any
    played: EpisodesByEnv
    checkpoint: Path
    run_dir: Path
    sets: dict[str, EvalSet] = field(default_factory=dict)

    def parse_shares(self) -> dict[str, dict[str, float]]:
        """Language models: per env, the share of turns each parse strategy turned into an action
        (`none`: nothing matched; the reply was played as written). Empty for tensor agents."""
        shares = {}
        for env_id, episodes in self.played.items():
            counts: dict[str, int] = {}
            for episode in episodes:
                for strategy, n in episode.get("parse", {}).items():
                    counts[strategy] = counts.get(strategy, 0) + n
            turns = sum(episode["length"] for episode in episodes)
            if counts and turns:
                shares[env_id] = {strategy: n / turns for strategy, n in sorted(counts.items())}
        return shares


def parse_env_ids(envs: str | None) -> list[str] | None:
    """`--envs A,B` -> ["A", "B"] (None when the option was not given); ids must exist."""
    from rldojo.envs.registry import check_env_id

    if envs is None:
        return None
    ids = [part.strip() for part in envs.split(",") if part.strip()]
    if not ids:
        raise UserError(f"--envs '{envs}' names no env; give comma-separated ids, e.g. --envs CartPole-v1,CartPole-v0.")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise UserError(f"--envs names {', '.join(duplicates)} more than once; give each env id once.")
    for env_id in ids:
        check_env_id(env_id)
    return ids


def _env_settings(spec, env_id: str) -> tuple[dict[str, Any], int | None, Any]:
    """The run's kwargs, time limit and Atari preprocessing for its own env; defaults for any other id."""
    if env_id == spec.env.id:
        return dict(spec.env.kwargs), spec.env.max_episode_steps, spec.env.atari_options()
    return {}, None, None


def _spaces(env: gym.Env) -> str:
    def describe(space: gym.Space) -> str:
        if isinstance(space, gym.spaces.Box):
            return f"Box{space.shape} {space.dtype}"
        return str(space)

    return f"observations {describe(env.observation_space)}, actions {describe(env.action_space)}"


def evaluate_run(
    target: Path,
    env_ids: list[str] | None,
    episodes: int | None = None,
    which: str = "best",
    session: int | None = None,
    seed: int | None = None,
) -> EvalRun:
    """Play each of `env_ids` (default: the run's env) with the run's agent: the run's own env on
    the session's evaluation set unless `seed` or `episodes` say otherwise (see the module docstring)."""
    from rldojo.algos.registry import plays_episodes
    from rldojo.run.load import locate_checkpoint
    from rldojo.run.trial import read_run_spec

    run_dir, ckpt_path = locate_checkpoint(target, which, session)
    spec = read_run_spec(run_dir)
    env_ids = env_ids or [spec.env.id]
    sets = {env_id: _eval_set(spec, ckpt_path, env_id, seed, episodes) for env_id in env_ids}
    if plays_episodes(spec.agent.algo):
        played = _evaluate_language_model(spec, ckpt_path, sets)
    else:
        played = _evaluate_tensor_agent(target, spec, sets, which, session)
    return EvalRun(spec, played, ckpt_path, run_dir, sets)


def _eval_set(spec, ckpt_path: Path, env_id: str, seed: int | None, episodes: int | None) -> EvalSet:
    """The session's recorded evaluation set for the run's env (what the run itself measured on),
    or the episodes `seed` and `episodes` ask for."""
    from rldojo.run.agents import EVAL_SEED_OFFSET, eval_set_starts, read_eval_set
    from rldojo.run.checkpoint import load_checkpoint

    session_dir = ckpt_path.parent.parent
    record = read_eval_set(session_dir) or {
        # runs written before the set was recorded: the same rule the session used
        "seed": int(load_checkpoint(ckpt_path).get("seed", 0)) + EVAL_SEED_OFFSET,
        "episodes": spec.train.eval_episodes,
    }
    chosen_seed = record["seed"] if seed is None else seed
    chosen_episodes = record["episodes"] if episodes is None else episodes
    own = env_id == spec.env.id and (chosen_seed, chosen_episodes) == (record["seed"], record["episodes"])
    starts = eval_set_starts(record) if own and "tasks" in record else None
    return EvalSet(seed=chosen_seed, episodes=chosen_episodes, own=own, starts=starts)


def _evaluate_tensor_agent(target, spec, sets: dict[str, EvalSet], which, session) -> EpisodesByEnv:
    from rldojo.envs import make_env
    from rldojo.evaluate.play import play_greedy
    from rldojo.run.load import load_agent

    spec, agent, _ = load_agent(target, which, session)
    trained = make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps, atari=spec.env.atari_options())
    try:
        for env_id in sets:  # check every env before playing any: a mismatch writes nothing
            kwargs, limit, atari = _env_settings(spec, env_id)
            other = make_env(env_id, kwargs, limit, atari=atari)
            try:
                if other.observation_space != trained.observation_space or other.action_space != trained.action_space:
                    raise UserError(
                        f"the agent was trained on {spec.env.id} ({_spaces(trained)}) and cannot play {env_id} "
                        f"({_spaces(other)}). A tensor agent can be evaluated on envs with the same "
                        "observation and action spaces only (e.g. another version of its env)."
                    )
            finally:
                other.close()
    finally:
        trained.close()
    played: EpisodesByEnv = {}
    for env_id, chosen in sets.items():
        kwargs, limit, atari = _env_settings(spec, env_id)
        played[env_id] = play_greedy(
            agent, env_id, chosen.episodes, seed=chosen.seed, env_kwargs=kwargs, max_episode_steps=limit, atari=atari
        )
    return played


def _evaluate_language_model(spec, ckpt_path: Path, sets: dict[str, EvalSet]) -> EpisodesByEnv:
    from rldojo.envs import make_env
    from rldojo.envs.text import TextEnv
    from rldojo.envs.text.mixture import MixtureEnv
    from rldojo.evaluate.play import play_held_out
    from rldojo.run.agents import held_out_starts, make_text_envs
    from rldojo.run.load import load_lm_agent

    for env_id in sets:
        kwargs, limit, _ = _env_settings(spec, env_id)
        probe = make_env(env_id, kwargs, limit)
        try:
            if not isinstance(probe.unwrapped, (TextEnv, MixtureEnv)):
                raise UserError(
                    f"the run trains a language model; {env_id} is not a text world. Evaluate it on "
                    "text worlds or reasoning tasks (dojo/TextCraft-v0, dojo/BabyAI-GoToLocal-v0, "
                    "dojo/SAT-v0, ...)."
                )
        finally:
            probe.close()
    agent, own_envs = load_lm_agent(spec, ckpt_path)  # the run's own world: its tokenizer and template
    played: EpisodesByEnv = {}
    try:
        for env_id, chosen in sets.items():
            envs = own_envs if env_id == spec.env.id else make_text_envs(spec, spec.env.num_envs, env_id=env_id)
            try:
                agent.set_world(env_id)
                starts = chosen.starts or held_out_starts(spec, chosen.seed, chosen.episodes, env_id=env_id)
                played[env_id] = play_held_out(agent, starts, chosen.seed, envs=envs)
                # a mixture of worlds: each world as an env of its own too (compare's Pareto runs across them)
                for world in sorted({row["world"] for row in played[env_id] if "world" in row}):
                    played[world] = [row for row in played[env_id] if row.get("world") == world]
            finally:
                if envs is not own_envs:
                    for env in envs:
                        env.close()
    finally:
        for env in own_envs:
            env.close()
    return played

"""vectorize: native (gymnasium's vector_entry_point) and envpool, in rldojo's SAME_STEP contract."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rldojo.envs import make_vec
from rldojo.envs.atari import AtariOptions
from rldojo.envs.errors import EnvInputError

envpool = pytest.importorskip("envpool")


def _play(venv, steps: int, seed: int = 0):
    """Random steps; returns rewards, the done flags, the observations after done and the final ones."""
    rng = np.random.default_rng(seed)
    venv.reset(seed=seed)
    rewards, after_done, finals, lengths = [], [], [], []
    length = np.zeros(venv.num_envs, dtype=int)
    for _ in range(steps):
        obs, reward, terminated, truncated, infos = venv.step(rng.integers(0, 2, venv.num_envs))
        rewards.append(np.array(reward))
        length += 1
        done = terminated | truncated
        if done.any():
            assert infos["_final_obs"].tolist() == done.tolist()
            for i in np.flatnonzero(done):
                finals.append(np.array(infos["final_obs"][i]))
                after_done.append(np.array(obs[i]))
                lengths.append(length[i])
            length[done] = 0
    return np.array(rewards), np.array(after_done), np.array(finals), np.array(lengths)


@pytest.mark.parametrize("mode", ["native", "envpool"])
def test_cartpole_same_step_contract(mode: str) -> None:
    venv = make_vec("CartPole-v1", 16, seed=0, vectorize=mode)
    try:
        rewards, after_done, finals, lengths = _play(venv, 600)
    finally:
        venv.close()
    # every step is a real step: a NEXT_STEP engine would waste one (reward 0) on each reset
    assert (rewards == 1.0).all()
    assert len(finals) > 100
    # the step that ends an episode returns the next episode's start (CartPole starts in +-0.05) ...
    assert np.abs(after_done).max() <= 0.05
    # ... and puts the last observation in final_obs: the pole fell or the cart left the track
    fell = (np.abs(finals[:, 2]) > 0.2094) | (np.abs(finals[:, 0]) > 2.4)
    assert fell.all()
    # random play lasts about 22 steps in CartPole, whichever engine steps it
    sync = make_vec("CartPole-v1", 16, seed=0, vectorize="sync")
    try:
        *_, sync_lengths = _play(sync, 600)
    finally:
        sync.close()
    assert abs(lengths.mean() - sync_lengths.mean()) < 3.0


@pytest.mark.parametrize("mode", ["native", "envpool"])
def test_seeded_runs_repeat_and_seeds_differ(mode: str) -> None:
    def first_obs(seed: int) -> np.ndarray:
        venv = make_vec("CartPole-v1", 4, seed=seed, vectorize=mode)
        try:
            obs, _ = venv.reset(seed=seed)
            steps = [np.array(venv.step(np.ones(4, dtype=np.int64))[0]) for _ in range(30)]
            return np.concatenate([np.array(obs)] + steps)
        finally:
            venv.close()

    assert np.array_equal(first_obs(3), first_obs(3))
    assert not np.array_equal(first_obs(3), first_obs(4))


def test_envpool_seeds_env_i_with_seed_plus_i() -> None:
    wide = make_vec("CartPole-v1", 3, vectorize="envpool")
    single = make_vec("CartPole-v1", 1, vectorize="envpool")
    try:
        obs_wide, _ = wide.reset(seed=10)
        obs_single, _ = single.reset(seed=12)
    finally:
        wide.close()
        single.close()
    assert np.array_equal(obs_wide[2], obs_single[0])


@pytest.mark.parametrize("mode", ["native", "envpool"])
def test_malformed_actions_are_refused(mode: str) -> None:
    venv = make_vec("CartPole-v1", 4, vectorize=mode)
    try:
        venv.reset(seed=0)
        for actions in (np.zeros(3, dtype=np.int64), np.array([0, 1, 2, 0]), np.full(4, 0.5)):
            with pytest.raises(EnvInputError, match="action space"):
                venv.step(actions)
        with pytest.raises(EnvInputError, match="one int seed"):
            venv.reset(seed=[1, 2, 3, 4])
    finally:
        venv.close()


def test_native_needs_a_vectorised_implementation() -> None:
    with pytest.raises(EnvInputError, match="CartPole-v1") as info:
        make_vec("Pendulum-v1", 2, vectorize="native")
    assert "vector_entry_point" in str(info.value)
    with pytest.raises(EnvInputError, match="does not take"):
        make_vec("CartPole-v1", 2, vectorize="native", env_kwargs={"gravity": 3.0})


def test_native_honours_max_episode_steps() -> None:
    venv = make_vec("CartPole-v0", 2, vectorize="native")  # v0 registers a 200-step limit
    limited = make_vec("CartPole-v1", 2, vectorize="native", max_episode_steps=7)
    try:
        assert venv.unwrapped is venv and venv._inner.max_episode_steps == 200
        limited.reset(seed=0)
        truncated_at = None
        for step in range(1, 8):
            _, _, terminated, truncated, _ = limited.step(np.zeros(2, dtype=np.int64) + step % 2)
            if truncated.any():
                truncated_at = step
                break
        assert truncated_at == 7
    finally:
        venv.close()
        limited.close()


def test_envpool_maps_rldojo_atari_options() -> None:
    from rldojo.envs.vector.envpool_engine import envpool_fits, envpool_task

    task, config = envpool_task("ALE/Pong-v5", AtariOptions(frame_stack=2), {}, 4000)
    assert task == "Pong-v5"
    assert config["stack_num"] == 2 and config["noop_max"] == 30 and config["frame_skip"] == 4
    assert config["reward_clip"] is False and config["use_fire_reset"] is False and config["episodic_life"] is False
    assert config["repeat_action_probability"] == 0.25  # ALE v5's sticky actions, not envpool's 0
    assert config["max_episode_steps"] == 1000  # raw frames / frame skip
    _, config = envpool_task("ALE/Pong-v5", AtariOptions(), {"repeat_action_probability": 0.0}, None)
    assert config["repeat_action_probability"] == 0.0
    with pytest.raises(EnvInputError, match="obs_type"):
        envpool_task("ALE/Pong-v5", AtariOptions(), {"obs_type": "ram"}, None)
    with pytest.raises(EnvInputError, match="raw env"):
        envpool_task("ALE/Pong-v5", None, {}, None)
    with pytest.raises(EnvInputError, match="no 'dojo/TextCraft-v0'"):
        envpool_task("dojo/TextCraft-v0", None, {}, None)
    with pytest.raises(EnvInputError, match="has no setting gravity"):
        envpool_task("CartPole-v1", None, {"gravity": 3.0}, None)
    # auto only takes envpool where its semantics are rldojo's
    assert envpool_fits("ALE/Pong-v5", AtariOptions(), {})
    assert not envpool_fits("ALE/Pong-v5", AtariOptions(terminal_on_life_loss=True), {})
    assert not envpool_fits("ALE/Pong-v5", AtariOptions(grayscale=False), {})
    assert not envpool_fits("CartPole-v1", None, {})


def test_envpool_atari_matches_the_preprocessed_spaces() -> None:
    pool = make_vec("ALE/Pong-v5", 2, seed=0, vectorize="envpool")
    sync = make_vec("ALE/Pong-v5", 1, seed=0, vectorize="sync")
    try:
        assert pool.single_observation_space == sync.single_observation_space
        assert pool.single_action_space == sync.single_action_space
        obs, _ = pool.reset(seed=0)
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        obs, reward, *_ = pool.step(np.zeros(2, dtype=np.int64))
        assert obs.shape == (2, 4, 84, 84) and reward.dtype == np.float64
    finally:
        pool.close()
        sync.close()


def test_auto_picks_the_native_cartpole_for_many_envs() -> None:
    venv = make_vec("CartPole-v1", 200, seed=0, vectorize="auto")
    try:
        assert type(venv).__name__ == "NativeVectorEnv"
        assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    finally:
        venv.close()


def test_ppo_trains_through_the_native_engine(tmp_path) -> None:
    import rldojo

    run = rldojo.train(
        "classic/ppo_cartpole",
        overrides=[
            "env.vectorize=native",
            "meta.sessions=1",
            "train.max_frames=4096",
            "train.eval_every=0",
            "train.checkpoint_every=0",
            "track.tensorboard=false",
            "track.plots=false",
        ],
        out=tmp_path,
    )
    rows = (run.path / "s0" / "metrics.csv").read_text().splitlines()
    assert len(rows) >= 2

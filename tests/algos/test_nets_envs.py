"""Nature CNN, recurrent (GRU) A2C/PPO, Atari preprocessing, observation/reward normalisation, MuJoCo specs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rldojo.algos.a2c import A2C, A2CConfig
from rldojo.algos.dqn import DQN, DQNConfig
from rldojo.algos.normalized import NormalizedAgent
from rldojo.algos.ppo import PPO, PPOConfig
from rldojo.config import NetConfig
from rldojo.envs import final_observations, make_env, make_vec
from rldojo.envs.errors import EnvInputError
from rldojo.errors import SpecError, UserError
from rldojo.evaluate.play import play_greedy as evaluate_agent
from rldojo.nets.actor_critic import ActorCritic
from rldojo.nets.encoders import NatureCNN, make_encoder
from rldojo.run.agents import build_agent
from rldojo.run.session import Session
from rldojo.run.spec import load_spec, spec_from_raw


class FakeAtari(gym.Env):
    """Atari-shaped observations (4 stacked 84x84 uint8 frames); reward 1 for action 1, episodes of 20 steps."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return self.np_random.integers(0, 256, (4, 84, 84), dtype=np.uint8)

    def step(self, action):
        self.t += 1
        return self._obs(), float(action == 1), False, self.t >= 20, {}


class Cue(gym.Env):
    """A memory task: the first observation shows a cue (+1 or -1), then blank steps; at the query step
    (second input 1) the action must name the cue (reward 1). A feed-forward policy sees the same query
    observation whatever the cue, so it cannot beat 0.5."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, delay: int = 2) -> None:
        self.delay = delay

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.cue = 0, int(self.np_random.integers(2))
        return np.array([2 * self.cue - 1, 0], np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t > self.delay:
            return np.zeros(2, np.float32), float(action == self.cue), True, False, {}
        return np.array([0, float(self.t == self.delay)], np.float32), 0.0, False, False, {}


for _id, _cls in (("test/FakeAtari-v0", FakeAtari), ("test/Cue-v0", Cue)):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_cls)


def rollout(agent, env, steps: int, seed: int = 0, update: bool = True) -> list[float]:
    """Step `agent` in vector env `env`; returns the rewards of finished episodes' last steps."""
    obs, _ = env.reset(seed=seed)
    finals: list[float] = []
    for step in range(steps):
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, infos = env.step(actions)
        done = terminated | truncated
        if (
            agent.observe(rewards, terminated, truncated, next_obs, final_observations(infos, done, next_obs))
            and update
        ):
            agent.update(progress=step / steps)
        finals += list(rewards[done])
        obs = next_obs
    return finals


# ---- Nature CNN ---------------------------------------------------------------------------------
def test_nature_cnn_shapes_and_scaling():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    cnn = NatureCNN(space)
    assert cnn.fc[0].in_features == 64 * 7 * 7 and cnn.out_dim == 512
    assert [(c.out_channels, c.kernel_size, c.stride) for c in cnn.convs if isinstance(c, torch.nn.Conv2d)] == [
        (32, (8, 8), (4, 4)),
        (64, (4, 4), (2, 2)),
        (64, (3, 3), (1, 1)),
    ]
    obs = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    assert cnn(obs).shape == (5, 512)
    # uint8 in, scaled by 1/255 inside: the same as feeding the float frames divided by 255 to the layers.
    expected = cnn.fc(cnn.convs(obs.float() / 255))
    torch.testing.assert_close(cnn(obs), expected)
    # Channels-last RGB and single grayscale frames work too.
    assert NatureCNN(gym.spaces.Box(0, 255, (84, 84, 3), np.uint8))(
        torch.zeros(2, 84, 84, 3, dtype=torch.uint8)
    ).shape == (2, 512)
    assert NatureCNN(gym.spaces.Box(0, 255, (84, 84), np.uint8))(torch.zeros(2, 84, 84, dtype=torch.uint8)).shape == (
        2,
        512,
    )


def test_net_type_auto_picks_cnn_for_images_and_refuses_cnn_on_vectors():
    image = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    vector = gym.spaces.Box(-1, 1, (4,), np.float32)
    assert isinstance(make_encoder(image, NetConfig()), NatureCNN)
    assert not isinstance(make_encoder(vector, NetConfig()), NatureCNN)
    with pytest.raises(TypeError, match="cnn takes uint8 image"):
        make_encoder(vector, NetConfig(type="cnn"))


def test_ppo_and_dqn_update_on_atari_shaped_observations():
    env = make_vec("test/FakeAtari-v0", 2, seed=0, vectorize="sync")
    space, actions = env.single_observation_space, env.single_action_space
    ppo = PPO(
        PPOConfig(rollout_steps=8, minibatch_size=8, epochs=1, net={"hidden": [], "cnn_features": 64}),
        space,
        actions,
        2,
        1000,
        0,
    )
    assert ppo.buffer.obs.dtype == np.uint8 and ppo.buffer.obs.shape == (8, 2, 4, 84, 84)
    before = [p.detach().clone() for p in ppo.net.parameters()]
    obs, _ = env.reset(seed=0)
    for _ in range(8):
        next_obs, rewards, terminated, truncated, _ = env.step(ppo.act(obs))
        ready = ppo.observe(rewards, terminated, truncated, next_obs, next_obs)
        obs = next_obs
    assert ready
    metrics = ppo.update(0.5)
    assert np.isfinite(metrics["loss"])
    assert all(not torch.equal(a, b) for a, b in zip(before, ppo.net.parameters()) if a.dim() == 4)  # convs learned

    dqn = DQN(
        DQNConfig(learning_starts=4, batch_size=4, buffer_size=64, net={"hidden": [], "cnn_features": 32}),
        space,
        actions,
        2,
        1000,
        0,
    )
    assert dqn.replay.obs.dtype == np.uint8
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        next_obs, rewards, terminated, truncated, _ = env.step(dqn.act(obs))
        ready = dqn.observe(rewards, terminated, truncated, next_obs, next_obs)
        obs = next_obs
    assert ready and np.isfinite(dqn.update(0.1)["loss"])
    env.close()


# ---- Atari --------------------------------------------------------------------------------------
def test_atari_preprocessing_on_real_pong():
    env = make_vec("ALE/Pong-v5", 2, seed=0, vectorize="sync")
    try:
        assert env.single_observation_space == gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        for _ in range(5):
            obs, rewards, *_ = env.step(env.action_space.sample())
        assert obs.shape == (2, 4, 84, 84) and obs.max() > 0
    finally:
        env.close()
    raw = make_env("ALE/Pong-v5", atari=False)
    assert raw.observation_space.shape == (210, 160, 3)
    raw.close()
    with pytest.raises(EnvInputError, match="frameskip"):
        make_env("ALE/Pong-v5", {"frameskip": 4})


def test_atari_spec_options_and_errors():
    spec = spec_from_raw(
        {
            "name": "p",
            "env": {"id": "ALE/Pong-v5", "atari": {"frame_stack": 2, "clip_reward": False}},
            "agent": {"algo": "ppo"},
        },
        [],
    )
    options = spec.env.atari_options()
    assert options.frame_stack == 2 and not spec.env.clips_atari_rewards()
    assert (
        spec_from_raw({"name": "c", "env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo"}}, []).env.atari_options()
        is False
    )
    with pytest.raises(SpecError, match="ALE ids"):
        spec_from_raw(
            {"name": "c", "env": {"id": "CartPole-v1", "atari": {"frame_stack": 2}}, "agent": {"algo": "ppo"}}, []
        )
    with pytest.raises(SpecError, match="recurrent"):
        spec_from_raw(
            {"name": "d", "env": {"id": "CartPole-v1"}, "agent": {"algo": "dqn", "net": {"recurrent": "gru"}}}, []
        )
    with pytest.raises(SpecError, match="sil"):
        spec_from_raw(
            {
                "name": "s",
                "env": {"id": "CartPole-v1"},
                "agent": {"algo": "ppo", "sil": {}, "net": {"recurrent": "gru"}},
            },
            [],
        )


def test_pong_spec_agent_clips_rewards_for_learning():
    spec = load_spec("classic/ppo_pong")
    env = make_env(spec.env.id, atari=spec.env.atari_options())
    agent = build_agent(spec, env.observation_space, env.action_space, 2, 0)
    env.close()
    assert isinstance(agent, NormalizedAgent) and agent.sign_rewards
    assert isinstance(agent.net.encoder, NatureCNN)
    np.testing.assert_array_equal(agent.transform_rewards(np.array([3.0, -2.0]), np.zeros(2, bool)), [1.0, -1.0])


# ---- recurrent ----------------------------------------------------------------------------------
def test_gru_hidden_state_resets_at_episode_starts():
    space, actions = gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(2)
    net = ActorCritic(space, actions, NetConfig(hidden=[8], recurrent="gru", recurrent_size=4))
    obs = torch.randn(1, 2, 3)
    hidden = torch.randn(2, 4)
    # starts = 1 for env 0: its state is zeroed first, exactly as if it started from zeros.
    out, _, h = net.sequence(obs, torch.tensor([[1.0, 0.0]]), hidden)
    ref0, _, h0 = net.sequence(obs[:, :1], torch.zeros(1, 1), torch.zeros(1, 4))
    ref1, _, h1 = net.sequence(obs[:, 1:], torch.zeros(1, 1), hidden[1:])
    torch.testing.assert_close(out, torch.cat([ref0, ref1]))
    torch.testing.assert_close(h, torch.cat([h0, h1]))

    # In an agent: envs whose episode ended start the next step from a zero state, and the buffer marks it.
    env = make_vec("test/Cue-v0", 3, seed=0, vectorize="sync")
    agent = A2C(
        A2CConfig(rollout_steps=6, net={"hidden": [8], "recurrent": "gru", "recurrent_size": 4}),
        env.single_observation_space,
        env.single_action_space,
        3,
        1000,
        0,
    )
    rollout(agent, env, 6, update=False)
    # Cue episodes last 3 steps: steps 0 and 3 begin episodes in every env.
    np.testing.assert_array_equal(agent.buffer.starts[:, 0], [1, 0, 0, 1, 0, 0])
    assert np.all(agent.buffer.initial_hidden == 0)
    env.close()


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_sequence_minibatches_replay_the_acting_computation(algo):
    env = make_vec("test/Cue-v0", 4, seed=1, vectorize="sync")
    net = {"hidden": [16], "recurrent": "gru", "recurrent_size": 8}
    cls, cfg = (
        (PPO, PPOConfig(rollout_steps=10, minibatch_size=20, net=net))
        if algo == "ppo"
        else (A2C, A2CConfig(rollout_steps=10, net=net))
    )
    agent = cls(cfg, env.single_observation_space, env.single_action_space, 4, 10_000, 0)
    obs, _ = env.reset(seed=1)
    for rollout_index in range(2):
        for _ in range(10):  # 10 steps cross several episode starts per env
            next_obs, rewards, terminated, truncated, infos = env.step(agent.act(obs))
            done = terminated | truncated
            agent.observe(rewards, terminated, truncated, next_obs, final_observations(infos, done, next_obs))
            obs = next_obs
        assert agent.buffer.full and agent.buffer.starts[1:].sum() > 0
        # The second rollout starts from the state carried over from the first, not from zeros.
        assert (np.abs(agent.buffer.initial_hidden).sum() > 0) == (rollout_index == 1)
        advantages, returns = agent.buffer.advantages_and_returns(agent.last_values(), 0.99, 0.95)
        data = agent.buffer.sequence_tensors(advantages, returns)
        with torch.no_grad():
            for envs in (torch.tensor([2, 0]), torch.tensor([3]), None):
                mb, head_out, values = agent.evaluate(data, envs)
                cols = slice(None) if envs is None else envs
                np.testing.assert_array_equal(mb["actions"].numpy(), agent.buffer.actions[:, cols].reshape(-1))
                torch.testing.assert_close(agent.net.head.log_prob(head_out, mb["actions"]), mb["log_probs"])
                torch.testing.assert_close(values, mb["values"])
        agent.buffer.reset()
    env.close()


def test_recurrent_ppo_learns_a_memory_task_a_feedforward_policy_cannot():
    def train(recurrent: bool) -> float:
        torch.manual_seed(0)
        net = {"hidden": [32], **({"recurrent": "gru", "recurrent_size": 16} if recurrent else {})}
        cfg = PPOConfig(rollout_steps=12, minibatch_size=48, epochs=4, gamma=0.9, net=net, optim={"lr": 3e-3})
        env = make_vec("test/Cue-v0", 8, seed=0, vectorize="sync")
        agent = PPO(cfg, env.single_observation_space, env.single_action_space, 8, 9600, 0)
        finals = rollout(agent, env, 1200)
        env.close()
        return float(np.mean(finals[-200:]))

    assert train(recurrent=True) >= 0.9
    assert train(recurrent=False) <= 0.7


def test_recurrent_greedy_play_resets_per_episode():
    env = make_vec("test/Cue-v0", 2, seed=0, vectorize="sync")
    agent = PPO(
        PPOConfig(rollout_steps=4, net={"recurrent": "gru", "recurrent_size": 4}),
        env.single_observation_space,
        env.single_action_space,
        2,
        1000,
        0,
    )
    episodes = evaluate_agent(agent, "test/Cue-v0", 4, seed=0)
    assert len(episodes) == 4 and all(e["length"] == 3 for e in episodes)
    agent.reset_greedy(2)
    assert torch.equal(agent._greedy_hidden, torch.zeros(2, 4)) and agent._greedy_starts.tolist() == [1.0, 1.0]
    agent.act_greedy(np.zeros((2, 2), np.float32))
    agent.greedy_done(np.array([True, False]))
    assert agent._greedy_starts.tolist() == [1.0, 0.0]
    env.close()


# ---- normalisation ------------------------------------------------------------------------------
def _pendulum_spec(tmp_frames: int = 400, **env):
    return spec_from_raw(
        {
            "name": "norm",
            "env": {"id": "Pendulum-v1", "num_envs": 2, "vectorize": "sync", **env},
            "agent": {"algo": "ppo", "rollout_steps": 100, "minibatch_size": 100, "epochs": 1},
            "train": {"max_frames": tmp_frames, "eval_every": 0, "checkpoint_every": 0, "log_every": 200},
            "meta": {"sessions": 1, "seed": 0},
            "track": {"tensorboard": False, "plots": False},
        },
        [],
    )


def test_normalisation_statistics_round_trip_through_checkpoints(tmp_path):
    from rldojo.run.load import load_agent
    from rldojo.run.trial import write_spec_file

    spec = _pendulum_spec(normalize_obs=True, normalize_reward=True)
    write_spec_file(tmp_path, spec, ["test"])
    Session(spec, tmp_path, 0).run()
    _, loaded, ckpt = load_agent(tmp_path, "last")
    assert isinstance(loaded, NormalizedAgent)
    state = torch.load(ckpt, weights_only=True)["agent"]["normalizer"]
    assert state["obs"]["count"] > 400  # every training observation counted (plus the tiny prior)
    np.testing.assert_allclose(loaded.obs_rms.mean, state["obs"]["mean"].numpy())
    np.testing.assert_allclose(loaded.return_rms.var, state["return"]["var"].numpy())
    assert not np.allclose(loaded.obs_rms.mean, 0) and not np.allclose(loaded.obs_rms.var, 1)
    # Greedy play uses the statistics frozen.
    mean_before = loaded.obs_rms.mean.copy()
    loaded.act_greedy(np.ones((3, 3), np.float32) * 5)
    np.testing.assert_array_equal(loaded.obs_rms.mean, mean_before)
    # A resumed session continues from the saved statistics.
    resumed = build_agent(spec, *_spaces("Pendulum-v1"), 2, 0)
    resumed.load_state_dict(torch.load(tmp_path / "s0/ckpt/last.pt", weights_only=True)["agent"])
    np.testing.assert_allclose(resumed.obs_rms.var, loaded.obs_rms.var)


def _spaces(env_id):
    env = make_env(env_id)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def test_evaluation_reports_raw_returns_of_a_reward_normalised_agent():
    spec = spec_from_raw(
        {
            "name": "n",
            "env": {"id": "CartPole-v1", "normalize_reward": True, "normalize_obs": True},
            "agent": {"algo": "ppo"},
        },
        [],
    )
    agent = build_agent(spec, *_spaces("CartPole-v1"), 2, 0)
    # Training rewards are scaled...
    for _ in range(3):
        scaled = agent.transform_rewards(np.ones(2), np.zeros(2, bool))
    assert not np.allclose(scaled, 1.0)
    # ...but evaluation reports the env's own: CartPole pays 1 per step, so return == length.
    episodes = evaluate_agent(agent, "CartPole-v1", 3, seed=0)
    assert all(e["return"] == e["length"] for e in episodes)


def test_normalize_obs_refuses_image_observations():
    spec = spec_from_raw(
        {"name": "p", "env": {"id": "ALE/Pong-v5", "normalize_obs": True}, "agent": {"algo": "ppo"}}, []
    )
    from rldojo.run.trial import preflight

    with pytest.raises(UserError, match="normalize_obs"):
        preflight(spec)


# ---- MuJoCo -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sac_halfcheetah", "ppo_halfcheetah"])
def test_halfcheetah_specs_build_and_step(name):
    spec = load_spec(f"classic/{name}")
    env = make_vec(spec.env.id, 1, seed=0, vectorize="sync")
    agent = build_agent(spec, env.single_observation_space, env.single_action_space, 1, 0)
    assert env.single_observation_space.shape == (17,) and env.single_action_space.shape == (6,)
    assert isinstance(agent, NormalizedAgent) == (name == "ppo_halfcheetah")
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        actions = agent.act(obs)
        assert actions.shape == (1, 6) and np.all(np.abs(actions) <= 1)
        next_obs, rewards, terminated, truncated, _ = env.step(actions)
        agent.observe(rewards, terminated, truncated, next_obs, next_obs)
        obs = next_obs
    env.close()


# ---- Box2D --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "env_id,algo", [("LunarLander-v3", "dqn"), ("BipedalWalker-v3", "sac"), ("BipedalWalker-v3", "ppo")]
)
def test_box2d_envs_train_checkpoint_and_evaluate(tmp_path, env_id, algo):
    agents = {
        "dqn": {"algo": "dqn", "learning_starts": 64, "batch_size": 32, "net": {"hidden": [32]}},
        "sac": {
            "algo": "sac",
            "learning_starts": 64,
            "batch_size": 32,
            "actor_net": {"hidden": [32]},
            "critic_net": {"hidden": [32]},
        },
        "ppo": {"algo": "ppo", "rollout_steps": 64, "minibatch_size": 64, "epochs": 1, "net": {"hidden": [32]}},
    }
    spec = spec_from_raw(
        {
            "name": "box2d",
            "env": {"id": env_id, "num_envs": 2, "vectorize": "sync"},
            "agent": agents[algo],
            "train": {
                "max_frames": 256,
                "eval_every": 256,
                "eval_episodes": 1,
                "checkpoint_every": 128,
                "log_every": 128,
            },
            "meta": {"sessions": 1, "seed": 0},
            "track": {"tensorboard": False, "plots": False},
        },
        [],
        "test",
    )
    result = Session(spec, tmp_path, 0).run()
    assert result["status"] == "done" and result["frames"] == 256
    assert np.isfinite(result["last_eval"]["return_mean"])
    saved = torch.load(tmp_path / "s0/ckpt/last.pt", weights_only=False)
    assert saved["frame"] == 256
    env = make_env(env_id)
    assert env.action_space.shape == ((4,) if env_id == "BipedalWalker-v3" else ())
    env.close()

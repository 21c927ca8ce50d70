"""The public Python API (`rldojo.train`, `load`, `evaluate`, callbacks), used as a user would."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import yaml

import rldojo

#: A PPO CartPole spec that trains in about a second (tests/core/helpers.py has the same one).
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
#: A tiny language model (built locally in seconds) on depth-1 TextCraft, trained by SFT on expert episodes.
TINY_MODEL = {
    "vocab_size": 400,
    "hidden_size": 32,
    "layers": 2,
    "heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1024,
    "corpus_episodes": 30,
}
LM_SPEC = {
    "name": "api_sft",
    "env": {"id": "dojo/TextCraft-v0", "num_envs": 8, "kwargs": {"depths": [1], "max_turns": 5}},
    "agent": {
        "algo": "sft",
        "model": {"path": "tiny", "max_model_len": 768, "tiny": TINY_MODEL},
        "generation": {"max_new_tokens": 16},
        "demo_episodes": 40,
        "epochs": 6,
        "batch_size": 6,
        "micro_batch_size": 3,
        "optim": {"lr": 1e-2},
    },
    "train": {"eval_episodes": 4},
    "meta": {"sessions": 1, "seed": 0},
    "track": {"tensorboard": False, "plots": False},
}


def fast(**sections) -> dict:
    raw = copy.deepcopy(FAST_CARTPOLE)
    for section, values in sections.items():
        raw[section].update(values)
    return raw


def frames_of(run_dir) -> list[int]:
    lines = (run_dir / "s0/metrics.csv").read_text().splitlines()
    return [int(float(line.split(",")[0])) for line in lines[1:]]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return rldojo.train(FAST_CARTPOLE, out=tmp_path_factory.mktemp("runs"))


def test_train_writes_the_run_folder_of_the_cli(run):
    assert isinstance(run, rldojo.Run) and run.status == "done"
    assert run.path.name.startswith("fast_cartpole_")
    for name in ("spec.yaml", "trial.json", "report.md", "s0/ckpt/best.pt", "s0/ckpt/last.pt", "s0/metrics.csv"):
        assert (run.path / name).is_file(), name
    saved = yaml.safe_load((run.path / "spec.yaml").read_text())
    assert saved["provenance"]["command"] == "rldojo.train('<dict>')" and saved["provenance"]["seeds"] == [3]
    assert run.spec.name == "fast_cartpole" and run.trial["sessions"][0]["frames"] == 2048
    again = rldojo.Run(run.path)  # a run folder opened later, e.g. one the CLI trained
    assert again.status == "done" and again.final_return_ma == pytest.approx(run.final_return_ma)


def test_predict_takes_one_observation_or_a_batch(run):
    agent = rldojo.load(run)
    assert isinstance(agent, rldojo.Policy) and agent.checkpoint.name == "best.pt"
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    action, state = agent.predict(obs, deterministic=True)
    assert state is None and env.action_space.contains(int(action))
    actions, _ = agent.predict(np.stack([obs, -obs, obs]))
    assert actions.shape == (3,) and actions[0] == action == actions[2]
    total, done = 0.0, False
    while not done:  # the agent plays an episode through predict alone
        obs, reward, terminated, truncated, _ = env.step(int(agent.predict(obs)[0]))
        total, done = total + reward, terminated or truncated
    assert total >= 8
    with pytest.raises(ValueError, match="deterministic"):
        agent.predict(obs, deterministic=False)


def test_evaluate_plays_the_runs_own_evaluation_set_by_default(run):
    last = rldojo.load(run, "last")  # the weights of the run's last evaluation
    result = json.loads((run.path / "s0/result.json").read_text())
    own = rldojo.evaluate(last)
    assert own["runs_own_set"] and own["env_id"] == "CartPole-v1" and own["episodes"] == 3
    assert own["return_mean"] == result["last_eval"]["return_mean"]
    other = rldojo.evaluate(last, "CartPole-v0", episodes=5, seed=1)
    assert other["episodes"] == 5 and not other["runs_own_set"] and other["success"] is None
    assert rldojo.evaluate(run, episodes=2)["episodes"] == 2  # a run (or a path) is loaded first
    with pytest.raises(rldojo.UserError, match="cannot play Acrobot-v1"):
        rldojo.evaluate(last, "Acrobot-v1", episodes=1)


def test_evaluate_stays_callable_beside_the_evaluate_subpackage():
    import rldojo.evaluate.play  # noqa: F401 - importing the subpackage must not hide the function

    assert callable(rldojo.evaluate) and rldojo.evaluate.play.summarize is not None


def test_bad_input_raises_user_error_with_the_cli_message_and_writes_nothing(tmp_path):
    with pytest.raises(rldojo.UserError, match=r"agent\.gamma: 2 .* \(from --set agent\.gamma=2\)"):
        rldojo.train(FAST_CARTPOLE, ["agent.gamma=2"], out=tmp_path)
    with pytest.raises(rldojo.UserError, match="Did you mean classic/ppo_cartpole?"):
        rldojo.train("classic/ppo_cartpol", out=tmp_path)
    assert not any(tmp_path.iterdir())


def test_train_a_spec_file_with_overrides(tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(FAST_CARTPOLE))
    run = rldojo.train(path, overrides=["train.max_frames=512", "train.eval_every=0"], out=tmp_path / "runs")
    assert run.status == "done" and run.trial["sessions"][0]["frames"] == 512
    saved = yaml.safe_load((run.path / "spec.yaml").read_text())
    assert saved["train"]["max_frames"] == 512
    assert "overrides=['train.max_frames=512', 'train.eval_every=0']" in saved["provenance"]["command"]


def test_a_callback_stops_training_at_a_frame_and_resume_finishes_the_budget(tmp_path):
    seen: dict[str, list] = {"rows": [], "evals": [], "checkpoints": []}

    class StopAtFrame(rldojo.Callback):
        def on_row(self, session, row):
            seen["rows"].append(row["frame"])
            return row["frame"] < 1024

    watcher = rldojo.Callback(
        on_eval=lambda session, summary: seen["evals"].append(summary["frame"]),
        on_checkpoint=lambda session, name, path, frame: seen["checkpoints"].append((name, path.name, frame)),
    )
    run = rldojo.train(FAST_CARTPOLE, out=tmp_path, callbacks=[StopAtFrame(), watcher])
    assert run.status == "stopped" and run.trial["sessions"][0]["status"] == "stopped"
    assert run.trial["sessions"][0]["frames"] == 1024 and frames_of(run.path)[-1] == 1024
    assert seen["rows"] == [256, 512, 768, 1024] and seen["evals"] == [1024]
    assert ("last", "last.pt", 512) in seen["checkpoints"] and seen["checkpoints"][-1] == ("last", "last.pt", 1024)

    resumed = run.resume()
    assert resumed.path == run.path and resumed.status == "done"
    result = json.loads((run.path / "s0/result.json").read_text())
    assert result["frames"] == 2048 and result["resumes"] == 1
    frames = frames_of(run.path)
    assert frames == sorted(set(frames)) and frames[-1] == 2048
    assert resumed.resume().status == "done"  # a finished run: nothing to do


def test_stop_training_ends_each_session_and_callbacks_run_sessions_in_process(tmp_path):
    sessions_seen = set()

    def stop_at_first_eval(session, summary):
        sessions_seen.add(session)  # the sessions call back into this process: they run in it
        raise rldojo.StopTraining(f"session {session} evaluated at frame {summary['frame']}")

    raw = fast(meta={"sessions": 2, "seed": 0})  # max_parallel unset: processes without callbacks
    run = rldojo.train(raw, out=tmp_path, callbacks=rldojo.Callback(on_eval=stop_at_first_eval))
    assert sessions_seen == {0, 1} and run.status == "stopped"
    assert [s["frames"] for s in run.trial["sessions"]] == [1024, 1024]


def test_an_error_in_a_callback_fails_the_run(tmp_path):
    def broken(session, row):
        raise KeyError("no such column")

    with pytest.raises(KeyError, match="no such column"):
        rldojo.train(FAST_CARTPOLE, out=tmp_path, callbacks=rldojo.Callback(on_row=broken))


def test_a_recurrent_policy_predicts_with_episode_starts(tmp_path):
    raw = fast(train={"max_frames": 256, "eval_every": 0, "checkpoint_every": 0, "log_every": 128})
    raw["agent"]["net"] = {"hidden": [16], "recurrent": "gru", "recurrent_size": 8}
    agent = rldojo.load(rldojo.train(raw, out=tmp_path))
    obs = np.zeros((2, 4), dtype=np.float32)
    first, _ = agent.predict(obs, episode_start=[True, True])
    again, _ = agent.predict(obs, episode_start=[True, True])  # forgetting the memory: the same actions
    assert first.shape == (2,) and (first == again).all()
    agent.predict(obs, episode_start=[False, False])  # carries the memory on


def test_a_language_model_run_through_the_api(tmp_path, monkeypatch):
    monkeypatch.setenv("RLDOJO_CACHE", str(tmp_path / "cache"))  # the tiny model's tokenizer
    run = rldojo.train(LM_SPEC, out=tmp_path / "runs")
    assert run.status == "done"
    with rldojo.load(run, "last") as agent:
        assert isinstance(agent, rldojo.LMPolicy)
        env = gym.make("dojo/TextCraft-v0", depths=[1], max_turns=5)
        obs, info = env.reset(seed=3)
        action = agent.act(obs, info)
        assert isinstance(action, str) and agent.last_reply is not None
        assert agent.act(obs, info) == action  # evaluation temperature 0: greedy
        env.step(action)  # whatever the model wrote, the world answers it
        # The held-out evaluation of the run, reproduced from Python (same tasks, same seed).
        stage = json.loads((run.path / "s0/result.json").read_text())["stages"][-1]
        summary = rldojo.evaluate(agent)
        assert summary["runs_own_set"] and summary["episodes"] == 4
        for key in ("success", "return_mean", "unparsed_rate", "invalid_rate"):
            assert summary[key] == stage[key], key


def test_import_rldojo_is_cheap_and_silent():
    code = "import sys, rldojo; print(sorted(m for m in ('torch', 'rldojo.api', 'rldojo.run') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "[]\n" and done.stderr == ""


def test_train_from_a_worker_thread(tmp_path):
    """Signal handlers belong to the main thread: from another one, training runs without them."""
    import threading

    runs: list = []
    worker = threading.Thread(target=lambda: runs.append(rldojo.train(FAST_CARTPOLE, out=tmp_path)))
    worker.start()
    worker.join(timeout=120)
    assert len(runs) == 1 and runs[0].status == "done"

"""Bad input at the command line: one clear message, exit code 2, nothing written over a run."""

import json

import pytest

from rldojo.run.spec import shipped_specs_dir
from rldojo.run.trial import new_run_dir, run_trial, write_spec_file

from .helpers import FAST_CARTPOLE, fast_spec, rldojo


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    spec = fast_spec()
    run_dir = new_run_dir(spec, root)
    write_spec_file(run_dir, spec, None)
    run_trial(spec, run_dir, show_progress=False)
    return run_dir


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "missing.yaml"], "does not exist"),
        (["train", "--set", "agent.gama=1"], "agent.gama: unknown key"),
        (["train", "--set", "env.id=CartPol-v1"], "unknown env id 'CartPol-v1'"),
        (["train", "--set", "agent.algo=nope"], "'nope' is not a known algorithm"),
        (["train", "--set", "train.max_frames=-1"], "train.max_frames: -1 is not allowed"),
        (["train", "--resume", "no/such/run"], "does not exist"),
        (["eval", "no/such/run"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_message(tmp_path, args, message):
    result = (
        rldojo(*args, "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
        if args[0] == "train"
        else rldojo(*args, cwd=tmp_path)
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_corrupt_checkpoint_is_refused_and_run_left_untouched(tmp_path, finished_run):
    import shutil

    run_dir = tmp_path / finished_run.name
    shutil.copytree(finished_run, run_dir)
    (run_dir / "s0/result.json").unlink()  # make the session resumable
    ckpt = run_dir / "s0/ckpt/last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # truncated
    before = snapshot(run_dir)
    result = rldojo("train", "--resume", str(run_dir), cwd=tmp_path)
    assert result.returncode == 2 and "corrupt or truncated" in result.stderr, result.stderr
    assert snapshot(run_dir) == before
    (run_dir / "s0/ckpt/best.pt").write_bytes(b"not a checkpoint at all")
    result = rldojo("eval", str(run_dir), "--episodes", "2", cwd=tmp_path)
    assert result.returncode == 2 and "corrupt or truncated" in result.stderr


def test_eval_reports_mean_and_std_and_writes_eval_json(tmp_path, finished_run):
    out = tmp_path / "eval.json"
    result = rldojo("eval", str(finished_run), "--episodes", "5", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CartPole-v1" in result.stderr and "±" in result.stderr and "best.pt" in result.stderr
    from rldojo.evaluate.results import load_eval_json

    report = load_eval_json(out)
    raw = json.loads(out.read_text())
    assert raw["what"]["checkpoint"].endswith("best.pt") and raw["what"]["episodes"] == 5
    assert list(report.envs) == ["CartPole-v1"] and report.envs["CartPole-v1"].episodes == 5


def test_eval_on_several_envs_writes_one_entry_per_env_and_the_aggregate(tmp_path, finished_run):
    out = tmp_path / "eval.json"
    result = rldojo(
        "eval",
        str(finished_run),
        "--envs",
        "CartPole-v1, CartPole-v0",
        "--episodes",
        "6",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    raw = json.loads(out.read_text())
    assert list(raw["envs"]) == ["CartPole-v1", "CartPole-v0"] and raw["what"]["env_ids"] == list(raw["envs"])
    assert [raw["envs"][e]["episodes"] for e in raw["envs"]] == [6, 6] and raw["aggregate"]["episodes"] == 12
    assert max(raw["envs"]["CartPole-v0"]["returns"]) <= 200  # v0's own time limit, not the run's env's
    returns = raw["envs"]["CartPole-v1"]["returns"] + raw["envs"]["CartPole-v0"]["returns"]
    assert raw["aggregate"]["weighted_mean_return"] == pytest.approx(sum(returns) / 12)
    assert "all (weighted by episodes)" in result.stderr


@pytest.mark.parametrize(
    "envs, message",
    [
        ("CartPole-v1,Acrobot-v1", "cannot play Acrobot-v1"),
        ("CartPole-v9", "unknown env id 'CartPole-v9'"),
        (" , ", "names no env"),
        ("CartPole-v1,CartPole-v1", "more than once"),
    ],
)
def test_eval_with_envs_the_agent_cannot_play_exits_2_and_writes_nothing(tmp_path, finished_run, envs, message):
    out = tmp_path / "eval.json"
    result = rldojo("eval", str(finished_run), "--envs", envs, "--episodes", "2", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and not out.exists()


def test_enjoy_records_a_gif_without_a_display(tmp_path, finished_run, monkeypatch):
    out = tmp_path / "play.gif"
    monkeypatch.delenv("DISPLAY", raising=False)
    result = rldojo("enjoy", str(finished_run), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import imageio.v3 as iio

    frames = iio.imread(out, index=None)
    assert frames.ndim == 4 and frames.shape[0] > 5


def test_specs_lists_shipped_specs(tmp_path):
    result = rldojo("specs", cwd=tmp_path)
    assert result.returncode == 0 and "classic/ppo_cartpole" in result.stderr


def test_dev_runs_one_short_session(tmp_path):
    spec_path = tmp_path / "fast.json"
    spec_path.write_text(json.dumps(FAST_CARTPOLE | {"meta": {"sessions": 3, "seed": 0}}))
    result = rldojo("dev", str(spec_path), "--frames", "1024", "--runs-dir", str(tmp_path / "runs"), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    trial = json.loads((run_dir / "trial.json").read_text())
    assert len(trial["sessions"]) == 1 and trial["sessions"][0]["frames"] == 1024
    assert "DEBUG" in result.stderr


def test_compare_two_runs_writes_table_and_png(tmp_path, finished_run):
    import shutil

    other = tmp_path / "other_run"
    shutil.copytree(finished_run, other)
    for run in (finished_run, other):
        assert rldojo("eval", str(run), "--episodes", "4", cwd=tmp_path).returncode == 0
    result = rldojo("compare", str(finished_run), str(other), "--out", str(tmp_path / "cmp"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cmp/compare.png").stat().st_size > 0 and "CartPole-v1" in result.stderr


def _one_update_frames(spec) -> int:
    """Frames that make the spec's agent update at least once (so dev exercises learning)."""
    agent, envs = spec.agent, spec.env.num_envs
    if agent.algo in ("ppo", "a2c"):
        return envs * agent.rollout_steps
    if agent.algo == "sarsa":
        return envs * (agent.rollout_steps + agent.n_steps)
    if agent.algo in ("dqn", "sac"):
        return agent.learning_starts + envs * agent.train_every + envs
    return 4096  # reinforce: a few short random episodes per env; language-model agents scale themselves


def _dev_overrides(spec) -> list[str]:
    """--set values that keep a shipped spec's dev run to seconds while still exercising its code."""
    extra: list[str] = []
    if spec.agent.algo in ("dqn", "sac"):  # tiny replay buffers and one gradient step are enough
        extra += [
            "agent.buffer_size=5000",
            "agent.gradient_steps=1",
            f"agent.learning_starts={min(spec.agent.learning_starts, 1000)}",
        ]
    if spec.env.id.startswith("ALE/"):  # a CNN update on 2 CPU cores: one small batch; short games (raw frames)
        extra += ["agent.rollout_steps=16", "agent.epochs=1", "env.max_episode_steps=400"]
    if spec.env.id.startswith(("HalfCheetah", "Hopper", "Walker2d", "Ant", "Humanoid")):
        extra += ["env.max_episode_steps=200"]  # short evaluation episodes
    return extra


@pytest.mark.parametrize(
    "spec_path",
    # specs/llm/real need a real model folder; tests/llm/test_real_specs.py runs them with the tiny one
    sorted(p for p in shipped_specs_dir().glob("**/*.yaml") if p.parent.name != "real"),
    ids=lambda p: p.stem,
)
def test_every_shipped_spec_passes_dev(tmp_path, spec_path):
    from rldojo.run.spec import load_spec

    overrides = _dev_overrides(load_spec(str(spec_path)))
    spec = load_spec(str(spec_path), overrides)
    frames = _one_update_frames(spec)
    extra = [item for value in overrides for item in ("--set", value)]
    result = rldojo(
        "dev",
        str(spec_path),
        "--frames",
        str(frames),
        "--runs-dir",
        str(tmp_path),
        "-q",
        "--set",
        "train.eval_episodes=1",
        *extra,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = tmp_path.glob(f"{spec.name}-dev_*")
    trial = json.loads((run_dir / "trial.json").read_text())
    session = trial["sessions"][0]
    assert trial["status"] == "done"
    stages = getattr(spec.agent, "stages", None)
    if stages is not None:  # a language-model pipeline: dev runs every stage, scaled down
        result = json.loads((run_dir / "s0/result.json").read_text())
        assert [row["stage"] for row in result["stages"]] == ["base", *(stage.algo for stage in stages)]
        assert 0 < session["frames"] < frames
    else:
        assert session["frames"] >= frames
    metrics = (run_dir / "s0/metrics.csv").read_text().splitlines()
    assert len(metrics) >= 2, "dev must log at least one metric row"

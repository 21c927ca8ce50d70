"""`rldojo search` end to end on a local 2-CPU Ray: tiny PPO CartPole trials (a few hundred frames),
ASHA with Optuna's TPE, Ctrl-C and --resume, GP-UCB rounds, and a language-model trial reporting its
rows the same way as a tensor agent's."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import ray
import yaml
from typer.testing import CliRunner

from rldojo.cli import app
from rldojo.run.spec import load_spec, spec_from_raw
from rldojo.run.trial import read_run_spec, run_trial
from rldojo.search.metric import TrialMetric
from rldojo.search.prepare import narrowed_spec
from rldojo.search.trainable import RowHandoff

#: A tiny model for language-model trials (tests need a model, not a good one), as in tests/llm.
TINY_MODEL = {
    "vocab_size": 400,
    "hidden_size": 32,
    "layers": 2,
    "heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1024,
    "corpus_episodes": 30,
}


@pytest.fixture(scope="module")
def local_ray():
    """One small local Ray for the module's in-process searches (rldojo search joins it, leaves it up)."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024**2, log_to_driver=False)
    yield
    ray.shutdown()


def write_spec(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def search(*args: str):
    return CliRunner().invoke(app, ["search", *args], env={"COLUMNS": "200"})


def read_rows(experiment: Path) -> list[dict]:
    with (experiment / "experiment.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_asha_and_tpe_write_the_experiment_and_narrow_stage_two(local_ray, tmp_path, search_raw):
    spec_path = write_spec(tmp_path / "search.yaml", search_raw)
    result = search(str(spec_path), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    assert "Configuration for experiment" not in result.stdout  # Ray Tune's banners stay off stdout
    assert "best trials by return_ma (max)" in " ".join(result.stdout.split())
    (experiment,) = (tmp_path / "runs").glob("tiny_search-search_*")

    rows = read_rows(experiment)
    assert len(rows) == 4
    statuses = [row["status"] for row in rows]
    assert "done" in statuses and "stopped early" in statuses  # ASHA stopped the weaker ones at a rung
    assert statuses[0] == "done"  # the best trial, which trained its whole budget, comes first
    for row in rows:
        trial = json.loads((experiment / row["run_dir"] / "trial.json").read_text())
        frames = trial["sessions"][0]["frames"]
        if row["status"] == "done":
            assert (trial["status"], frames, int(row["frames"])) == ("done", 768, 768)
        else:  # stopped between rows, with its last checkpoint, result.json and trial.json written
            assert trial["status"] == "stopped" and frames < 768
        assert 1e-4 <= float(row["agent.optim.lr"]) <= 1e-2 and row["agent.clip"] in ("0.1", "0.3")

    best = load_spec(str(experiment / "best_spec.yaml"))
    assert best.search is None and best.name == "tiny_search" and best.meta.seed == 1000
    assert best.agent.optim.lr == pytest.approx(float(rows[0]["agent.optim.lr"]))
    assert best.agent.clip == float(rows[0]["agent.clip"])
    plots = {path.name for path in (experiment / "plots").iterdir()}
    assert {"metric_vs_agent.optim.lr.png", "metric_vs_agent.clip.png", "rungs.png"} <= plots
    with_checkpoints = [row for row in rows if (experiment / row["run_dir"] / "s0" / "ckpt").exists()]
    assert [row["trial"] for row in with_checkpoints] == [rows[0]["trial"]]  # keep_checkpoints: 1

    # Stage 2 around this experiment's best: lr keeps a quarter of its log-width, centred on the best.
    stage2, note = narrowed_spec(spec_from_raw(search_raw, ["search.narrow_factor=0.25"], source="t"), experiment)
    narrowed = stage2.search.dimensions()["agent.optim.lr"]
    assert narrowed.kind == "loguniform" and narrowed.high / narrowed.low == pytest.approx(100**0.25, rel=0.01)
    assert narrowed.low <= best.agent.optim.lr <= narrowed.high
    assert note["best_trial"] == rows[0]["trial"]


def test_ctrl_c_stops_the_trials_cleanly_and_resume_finishes_them(local_ray, tmp_path, search_raw):
    search_raw["train"].update(max_frames=640, log_every=64, checkpoint_every=128)
    search_raw["search"].update(trials=2, scheduler="none", keep_checkpoints=2)
    spec_path = write_spec(tmp_path / "search.yaml", search_raw)
    runs = tmp_path / "runs"

    def interrupt_once_a_trial_is_training() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(len(path.read_text().splitlines()) > 4 for path in runs.glob("*/trials/*/s0/metrics.csv")):
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends to `rldojo search`
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=interrupt_once_a_trial_is_training, daemon=True)
    watcher.start()
    result = search(str(spec_path), "--runs-dir", str(runs), "-q")
    watcher.join()
    assert result.exit_code == 130, result.output
    (experiment,) = runs.glob("tiny_search-search_*")
    assert f"rldojo search --resume {experiment}" in " ".join(result.output.split())
    stopped = [json.loads(path.read_text()) for path in experiment.glob("trials/*/trial.json")]
    assert stopped and all(trial["status"] in ("stopped", "done") for trial in stopped)
    assert any(trial["status"] == "stopped" for trial in stopped)
    assert all((experiment / "trials" / Path(t["run_dir"]).name / "s0/ckpt/last.pt").exists() for t in stopped)

    resumed = search("--resume", str(experiment), "-q")
    assert resumed.exit_code == 0, resumed.output
    rows = read_rows(experiment)
    assert [row["status"] for row in rows] == ["done", "done"]
    trials = [json.loads((experiment / row["run_dir"] / "trial.json").read_text()) for row in rows]
    assert all(trial["sessions"][0]["frames"] == 640 for trial in trials)
    assert any(trial["sessions"][0]["resumes"] >= 1 for trial in trials)  # went on from its checkpoint


def test_gp_ucb_trains_one_candidate_per_round(tmp_path, search_raw):
    search_raw["search"] = {
        "scheduler": {"name": "gp_ucb", "rounds": 3, "budget": 256},
        "candidates": [
            {"name": "slow", "set": {"agent.optim.lr": 1.0e-4}},
            {"name": "mid", "set": {"agent.optim.lr": 1.0e-3}},
            {"name": "fast", "set": {"agent.optim.lr": 1.0e-2}},
        ],
        "keep_checkpoints": 1,
    }
    spec_path = write_spec(tmp_path / "search.yaml", search_raw)
    result = search(str(spec_path), "--runs-dir", str(tmp_path / "runs"), "-q")
    assert result.exit_code == 0, result.output
    (experiment,) = (tmp_path / "runs").glob("tiny_search-search_*")
    rows = read_rows(experiment)
    assert [row["trial"] for row in rows] == ["r01", "r02", "r03"]
    state = json.loads((experiment / "gp_ucb.json").read_text())
    assert [entry["status"] for entry in state["rounds"]] == ["done"] * 3
    assert [entry["frames"] for entry in state["rounds"]] == [256] * 3
    seeds = [read_run_spec(experiment / row["run_dir"]).meta.seed for row in rows]
    assert seeds == [0, 1, 2]  # each round its own seed
    assert state["recommended"] in ("slow", "mid", "fast")
    assert load_spec(str(experiment / "best_spec.yaml")).search is None
    assert (experiment / "plots" / "gp_ucb.png").exists()


def test_gp_ucb_stops_on_ctrl_c_and_resume_finishes_the_round(tmp_path, search_raw):
    search_raw["train"].update(log_every=64, checkpoint_every=256)
    search_raw["search"] = {
        "space": {"agent.optim.lr": "choice([1.0e-4, 1.0e-3])"},
        "scheduler": {"name": "gp_ucb", "rounds": 2, "budget": 2048},
    }
    spec_path = write_spec(tmp_path / "search.yaml", search_raw)
    runs = tmp_path / "runs"

    def interrupt_the_first_round() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(len(path.read_text().splitlines()) > 4 for path in runs.glob("*/trials/r01_*/s0/metrics.csv")):
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=interrupt_the_first_round, daemon=True)
    watcher.start()
    result = search(str(spec_path), "--runs-dir", str(runs), "-q")
    watcher.join()
    assert result.exit_code == 130, result.output
    (experiment,) = runs.glob("tiny_search-search_*")
    (first,) = json.loads((experiment / "gp_ucb.json").read_text())["rounds"]
    assert first["status"] == "interrupted" and 0 < first["frames"] < 2048

    resumed = search("--resume", str(experiment), "-q")
    assert resumed.exit_code == 0, resumed.output
    rounds = json.loads((experiment / "gp_ucb.json").read_text())["rounds"]
    assert [(r["round"], r["status"], r["frames"]) for r in rounds] == [(1, "done", 2048), (2, "done", 2048)]
    assert rounds[0]["candidate"] == first["candidate"]  # the interrupted round was finished, not redrawn
    trial = json.loads((experiment / rounds[0]["run_dir"] / "trial.json").read_text())
    assert trial["sessions"][0]["resumes"] == 1


def test_a_language_model_trial_hands_its_rows_over_like_a_tensor_agent(tmp_path):
    tiny = [f"agent.model.tiny.{key}={value}" for key, value in TINY_MODEL.items()]
    small = [
        "agent.stages.0.demo_episodes=8",
        "agent.stages.0.epochs=1",
        "agent.stages.1.group_size=2",
        "agent.stages.1.groups=2",
        "env.num_envs=4",
        "agent.generation.max_new_tokens=4",
        "agent.model.max_model_len=1024",
        "train.eval_episodes=2",
        "train.max_frames=200",
        "track.tensorboard=false",
        "track.plots=false",
    ]
    spec = load_spec("search/grpo_sat_search", tiny + small)
    handoff = RowHandoff(TrialMetric(spec.search.metric))
    outcome: dict = {}

    def train() -> None:
        outcome["trial"] = run_trial(spec.model_copy(update={"search": None}), tmp_path, False, False, [handoff])
        handoff.rows.put(("end", None))

    thread = threading.Thread(target=train)
    thread.start()
    reported = []
    while True:  # what RunTrainable.step does for Tune: take a row, answer go on (twice) then stop
        kind, result = handoff.rows.get(timeout=120)
        if kind != "row":
            break
        reported.append(result)
        handoff.replies.put(len(reported) < 3)
    thread.join()
    assert len(reported) == 3
    assert all(set(row) == {"frame", "success_ma"} for row in reported)
    assert [row["frame"] for row in reported] == sorted(row["frame"] for row in reported)
    trial = outcome["trial"]
    assert trial["status"] == "stopped" and trial["sessions"][0]["frames"] == reported[-1]["frame"]

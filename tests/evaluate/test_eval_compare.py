"""compare on fixtures: the right winners, frontier, bars, curves and dropped envs; bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image
from rich.console import Console
from scipy import stats as sps

from rldojo.errors import UserError
from rldojo.evaluate.compare import compare, compare_command
from rldojo.evaluate.errors import EvaluationError
from rldojo.evaluate.render import comparison_table
from rldojo.evaluate.results import build_eval_report, write_eval_json
from rldojo.evaluate.sources import load_model_results

FIXTURES = Path(__file__).parents[1] / "fixtures" / "evaluate"
EVALS = [FIXTURES / "evals" / f"{name}.json" for name in ("alpha", "beta", "gamma")]
PPO = FIXTURES / "run_folders" / "ppo_cartpole_20250101-120000"
A2C = FIXTURES / "run_folders" / "a2c_cartpole_20250102-090000"


def raw_means(path: Path) -> dict[str, float]:
    """Mean return per env straight from the file's listed episodes (independent of rldojo)."""
    data = json.loads(path.read_text())
    return {env: float(np.mean(entry["returns"])) for env, entry in data["envs"].items()}


def table_cells(result) -> dict[str, dict[str, str]]:
    """The rendered rich table as env -> model -> cell text."""
    console = Console(record=True, width=250)
    console.print(comparison_table(result))
    cells: dict[str, dict[str, str]] = {}
    env = None
    for line in console.export_text().splitlines():
        parts = [p.strip() for p in line.split("│")[1:-1]]
        if parts and parts[0] in result.envs:
            env = parts[0]
            cells[env] = dict(zip(result.labels, parts[1:]))
        elif parts and parts[0] == "" and env is not None:  # a cell's second line (n, delta)
            for label, text in zip(result.labels, parts[1:]):
                cells[env][label] += " " + text
        else:
            env = None
    return cells


def test_compare_marks_the_right_winners_and_frontier(tmp_path: Path) -> None:
    result = compare(EVALS, out_dir=tmp_path)
    means = {path.stem: raw_means(path) for path in EVALS}
    assert result.labels == ("alpha", "beta", "gamma")
    assert result.envs == ("CartPole-v1", "dojo/TextCraft-v0", "dojo/SAT-v0") and result.dropped == {}
    for env in result.envs:
        best = max(means, key=lambda m: means[m][env])
        assert result.winners[env] == (best,)
        assert result.cells[best][env].value == pytest.approx(means[best][env])
        cells = table_cells(result)[env]
        assert "★" in cells[best] and sum("★" in text for text in cells.values()) == 1
    # Frontier by brute force over the raw means: nobody beats alpha and beta everywhere.
    frontier = [
        m
        for m in means
        if not any(
            all(means[o][e] >= means[m][e] for e in result.envs) and any(means[o][e] > means[m][e] for e in result.envs)
            for o in means
            if o != m
        )
    ]
    assert list(result.frontier) == frontier == ["alpha", "beta"]
    assert set(result.dominance) == {("alpha", "gamma"), ("beta", "gamma")}
    # 3 envs: singletons worth 2, pairs 4, the triple 8. alpha wins TextCraft, SAT, {TextCraft, SAT}
    # alone and shares the other two pairs and the triple with beta: 2+2+4 + 2+2+4 = 16 of 26.
    assert result.weighting.shares["alpha"] == pytest.approx(16 / 26)


def test_compare_writes_png_markdown_and_json(tmp_path: Path) -> None:
    result = compare(EVALS, out_dir=tmp_path / "out")
    assert result.bar_count == 9  # 3 models x 3 envs
    assert result.curve_count == 0
    pixels = image.imread(result.png_path)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 400
    assert result.markdown_path.read_text() == result.markdown
    assert "![comparison](compare.png)" in result.markdown
    winner_row = next(line for line in result.markdown.splitlines() if line.startswith("| CartPole-v1"))
    assert winner_row.split("|")[3].strip().startswith("**") and "★" in winner_row.split("|")[3]
    summary = json.loads(result.json_path.read_text())
    assert summary["frontier"] == ["alpha", "beta"] and summary["winners"]["dojo/SAT-v0"] == ["alpha"]


def test_mismatched_env_sets_compare_on_the_intersection(tmp_path: Path) -> None:
    result = compare([EVALS[0], FIXTURES / "evals" / "delta_other_envs.json"], out_dir=tmp_path)
    assert result.envs == ("CartPole-v1",)
    assert result.dropped == {
        "dojo/TextCraft-v0": ("delta_other_envs",),
        "dojo/SAT-v0": ("delta_other_envs",),
        "Acrobot-v1": ("alpha",),
    }
    assert result.bar_count == 2
    assert "dropped Acrobot-v1: no return for alpha" in result.markdown


def test_no_shared_envs_is_an_error(tmp_path: Path) -> None:
    lone = write_eval_json(tmp_path / "lone.json", build_eval_report({"Acrobot-v1": [{"return": -90.0}] * 3}, {}))
    with pytest.raises(EvaluationError, match="share no envs"):
        compare([EVALS[0], lone], out_dir=tmp_path / "out")


def test_run_folders_give_bars_and_training_curves(tmp_path: Path) -> None:
    ppo_trained = tmp_path / "ppo_trained"  # the PPO run as it was before `rldojo eval`: training results only
    shutil.copytree(PPO, ppo_trained)
    (ppo_trained / "eval.json").unlink()
    result = compare([ppo_trained, A2C], out_dir=tmp_path / "out")
    assert result.bar_count == 2 and result.curve_count == 2 and result.kind == "training"
    assert all(source.startswith("trial.json") for source in result.sources.values())
    # A trial-only run: mean of the sessions' final return MA; with 2 sessions the interval is their range.
    finals = [s["final_return_ma"] for s in json.loads((A2C / "trial.json").read_text())["sessions"]]
    cell = result.cells[A2C.name]["CartPole-v1"]
    assert cell.value == pytest.approx(np.mean(finals)) and cell.n == 2
    assert (cell.interval.low, cell.interval.high, cell.interval.method) == (min(finals), max(finals), "range")
    assert "training results" in result.markdown.splitlines()[0]
    # The mean curve ends where every session ends, at the mean of their last return MA.
    curve = load_model_results(PPO, 0.8).curve
    finals = [s["final_return_ma"] for s in json.loads((PPO / "trial.json").read_text())["sessions"]]
    assert curve.sessions == 3 and curve.frames[-1] == 100_000
    assert curve.mean[-1] == pytest.approx(np.mean(finals))
    assert np.all(curve.low <= curve.mean) and np.all(curve.high >= curve.mean)


def test_an_evaluation_is_never_compared_with_training_results(tmp_path: Path) -> None:
    """PPO's folder holds an eval.json (100 greedy episodes); A2C's only training MAs (one per session)."""
    with pytest.raises(EvaluationError, match="like with like") as raised:
        compare([PPO, A2C], out_dir=tmp_path)
    assert str(A2C) in str(raised.value) and "rldojo eval" in str(raised.value)
    assert not (tmp_path / "compare.md").exists()


def test_baseline_comes_first_with_deltas(tmp_path: Path) -> None:
    result = compare(EVALS, baseline="gamma", out_dir=tmp_path)
    assert result.labels[0] == "gamma" and result.baseline == "gamma"
    delta = raw_means(EVALS[1])["CartPole-v1"] - raw_means(EVALS[2])["CartPole-v1"]
    assert f"Δ +{delta:.1f}" in table_cells(result)["CartPole-v1"]["beta"]
    assert compare(EVALS, baseline=str(EVALS[1]), out_dir=tmp_path).baseline == "beta"
    with pytest.raises(EvaluationError, match="Baseline 'zeta'"):
        compare(EVALS, baseline="zeta", out_dir=tmp_path)


def test_success_metric_uses_envs_with_a_success_rate(tmp_path: Path) -> None:
    result = compare(EVALS, out_dir=tmp_path, metric="success")
    assert result.envs == ("dojo/TextCraft-v0", "dojo/SAT-v0")
    assert result.dropped == {"CartPole-v1": ("alpha", "beta", "gamma")}
    wins = sum(json.loads(EVALS[0].read_text())["envs"]["dojo/TextCraft-v0"]["success"])
    interval = result.cells["alpha"]["dojo/TextCraft-v0"].interval
    assert (interval.low, interval.high) == pytest.approx(tuple(sps.beta.ppf([0.1, 0.9], wins + 0.5, 40 - wins + 0.5)))


def test_identical_inputs_tie(tmp_path: Path) -> None:
    result = compare([EVALS[0], EVALS[0]], out_dir=tmp_path)
    assert result.labels == ("alpha", "alpha (2)")
    assert result.dominance == () and result.frontier == ("alpha", "alpha (2)")
    assert all(result.winners[env] == ("alpha", "alpha (2)") for env in result.envs)


def test_single_episode_has_no_interval(tmp_path: Path) -> None:
    one = write_eval_json(tmp_path / "one" / "eval.json", build_eval_report({"CartPole-v1": [{"return": 500.0}]}, {}))
    result = compare([EVALS[0], one], out_dir=tmp_path / "plain")
    assert result.cells["one"]["CartPole-v1"].n == 1
    assert "[no CI]" in table_cells(result)["CartPole-v1"]["one"]
    with pytest.raises(EvaluationError, match="single episode"):
        compare([EVALS[0], one], out_dir=tmp_path / "ci", ci_aware=True)


@pytest.mark.parametrize(
    "paths,kwargs,match",
    [
        ([FIXTURES / "bad" / "empty.json", EVALS[0]], {}, "is empty"),
        ([FIXTURES / "bad" / "truncated.json", EVALS[0]], {}, "truncated"),
        ([FIXTURES / "bad" / "nan.json", EVALS[0]], {}, "NaN"),
        ([FIXTURES / "bad" / "no_results_dir", EVALS[0]], {}, "neither eval.json nor trial.json"),
        ([FIXTURES / "missing", EVALS[0]], {}, "does not exist"),
        ([EVALS[0]], {}, "at least two"),
        (EVALS, {"level": 1.5}, "level"),
        (EVALS, {"epsilon": -1.0}, "epsilon"),
        (EVALS, {"metric": "reward"}, "Metric 'reward'"),
    ],
)
def test_bad_input_is_a_user_error(tmp_path: Path, paths, kwargs, match) -> None:
    with pytest.raises(UserError, match=match):
        compare(paths, out_dir=tmp_path, **kwargs)


def test_compare_command_prints_the_table(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    code = compare_command(EVALS, baseline="gamma", out=tmp_path, ci_aware=True, console=console)
    text = console.export_text()
    assert code == 0
    assert "Pareto frontier: alpha, beta" in text and "alpha ≻ gamma" in text
    assert str(tmp_path / "compare.png") in text and (tmp_path / "compare.png").is_file()

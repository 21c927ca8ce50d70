"""eval.json: building, atomic writing, and loading with clear errors for broken files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from rldojo.errors import UserError
from rldojo.evaluate.errors import EvaluationError
from rldojo.evaluate.results import build_eval_report, load_eval_json, metrics_at_level, write_eval_json

FIXTURES = Path(__file__).parents[1] / "fixtures" / "evaluate"
WHAT = {
    "checkpoint": "runs/ppo_cartpole_20250101-120000/s0/ckpt/best.pt",
    "spec": "ppo_cartpole",
    "env_ids": ["CartPole-v1", "dojo/TextCraft-v0"],
    "seeds": [0, 1, 2, 3],
    "episodes": 4,
    "deterministic": True,
    "note": "extra keys are kept",
}


def _episodes() -> dict:
    return {
        "CartPole-v1": [{"return": r, "length": int(r), "success": None} for r in (500.0, 480.0, 120.0, 500.0)],
        "dojo/TextCraft-v0": [{"return": w, "length": 7, "success": bool(w)} for w in (1.0, 0.0, 1.0, 1.0)],
    }


def test_report_holds_metrics_aggregate_and_what(tmp_path: Path) -> None:
    report = build_eval_report(_episodes(), WHAT)
    cartpole, textcraft = report["envs"]["CartPole-v1"], report["envs"]["dojo/TextCraft-v0"]
    assert cartpole["mean_return"] == pytest.approx(400.0) and cartpole["episodes"] == 4
    assert cartpole["success_rate"] is None and cartpole["success"] is None
    assert cartpole["returns"] == [500.0, 480.0, 120.0, 500.0] and cartpole["mean_length"] == 400.0
    assert textcraft["success_source"] == "flag" and textcraft["successes"] == 3
    assert textcraft["success_ci"]["low"] == pytest.approx(sps.beta.ppf(0.1, 3.5, 1.5))
    assert report["aggregate"]["success_envs"] == ["dojo/TextCraft-v0"]
    assert report["aggregate"]["weighted_mean_return"] == pytest.approx((1600.0 + 3.0) / 8)
    assert report["what"]["spec"] == "ppo_cartpole" and report["what"]["note"] == "extra keys are kept"
    assert report["level"] == 0.8 and report["schema_version"] == 1

    path = write_eval_json(tmp_path / "run" / "eval.json", report)
    assert sorted(p.name for p in path.parent.iterdir()) == ["eval.json"]  # no temp file left
    assert "NaN" not in path.read_text()
    loaded = load_eval_json(path)
    assert loaded.model_dump(mode="json") == report


def test_success_rule_for_envs_without_flags() -> None:
    report = build_eval_report(
        {
            "dojo/SAT-v0": [{"return": s} for s in (0.0, 0.25, 1.0, 0.0)],
            "MountainCar-v0": [{"return": r, "success": math.nan} for r in (-110.0, -200.0)],
        },
        {},
    )
    sat, car = report["envs"]["dojo/SAT-v0"], report["envs"]["MountainCar-v0"]
    assert sat["success_source"] == "nonzero_score" and sat["success_rate"] == 0.5 and sat["lengths"] is None
    assert car["success_rate"] is None and car["success_source"] is None


def test_metrics_can_be_recomputed_at_another_level(tmp_path: Path) -> None:
    loaded = load_eval_json(write_eval_json(tmp_path / "eval.json", build_eval_report(_episodes(), WHAT)))
    wide = metrics_at_level(loaded, 0.95)
    interval = wide["dojo/TextCraft-v0"].success_ci
    assert (interval.low, interval.high) == pytest.approx(tuple(sps.beta.ppf([0.025, 0.975], 3.5, 1.5)))
    narrow = loaded.envs["CartPole-v1"].return_ci
    assert wide["CartPole-v1"].return_ci.low <= narrow.low and wide["CartPole-v1"].return_ci.high >= narrow.high


@pytest.mark.parametrize(
    "episodes,match",
    [
        ({}, "Nothing was evaluated"),
        ({"CartPole-v1": []}, "no episodes"),
        ({"CartPole-v1": [{"reward": 1.0}]}, "'return' key"),
        ({"CartPole-v1": [{"return": math.nan}]}, "NaN"),
        ({"CartPole-v1": [{"return": 1.0, "length": 3}, {"return": 2.0}]}, "length"),
        ({"X": [{"return": 1.0, "success": True}, {"return": 0.0}]}, "every episode"),
    ],
)
def test_bad_episodes_are_refused(episodes, match) -> None:
    with pytest.raises(EvaluationError, match=match):
        build_eval_report(episodes, WHAT)


def test_bad_what_and_level_are_refused() -> None:
    with pytest.raises(EvaluationError, match="seeds"):
        build_eval_report(_episodes(), {"seeds": "zero"})
    with pytest.raises(EvaluationError, match="level"):
        build_eval_report(_episodes(), WHAT, level=80)


def test_writing_an_invalid_report_leaves_the_old_file(tmp_path: Path) -> None:
    path = write_eval_json(tmp_path / "eval.json", build_eval_report(_episodes(), WHAT))
    before = path.read_text()
    broken = json.loads(before)
    broken["envs"]["CartPole-v1"]["returns"].append(1.0)  # episodes no longer matches
    with pytest.raises(EvaluationError, match="Refusing"):
        write_eval_json(path, broken)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json"]


@pytest.mark.parametrize(
    "name,match",
    [
        ("empty.json", "is empty"),
        ("truncated.json", "truncated"),
        ("nan.json", "NaN"),
        ("list.json", "JSON list"),
        ("wrong_mean.json", "mean_return .* is not the mean"),
        ("missing.json", "no such eval.json"),
    ],
)
def test_broken_files_get_a_clear_error(name: str, match: str) -> None:
    with pytest.raises(UserError, match=match) as caught:
        load_eval_json(FIXTURES / "bad" / name)
    assert str(FIXTURES / "bad" / name) in str(caught.value)


def test_other_schema_versions_and_inconsistent_keys_are_refused(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "evals" / "alpha.json").read_text())
    (tmp_path / "v2.json").write_text(json.dumps({**data, "schema_version": 2}))
    with pytest.raises(EvaluationError, match="schema_version 2"):
        load_eval_json(tmp_path / "v2.json")
    data["envs"]["Other-v0"] = data["envs"].pop("CartPole-v1")
    (tmp_path / "keys.json").write_text(json.dumps(data))
    with pytest.raises(EvaluationError, match="describes env 'CartPole-v1'"):
        load_eval_json(tmp_path / "keys.json")


def test_fixture_numbers_match_their_raw_episodes() -> None:
    report = load_eval_json(FIXTURES / "evals" / "alpha.json")
    for env, result in report.envs.items():
        assert result.mean_return == pytest.approx(np.mean(result.returns))
        assert result.median_return == pytest.approx(np.median(result.returns))
        assert env in report.what.env_ids

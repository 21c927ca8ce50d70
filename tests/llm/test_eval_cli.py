"""`rldojo eval` on a language-model run: held-out tasks, native rewards, eval.json per env."""

import json

import pytest
from typer.testing import CliRunner

from rldojo.cli import app
from rldojo.run.spec import spec_from_raw

from .test_sft import lm_spec

GRPO = {"algo": "grpo", "group_size": 2, "groups": 2, "micro_batch_size": 8, "optim": {"lr": 1e-3}}


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    from rldojo.run.trial import new_run_dir, run_trial, write_spec_file

    raw = lm_spec(GRPO, max_new_tokens=6, iterations=1)
    raw["env"]["shaping"] = {"valid_action": 0.5}  # training is shaped; eval must report the native reward
    spec = spec_from_raw(raw, [], source="test")
    run_dir = new_run_dir(spec, tmp_path_factory.mktemp("runs"))
    write_spec_file(run_dir, spec, None)
    assert run_trial(spec, run_dir, show_progress=False)["status"] == "done"
    return run_dir


def _eval(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)], env={"COLUMNS": "200"})


def test_eval_plays_held_out_tasks_and_writes_native_rewards(lm_run, tmp_path):
    from rldojo.run.evaluate_run import evaluate_run

    out = tmp_path / "eval.json"
    result = _eval(lm_run, "--episodes", "4", "--seed", "11", "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    row = report["envs"]["dojo/TextCraft-v0"]
    assert row["episodes"] == 4 and report["what"]["algo"] == "grpo" and report["what"]["deterministic"] is True
    assert row["returns"] == [float(s) for s in row["success"]]  # TextCraft's native reward: 1 on a win
    # The same call from Python plays the same held-out tasks (seeded draws, greedy-or-seeded sampling).
    again = evaluate_run(lm_run, None, 4, seed=11)
    assert [ep["return"] for ep in again.played["dojo/TextCraft-v0"]] == row["returns"]
    assert not again.sets["dojo/TextCraft-v0"].own  # other episodes than the run's: said so


def test_eval_by_default_reproduces_the_runs_own_held_out_figure_exactly(lm_run):
    """The run's last held-out evaluation and `rldojo eval` of the checkpoint written at that moment
    (ckpt/last.pt at the end) play the same recorded tasks with the same seed: the same numbers."""
    from rldojo.evaluate.play import summarize
    from rldojo.run.evaluate_run import evaluate_run

    recorded = json.loads((lm_run / "s0/eval_set.json").read_text())
    assert len(recorded["tasks"]) == recorded["episodes"]
    result = json.loads((lm_run / "s0/result.json").read_text())
    run_figure = result["stages"][-1]
    evaluated = evaluate_run(lm_run, None, which="last")
    own = evaluated.sets["dojo/TextCraft-v0"]
    assert own.own and own.seed == recorded["seed"] and own.episodes == recorded["episodes"]
    summary = summarize(evaluated.played["dojo/TextCraft-v0"])
    for key in ("success", "return_mean", "length_mean", "invalid_rate", "unparsed_rate"):
        assert summary[key] == run_figure[key], key
    twice = summarize(evaluate_run(lm_run, None, which="last").played["dojo/TextCraft-v0"])
    assert twice == summary


def test_eval_of_a_language_model_on_a_non_text_env_exits_2(lm_run, tmp_path):
    out = tmp_path / "eval.json"
    result = _eval(lm_run, "--envs", "CartPole-v1", "--episodes", "2", "--out", out)
    assert result.exit_code == 2 and "not a text world" in result.output and not out.exists()


def test_enjoy_on_a_language_model_run_prints_a_readable_transcript(lm_run, tmp_path):
    result = CliRunner().invoke(app, ["enjoy", str(lm_run), "--episodes", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "## Episode 1: task" in result.output and "## Episode 2: task" in result.output
    assert "| turn | action played | parsed by | reward |" in result.output and "Traceback" not in result.output
    out = tmp_path / "play.md"
    written = CliRunner().invoke(app, ["enjoy", str(lm_run), "--out", str(out)], env={"COLUMNS": "200"})
    assert written.exit_code == 0 and out.read_text().startswith("# llm_test")
    wrong = CliRunner().invoke(app, ["enjoy", str(lm_run), "--out", str(tmp_path / "play.gif")])
    assert wrong.exit_code == 2 and "transcript" in wrong.output and not (tmp_path / "play.gif").exists()


def test_eval_says_which_episodes_it_played_and_how_replies_were_parsed(lm_run, tmp_path):
    own = tmp_path / "own.json"
    result = _eval(lm_run, "--ckpt", "last", "--out", own)
    assert result.exit_code == 0, result.output
    assert "the run's own evaluation set" in result.output and "unparsed replies" in result.output
    what = json.loads(own.read_text())["what"]
    sets = what["eval_sets"]["dojo/TextCraft-v0"]
    recorded = json.loads((lm_run / "s0/eval_set.json").read_text())
    assert sets == {"seed": recorded["seed"], "episodes": recorded["episodes"], "runs_own_set": True}
    shares = what["parse"]["dojo/TextCraft-v0"]
    assert "fallback" not in shares and abs(sum(shares.values()) - 1.0) < 1e-9  # every turn, no borrowed action
    other = _eval(lm_run, "--seed", "5", "--out", tmp_path / "other.json")
    assert "NOT the run's evaluation set" in other.output


def test_compare_shows_the_unparsed_share_beside_a_language_models_figures(lm_run, tmp_path):
    from rldojo.evaluate.compare import compare

    first, second = tmp_path / "a" / "eval.json", tmp_path / "b" / "eval.json"
    for out in (first, second):
        assert _eval(lm_run, "--ckpt", "last", "--out", out).exit_code == 0
    result = compare([first, second], out_dir=tmp_path / "cmp", metric="success")
    assert all("unparsed replies" in source for source in result.sources.values())

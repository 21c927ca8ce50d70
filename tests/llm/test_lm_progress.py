"""Language-model runs show progress in what ends their stages: SFT steps, RL iterations."""

from __future__ import annotations

from rldojo.run.progress import TrialProgress
from rldojo.run.report import render_report
from rldojo.run.session import Session
from rldojo.run.spec import spec_from_raw
from rldojo.run.trial import new_run_dir

from .test_sft import lm_spec

GRPO = {"algo": "grpo", "group_size": 2, "groups": 2, "micro_batch_size": 8, "optim": {"lr": 1e-3}}


def test_an_rl_stage_with_iterations_reports_iterations_not_the_frame_budget(tmp_path):
    spec = spec_from_raw(lm_spec(GRPO, max_new_tokens=6, iterations=3, max_frames=10_000_000), [], source="test")
    reports = []
    Session(spec, new_run_dir(spec, tmp_path), 0, progress=lambda index, info: reports.append(info)).run()
    stepped = [info for info in reports if "of" in info]
    assert stepped and stepped[-1]["done"] == 3 and stepped[-1]["of"] == 3
    assert "grpo steps (stage 1/1)" in stepped[-1]["unit"]

    progress = TrialProgress(spec, enabled=True)
    with progress:
        progress.update(0, stepped[-1])
        task = progress._progress.tasks[0]
        assert (task.completed, task.total, task.fields["unit"]) == (3, 3, stepped[-1]["unit"])


def test_the_report_states_iterations_for_language_model_runs(tmp_path):
    spec = spec_from_raw(lm_spec(GRPO, iterations=3, max_frames=10_000_000), [], source="test")
    trial = {"status": "done", "sessions": [], "trial_wall_s": 1.0, "aggregate": {}}
    head = render_report(spec, tmp_path, {**trial, "aggregate": _empty_aggregate()})
    assert "iterations per RL stage: 3" in head and "frame budget" not in head


def _empty_aggregate() -> dict:
    none = {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0, "level": 0.95}
    keys = ("final_return_ma", "best_return_ma", "success_ma", "best_eval_return", "fps", "train_seconds")
    return {key: dict(none) for key in (*keys, "wall_s", "frames")}

"""Language-model agents through the Session and the Trial: same run folder, rows and result keys."""

import json

from rldojo.run import interrupt
from rldojo.run.spec import spec_from_raw
from rldojo.track.tracker import BASE_COLUMNS, read_metrics

from .test_sft import lm_spec

GRPO = {"algo": "grpo", "group_size": 4, "groups": 2, "micro_batch_size": 8, "optim": {"lr": 1e-3}}
TENSOR_RESULT_KEYS = {
    "session",
    "seed",
    "status",
    "frames",
    "episodes",
    "final_return_ma",
    "best_return_ma",
    "success_ma",
    "best_eval_return",
    "last_eval",
    "solved_frame",
    "solved_train_seconds",
    "fps",
    "train_seconds",
    "wall_s",
    "resumes",
}


def test_a_tiny_grpo_run_through_the_trial_writes_the_usual_run_folder(tmp_path):
    from rldojo.run.trial import new_run_dir, run_trial, write_spec_file

    spec = spec_from_raw(lm_spec(GRPO, max_new_tokens=6, iterations=3, eval_every=2), [], source="test")
    run_dir = new_run_dir(spec, tmp_path)
    write_spec_file(run_dir, spec, None)
    trial = run_trial(spec, run_dir, show_progress=False)
    assert trial["status"] == "done" and trial["algo"] == "grpo"
    result = json.loads((run_dir / "s0/result.json").read_text())
    assert TENSOR_RESULT_KEYS <= set(result) and result["status"] == "done"
    assert result["episodes"] == 3 * 8 and result["frames"] > 0
    assert [s["stage"] for s in result["stages"]] == ["base", "grpo"]
    metrics = read_metrics(run_dir / "s0/metrics.csv")
    assert set(BASE_COLUMNS) | {"loss", "kl", "clip_frac", "entropy", "tokens_per_s", "parse_fallback"} <= set(metrics)
    iteration_rows = [i for i, r in enumerate(metrics["reward_mean"]) if r == r]
    assert len(iteration_rows) == 3
    assert sum(metrics["eval_success"][i] == metrics["eval_success"][i] for i in range(len(metrics["frame"]))) == 3
    for name in ("last.pt", "best.pt"):
        assert (run_dir / "s0/ckpt" / name).is_file()
    report = (run_dir / "report.md").read_text()  # the run's report carries the table per stage
    assert "Held-out evaluation per stage" in report and "| base |" in report and "| grpo |" in report
    assert (run_dir / "s0/models/0_grpo/config.json").is_file()
    assert "| grpo |" in (run_dir / "s0/stages.md").read_text()
    frames = metrics["frame"]
    assert frames == sorted(frames)

    # `rldojo eval` for language-model runs: the best checkpoint plays held-out episodes.
    from rldojo.run.evaluate_run import evaluate_run
    from rldojo.run.report import stage_report_section

    evaluated = evaluate_run(run_dir, None, 3, "best", None, seed=7)
    assert evaluated.spec.name == spec.name and evaluated.checkpoint.name == "best.pt"
    results = evaluated.played[spec.env.id]
    assert len(results) == 3 and all({"return", "length", "success"} <= set(r) for r in results)
    assert "| base |" in stage_report_section(trial) and stage_report_section({"sessions": [{}]}) == ""


def test_a_pipeline_resumes_inside_its_second_stage(tmp_path, monkeypatch):
    from rldojo.run.session import Session

    agent = {
        "algo": "pipeline",
        "stages": [{"algo": "sft", "demo_episodes": 12, "epochs": 1, "batch_size": 6}, {**GRPO}],
    }
    raw = lm_spec(agent, max_new_tokens=6, iterations=3, checkpoint_every=1)
    raw["agent"]["model"]["lora"] = {"r": 4, "alpha": 8, "dropout": 0.0}
    spec = spec_from_raw(raw, [], source="test")
    calls = {"n": 0}

    def stop_after_two_grpo_iterations() -> bool:
        calls["n"] += 1  # asked once per step: 2 SFT steps, then one per GRPO iteration
        return calls["n"] == 4

    interrupt.install()
    try:
        monkeypatch.setattr(interrupt, "requested", stop_after_two_grpo_iterations)
        first = Session(spec, tmp_path, 0).run()
        assert first["status"] == "interrupted"
        monkeypatch.setattr(interrupt, "requested", lambda: False)
        done = Session(spec, tmp_path, 0).run()
    finally:
        interrupt.restore()
    assert done["status"] == "done" and done["resumes"] == 1
    assert [s["stage"] for s in done["stages"]] == ["base", "sft", "grpo"]
    assert done["episodes"] == 3 * 8  # the interrupted iterations are not played twice
    metrics = read_metrics(tmp_path / "s0/metrics.csv")
    assert metrics["frame"] == sorted(metrics["frame"])
    assert sum(r == r for r in metrics["reward_mean"]) == 3

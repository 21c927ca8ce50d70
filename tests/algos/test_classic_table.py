"""benchmarks/classic_table.py: the final greedy eval column, what each row records about how it was
produced (revision, spec hash, torch threads, vector engine) and the markdown it writes."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import pytest

from rldojo.run.spec import load_spec, spec_to_yaml

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "classic_table.py"


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("classic_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_final_eval_aggregates_each_sessions_last_greedy_evaluation(table):
    trial = {
        "sessions": [
            {"last_eval": {"return_mean": 500.0}},
            {"last_eval": {"return_mean": 300.0}},
            {"last_eval": {"return_mean": 400.0}},
        ]
    }
    agg = table.final_eval(trial)
    assert agg["mean"] == pytest.approx(400.0)
    assert agg["ci_low"] < 400.0 < agg["ci_high"]
    assert table.fmt_ci(table.final_eval({"sessions": [{"last_eval": None}]})) == "—"


def test_markdown_labels_both_figures_the_load_and_what_produced_each_row(table, tmp_path):
    out = tmp_path / "t.md"
    with table.LoadSampler(period=0.01) as load:
        pass
    row = (
        "CartPole-v1",
        "dqn_cartpole",
        "450.0 [400.0, 500.0]",
        "400",
        "yes",
        "500.0 [500.0, 500.0]",
        "100,000",
        "300",
        "700",
        load.summary(),
        "abc1234+dirty",
        "0123456789ab",
        "1",
        "sync",
    )
    command = ["benchmarks/classic_table.py", "--specs", "classic/dqn_cartpole"]
    table.write_markdown(out, [row], 4, command)
    text = out.read_text()
    assert "last 100 training episodes" in text and "final greedy eval" in text
    assert "load average during the run" in text
    assert "range of 4 sessions" in text
    assert "| revision | spec sha256 | torch threads | vector engine |" in text
    assert "`benchmarks/classic_table.py --specs classic/dqn_cartpole`" in text
    assert "| " + " | ".join(row) + " |" in text
    assert len(table.header(4)) == len(row)


def test_revision_is_a_short_hash_marked_dirty_when_the_tree_has_changes(table, tmp_path):
    assert re.fullmatch(r"[0-9a-f]{7,40}(\+dirty)?|unknown", table.git_revision())
    assert table.git_revision(tmp_path) == "unknown"  # not a git checkout


def test_spec_hash_is_the_sha256_of_the_resolved_spec(table):
    spec = load_spec("classic/dqn_cartpole", ["meta.sessions=4"])
    assert table.spec_hash(spec) == hashlib.sha256(spec_to_yaml(spec).encode()).hexdigest()[:12]
    assert table.spec_hash(load_spec("classic/dqn_cartpole", ["meta.seed=1"])) != table.spec_hash(spec)


def test_the_engine_comes_from_each_sessions_log_and_else_from_the_spec(table, tmp_path):
    spec = load_spec("classic/dqn_cartpole", ["meta.sessions=3"])
    line = "2026-12-03 18:48:51.896 INFO    session {i} seed {i}: CartPole-v1 x4 ({cls}), dqn for 200000 frames\n"
    auto = "2026-12-03 18:48:51.800 INFO    make_vec auto: CartPole-v1 one env step takes 9.0 us; 4 envs -> {what} (expected 1.50x in-process)\n"
    for i in range(3):
        (tmp_path / f"s{i}").mkdir()
    (tmp_path / "s0" / "log.txt").write_text(line.format(i=0, cls="InProcessVectorEnv"))
    (tmp_path / "s1" / "log.txt").write_text(line.format(i=1, cls="InProcessVectorEnv"))
    assert table.engines_that_ran(spec, tmp_path) == "sync: s0 s1, sync (spec): s2"
    (tmp_path / "s2" / "log.txt").write_text(line.format(i=2, cls="InProcessVectorEnv"))
    assert table.engines_that_ran(spec, tmp_path) == "sync"
    (tmp_path / "s2" / "log.txt").write_text(
        auto.format(what="2 worker processes") + line.format(i=2, cls="WorkerVectorEnv")
    )
    assert table.engines_that_ran(spec, tmp_path) == "sync: s0 s1, workers x2 (auto): s2"
    assert table.session_engine(auto.format(what="in-process") + line.format(i=0, cls="InProcessVectorEnv")) == (
        "sync (auto)"
    )

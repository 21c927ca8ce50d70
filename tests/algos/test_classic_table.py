"""benchmarks/classic_table.py: the final greedy eval column and the markdown it writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

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


def test_markdown_labels_both_figures_and_the_load(table, tmp_path):
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
    )
    table.write_markdown(out, [row], 4)
    text = out.read_text()
    assert "last 100 training episodes" in text and "final greedy eval" in text
    assert "load average during the run" in text
    assert "| " + " | ".join(row) + " |" in text

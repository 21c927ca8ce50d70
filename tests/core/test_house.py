"""The session core and the spec's refusals: keys a loop ignores, state and cadence round trips."""

from __future__ import annotations

import math

import pytest

from rldojo.errors import SpecError
from rldojo.run.recorder import Cadence
from rldojo.run.spec import spec_from_raw, spec_to_yaml
from rldojo.run.state import SessionState

from .helpers import FAST_CARTPOLE

LM = {"name": "lm", "env": {"id": "dojo/SAT-v0", "num_envs": 2}, "agent": {"algo": "grpo"}}


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("env", "vectorize", "workers"),
        ("env", "workers", 2),
        ("env", "step_timeout", 5.0),
        ("env", "max_restarts", 0),
        ("env", "normalize_obs", True),
        ("train", "log_every", 10),
        ("train", "stop_at_eval_return", 1.0),
    ],
)
def test_keys_a_language_model_run_ignores_are_refused(section, key, value):
    raw = {**LM, section: {**LM.get(section, {}), key: value}}
    with pytest.raises(
        SpecError, match=rf"{section}\.{key}: .* has no effect for algo 'grpo'.*Remove {section}\.{key}"
    ):
        spec_from_raw(raw, [], source="test")


def test_keys_a_tensor_run_ignores_are_refused():
    with pytest.raises(SpecError, match=r"train\.iterations: 5 has no effect for algo 'ppo'"):
        spec_from_raw(FAST_CARTPOLE, ["train.iterations=5"], source="test")


def test_a_spec_written_out_whole_loads_back_unchanged():
    """spec.yaml holds every field, defaults included: defaults must never count as set."""
    import yaml

    for raw in (FAST_CARTPOLE, LM):
        spec = spec_from_raw(raw, [], source="test")
        again = spec_from_raw(yaml.safe_load(spec_to_yaml(spec)), [], source="test")
        assert again == spec


def test_session_state_round_trips_and_reads_older_checkpoints():
    state = SessionState.fresh(log_every=100, eval_every=0, checkpoint_every=50)
    assert (state.next_log, state.next_eval, state.next_ckpt) == (100, math.inf, 50)
    state.frame, state.window_returns = 640, [1.0, 2.0]
    assert SessionState.from_dict(state.as_dict()) == state
    older = {**state.as_dict(), "lm_next_eval": 6, "lm_next_ckpt": 4, "a_key_from_elsewhere": 1}
    restored = SessionState.from_dict(older)
    assert (restored.next_eval, restored.next_ckpt, restored.frame) == (6, 4, 640)


def test_cadence_moves_each_mark_past_the_clock():
    state = SessionState.fresh(log_every=100, eval_every=250, checkpoint_every=0)
    cadence = Cadence(state, log_every=100, eval_every=250, checkpoint_every=0)
    assert not cadence.due("log", 99) and cadence.due("log", 100)
    cadence.advance("log", 340)  # a big step jumps several marks at once
    assert state.next_log == 400
    assert cadence.due("eval", 250) and not cadence.due("ckpt", 10**9)
    cadence.advance("eval", 260)
    assert state.next_eval == 500

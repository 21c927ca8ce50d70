"""A spec key the algorithm would ignore is refused at validation, naming the field and the fix; keys
at their defaults (left out, or written back by a run's resolved spec.yaml) never are."""

from __future__ import annotations

import pytest
import yaml

from rldojo.errors import SpecError
from rldojo.run.spec import Spec, load_spec, shipped_specs_dir, spec_from_raw, spec_to_yaml

from .helpers import FAST_CARTPOLE


def with_agent(agent: dict, env: str = "CartPole-v1") -> dict:
    return {**FAST_CARTPOLE, "env": {**FAST_CARTPOLE["env"], "id": env}, "agent": agent}


@pytest.mark.parametrize(
    "agent, message",
    [
        # Q-networks have no actor/critic split and no Gaussian policy; no recurrent core.
        (
            {"algo": "dqn", "net": {"shared": True}},
            r"agent\.net: .*net\.shared \(True\) has no effect.*Remove net\.shared",
        ),
        (
            {"algo": "sarsa", "net": {"log_std_init": -1.0}},
            r"net\.log_std_init .*no Gaussian policy.*Remove net\.log_std_init",
        ),
        ({"algo": "dqn", "net": {"recurrent": "gru"}}, r"net\.recurrent 'gru' .*dqn.*Remove net\.recurrent"),
        (
            {"algo": "reinforce", "net": {"recurrent": "gru"}},
            r"net\.recurrent 'gru' .*reinforce.*Remove net\.recurrent",
        ),
        # Any net: keys of parts the net does not have.
        ({"algo": "ppo", "net": {"recurrent_size": 32}}, r"net\.recurrent_size .*net\.recurrent is not set"),
        ({"algo": "a2c", "net": {"type": "mlp", "cnn_features": 256}}, r"net\.cnn_features .*net\.type is mlp"),
        # SAC: separate MLP actor and critics, a state-dependent log std.
        (
            {"algo": "sac", "actor_net": {"type": "cnn"}},
            r"agent\.actor_net: .*actor_net\.type 'cnn'.*sac's nets are MLPs",
        ),
        ({"algo": "sac", "critic_net": {"shared": True}}, r"critic_net\.shared .*Remove critic_net\.shared"),
        ({"algo": "sac", "actor_net": {"log_std_init": -2.0}}, r"actor_net\.log_std_init .*log standard deviation"),
        ({"algo": "sac", "critic_net": {"cnn_features": 128}}, r"critic_net\.cnn_features .*no CNN"),
        ({"algo": "sac", "auto_alpha": False, "alpha_lr": 1e-3}, r"agent\.alpha_lr .*auto_alpha is false"),
        (
            {"algo": "sac", "target_entropy": -1.0, "target_entropy_scale": 0.5},
            r"target_entropy_scale .*target_entropy sets",
        ),
        # Exploration and target settings of the mode not chosen.
        (
            {"algo": "dqn", "exploration": "boltzmann", "epsilon_end": 0.1},
            r"agent\.epsilon_end .*exploration is boltzmann",
        ),
        ({"algo": "dqn", "temperature_start": 2.0}, r"agent\.temperature_start .*exploration is epsilon_greedy"),
        ({"algo": "dqn", "tau": 0.01, "target_update_every": 50}, r"agent\.target_update_every .*tau < 1"),
        ({"algo": "reinforce", "baseline": False, "vf_coef": 1.0}, r"agent\.vf_coef .*baseline is false"),
    ],
)
def test_unused_keys_are_refused_with_the_field_and_the_fix(agent, message):
    env = "Pendulum-v1" if agent["algo"] == "sac" else "CartPole-v1"
    with pytest.raises(SpecError, match=message):
        spec_from_raw(with_agent(agent, env), [], source="t")


@pytest.mark.parametrize(
    "agent",
    [
        {"algo": "dqn", "exploration": "boltzmann", "temperature_end": 0.1},
        {"algo": "dqn", "tau": 0.01},
        {"algo": "dqn", "net": {"shared": False}},  # written at its default: harmless
        {"algo": "sac", "auto_alpha": False},
        {"algo": "sac", "target_entropy": -1.0},
        {"algo": "reinforce", "baseline": False},
        {"algo": "ppo", "optim": {"name": "sgd"}},
        {"algo": "ppo", "net": {"recurrent": "gru", "recurrent_size": 32}},
    ],
)
def test_keys_left_at_their_defaults_pass(agent):
    env = "Pendulum-v1" if agent["algo"] == "sac" else "CartPole-v1"
    spec_from_raw(with_agent(agent, env), [], source="t")


def test_set_override_of_an_unused_key_is_refused():
    with pytest.raises(SpecError, match=r"net\.shared"):
        spec_from_raw(with_agent({"algo": "dqn"}), ["agent.net.shared=true"], source="t")


def test_partial_optim_section_keeps_dqns_learning_rate():
    spec = spec_from_raw(with_agent({"algo": "dqn", "optim": {"schedule": "linear"}}), [], source="t")
    assert (spec.agent.optim.lr, spec.agent.optim.schedule) == (1e-3, "linear")
    a2c = spec_from_raw(with_agent({"algo": "a2c", "optim": {"lr": 1e-3}}), [], source="t")
    assert (a2c.agent.optim.name, a2c.agent.optim.lr) == ("rmsprop", 1e-3)


@pytest.mark.parametrize("path", sorted(shipped_specs_dir().glob("classic/*.yaml")), ids=lambda p: p.stem)
def test_resolved_specs_validate_again(path):
    # A run writes every key to spec.yaml and reads it back on resume; session workers get JSON dumps.
    spec = load_spec(str(path))
    again = spec_from_raw(yaml.safe_load(spec_to_yaml(spec)), [], source="t")
    assert again == spec
    assert Spec.model_validate_json(spec.model_dump_json()) == spec

import json
from pathlib import Path

import pytest

from rldojo.errors import SpecError
from rldojo.run.spec import load_spec, shipped_specs_dir, spec_from_raw

from .helpers import FAST_CARTPOLE


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted(shipped_specs_dir().glob("**/*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_spec_validates(path):
    spec = load_spec(str(path))
    assert spec.name == path.stem


def test_default_spec_is_the_issue_spec():
    spec = load_spec("classic/ppo_cartpole")
    assert (spec.env.id, spec.env.num_envs, spec.agent.algo) == ("CartPole-v1", 8, "ppo")
    assert (spec.agent.gamma, spec.agent.gae_lambda, spec.agent.epochs, spec.agent.rollout_steps) == (0.98, 0.8, 20, 32)
    assert spec.agent.optim.schedule == "linear" and spec.meta.sessions == 4


def test_set_overrides_parse_yaml_scalars_and_lists(tmp_path):
    spec = load_spec(
        "ppo_cartpole",
        [
            "agent.optim.lr=3e-4",
            "agent.net.hidden=[32, 16]",
            "meta.sessions=2",
            "agent.value_clip=null",
            "agent.net.activation=relu",
            "agent.net.hidden.1=8",
        ],
    )
    assert spec.agent.optim.lr == pytest.approx(3e-4)
    assert spec.agent.net.hidden == [32, 8]
    assert spec.meta.sessions == 2 and spec.agent.value_clip is None and spec.agent.net.activation == "relu"


def test_vars_keep_their_type_whole_and_format_inside_strings(tmp_path):
    path = write(
        tmp_path,
        "v.yaml",
        """
name: with_vars
vars: {lr: 0.002, width: 48, tag: x}
description: "run ${tag}"
env: {id: CartPole-v1}
agent: {algo: ppo, net: {hidden: ["${width}", "${width}"]}, optim: {lr: "${lr}"}}
""",
    )
    spec = load_spec(str(path))
    assert spec.agent.optim.lr == 0.002 and spec.agent.net.hidden == [48, 48] and spec.description == "run x"
    spec = load_spec(str(path), ["vars.width=16"])
    assert spec.agent.net.hidden == [16, 16]
    with pytest.raises(SpecError, match=r"\$\{nope\}.*not defined.*vars"):
        spec_from_raw({**FAST_CARTPOLE, "description": "${nope}"}, [])


def test_file_of_named_specs_and_json(tmp_path):
    path = write(
        tmp_path,
        "many.yaml",
        """
a: {env: {id: CartPole-v1}, agent: {algo: ppo, epochs: 3}}
b: {env: {id: Acrobot-v1}, agent: {algo: ppo}}
""",
    )
    assert load_spec(f"{path}:b").env.id == "Acrobot-v1"
    assert load_spec(f"{path}:a").name == "a" and load_spec(f"{path}:a").agent.epochs == 3
    with pytest.raises(SpecError, match="several specs.*a, b"):
        load_spec(str(path))
    with pytest.raises(SpecError, match="no spec named 'c'.*a, b"):
        load_spec(f"{path}:c")
    json_path = tmp_path / "one.json"
    json_path.write_text(json.dumps(FAST_CARTPOLE))
    assert load_spec(str(json_path)).name == "fast_cartpole"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["agent.gama=0.9"], r"agent\.gama: unknown key\. Allowed keys here: algo, gamma, vf_coef"),
        (["bogus=1"], r"bogus: unknown key\. Allowed keys here: name, description, vars, env, agent"),
        (["agent.net.depth=3"], r"agent\.net\.depth: unknown key\. Allowed keys here: type, hidden, activation"),
        (["agent.algo=dqnn"], r"agent\.algo: 'dqnn' is not a known algorithm\. Allowed: ppo"),
        (["train.max_frames=-100"], r"train\.max_frames: -100 is not allowed: Input should be greater than 0"),
        (["agent.epochs=many"], r"agent\.epochs: 'many' is not allowed: Input should be a valid integer"),
        (["agent.gamma=1.5"], r"agent\.gamma: 1\.5 is not allowed"),
        (["env.num_envs=0"], r"env\.num_envs: 0 is not allowed"),
        (["env.vectorize=gpu"], r"env\.vectorize: 'gpu' is not allowed: Input should be 'auto', 'sync'"),
        (["agent.optim.name=lion"], r"agent\.optim\.name: 'lion' is not allowed"),
        (["name=has space"], r"name: 'has space' is not allowed"),
        (["agent.lr"], r"--set 'agent.lr' needs the form dotted.path=value"),
    ],
)
def test_bad_specs_name_the_field_and_what_is_allowed(overrides, message):
    with pytest.raises(SpecError, match=message):
        spec_from_raw(FAST_CARTPOLE, overrides, source="t")


def test_missing_required_sections(tmp_path):
    path = write(tmp_path, "noagent.yaml", "name: x\nenv: {id: CartPole-v1}\n")
    with pytest.raises(SpecError, match="agent: required but missing"):
        load_spec(str(path))


def test_malformed_yaml_names_line_and_column(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: x\nenv: {id: CartPole-v1\nagent: {algo: ppo}\n")
    with pytest.raises(SpecError, match=r"not valid YAML at line \d+, column \d+"):
        load_spec(str(path))


def test_malformed_json_and_missing_file(tmp_path):
    path = write(tmp_path, "bad.json", '{"name": "x", ')
    with pytest.raises(SpecError, match="not valid JSON: line 1"):
        load_spec(str(path))
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(str(tmp_path / "missing.yaml"))
    path = write(tmp_path, "list.yaml", "- 1\n- 2\n")
    with pytest.raises(SpecError, match="must hold a mapping"):
        load_spec(str(path))

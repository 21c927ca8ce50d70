"""Fuzzing the spec loader: whatever a spec file holds, the answer is a valid Spec or a SpecError
(one paragraph, exit code 2 at the CLI), never another exception or a traceback."""

from __future__ import annotations

import copy
import json
import math
import random
import typing
from typing import Any

import annotated_types
import pytest
import yaml
from pydantic import BaseModel

from rldojo.algos.registry import ALGOS
from rldojo.algos.stages import STAGES
from rldojo.errors import SpecError
from rldojo.run.spec import Spec, load_spec, shipped_specs_dir, spec_from_raw, spec_to_yaml

from .helpers import rldojo_process

SHIPPED = sorted(shipped_specs_dir().glob("**/*.yaml"))
SEED = 20261203

#: Replacement values: wrong types, negatives, zeros, huge and non-finite numbers, empties, garbage.
GARBAGE: list[Any] = [
    "x",
    "",
    " ",
    [],
    {},
    None,
    True,
    False,
    -1,
    0,
    0.0,
    -0.5,
    0.5,
    1.5,
    2,
    -(10**6),
    10**30,
    10**400,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    -math.inf,
    "1e999",
    "nan",
    [0, -1],
    [1, "x"],
    [[[]]],
    {"a": [1, {"b": None}], "3": "q"},
    "${nope}",
    "${env:RLDOJO_FUZZ_UNSET}",
    "é" * 3,
    "\x07bell",
    "a" * 5000,
]

#: Floats that no bound can sensibly limit (any real is meaningful): finite is all they must be.
UNBOUNDED_FLOATS = {
    ("NetConfig", "log_std_init"),  # a log standard deviation
    ("TrainSpec", "stop_at_eval_return"),  # a return
    ("SACConfig", "target_entropy"),  # an entropy (negative for continuous actions)
}


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


#: Keys a mutation may add: real field names in the wrong place, and unknown ones.
_KEYS = ["bogus", "hidden", "lr", "algo", "id", "stages", "gamma", "num_envs", "seed", "wandb"]


def _mutate(raw: dict, rng: random.Random) -> str:
    """One random change to `raw` in place; returns what it did."""
    path = rng.choice(_paths(raw))
    parent = raw
    for part in path[:-1]:
        parent = parent[part]
    roll = rng.random()
    if roll < 0.2 and isinstance(parent, dict):
        del parent[path[-1]]
        return f"delete {path}"
    if roll < 0.3:
        target = parent[path[-1]] if isinstance(parent[path[-1]], dict) else parent
        if isinstance(target, dict):
            key = rng.choice(_KEYS)
            target[key] = copy.deepcopy(rng.choice(GARBAGE))
            return f"add {key} under {path}"
    if roll < 0.4 and isinstance(parent[path[-1]], (int, float)) and not isinstance(parent[path[-1]], bool):
        parent[path[-1]] = rng.choice([-1, 0, -parent[path[-1]], parent[path[-1]] * 10**12, 0.5])
        return f"scale {path}"
    value = copy.deepcopy(rng.choice(GARBAGE))
    parent[path[-1]] = value
    return f"set {path} = {value!r:.40}"


def _check_outcome(load) -> Spec | None:
    """Call `load`; a Spec or a one-paragraph SpecError pass, anything else fails the test."""
    try:
        return load()
    except SpecError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message, message
        return None


def test_mutated_shipped_specs_are_valid_or_a_spec_error(tmp_path):
    rng = random.Random(SEED)
    outcomes = {"valid": 0, "refused": 0}
    for trial in range(300):
        source = rng.choice(SHIPPED)
        raw = yaml.safe_load(source.read_text())
        changes = [_mutate(raw, rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        how = rng.choice(["yaml", "json", "raw"])
        try:
            if how == "raw":
                spec = _check_outcome(lambda raw=raw: spec_from_raw(raw, [], source="fuzz"))
            else:
                path = tmp_path / f"m{trial}.{how}"
                path.write_text(yaml.safe_dump(raw) if how == "yaml" else json.dumps(raw))
                spec = _check_outcome(lambda path=path: load_spec(str(path)))
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - the bug this test looks for
            pytest.fail(f"{source.name} with {changes} ({how}) raised {type(exc).__name__}: {exc}")
        outcomes["valid" if spec is not None else "refused"] += 1
        if spec is not None:  # a run's resolved spec.yaml is read again on resume: it must validate
            spec_from_raw(yaml.safe_load(spec_to_yaml(spec)), [], source="round trip")
    assert outcomes["valid"] > 20 and outcomes["refused"] > 150, outcomes


def _byte_mutants(rng: random.Random) -> list[tuple[str, bytes]]:
    text = rng.choice(SHIPPED).read_bytes()
    flipped = bytearray(text)
    for _ in range(rng.randint(1, 6)):
        flipped[rng.randrange(len(flipped))] = rng.randrange(256)
    return [
        ("random bytes", bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))),
        ("random bytes without NUL", bytes(rng.randrange(1, 256) for _ in range(rng.randint(1, 400)))),
        ("flipped bytes", bytes(flipped)),
        ("truncated", text[: rng.randrange(len(text))]),
        ("latin-1", text.decode().replace("name:", "# café\nname:", 1).encode("latin-1", errors="replace")),
    ]


def test_random_and_damaged_files_are_spec_errors(tmp_path):
    rng = random.Random(SEED + 1)
    for trial in range(40):
        for what, data in _byte_mutants(rng):
            for suffix in (".yaml", ".json"):
                path = tmp_path / f"b{trial}{suffix}"
                path.write_bytes(data)
                try:
                    _check_outcome(lambda path=path: load_spec(str(path)))
                except AssertionError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the bug this test looks for
                    pytest.fail(f"{what} ({suffix}) raised {type(exc).__name__}: {exc}")


GOOD = b"name: x\nenv: {id: CartPole-v1}\nagent: {algo: ppo}\n"
BOMB = b"".join(
    f"{a}: &{a} [{', '.join([f'*{b}' if b else '1'] * 10)}]\n".encode()
    for a, b in zip("abcdefg", ["", "a", "b", "c", "d", "e", "f"])
)


@pytest.mark.parametrize(
    "content, message",
    [
        (bytes(range(256)), "is not a text file"),
        ("name: café\n".encode("latin-1") + GOOD[8:], "is not UTF-8 text: byte 0xe9 at line 1, column 10"),
        (GOOD.decode().encode("utf-16"), "is UTF-16 or UTF-32 text"),
        (b"name: x\x01\n", "line 1, column 8 holds the character #x0001"),
        (b"env: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested too deeply"),
        (b"a: &x [*x]\n" + GOOD, "refers to a section that contains it"),
        (BOMB + GOOD, "more than 1,000,000 values"),
        (b"\xef\xbb\xbf" + GOOD, None),  # a UTF-8 byte-order mark is fine
        (GOOD + b"vars: {2020-01-01: 3, !!binary aGk=: 1}\n", None),  # YAML keys that are not text
    ],
    ids=["binary", "latin-1", "utf-16", "control", "deep", "alias-cycle", "alias-bomb", "bom", "odd-keys"],
)
def test_files_that_are_not_specs_say_why(tmp_path, content, message):
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    if message is None:
        assert load_spec(str(path)).name == "x"
        return
    with pytest.raises(SpecError, match=message.replace("(", r"\(")) as caught:
        load_spec(str(path))
    assert "\n" not in str(caught.value)


def test_unreadable_file_is_a_spec_error(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "spec.yaml"
    path.write_bytes(GOOD)
    path.chmod(0)
    with pytest.raises(SpecError, match="cannot be read"):
        load_spec(str(path))


# ---- every numeric field is bounded ------------------------------------------------------------
def _models() -> list[type[BaseModel]]:
    """Every section model a spec can hold: Spec, its sections, each algorithm's and stage's config."""
    seen: list[type[BaseModel]] = []
    pending: list[Any] = [Spec, *(entry.config for entry in ALGOS.values()), *(kind.params for kind in STAGES.values())]
    while pending:
        item = pending.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item in seen:
                continue
            seen.append(item)
            pending += [field.annotation for field in item.model_fields.values()]
        else:
            pending += list(typing.get_args(item))
    return seen


def _numeric(annotation: Any) -> type | None:
    """int or float for a number field (optional or not); None otherwise (lists such as net.hidden are
    checked by their validators, see test_nonsense_numbers_name_the_field)."""
    if typing.get_origin(annotation) in (list, dict, tuple):
        return None
    args = set(typing.get_args(annotation)) - {type(None)} or {annotation}
    for kind in (float, int):
        if kind in args:
            return kind
    return None


def test_every_numeric_field_of_every_section_is_bounded():
    bounds = (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt)
    unbounded, allows_nan = [], []
    for model in _models():
        has_float = False
        for name, field in model.model_fields.items():
            kind = _numeric(field.annotation)
            if kind is None:
                continue
            has_float |= kind is float
            if (model.__name__, name) in UNBOUNDED_FLOATS:
                continue
            if not any(isinstance(item, bounds) for item in field.metadata):
                unbounded.append(f"{model.__name__}.{name}")
        if has_float and model.model_config.get("allow_inf_nan", True):
            allows_nan.append(model.__name__)
    assert not unbounded, f"numeric fields without a bound: {unbounded}"
    assert not allows_nan, f"models whose floats may be NaN or inf: {allows_nan}"


@pytest.mark.parametrize(
    "override, message",
    [
        ("agent.net.hidden=[64, 0]", "hidden layer 1 has width 0"),
        ("agent.net.hidden=[-8]", "hidden layer 0 has width -8"),
        ("agent.optim.lr=.nan", "agent.optim.lr: nan is not allowed: Input should be a finite number"),
        ("agent.net.log_std_init=-.inf", "agent.net.log_std_init: -inf is not allowed"),
        ("train.stop_at_eval_return=.inf", "train.stop_at_eval_return: inf is not allowed"),
        ("meta.seed=4294967296", "meta.seed: 4294967296 is not allowed"),
        ("env.shaping={valid_action: .nan}", "env.shaping.valid_action: nan is not allowed"),
        ("agent.gamma=100000000000000000000000000000000000", "agent.gamma: 1000"),
    ],
)
def test_nonsense_numbers_name_the_field(override, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[")) as caught:
        load_spec("classic/ppo_cartpole", [override])
    assert len(str(caught.value)) < 600  # huge values are cut short: one readable paragraph


@pytest.mark.parametrize(
    "override, message",
    [
        ("agent.model.lora={target_modules: []}", "give at least one module name"),
        ('agent.generation.stop=[""]', "an empty stop string matches at once"),
        ("agent.stages.0.algo=ppo", "agent.stages.0.algo: 'ppo' is not a known algorithm. Allowed: sft, grpo"),
        ("agent.stages.0.epochs=0", "agent.stages.0.epochs: 0 is not allowed"),
        ("agent.stages.1.bogus=1", "agent.stages.1.bogus: unknown key. Allowed keys here: algo, group_size"),
    ],
)
def test_language_model_sections_refuse_nonsense(override, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_spec("llm/babyai_sft_grpo", [override])


# ---- the real command line -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [
        bytes(random.Random(SEED).randrange(256) for _ in range(200)),
        "name: café\nenv: {id: CartPole-v1}\nagent: {algo: ppo}\n".encode("latin-1"),
        b"name: x\nenv: {id: CartPole-v1}\nagent: {algo: ppo, net: {hidden: [64, 0]}}\n",
        b"name: x\nenv: {id: CartPole-v1}\nagent: {algo: ppo, optim: {lr: .nan}}\n",
    ],
    ids=["random-bytes", "latin-1", "zero-width", "nan-rate"],
)
def test_bad_spec_files_exit_2_at_the_cli_without_a_traceback(tmp_path, content):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = rldojo_process("dev", str(path), "--runs-dir", str(tmp_path / "runs"), "-q", cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "error:" in result.stderr
    assert not (tmp_path / "runs").exists()

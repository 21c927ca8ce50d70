"""The search block of a spec: distributions, keys, and every mistake answered as a spec error."""

from __future__ import annotations

import pytest
import yaml

from rldojo.errors import SpecError
from rldojo.run.search_spec import Distribution, parse_distribution
from rldojo.run.spec import spec_from_raw, spec_to_yaml
from rldojo.search.prepare import check_search


def _spec(raw: dict, *overrides: str):
    return spec_from_raw(raw, list(overrides), source="'test'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("loguniform(1e-4, 1.0e-2)", Distribution("loguniform", 1e-4, 1e-2)),
        ("uniform(0.8, 0.99)", Distribution("uniform", 0.8, 0.99)),
        ("randint(4, 20)", Distribution("randint", 4, 20)),
        ("quniform(0.1, 0.3, 0.05)", Distribution("quniform", 0.1, 0.3, 0.05)),
        ("choice([[64, 64], [128, 128]])", Distribution("choice", values=([64, 64], [128, 128]))),
        ("grid([adam, adamw])", Distribution("grid", values=("adam", "adamw"))),
    ],
)
def test_distributions_parse_and_write_back(text, expected):
    parsed = parse_distribution(text)
    assert parsed == expected
    assert parse_distribution(parsed.text()) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("lognormal(1e-4, 1e-2)", "not a known distribution. Did you mean loguniform?"),
        ("loguniform(1e-2, 1e-4)", "is an empty range: lo (0.01) must be below hi (0.0001)"),
        ("uniform(0.5, 0.5)", "is an empty range"),
        ("loguniform(0, 1e-2)", "a log scale needs lo > 0"),
        ("randint(1.5, 4)", "randint takes whole numbers"),
        ("quniform(0, 1, 2)", "q must be above 0 and at most hi - lo"),
        ("choice([])", "lists no values"),
        ("choice([1, 1])", "lists 1 twice"),
        ("choice(1, 2)", "choice takes one list of values"),
        ("uniform(low, 1)", "lo must be a finite number"),
        ("1e-3", "is not a distribution"),
    ],
)
def test_bad_distributions_say_what_is_wrong_and_what_is_allowed(search_raw, text, says):
    search_raw["search"]["space"]["agent.optim.lr"] = text
    with pytest.raises(SpecError) as error:
        _spec(search_raw)
    message = str(error.value)
    assert "search.space.agent.optim.lr" in message and says in message
    assert "\n" not in message


def test_an_unquoted_distribution_in_a_flow_mapping_is_explained(tmp_path, search_raw):
    from rldojo.run.spec import load_spec

    search_raw.pop("search")
    text = yaml.safe_dump(search_raw) + "search: {space: {agent.optim.lr: loguniform(1.0e-4, 1.0e-2)}}\n"
    (tmp_path / "flow.yaml").write_text(text)
    with pytest.raises(SpecError, match="inside a YAML flow mapping"):
        load_spec(str(tmp_path / "flow.yaml"))


def test_a_value_instead_of_a_distribution_points_at_the_spec_itself(search_raw):
    search_raw["search"]["space"]["agent.optim.lr"] = [1e-4, 1e-3]
    with pytest.raises(SpecError, match="a fixed value belongs in the spec itself"):
        _spec(search_raw)


def test_a_key_the_spec_does_not_have_is_named_with_the_allowed_keys(search_raw):
    search_raw["search"]["space"] = {"agent.optim.lrr": "loguniform(1e-4, 1e-2)"}
    spec = _spec(search_raw)  # the block alone cannot know the spec's keys
    with pytest.raises(SpecError) as error:
        check_search(spec)
    message = str(error.value)
    assert "search.space['agent.optim.lrr']" in message
    assert "agent.optim.lrr: unknown key. Allowed keys here: name, lr" in message


def test_a_range_the_spec_refuses_at_one_end_is_a_spec_error(search_raw):
    search_raw["search"]["space"] = {"agent.clip": "uniform(0.1, 1.5)"}
    with pytest.raises(SpecError, match=r"search.space\['agent.clip'\] = uniform\(0.1, 1.5\) can draw 1.5"):
        check_search(_spec(search_raw))


def test_asha_with_several_sessions_names_the_fix(search_raw):
    with pytest.raises(SpecError) as error:
        check_search(_spec(search_raw, "meta.sessions=3"))
    assert "meta.sessions is 3" in str(error.value) and "--set meta.sessions=1" in str(error.value)
    check_search(_spec(search_raw, "meta.sessions=3", "search.scheduler=none"))  # none ranks by the mean


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["search.space={}"], "search.space is empty"),
        (["search.space.agent.clip=grid([0.1, 0.3])"], "sampler optuna_tpe cannot take grid"),
        (["search.sampler=grid"], "are not grids"),
        (["search.scheduler={name: none, grace_period: 10}"], "it is a setting of another scheduler"),
        (["search.scheduler=gp_ucb"], "search.trials (4) has no effect here: GP-UCB trains"),
        (["search.scheduler=gp_ucb", "search.trials=null"], "(agent.optim.lr are ranges)"),
        (["search.meta.seed=randint(0, 3)"], "unknown key"),
        (["search.space.meta\\.seed=randint(0, 3)"], "cannot be searched"),
        (["search.metrics=return_ma"], "search.metrics: unknown key"),
    ],
)
def test_inconsistent_search_blocks_are_spec_errors(search_raw, overrides, says):
    if overrides == ["search.space.meta\\.seed=randint(0, 3)"]:
        search_raw["search"]["space"] = {"meta.seed": "randint(0, 3)"}
        overrides = []
    with pytest.raises(SpecError) as error:
        _spec(search_raw, *overrides)
    assert says in str(error.value)


def test_a_dimension_can_be_added_with_set(search_raw):
    spec = _spec(search_raw, "search.space.agent.gae_lambda=uniform(0.8, 0.99)")
    assert list(spec.search.space) == ["agent.optim.lr", "agent.clip", "agent.gae_lambda"]


def test_scheduler_by_name_and_gp_ucb_candidates(search_raw):
    spec = _spec(search_raw, "search.scheduler=none")
    assert spec.search.scheduler.name == "none"
    search_raw["search"] = {
        "scheduler": {"name": "gp_ucb", "rounds": 4, "budget": 256},
        "candidates": [
            {"name": "small", "set": {"agent.net.hidden": [8, 8], "agent.optim.lr": 1e-3}, "features": {"width": 8}},
            {"name": "big", "set": {"agent.net.hidden": [32, 32], "agent.optim.lr": 1e-3}, "features": {"width": 32}},
        ],
    }
    assert [c.name for c in _spec(search_raw).search.candidates] == ["small", "big"]
    search_raw["search"]["candidates"][1]["features"] = {"depth": 2}
    with pytest.raises(SpecError, match="every candidate needs the same ones"):
        _spec(search_raw)


def test_the_block_round_trips_and_train_ignores_it(search_raw):
    spec = _spec(search_raw)
    again = spec_from_raw(yaml.safe_load(spec_to_yaml(spec)), [], source="again")
    assert again == spec
    without = dict(search_raw)
    without.pop("search")
    assert _spec(without).model_dump(exclude={"search"}) == spec.model_dump(exclude={"search"})

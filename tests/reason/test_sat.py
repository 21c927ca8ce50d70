"""SAT: planted formulas are satisfiable, numpy verification agrees with a plain loop, the env
follows the text protocol."""

import itertools

import gymnasium as gym
import numpy as np
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.errors import EnvInputError
from rldojo.envs.reason.sat import SATEnv, format_assignment, planted_formula


def satisfied_by_loop(formula, assignment) -> bool:
    """Independent check: every clause has a literal that is true."""
    for variables, negated in zip(formula.variables.tolist(), formula.negated.tolist()):
        if not any(bool(assignment[v]) != neg for v, neg in zip(variables, negated)):
            return False
    return True


@pytest.mark.parametrize("seed", range(20))
def test_planted_formula_is_satisfied_by_its_hidden_assignment(seed):
    rng = np.random.default_rng(seed)
    formula, hidden = planted_formula(rng, num_vars=15, k=10, num_clauses=63)
    assert formula.variables.shape == (63, 10)
    assert all(len(set(row)) == 10 for row in formula.variables.tolist())  # distinct per clause
    assert formula.satisfies(hidden)[0] and satisfied_by_loop(formula, hidden)


def test_vectorised_verification_matches_a_loop_on_every_assignment():
    rng = np.random.default_rng(7)
    formula, hidden = planted_formula(rng, num_vars=8, k=3, num_clauses=34)
    every = np.array(list(itertools.product([False, True], repeat=8)))
    fast = formula.satisfies(every)
    slow = np.array([satisfied_by_loop(formula, a) for a in every])
    assert (fast == slow).all()
    assert fast.any() and not fast.all()  # at ratio 4.2 some assignments fail
    assert fast[int("".join("1" if v else "0" for v in hidden), 2)]


def test_env_task_is_a_function_of_task_id_and_expert_wins():
    env = gym.make("dojo/SAT-v0")
    obs_a, info_a = env.reset(seed=1, options={"task_id": 42})
    obs_b, info_b = env.reset(seed=999, options={"task_id": 42})
    assert obs_a == obs_b and info_a["instruction"] == obs_a
    assert info_a["available_actions"] == [] and info_a["won"] is False and info_a["valid_action"] is True
    inner = env.unwrapped
    n = inner.formula.num_vars
    assert 10 <= n <= 20 and 3 <= inner.formula.variables.shape[1] <= 5
    assert inner.formula.variables.shape[0] == round(4.2 * n)
    assert f"x{n}" in obs_a
    obs, reward, terminated, truncated, info = env.step(info_a["expert_action"])
    assert (reward, terminated, truncated, info["won"], info["score"]) == (1.0, True, False, True, 1.0)
    assert info["expert_action"] is None  # the episode is over


def test_env_rejects_an_assignment_that_breaks_a_clause():
    env = SATEnv(n_vars=12, k=3)
    env.reset(options={"task_id": 3})
    formula = env.formula
    rng = np.random.default_rng(0)
    while True:  # find an assignment that violates some clause, independently checked
        candidate = rng.random(12) < 0.5
        if not satisfied_by_loop(formula, candidate):
            break
    obs, reward, terminated, _, info = env.step("My answer: " + format_assignment(candidate))
    assert reward == 0.0 and terminated and not info["won"] and info["valid_action"]
    false_clause = next(
        j
        for j in range(len(formula.variables))
        if not satisfied_by_loop(type(formula)(12, formula.variables[j : j + 1], formula.negated[j : j + 1]), candidate)
    )
    assert formula.clause_text(false_clause) in obs


def test_partial_credit_is_the_share_of_clauses_a_complete_answer_satisfies():
    env = SATEnv(n_vars=12, k=3, partial_credit=True)
    env.reset(options={"task_id": 3})
    formula = env.formula
    rng = np.random.default_rng(1)
    while True:
        candidate = rng.random(12) < 0.5
        if not satisfied_by_loop(formula, candidate):
            break
    held = sum(
        satisfied_by_loop(type(formula)(12, formula.variables[j : j + 1], formula.negated[j : j + 1]), candidate)
        for j in range(len(formula.variables))
    )
    _, reward, _, _, info = env.step(format_assignment(candidate))
    assert reward == held / len(formula.variables) and 0 < reward < 1 and not info["won"]
    env.reset(options={"task_id": 3})  # an incomplete answer still scores 0, a correct one 1 and wins
    assert env.step("x1=True")[1] == 0.0
    env.reset(options={"task_id": 3})
    _, reward, _, _, info = env.step(format_assignment(env.hidden))
    assert reward == 1.0 and info["won"]


def test_an_answer_that_leaves_variables_out_scores_zero():
    env = SATEnv(n_vars=10, k=3)
    env.reset(options={"task_id": 5})
    hidden = env.hidden
    reply = " ".join(f"x{i + 1}=T" for i, v in enumerate(hidden) if v)  # only the true ones
    obs, reward, terminated, _, info = env.step(reply)
    assert reward == 0.0 and terminated and not info["won"] and not info["valid_action"]
    assert "Incomplete" in obs and info["variables_assigned"] == int(hidden.sum())
    env.reset(options={"task_id": 5})
    assert env.step(" ".join(f"x{i + 1}={'T' if v else 'F'}" for i, v in enumerate(hidden)))[1] == 1.0


def test_configurable_sizes_and_bad_sizes():
    env = SATEnv(n_vars=15, k=10, clause_ratio=4.2)
    obs, info = env.reset(options={"task_id": 0})
    assert env.formula.variables.shape == (63, 10)
    assert env.step(info["expert_action"])[1] == 1.0
    SATEnv(n_vars=[12, 14], k=[3, 3])  # YAML lists are pairs too
    for kwargs in ({"n_vars": 5, "k": 6}, {"n_vars": 0}, {"k": (5, 3)}, {"clause_ratio": 0}, {"n_vars": (1, 2, 3)}):
        with pytest.raises(EnvInputError):
            SATEnv(**kwargs)


def test_protocol_checks_with_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    check_env(SATEnv(), skip_render_check=True)

"""dojo/WebShop-v0: catalog, search, reward formula, pages, expert, determinism, invalid and bad input."""

import re

import gymnasium as gym
import numpy as np
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.webshop import WebShopEnv, generate_catalog, load_catalog, parse_action, purchase_reward
from rldojo.envs.text.webshop.catalog import PRICE_STEPS, build_catalog, read_catalog_data


@pytest.fixture(scope="module")
def env():
    return WebShopEnv()


def play(env, actions):
    out = []
    for action in actions:
        out.append(env.step(action))
    return out


def test_shipped_catalog_is_the_seeded_generation_and_is_large():
    data = read_catalog_data()
    assert data == generate_catalog(data["seed"])  # the shipped file is exactly what the seed makes
    small = generate_catalog(7, products_per_type=2)
    assert small == generate_catalog(7, products_per_type=2)
    assert small["products"][0] != generate_catalog(8, products_per_type=2)["products"][0]
    catalog = load_catalog()
    products = catalog.products
    assert len(products) >= 1000 and len({p.category for p in products}) >= 10
    assert len({p.asin for p in products}) == len(products)
    for p in products:
        assert p.attributes and p.options and p.price > 0 and p.description and p.features
        values = [v for vals in p.options.values() for v in vals]
        assert len(values) == len(set(values)), p.asin  # option values are unique clickables on a page


def test_goals_name_their_attributes_options_and_price_bound():
    catalog = load_catalog()
    for goal in catalog.goals[:300]:
        target = catalog.products[goal.product_index]
        text = goal.instruction
        assert goal.product_type in text and all(a in text for a in goal.attributes)
        assert all(f"{k}: {v}" in text for k, v in goal.options.items())
        assert set(goal.attributes) <= set(target.attributes)
        assert all(v in target.options[k] for k, v in goal.options.items())
        # The original's bound: one of the 2nd..4th multiples of $10 above the price.
        above = [p for p in PRICE_STEPS if p > target.price]
        assert goal.price_upper in above[1:4] and f"price lower than {goal.price_upper:.2f} dollars" in text
        assert purchase_reward(target, goal, goal.options).total == 1.0


def _hand_catalog():
    def product(asin, ptype, path, title, attributes, options, price, description="Plain text.", features=()):
        return {
            "asin": asin,
            "title": title,
            "category": "c",
            "product_category": path,
            "product_type": ptype,
            "attributes": attributes,
            "options": options,
            "price": price,
            "rating": 4.0,
            "description": description,
            "features": list(features),
        }

    hair = "Beauty & Personal Care › Hair Care › Shampoo"
    data = {
        "seed": 0,
        "products": [
            product(
                "B000000001",
                "shampoo",
                hair,
                "Acme Shampoo",
                ["sulfate free", "argan oil"],
                {"scent": ["lavender", "mint"], "size": ["8 fl oz", "16 fl oz"]},
                25.0,
            ),
            product(
                "B000000002",
                "shampoo",
                hair,
                "Acme Shampoo",
                ["sulfate free"],
                {"scent": ["lavender"], "size": ["8 fl oz"]},
                35.0,
                description="Rich in argan oil.",
            ),
            product(
                "B000000003",
                "hair dryer",
                "Beauty & Personal Care › Hair Care › Hair Dryer",
                "Acme Hair Dryer",
                ["sulfate free", "argan oil"],
                {"color": ["black"]},
                20.0,
            ),
            product(
                "B000000004",
                "body wash",
                "Beauty & Personal Care › Bath & Body › Body Wash",
                "Acme Shampoo Style Body Wash",
                ["argan oil"],
                {"scent": ["lavender"]},
                20.0,
            ),
            product(
                "B000000005",
                "toy box",
                "Toys & Games › Storage › Toy Box",
                "Acme Box",
                ["sturdy"],
                {"color": ["red"]},
                20.0,
            ),
        ],
        "goals": [
            {
                "instruction": "i need sulfate free and argan oil shampoo",
                "product_index": 0,
                "attributes": ["sulfate free", "argan oil"],
                "options": {"scent": "lavender", "size": "16 fl oz"},
                "price_upper": 30.0,
            },
        ],
    }
    return build_catalog(data)


def test_reward_formula_on_hand_worked_cases():
    catalog = _hand_catalog()
    p, goal = catalog.products, catalog.goals[0]
    # Everything matches: (2 attributes + 2 options + price) / (2 + 2 + 1) * 1.
    assert purchase_reward(p[0], goal, {"scent": "lavender", "size": "16 fl oz"}).total == 1.0
    # Wrong size: (2 + 1 + 1) / 5.
    assert purchase_reward(p[0], goal, {"scent": "lavender", "size": "8 fl oz"}).total == pytest.approx(0.8)
    # Nothing chosen: (2 + 0 + 1) / 5.
    assert purchase_reward(p[0], goal, {}).total == pytest.approx(0.6)
    # 'argan oil' is not listed but is in the description (counts); 16 fl oz not offered; $35 > $30:
    # (2 + 1 + 0) / 5.
    r = purchase_reward(p[1], goal, {"scent": "lavender", "size": "8 fl oz"})
    assert (r.attributes_matched, r.options_matched, r.price_ok) == (2, 1, False) and r.total == pytest.approx(0.6)
    # Same sub-category (category match) but no word of 'shampoo' in the title: type match 0.
    r = purchase_reward(p[2], goal, {"color": "black"})
    assert r.category_match and r.title_score == 0.0 and r.r_type == 0.0 and r.total == 0.0
    # Other type and category, but the title says 'shampoo': title score 1 > 0.2, type match 1;
    # (1 attribute + 1 option + price) / 5.
    r = purchase_reward(p[3], goal, {"scent": "lavender"})
    assert not r.query_match and not r.category_match and r.r_type == 1.0 and r.total == pytest.approx(0.6)


def test_type_match_half_credit_when_few_type_words_are_in_the_title():
    catalog = _hand_catalog()
    goal = catalog.goals[0].__class__(
        instruction="x",
        product_index=4,
        product_type="large red wooden toy box",
        product_category="Home › Kids Furniture › Chest",
        attributes=("sturdy",),
        options={},
        price_upper=30.0,
    )
    # One of five type words ('box') is in the title: 0.2 is not > 0.2 and nothing else matches -> 0.5;
    # (1 attribute + price) / (1 + 0 + 1) * 0.5.
    r = purchase_reward(catalog.products[4], goal, {})
    assert r.title_score == pytest.approx(0.2) and r.r_type == 0.5 and r.total == pytest.approx(0.5)


def test_search_ranks_by_bm25_and_returns_at_most_fifty(env):
    catalog = env.catalog
    results = env.engine.search("yoga mat")
    assert 0 < len(results) <= 50
    assert all(catalog.products[i].product_type == "yoga mat" for i in results[:20])
    assert env.engine.search("zzzz qqqq") == []
    # A product naming a rare query word outranks one that does not.
    lavender = env.engine.search("shampoo lavender")
    first = catalog.products[lavender[0]]
    assert first.product_type == "shampoo" and "lavender" in first.options["scent"]


def test_pages_navigation_and_purchase(env):
    obs, info = env.reset(seed=0, options={"task_id": 11})
    goal = env.catalog.goals[11]
    assert obs.startswith(goal.instruction) and info["instruction"] == goal.instruction
    assert obs.endswith("[SEP] Search") and info["available_actions"] == [f"search[{goal.instruction}]"]
    obs, reward, term, trunc, info = env.step(f"search[{goal.product_type}]")
    assert "Page 1 (Total results: " in obs and "Next >" in obs and "< Prev" not in obs
    results = env.site.state.results
    shown = re.findall(r"\[SEP\] (B0[A-Z0-9]{8}) \[SEP\]", obs)
    assert shown == [env.catalog.products[i].asin for i in results[:10]]
    assert info["available_actions"][:2] == ["click[back to search]", "click[next >]"]
    obs, *_ = env.step("click[Next >]")
    assert "Page 2 (" in obs and re.findall(r"(B0[A-Z0-9]{8})", obs)[0] == env.catalog.products[results[10]].asin
    obs, *_ = env.step("click[< prev]")
    assert "Page 1 (" in obs
    product = env.catalog.products[results[0]]
    obs, *_ = env.step(f"click[{product.asin}]")
    for name, values in product.options.items():
        assert f"[SEP] {name} [SEP] {' [SEP] '.join(values)}" in obs
    assert f"Price: ${product.price:.2f}" in obs and obs.endswith("Description [SEP] Features [SEP] Buy Now")
    obs, *_ = env.step("click[description]")
    assert obs.endswith(product.description)
    obs, *_ = env.step("click[< prev]")
    assert product.title in obs
    name, values = next(iter(product.options.items()))
    obs, *_ = env.step(f"click[{values[-1]}]")
    assert f"Selected: {name}: {values[-1]}" in obs
    obs, reward, term, trunc, info = env.step("click[buy now]")
    expected = purchase_reward(product, goal, {name: values[-1]}).total
    assert term and not trunc and reward == pytest.approx(expected) and info["score"] == pytest.approx(expected)
    assert info["won"] == (expected == 1.0) and "Thank you for shopping with us!" in obs
    assert info["available_actions"] == [] and info["expert_action"] is None


def test_invalid_actions_change_nothing_and_are_counted(env):
    obs0, _ = env.reset(seed=0, options={"task_id": 3})
    page = env.site.render()
    for bad in ("click[buy now]", "jump[around]", "search[]", "search", "click[b000000000]"):
        obs, reward, term, trunc, info = env.step(bad)
        assert obs == page and reward == 0.0 and not term and not trunc and info["valid_action"] is False
    assert info["invalid_action_count"] == 5 and info["valid_action_count"] == 0
    env.step("search[shampoo]")
    results_page = env.site.render()
    obs, _, _, _, info = env.step("search[another query]")  # no search box on a results page
    assert obs == results_page and info["valid_action"] is False
    obs, _, _, _, info = env.step("click[features]")  # not an element of a results page
    assert obs == results_page and info["valid_action"] is False


def test_bad_input_never_raises(env):
    env.reset(seed=0, options={"task_id": 5})
    for bad in ("", "   ", "x" * 1_000_000, "click[\x00\x07buy now]", "\ud800", b"\xff", 42, None):
        obs, reward, term, trunc, info = env.step(bad)
        assert isinstance(obs, str) and reward == 0.0 and env.observation_space.contains(obs)
    # Control characters and odd unicode are cleaned before the world sees the action.
    obs, _, _, _, info = env.step("search[\u202eshampoo\u200b]")
    assert info["valid_action"] is True and "Total results" in obs
    with pytest.raises(EnvInputError, match="task id"):
        env.reset(options={"task_id": 10**6})
    with pytest.raises(EnvInputError, match="task id"):
        env.reset(options={"task_id": "shampoo"})


def test_actions_after_the_purchase_are_answered_and_change_nothing(env):
    env.reset(seed=0, options={"task_id": 8})
    info = {"expert_action": env._expert_action()}
    term = False
    while not term:
        _, _, term, _, info = env.step(info["expert_action"])
    score = info["score"]
    obs, reward, term, trunc, info = env.step("click[buy now]")
    assert term and reward == 0.0 and "ended" in obs and info["score"] == score


def test_truncates_after_max_turns():
    env = WebShopEnv(max_turns=3)
    env.reset(seed=0, options={"task_id": 0})
    outcomes = play(env, ["click[x]"] * 3)
    assert [o[3] for o in outcomes] == [False, False, True] and not any(o[2] for o in outcomes)


def _random_episode(env, task_id, seed):
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    trace = [obs]
    done = False
    while not done:
        action = str(rng.choice(info["available_actions"]))
        obs, reward, term, trunc, info = env.step(action)
        trace.append((action, obs, reward, info["valid_action"]))
        done = term or trunc
    return trace


def test_deterministic_for_seed_and_task_id():
    a, b = gym.make("dojo/WebShop-v0"), gym.make("dojo/WebShop-v0")
    assert _random_episode(a, 17, seed=4) == _random_episode(b, 17, seed=4)
    # The seed picks the task when no task id is given, the same way every time.
    assert a.reset(seed=9)[1]["task_id"] == b.reset(seed=9)[1]["task_id"]
    assert len({a.reset(seed=s)[1]["task_id"] for s in range(20)}) > 10
    # The task is a function of task_id alone, whatever the seed.
    assert a.reset(seed=1, options={"task_id": 30})[0] == b.reset(seed=2, options={"task_id": 30})[0]


def test_random_valid_actions_are_all_valid(env):
    for task in range(5):
        trace = _random_episode(env, task, seed=task)
        assert all(step[3] for step in trace[1:])


def test_expert_solves_sampled_tasks(env):
    tasks = np.random.default_rng(0).choice(env.num_tasks, size=100, replace=False)
    won = 0
    for task in tasks:
        obs, info = env.reset(options={"task_id": int(task)})
        done = False
        while not done:
            obs, reward, term, trunc, info = env.step(info["expert_action"])
            done = term or trunc
        won += info["won"]
        if info["won"]:
            assert reward == 1.0 and info["score"] == 1.0
    assert won / len(tasks) >= 0.95


def test_expert_takes_over_mid_episode(env):
    obs, info = env.reset(options={"task_id": 40})
    other = "yoga mat" if env.catalog.goals[40].product_type != "yoga mat" else "dog leash"
    obs, _, _, _, info = env.step(f"search[{other}]")
    obs, _, _, _, info = env.step(info["available_actions"][-1])  # a product the expert would not buy
    assert env.site.state.page == "item"
    done = False
    while not done:
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        done = term or trunc
    assert info["won"]


def test_parse_action():
    assert parse_action("search[Red Shoes]") == ("search", "Red Shoes")
    assert parse_action(" Click [ Buy Now ] ") == ("click", "Buy Now")
    assert parse_action("buy now") is None

"""WebShop's expert: search for the goal, buy the best-scoring result with the goal's options.

The plan for a goal is fixed: the query is the product type, the goal's attributes and its option
values; the target is the search result whose purchase reward (with the best options it offers)
is highest, earliest in the ranking on ties. The expert reads the catalog (it is privileged, as a
demonstrator should be) and acts from any page, so it can take over mid-episode.
"""

from __future__ import annotations

from dataclasses import dataclass

from rldojo.envs.text.webshop.catalog import Catalog, Goal, Product
from rldojo.envs.text.webshop.reward import purchase_reward
from rldojo.envs.text.webshop.search import SearchEngine
from rldojo.envs.text.webshop.site import (
    BACK_TO_SEARCH,
    BUY_NOW,
    ITEM,
    NEXT_PAGE,
    PREV_PAGE,
    PRODUCTS_PER_PAGE,
    RESULTS,
    SEARCH,
    SUB,
    Site,
)


@dataclass(frozen=True)
class ExpertPlan:
    query: str
    target: int | None
    """Product index to buy (None when the search finds nothing)."""
    rank: int
    """Position of the target in the query's results."""
    options: dict[str, str]
    """Option name -> value to select before buying."""
    expected_reward: float


def best_options(product: Product, goal: Goal) -> dict[str, str]:
    """For each option of `product`: the goal's wanted value when offered, else the first value."""
    wanted = set(goal.options.values())
    return {name: next((v for v in values if v in wanted), values[0]) for name, values in product.options.items()}


def make_plan(goal: Goal, catalog: Catalog, engine: SearchEngine) -> ExpertPlan:
    query = " ".join([goal.product_type, *goal.attributes, *goal.options.values()]).lower()
    results = engine.search(query)
    best: tuple[float, int, int, dict[str, str]] | None = None
    for rank, index in enumerate(results):
        options = best_options(catalog.products[index], goal)
        reward = purchase_reward(catalog.products[index], goal, options).total
        if best is None or reward > best[0]:
            best = (reward, rank, index, options)
    if best is None:
        return ExpertPlan(query=query, target=None, rank=-1, options={}, expected_reward=0.0)
    reward, rank, index, options = best
    return ExpertPlan(query=query, target=index, rank=rank, options=options, expected_reward=reward)


def _click(name: str) -> str:
    return f"click[{name.lower()}]"


def expert_action(site: Site, plan: ExpertPlan) -> str | None:
    """The expert's next action on the site's current page (None once the purchase is made)."""
    s = site.state
    if s.page == SEARCH:
        return f"search[{plan.query}]"
    if s.page == SUB:
        return _click(PREV_PAGE)
    if s.page == ITEM:
        if s.product == plan.target:
            for name, value in plan.options.items():
                if s.options.get(name) != value:
                    return _click(value)
            return _click(BUY_NOW)
        return _click(PREV_PAGE if s.keywords == plan.query else BACK_TO_SEARCH)
    if s.page == RESULTS:
        if s.keywords != plan.query or plan.target is None:
            return _click(BACK_TO_SEARCH)
        target_page = plan.rank // PRODUCTS_PER_PAGE + 1
        if s.page_number < target_page:
            return _click(NEXT_PAGE)
        if s.page_number > target_page:
            return _click(PREV_PAGE)
        return _click(site.catalog.products[plan.target].asin)
    return None

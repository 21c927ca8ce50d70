"""WebShop's purchase reward, written from the paper's and original site's definition.

    reward = (matched attributes + matched options + [price <= bound])
             / (number of goal attributes + number of goal options + 1)
             * type match

Type match (as the original): 1 when the product's type equals the goal's, or the category paths
share at least two levels, or more than 20% of the goal type's words are in the product title;
0.5 otherwise; 0.1 when under 10% of those words are in the title, and 0 when none are.

Differences from the original, because this catalog's vocabulary is controlled: attributes and
options match by exact (case-insensitive) phrase instead of fuzzy string ratio and spaCy nouns; an
attribute or option that is not listed still counts when the phrase appears, on word boundaries,
in the title, features or description (the original's fallback); options are counted per goal
option, so the option term never exceeds the number of goal options.
"""

from __future__ import annotations

from dataclasses import dataclass

from rldojo.envs.text.webshop.catalog import Goal, Product, category_levels, norm_phrase, phrase_in


@dataclass(frozen=True)
class PurchaseReward:
    """The reward of one purchase and its parts."""

    total: float
    r_type: float
    title_score: float
    query_match: bool
    category_match: bool
    attributes_matched: int
    options_matched: int
    price_ok: bool


def type_match(product: Product, goal: Goal) -> tuple[float, float, bool, bool]:
    """(r_type, title_score, query_match, category_match) of buying `product` for `goal`."""
    query_match = product.product_type == goal.product_type
    category_match = len(product.category_levels & category_levels(goal.product_category)) >= 2
    wanted = set(norm_phrase(goal.product_type).split())
    title_score = len(wanted & product.title_words) / len(wanted) if wanted else 0.2
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, title_score, query_match, category_match


def purchase_reward(product: Product, goal: Goal, chosen_options: dict[str, str]) -> PurchaseReward:
    """The reward for buying `product` with `chosen_options` (option name -> value) for `goal`."""
    r_type, title_score, query_match, category_match = type_match(product, goal)
    attributes_matched = sum(
        1 for a in goal.attributes if norm_phrase(a) in product.attribute_keys or phrase_in(a, product.text_words)
    )
    chosen = {norm_phrase(v) for v in chosen_options.values()}
    options_matched = sum(
        1 for v in goal.options.values() if norm_phrase(v) in chosen or phrase_in(v, product.text_words)
    )
    price_ok = product.price <= goal.price_upper
    count = len(goal.attributes) + len(goal.options) + 1
    total = (attributes_matched + options_matched + int(price_ok)) / count * r_type
    return PurchaseReward(
        total=total,
        r_type=r_type,
        title_score=title_score,
        query_match=query_match,
        category_match=category_match,
        attributes_matched=attributes_matched,
        options_matched=options_matched,
        price_ok=price_ok,
    )

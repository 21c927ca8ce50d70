"""dojo/WebShop-v0: a text web shop over a generated catalog (see `env.py`)."""

from rldojo.envs.text.webshop.catalog import Catalog, Goal, Product, generate_catalog, load_catalog
from rldojo.envs.text.webshop.env import WebShopEnv, parse_action
from rldojo.envs.text.webshop.reward import PurchaseReward, purchase_reward

__all__ = [
    "Catalog",
    "Goal",
    "Product",
    "PurchaseReward",
    "WebShopEnv",
    "generate_catalog",
    "load_catalog",
    "parse_action",
    "purchase_reward",
]

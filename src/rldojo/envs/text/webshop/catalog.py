"""The WebShop catalog: products and shopping goals, generated from `vocab.py` with a seed.

`generate_catalog(seed)` is deterministic; its output ships as `data/catalog.json.gz` and
`load_catalog()` reads that file once per process. Regenerate it (after changing the vocabulary)
with `python -m rldojo.envs.text.webshop.catalog`; a test checks that the shipped file equals a
fresh generation.

Goals follow the original WebShop's synthetic goals: a target product, a few of its attributes,
one value of each of its options, and a price bound two to four steps of $10 above its price.
"""

from __future__ import annotations

import functools
import gzip
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from rldojo.envs.text.webshop import vocab

DATA_FILE = Path(__file__).with_name("data") / "catalog.json.gz"
DEFAULT_SEED = 0
PRODUCTS_PER_TYPE = 20
GOALS_PER_PRODUCT = 3
FORMAT_VERSION = 1
# The original's price bounds are multiples of $10.
PRICE_STEPS = tuple(10.0 * i for i in range(1, 100))
NO_PRICE_BOUND = 1_000_000.0

_WORD = re.compile(r"[a-z0-9][a-z0-9'.\-]*[a-z0-9]|[a-z0-9]")


def words(text: str) -> list[str]:
    """Lower-case words (keeping inner apostrophes, dots and hyphens: "men's", "t-shirt", "7.5")."""
    return _WORD.findall(text.lower())


@functools.lru_cache(maxsize=65536)
def norm_phrase(text: str) -> str:
    """`text` as ' '-joined lower-case words (cached: the catalog's vocabulary is small)."""
    return " ".join(words(text))


def phrase_in(phrase: str, text_words: str) -> bool:
    """Whether `phrase` occurs in `text_words` (a ' '-joined word string) on word boundaries."""
    needle = norm_phrase(phrase)
    return bool(needle) and f" {needle} " in text_words


@dataclass(frozen=True)
class Product:
    """One product of the catalog."""

    asin: str
    title: str
    category: str
    product_category: str
    """Path such as 'Beauty & Personal Care › Hair Care › Shampoo'."""
    product_type: str
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    price: float
    rating: float
    description: str
    features: tuple[str, ...]
    text_words: str = field(default="", compare=False, repr=False)
    """' '-joined words of title, features and description, padded with spaces (for matching)."""
    search_text: str = field(default="", compare=False, repr=False)
    """What the search engine indexes."""
    attribute_keys: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    """Normalised attributes."""
    title_words: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    category_levels: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class Goal:
    """One shopping task."""

    instruction: str
    product_index: int
    """Index of the product the goal was made from (one product that earns reward 1)."""
    product_type: str
    product_category: str
    attributes: tuple[str, ...]
    options: dict[str, str]
    """Option name -> wanted value."""
    price_upper: float


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    goals: tuple[Goal, ...]
    seed: int

    @functools.cached_property
    def by_asin(self) -> dict[str, int]:
        """Lower-case asin -> product index."""
        return {p.asin.lower(): i for i, p in enumerate(self.products)}


def category_levels(path: str) -> frozenset[str]:
    """The levels of a category path 'A › B › C'."""
    return frozenset(level.strip() for level in path.split("›"))


# ---- generation ---------------------------------------------------------------------------------


def _title_case(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


def _join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _brands(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        parts = rng.sample(vocab.BRAND_SYLLABLES, rng.randint(2, 3))
        names.add("".join(parts).capitalize())
    return sorted(names)


def _asin(rng: random.Random, taken: set[str]) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    while True:
        asin = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if asin not in taken:
            taken.add(asin)
            return asin


def _product(
    rng: random.Random, category: vocab.Category, ptype: vocab.ProductType, brand: str, asin: str
) -> dict[str, Any]:
    own = rng.sample(ptype.attributes, rng.randint(3, min(5, len(ptype.attributes))))
    shared = rng.sample(category.attributes, rng.randint(1, 2))
    attributes = own + shared
    options = {}
    for name, pool in ptype.options.items():
        chosen = set(rng.sample(pool, rng.randint(2, min(5, len(pool)))))
        options[name] = [v for v in pool if v in chosen]
    in_title = attributes[: rng.randint(1, 2)]
    title = f"{brand} {_title_case(' '.join(in_title))} {_title_case(ptype.name)}"
    if len(attributes) > 2 and rng.random() < 0.6:
        title += f", {_title_case(attributes[2])}"
    bullets = rng.sample(attributes, len(attributes))
    features = [rng.choice(vocab.FEATURE_LEADS).format(attr=a) for a in bullets]
    use = rng.choice(category.uses)
    description = " ".join(
        [
            rng.choice(vocab.DESCRIPTION_OPENERS).format(brand=brand, type=ptype.name, use=use),
            rng.choice(vocab.DESCRIPTION_MIDDLES).format(attrs=_join_and(rng.sample(attributes, len(attributes)))),
            rng.choice(vocab.DESCRIPTION_CLOSERS),
        ]
    )
    return {
        "asin": asin,
        "title": title,
        "category": category.key,
        "product_category": f"{category.title} › {ptype.sub} › {_title_case(ptype.name)}",
        "product_type": ptype.name,
        "attributes": attributes,
        "options": options,
        "price": round(rng.uniform(*ptype.price), 2),
        "rating": round(rng.uniform(3.0, 5.0), 1),
        "description": description,
        "features": features,
    }


def _goal(rng: random.Random, index: int, product: dict[str, Any]) -> dict[str, Any]:
    attributes = rng.sample(product["attributes"], rng.randint(1, min(3, len(product["attributes"]))))
    options = {name: rng.choice(values) for name, values in product["options"].items()}
    steps = [p for p in PRICE_STEPS if p > product["price"]][:4]
    price_upper = max(rng.sample(steps, 2)) if len(steps) >= 2 else NO_PRICE_BOUND
    text = f"{rng.choice(vocab.INSTRUCTION_OPENERS)} {_join_and(attributes)} {product['product_type']}"
    if options:
        text += " with " + ", and ".join(f"{k}: {v}" for k, v in options.items())
    if price_upper < NO_PRICE_BOUND:
        text += f", and price lower than {price_upper:.2f} dollars"
    return {
        "instruction": text,
        "product_index": index,
        "attributes": attributes,
        "options": options,
        "price_upper": price_upper,
    }


def generate_catalog(
    seed: int = DEFAULT_SEED, products_per_type: int = PRODUCTS_PER_TYPE, goals_per_product: int = GOALS_PER_PRODUCT
) -> dict[str, Any]:
    """The catalog as plain data (what `data/catalog.json.gz` holds), a pure function of its arguments."""
    rng = random.Random(seed)
    brands = _brands(rng, 90)
    taken: set[str] = set()
    products = []
    for category in vocab.CATEGORIES:
        for ptype in category.types:
            for _ in range(products_per_type):
                products.append(_product(rng, category, ptype, rng.choice(brands), _asin(rng, taken)))
    goals = [_goal(rng, i, p) for i, p in enumerate(products) for _ in range(goals_per_product)]
    rng.shuffle(goals)  # task ids interleave categories, as the original shuffles its goals
    return {"version": FORMAT_VERSION, "seed": seed, "products": products, "goals": goals}


def write_catalog(data: dict[str, Any], path: Path = DATA_FILE) -> None:
    """Write compact JSON, gzip'd with a fixed header so the bytes depend on the data only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    with open(path, "wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw)


def read_catalog_data(path: Path = DATA_FILE) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


# ---- loading ------------------------------------------------------------------------------------


def build_catalog(data: dict[str, Any]) -> Catalog:
    """Turn plain catalog data into `Product`s and `Goal`s with their matching texts."""
    products = []
    for p in data["products"]:
        options = {k: tuple(v) for k, v in p["options"].items()}
        matched = " ".join([p["title"], *p["features"], p["description"]])
        searched = " ".join(
            [
                p["title"],
                *p["attributes"],
                *p["features"],
                p["description"],
                *(v for vals in options.values() for v in vals),
            ]
        )
        products.append(
            Product(
                asin=p["asin"],
                title=p["title"],
                category=p["category"],
                product_category=p["product_category"],
                product_type=p["product_type"],
                attributes=tuple(p["attributes"]),
                options=options,
                price=float(p["price"]),
                rating=float(p["rating"]),
                description=p["description"],
                features=tuple(p["features"]),
                text_words=f" {' '.join(words(matched))} ",
                search_text=searched,
                attribute_keys=frozenset(norm_phrase(a) for a in p["attributes"]),
                title_words=frozenset(words(p["title"])),
                category_levels=category_levels(p["product_category"]),
            )
        )
    goals = []
    for g in data["goals"]:
        target = products[g["product_index"]]
        goals.append(
            Goal(
                instruction=g["instruction"],
                product_index=g["product_index"],
                product_type=target.product_type,
                product_category=target.product_category,
                attributes=tuple(g["attributes"]),
                options=dict(g["options"]),
                price_upper=float(g["price_upper"]),
            )
        )
    return Catalog(products=tuple(products), goals=tuple(goals), seed=int(data["seed"]))


@functools.cache
def load_catalog() -> Catalog:
    """The shipped catalog, read once per process and shared by every env."""
    return build_catalog(read_catalog_data())


def main() -> None:
    """Regenerate the shipped catalog file from the default seed."""
    data = generate_catalog()
    write_catalog(data)
    logger.info(f"wrote {len(data['products'])} products and {len(data['goals'])} goals to {DATA_FILE}")


if __name__ == "__main__":
    main()

"""The WebShop site as text: pages, their clickable elements, and what a click or search does.

Pages (as the original site): the search page (a search box), result pages (ten products each, of at
most fifty, with `Next >` / `< Prev`), an item page (options, `Description`, `Features`,
`Buy Now`), the description and features sub-pages, and the done page after a purchase. Pages are
rendered like the original's simple text mode: visible texts joined by ' [SEP] '. Clickable names
are matched case-insensitively (the original lower-cases them); product ids are clickable by asin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rldojo.envs.text.webshop.catalog import Catalog, Goal, Product
from rldojo.envs.text.webshop.reward import PurchaseReward, purchase_reward
from rldojo.envs.text.webshop.search import SearchEngine

PRODUCTS_PER_PAGE = 10
BACK_TO_SEARCH = "Back to Search"
NEXT_PAGE = "Next >"
PREV_PAGE = "< Prev"
BUY_NOW = "Buy Now"
SUB_PAGES = ("Description", "Features")
SEP = " [SEP] "

SEARCH, RESULTS, ITEM, SUB, DONE = "search", "results", "item", "sub", "done"


@dataclass
class SiteState:
    """Where the shopper is on the site."""

    page: str = SEARCH
    keywords: str = ""
    results: list[int] = field(default_factory=list)
    page_number: int = 1
    product: int | None = None
    options: dict[str, str] = field(default_factory=dict)
    sub_page: str = ""
    purchase: PurchaseReward | None = None


class Site:
    """One shopper's session on the site for one goal."""

    def __init__(self, catalog: Catalog, engine: SearchEngine, goal: Goal):
        self.catalog = catalog
        self.engine = engine
        self.goal = goal
        self.state = SiteState()

    # ---- what can be done here -----------------------------------------------------------------

    @property
    def has_search_bar(self) -> bool:
        return self.state.page == SEARCH

    def clickables(self) -> list[str]:
        """Lower-case names of the elements that can be clicked on the current page."""
        s = self.state
        if s.page == RESULTS:
            names = [BACK_TO_SEARCH.lower()]
            if s.page_number > 1:
                names.append(PREV_PAGE.lower())
            if s.page_number * PRODUCTS_PER_PAGE < len(s.results):
                names.append(NEXT_PAGE.lower())
            return names + [self.catalog.products[i].asin.lower() for i in self._page_products()]
        if s.page == ITEM:
            values = [v for vals in self._product().options.values() for v in vals]
            return [
                BACK_TO_SEARCH.lower(),
                PREV_PAGE.lower(),
                *values,
                *(p.lower() for p in SUB_PAGES),
                BUY_NOW.lower(),
            ]
        if s.page == SUB:
            return [BACK_TO_SEARCH.lower(), PREV_PAGE.lower()]
        return []

    # ---- actions -------------------------------------------------------------------------------

    def search(self, query: str) -> bool:
        """Run a search from the search page; False (nothing happens) elsewhere or for an empty query."""
        query = query.strip().lower()
        if self.state.page != SEARCH or not query:
            return False
        self.state = SiteState(page=RESULTS, keywords=query, results=self.engine.search(query))
        return True

    def click(self, name: str) -> bool:
        """Click the element called `name`; False (nothing happens) when the page has no such element."""
        name = name.strip().lower()
        if name not in self.clickables():
            return False
        s = self.state
        if name == BACK_TO_SEARCH.lower():
            self.state = SiteState()
        elif s.page == RESULTS and name == NEXT_PAGE.lower():
            s.page_number += 1
        elif s.page == RESULTS and name == PREV_PAGE.lower():
            s.page_number -= 1
        elif s.page == RESULTS:
            s.page, s.product, s.options = ITEM, self.catalog.by_asin[name], {}
        elif s.page == SUB:  # only `< Prev` is left: back to the item page
            s.page, s.sub_page = ITEM, ""
        elif name == PREV_PAGE.lower():  # from the item page back to its result page
            s.page, s.product, s.options = RESULTS, None, {}
        elif name == BUY_NOW.lower():
            s.page = DONE
            s.purchase = purchase_reward(self._product(), self.goal, s.options)
        elif name in (p.lower() for p in SUB_PAGES):
            s.page, s.sub_page = SUB, next(p for p in SUB_PAGES if p.lower() == name)
        else:  # an option value
            option = next(k for k, vals in self._product().options.items() if name in vals)
            s.options[option] = name
        return True

    # ---- rendering -----------------------------------------------------------------------------

    def render(self) -> str:
        s = self.state
        head = ["Instruction:", self.goal.instruction]
        if s.page == SEARCH:
            return SEP.join(["WebShop", *head, "Search"])
        if s.page == RESULTS:
            parts = [*head, BACK_TO_SEARCH, f"Page {s.page_number} (Total results: {len(s.results)})"]
            if s.page_number > 1:
                parts.append(PREV_PAGE)
            if s.page_number * PRODUCTS_PER_PAGE < len(s.results):
                parts.append(NEXT_PAGE)
            for i in self._page_products():
                p = self.catalog.products[i]
                parts += [p.asin, p.title, f"${p.price:.2f}"]
            return SEP.join(parts)
        product = self._product()
        if s.page == ITEM:
            parts = [*head, BACK_TO_SEARCH, PREV_PAGE]
            for option, values in product.options.items():
                parts += [option, *values]
            parts += [product.title, f"Price: ${product.price:.2f}", f"Rating: {product.rating}"]
            if s.options:
                parts.append("Selected: " + ", ".join(f"{k}: {v}" for k, v in s.options.items()))
            return SEP.join([*parts, *SUB_PAGES, BUY_NOW])
        if s.page == SUB:
            body = [product.description] if s.sub_page == "Description" else list(product.features)
            return SEP.join([*head, BACK_TO_SEARCH, PREV_PAGE, *body])
        options = ", ".join(f"{k}: {v}" for k, v in s.options.items()) or "none"
        score = s.purchase.total if s.purchase is not None else 0.0
        return SEP.join(
            [
                "Thank you for shopping with us!",
                "Purchased",
                product.asin,
                product.title,
                f"Options: {options}",
                f"Price: ${product.price:.2f}",
                f"Your score (min 0.0, max 1.0): {score:.2f}",
            ]
        )

    # ---- helpers -------------------------------------------------------------------------------

    def _product(self) -> Product:
        assert self.state.product is not None
        return self.catalog.products[self.state.product]

    def _page_products(self) -> list[int]:
        start = (self.state.page_number - 1) * PRODUCTS_PER_PAGE
        return self.state.results[start : start + PRODUCTS_PER_PAGE]

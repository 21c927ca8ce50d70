"""`dojo/WebShop-v0`: shop for a product on a text website (Yao et al., 2022), on rldojo's catalog.

Actions are `search[query]` (on the search page) and `click[element]` (a button, a product id or
an option value shown on the page). An action the page cannot take (unusable input included: empty,
not a string, too long) changes nothing and the same page is shown again, as in the original.
Buying ends the episode with WebShop's reward (`reward.py`); the task is won when that reward is 1.
`info["score"]` is the purchase reward.

`available_actions` lists every click of the page; on the search page it lists one search, for
the instruction itself, though any query may be typed.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from rldojo.envs.text.protocol import TextEnv, WorldStep
from rldojo.envs.text.webshop.catalog import Catalog, load_catalog
from rldojo.envs.text.webshop.expert import ExpertPlan, expert_action, make_plan
from rldojo.envs.text.webshop.search import SearchEngine, default_engine
from rldojo.envs.text.webshop.site import DONE, Site

_ACTION = re.compile(r"^\s*([A-Za-z_]+)\s*\[(.*)\]\s*$", re.DOTALL)
# A purchase this close to 1 is a win (the reward is a ratio of small integers).
_WIN_AT = 1.0 - 1e-9


def parse_action(action: str) -> tuple[str, str] | None:
    """('search' | 'click' | other name, argument) of `name[argument]`, or None if not of that form."""
    match = _ACTION.match(action)
    if match is None:
        return None
    return match.group(1).lower(), match.group(2).strip()


class WebShopEnv(TextEnv):
    """The WebShop world: 3,600 shopping goals over 1,200 generated products in 12 categories."""

    has_expert = True

    def __init__(
        self,
        max_turns: int = 15,
        render_mode: str | None = None,
        catalog: Catalog | None = None,
        engine: SearchEngine | None = None,
    ):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.catalog = catalog if catalog is not None else load_catalog()
        self.engine = (
            engine if engine is not None else (default_engine() if catalog is None else SearchEngine(self.catalog))
        )
        self.site: Site | None = None
        self._plan: ExpertPlan | None = None

    @property
    def num_tasks(self) -> int:
        return len(self.catalog.goals)

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        goal = self.catalog.goals[task_id]
        self.site = Site(self.catalog, self.engine, goal)
        self._plan = None
        return goal.instruction, self.site.render()

    def _step_world(self, action: str) -> WorldStep:
        site = self._site()
        parsed = parse_action(action)
        moved = False
        if parsed is not None:
            name, argument = parsed
            if name == "search":
                moved = site.search(argument)
            elif name == "click":
                moved = site.click(argument)
        if not moved:
            return WorldStep(observation=site.render(), valid=False)
        if site.state.page == DONE:
            reward = site.state.purchase.total if site.state.purchase is not None else 0.0
            won = reward >= _WIN_AT
            return WorldStep(observation=site.render(), reward=reward, won=won, done=not won)
        return WorldStep(observation=site.render())

    def _available_actions(self) -> list[str]:
        site = self._site()
        actions = [f"search[{site.goal.instruction}]"] if site.has_search_bar else []
        return actions + [f"click[{name}]" for name in site.clickables()]

    def _expert_action(self) -> str | None:
        site = self._site()
        if self._plan is None:
            self._plan = make_plan(site.goal, self.catalog, self.engine)
        return expert_action(site, self._plan)

    def _native_score(self) -> float:
        purchase = self.site.state.purchase if self.site is not None else None
        return float(purchase.total) if purchase is not None else 0.0

    def _vet(self, action: Any) -> tuple[str | None, str]:
        # Unusable input (empty, not a string, too long) is answered as any action the page cannot
        # take, the same page again, as in the original: every invalid action reads alike.
        problem, command = super()._vet(action)
        return (None if problem is None else self._site().render()), command

    def _site(self) -> Site:
        assert self.site is not None, "the protocol calls the world only after reset()"
        return self.site

    def purchase_info(self) -> dict[str, Any] | None:
        """The parts of the purchase reward once something was bought (for logs and tests)."""
        purchase = self.site.state.purchase if self.site is not None else None
        return None if purchase is None else dict(purchase.__dict__)

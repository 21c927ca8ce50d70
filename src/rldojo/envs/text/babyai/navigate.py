"""Shortest primitive-action paths for BabyAI's high-level actions ("go to the red ball").

Breadth-first search over (x, y, direction) with minigrid's turn left / turn right / move forward,
through cells the agent has seen this episode that it can stand on (empty, open doors; never
lava). One search per turn serves every target.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from minigrid.core.actions import Actions
from minigrid.core.constants import DIR_TO_VEC

State = tuple[int, int, int]


class Paths:
    """All shortest paths from the agent's current pose through known, walkable cells."""

    def __init__(self, env, known: np.ndarray):
        base = env.unwrapped
        self._grid = base.grid
        self._known = known
        start: State = (int(base.agent_pos[0]), int(base.agent_pos[1]), int(base.agent_dir))
        self._parent: dict[State, tuple[State, int] | None] = {start: None}
        self.order: list[State] = [start]
        queue = deque([start])
        while queue:
            state = queue.popleft()
            x, y, d = state
            dx, dy = DIR_TO_VEC[d]
            moves = (((x, y, (d - 1) % 4), Actions.left), ((x, y, (d + 1) % 4), Actions.right))
            if self.walkable(x + dx, y + dy):
                moves += (((x + dx, y + dy, d), Actions.forward),)
            for nxt, action in moves:
                if nxt not in self._parent:
                    self._parent[nxt] = (state, int(action))
                    self.order.append(nxt)
                    queue.append(nxt)

    def walkable(self, x: int, y: int) -> bool:
        if not (0 <= x < self._grid.width and 0 <= y < self._grid.height) or not self._known[x, y]:
            return False
        cell = self._grid.get(x, y)
        return cell is None or (cell.can_overlap() and cell.type != "lava")

    def _actions_to(self, state: State) -> list[int]:
        actions = []
        step = self._parent[state]
        while step is not None:
            state, action = step
            actions.append(action)
            step = self._parent[state]
        return actions[::-1]

    def to_face(self, target: tuple[int, int]) -> list[int] | None:
        """Actions that end next to `target`, facing it; None if it cannot be reached."""
        for x, y, d in self.order:
            dx, dy = DIR_TO_VEC[d]
            if (x + dx, y + dy) == target:
                return self._actions_to((x, y, d))
        return None

    def onto(self, target: tuple[int, int]) -> list[int] | None:
        """Actions that end standing on `target` (an open door); None if it cannot be reached."""
        for state in self.order:
            if state[:2] == target:
                return self._actions_to(state)
        return None

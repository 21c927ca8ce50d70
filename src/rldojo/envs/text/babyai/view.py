"""What a BabyAI agent sees, in words and in world coordinates.

`visible_objects` lists the objects in the agent's egocentric view (minigrid's `gen_obs_grid`,
which accounts for occlusion), each with a name ("red ball", "blue door"; numbered "red ball 2"
when several look alike, nearest first) and its offset: steps ahead and steps to the right.
`describe` turns that into the observation text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Things an agent can act on; walls, floor and empty cells are described separately or not at all.
OBJECT_TYPES = ("key", "ball", "box", "door", "goal", "lava")
PICKABLE = ("key", "ball", "box")


@dataclass(frozen=True)
class SeenObject:
    """One object in view."""

    name: str
    """How actions refer to it: '<color> <type>' plus a number when several look alike."""
    kind: str
    color: str
    state: str
    """'open', 'closed' or 'locked' for doors; '' otherwise."""
    pos: tuple[int, int]
    """World coordinates."""
    ahead: int
    right: int

    def label(self) -> str:
        return f"{self.name} ({self.state})" if self.state else self.name


def view_cells(env) -> list[tuple[int, int, int, int]]:
    """(world x, world y, steps ahead, steps right) of every cell the agent sees now."""
    base = env.unwrapped
    _, vis_mask = base.gen_obs_grid()
    size = base.agent_view_size
    pos, f_vec, r_vec = np.asarray(base.agent_pos), base.dir_vec, base.right_vec
    cells = []
    for j in range(size):
        for i in range(size):
            if not vis_mask[i, j]:
                continue
            ahead, right = size - 1 - j, i - size // 2
            x, y = pos + f_vec * ahead + r_vec * right
            if 0 <= x < base.width and 0 <= y < base.height:
                cells.append((int(x), int(y), int(ahead), int(right)))
    return cells


def _door_state(obj) -> str:
    if obj.type != "door":
        return ""
    return "open" if obj.is_open else ("locked" if obj.is_locked else "closed")


def visible_objects(env, cells: list[tuple[int, int, int, int]]) -> list[SeenObject]:
    base = env.unwrapped
    found = []
    for x, y, ahead, right in cells:
        if (ahead, right) == (0, 0):
            continue
        obj = base.grid.get(x, y)
        if obj is not None and obj.type in OBJECT_TYPES:
            found.append((abs(ahead) + abs(right), ahead, right, x, y, obj))
    found.sort(key=lambda f: f[:3])
    counts: dict[str, int] = {}
    for *_, obj in found:
        key = f"{obj.color} {obj.type}"
        counts[key] = counts.get(key, 0) + 1
    numbered: dict[str, int] = {}
    seen = []
    for _, ahead, right, x, y, obj in found:
        key = f"{obj.color} {obj.type}"
        numbered[key] = numbered.get(key, 0) + 1
        name = f"{key} {numbered[key]}" if counts[key] > 1 else key
        seen.append(SeenObject(name, obj.type, obj.color, _door_state(obj), (x, y), ahead, right))
    return seen


def _where(ahead: int, right: int) -> str:
    def steps(n: int) -> str:
        return f"{n} step{'s' if n != 1 else ''}"

    if right == 0:
        return "right in front of you" if ahead == 1 else f"{steps(ahead)} ahead"
    side = f"{steps(abs(right))} to your {'right' if right > 0 else 'left'}"
    return side if ahead == 0 else f"{steps(ahead)} ahead and {side}"


def describe(env, cells: list[tuple[int, int, int, int]], objects: list[SeenObject]) -> str:
    """The egocentric view in words: objects and where they are, the wall ahead, what is carried."""
    base = env.unwrapped
    lines = []
    if objects:
        lines.append("You see:")
        lines += [f"- {o.label()}: {_where(o.ahead, o.right)}" for o in objects]
    else:
        lines.append("You see no objects.")
    # How far one can walk straight ahead before something blocks the way.
    free = 0
    ahead_cells = {a: (x, y) for x, y, a, r in cells if r == 0}
    while free + 1 in ahead_cells:
        cell = base.grid.get(*ahead_cells[free + 1])
        if cell is not None and not cell.can_overlap():
            named = [o.name for o in objects if o.pos == ahead_cells[free + 1]]
            what = "a wall" if cell.type == "wall" else (f"the {named[0]}" if named else f"a {cell.type}")
            lines.append(f"Ahead: {what} {_where(free + 1, 0)}." if free else f"Ahead: {what} right in front of you.")
            break
        free += 1
    else:
        lines.append(f"Ahead: the way is clear for {free} steps as far as you can see.")
    carried = base.carrying
    lines.append(f"You are carrying a {carried.color} {carried.type}." if carried else "You are not carrying anything.")
    lines.append(f"Mission: {base.mission}.")
    return "\n".join(lines)

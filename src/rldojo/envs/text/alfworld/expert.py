"""rldojo's own expert for ALFWorld-style games: a fast planner over the engine's current facts.

It reads where things are from the state (it is the game's full-knowledge expert, like ALFWorld's
PDDL planner, but answers in microseconds instead of the seconds Fast Downward needs on pick-two
tasks), so it is recomputed every turn and recovers after any detour: put away whatever is held
that the task does not need, fetch a target object (opening its receptacle), clean / heat / cool it
at the sink basin / microwave / fridge when the task asks, then go to the goal's receptacle (opening
it) and put it there; for look-at-in-light tasks, carry the object to a desk lamp and switch it on.
"""

from __future__ import annotations

from rldojo.envs.text.alfworld.scenes import STATE_CHANGE, Goal

_FLAG = {"clean": "isclean", "heat": "ishot", "cool": "iscool"}


class _View:
    """The facts indexed for the expert's questions (ids; types are catalogue names)."""

    def __init__(self, facts: dict[str, list[tuple[str, ...]]]):
        self.facts = facts
        self.otype = {o: t.removesuffix("type") for o, t in facts.get("objecttype", [])}
        self.rtype = {r: t.removesuffix("type") for r, t in facts.get("receptacletype", [])}
        self.where = {o: r for o, r in facts.get("inreceptacle", [])}
        self.held = sorted(o for _, o in facts.get("holds", []))
        self.agent_at = {loc for _, loc in facts.get("atlocation", [])}
        self.here = {r for r, loc in facts.get("receptacleatlocation", []) if loc in self.agent_at}
        self.openable = {r for (r,) in facts.get("openable", [])}
        self.opened = {r for (r,) in facts.get("opened", [])}
        self.contain = {(rt.removesuffix("type"), ot.removesuffix("type")) for rt, ot in facts.get("cancontain", [])}
        self.flags = {name: {o for (o,) in facts.get(name, [])} for name in ("isclean", "ishot", "iscool", "istoggled")}
        self.receptacles = sorted(self.rtype)

    def of_type(self, kind: str) -> list[str]:
        return sorted(o for o, t in self.otype.items() if t == kind)

    def receptacles_of(self, kind: str) -> list[str]:
        return [r for r in self.receptacles if self.rtype[r] == kind]


def expert_command(facts: dict[str, list[tuple[str, ...]]], goal: Goal, names: dict[str, str]) -> str | None:
    """The next command towards `goal` (ALFWorld command words, display names), or None if stuck."""
    view = _View(facts)

    def name(entity: str) -> str:
        return names.get(entity, entity)

    def reach(r: str) -> str | None:
        """The command that brings the agent to receptacle `r` with it open, or None when there."""
        if r not in view.here:
            return f"go to {name(r)}"
        if r in view.openable and r not in view.opened:
            return f"open {name(r)}"
        return None

    def fetch(candidates: list[str]) -> str | None:
        reachable = [o for o in candidates if o in view.where]
        if not reachable:
            return None
        # Prefer an object in a receptacle here, then an open one, then the first by name.
        reachable.sort(
            key=lambda o: (
                view.where[o] not in view.here,
                view.where[o] in view.openable and view.where[o] not in view.opened,
                o,
            )
        )
        target = reachable[0]
        r = view.where[target]
        return reach(r) or f"take {name(target)} from {name(r)}"

    def put_away(o: str) -> str | None:
        kind = view.otype.get(o, "")
        spots = [r for r in view.receptacles if (view.rtype[r], kind) in view.contain]
        if not spots:
            return None
        spots.sort(key=lambda r: (r not in view.here, r in view.openable and r not in view.opened, r))
        return reach(spots[0]) or f"put {name(o)} in/on {name(spots[0])}"

    held = view.held[0] if view.held else None

    if goal.task_type == "look_at_obj_in_light":
        lamps = [o for o in view.of_type(goal.toggle) if o in view.where]
        if not lamps:
            return None
        if held is not None and view.otype.get(held) == goal.obj:
            lamps.sort(key=lambda o: (view.where[o] not in view.here, o))
            lamp = lamps[0]
            return reach_only(view, view.where[lamp], name) or f"use {name(lamp)}"
        if held is not None:
            return put_away(held)
        return fetch(view.of_type(goal.obj))

    targets = view.receptacles_of(goal.recep)
    if not targets:
        return None
    need = STATE_CHANGE.get(goal.task_type, ("", ""))
    flag = _FLAG.get(need[0], "")
    two = goal.task_type == "pick_two_obj_and_place"
    # The goal receptacle: for pick-two the one already holding most of the kind, else the nearest.
    count = {r: sum(1 for o in view.of_type(goal.obj) if view.where.get(o) == r) for r in targets}
    if two:
        target = min(targets, key=lambda r: (-count[r], r not in view.here, r))
    else:
        target = min(targets, key=lambda r: (r not in view.here, r))
    if held is not None and view.otype.get(held) == goal.obj:
        if flag and held not in view.flags[flag]:
            appliances = view.receptacles_of(need[1])
            if not appliances:
                return None
            appliance = min(appliances, key=lambda r: (r not in view.here, r))
            return reach_only(view, appliance, name) or f"{need[0]} {name(held)} with {name(appliance)}"
        return reach(target) or f"put {name(held)} in/on {name(target)}"
    if held is not None:
        return put_away(held)
    candidates = [o for o in view.of_type(goal.obj) if not (two and view.where.get(o) == target)]
    if flag:  # objects that already have the property first
        candidates.sort(key=lambda o: o not in view.flags[flag])
    return fetch(candidates)


def reach_only(view: _View, r: str, name) -> str | None:
    """Go to `r` unless there (appliances and lamps work closed)."""
    return None if r in view.here else f"go to {name(r)}"

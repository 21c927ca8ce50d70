"""TextWorld's PDDL engine (with Fast Downward) playing one household game, named as ALFWorld names it.

`HouseholdGame.load(game)` takes a `.tw-pddl` game (dict with `pddl_domain`, `grammar`,
`pddl_problem`); entity ids become ALFWorld's display names (`apple_3` -> "apple 3"; ALFWorld's
mangled ids such as `apple_bar__minus_01_dot_20_bar_...` -> "apple 1", numbered per kind the way
ALFWorld's demangler numbers them). Steps answer with the engine's own feedback ("Nothing happens."
for a command that is not admissible) and list the admissible commands.
"""

from __future__ import annotations

import functools
import re
import sys
from collections import Counter, OrderedDict, defaultdict
from typing import Any

_SIMPLE_ID = re.compile(r"^([a-z]+)_(\d+)$")
_PLAIN_TEMPLATE = re.compile(r"^[^\[\]#|]*$")  # only {placeholder} fields: no lists, rules or queries


_TRANSLATIONS: OrderedDict[tuple[str, str], tuple[Any, str]] = OrderedDict()
_TRANSLATIONS_KEPT = 32


def _translate(domain: str, problem: str) -> tuple[Any, str]:
    """Fast Downward's translation of a game (task, SAS text), kept for the last few games."""
    import fast_downward

    key = (domain, problem)
    if key in _TRANSLATIONS:
        _TRANSLATIONS.move_to_end(key)
        return _TRANSLATIONS[key]
    argv = list(sys.argv)  # the translator overwrites sys.argv
    try:
        result = fast_downward.pddl2sas(domain, problem)
    finally:
        sys.argv = argv
    _TRANSLATIONS[key] = result
    while len(_TRANSLATIONS) > _TRANSLATIONS_KEPT:
        _TRANSLATIONS.popitem(last=False)
    return result


_LOGICS: OrderedDict[tuple[str, str], Any] = OrderedDict()


def _game_logic(domain: str, grammar: str) -> Any:
    """TextWorld's parsed grammar and actions (0.2 s to parse), kept for the last few games."""
    from textworld.envs.pddl import logic as pddl_logic

    key = (domain, grammar)
    if key not in _LOGICS:
        _LOGICS[key] = pddl_logic.GameLogic(domain=domain, grammar=grammar)
        while len(_LOGICS) > 8:
            _LOGICS.popitem(last=False)
    _LOGICS.move_to_end(key)
    return _LOGICS[key]


@functools.cache
def _engine_class():
    """TextWorld's PddlEnv with two speed-ups that change no text:

    - the state is built from one translation of the game, kept per game, instead of two fresh
      ones per load and per reset (the second, optimised one only serves TextWorld's replanner,
      which rldojo's expert does not need): a reset of a known game costs milliseconds;
    - admissible commands whose template has only `{placeholder}` fields are formatted directly
      instead of through the grammar's derivation (a parse and deep copies per command, 3/4 of a
      step's time); other templates (real ALFWorld games' `go to [...]`) still go through it.
    """
    import fast_downward
    import textworld.logic
    from textworld.core import GameState
    from textworld.envs.pddl import PddlEnv
    from textworld.envs.pddl import logic as pddl_logic
    from textworld.logic import Proposition, Variable

    class OneTranslationState(pddl_logic.PddlState):
        def __init__(self, downward_lib, pddl_problem: str, logic):  # noqa: D107 - mirrors the parent
            self._facts, self._vars_by_name = defaultdict(set), {}
            self._vars_by_type, self._var_counts = defaultdict(set), Counter()
            self._logic = logic
            self.downward_lib = downward_lib
            self.pddl_problem = pddl_problem
            self.task, self.sas = _translate(logic.domain, pddl_problem)
            self.sas_replan = None
            self._actions = {a.name: a for a in self.task.actions}
            for kind in self.task.types:
                try:
                    self._logic.types.add(textworld.logic.Type(kind.name, kind.supertype_names))
                except ValueError:
                    pass
            self.downward_lib.load_sas(self.sas.encode("utf-8"))
            self.name2type = {o.name: o.type_name for o in self.task.objects}
            facts = []
            for atom in self.task.init:
                if isinstance(atom, fast_downward.translate.pddl.conditions.Atom) and atom.predicate != "=":
                    facts.append(Proposition(atom.predicate, [Variable(a, self.name2type[a]) for a in atom.args]))
            self.add_facts(facts)
            atoms = (pddl_logic.Atom * self.downward_lib.get_state_size())()
            self.downward_lib.get_state(atoms)
            self.add_facts(f for f in (a.get_fact(self.name2type) for a in atoms) if not f.is_negation)

    class FastPddlEnv(PddlEnv):
        def load(self, data):
            self._game_file = None
            self._game_data = data
            self.walkthrough = data.get("walkthrough")
            self._logic = _game_logic(data["pddl_domain"], data["grammar"])
            self._pddl_state = OneTranslationState(self.downward_lib, data["pddl_problem"], self._logic)
            self._entity_infos = self._get_entity_infos()

        def reset(self):
            self._pddl_state = OneTranslationState(self.downward_lib, self._game_data["pddl_problem"], self._logic)
            self.prev_state = None
            self.state = GameState()
            self._last_action = None
            self._moves = 0
            context = {
                "state": self._pddl_state,
                "facts": list(self._pddl_state.facts),
                "variables": {},
                "mapping": {},
                "entity_infos": self._entity_infos,
            }
            self.state.feedback = self._logic.grammar.derive("#intro#", context)
            self.state.raw = self.state.feedback
            self._gather_infos()
            return self.state

        def _gather_infos(self):
            state, infos = self.state, self._entity_infos
            state["command_templates"] = sorted({a.template for a in self._logic.actions.values()})
            state["won"] = self._pddl_state.check_goal()
            state["lost"] = False
            state["_entity_infos"] = dict(infos)
            state["_facts"] = list(self._pddl_state.facts)
            state["last_action"] = None
            state["_last_action"] = self._last_action
            state["_valid_actions"] = list(self._pddl_state.all_applicable_actions())
            mapping = {k: info.name for k, info in infos.items()}
            commands = []
            for action in state["_valid_actions"]:
                template = action.command_template
                if _PLAIN_TEMPLATE.match(template):
                    names = {ph.name: infos[var.name].name for ph, var in action.mapping.items()}
                    commands.append(template.format(**names))
                    continue
                context = {
                    "state": self._pddl_state,
                    "facts": state["_facts"],
                    "variables": {ph.name: infos[var.name] for ph, var in action.mapping.items()},
                    "mapping": action.mapping,
                    "entity_infos": infos,
                }
                action.command_template = self._logic.grammar.derive(template, context)
                commands.append(action.format_command(mapping))
            state["_valid_commands"] = commands
            state["admissible_commands"] = sorted(set(commands))
            if self.request_infos.moves:
                state["moves"] = self._moves
            if self.request_infos.policy_commands:
                state["policy_commands"] = self._pddl_state.replan(infos)

    return FastPddlEnv


def display_names(ids: list[str]) -> dict[str, str]:
    """Display name of every entity id (receptacles and objects get "kind N")."""
    names: dict[str, str] = {}
    mangled: dict[str, str] = {}
    for entity in sorted(ids):
        if match := _SIMPLE_ID.match(entity):
            names[entity] = f"{match.group(1)} {int(match.group(2))}"
        elif "_bar_" in entity:
            kind = entity.split("_bar_", 1)[0]
            # ALFWorld's sink and bathtub ids end in "..._bar_sinkbasin": the kind is "sinkbasin".
            mangled[entity] = kind + ("basin" if "basin" in entity and not kind.endswith("basin") else "")
        else:
            names[entity] = entity
    # ALFWorld numbers the instances of a kind from the count down, in sorted id order.
    left = Counter(mangled.values())
    for entity in sorted(mangled):
        kind = mangled[entity]
        names[entity] = f"{kind} {left[kind]}"
        left[kind] -= 1
    return names


class HouseholdGame:
    """One loaded game on TextWorld's `PddlEnv`; `facts` is the engine's current state."""

    def __init__(self) -> None:
        from textworld import EnvInfos

        self._infos = EnvInfos(admissible_commands=True)
        self._env = _engine_class()(self._infos)
        self._loaded: dict[str, Any] | None = None
        self.names: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def load(self, game: dict[str, Any]) -> None:
        """Translate the game with Fast Downward (~0.2-0.6 s for a room, once per game); name its entities."""
        if self._env is None:  # closed before: a fresh copy of the library
            self._env = _engine_class()(self._infos)
        self._env.load(game)
        self._loaded = game
        infos = self._env._entity_infos
        self.names = display_names(list(infos))
        for entity, info in infos.items():
            info.name = self.names[entity]
        self.ids = {name: entity for entity, name in self.names.items()}

    def reset(self) -> tuple[str, list[str]]:
        """Start the loaded game; returns (intro text, admissible commands)."""
        if self._loaded is None:
            raise RuntimeError("load a game first")
        state = self._env.reset()
        return state.feedback, list(state["admissible_commands"])

    def step(self, command: str) -> tuple[str, bool, list[str]]:
        """Carry out an exact admissible command; returns (feedback, won, admissible commands)."""
        state, _, _ = self._env.step(command)
        return state.feedback, bool(state["won"]), list(state["admissible_commands"])

    @property
    def won(self) -> bool:
        return bool(self._env.state["won"])

    def facts(self) -> dict[str, list[tuple[str, ...]]]:
        """The current state: predicate name (lower case) -> argument id tuples."""
        table: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for fact in self._env._pddl_state.facts:
            table[fact.name].append(tuple(v.name for v in fact.arguments))
        return table

    def close(self) -> None:
        """Drop the engine (idempotent; a later load starts a fresh one).

        Fast Downward's library copy is not unloaded: `fast_downward.close_lib` frees state that
        other loaded copies in the process still use (it crashed the process here), so the copy
        (a few MB) stays mapped until the process exits.
        """
        self._env = None
        self._loaded = None

"""`dojo/BabyAI-<Level>-v0`: minigrid's BabyAI levels as a text world, with BabyAI's bot as expert.

Task id = the seed minigrid generates the level from. Observations describe the egocentric view
(objects in sight and where they are, the way ahead, what is carried, the mission). Actions, as in
AgentGym: `turn left`, `turn right`, `move forward`, `go to <object>`, `pick up <object>`,
`go through <door>`, `toggle`, `drop`, `check available actions`. An object is named by colour and
type as listed in the view ("red ball", "blue door"; "red ball 2" when several look alike); `go to`,
`pick up` and `go through` walk a shortest path through cells seen so far.

Reward, as AgentGym (sub-goal credit / env reward): a mission of n parts ("go to the red door,
then pick up the ball" has 2) pays 1/n when each part but the last is done, and minigrid's own
success reward (1 - 0.9 * steps / max_steps) / n when the mission is accomplished. The native
`score` is their sum so far, in [0, 1]. The expert is `minigrid.utils.baby_ai_bot.BabyAIBot`,
kept in step with the agent's actual primitive actions (its advising mode), so it stays valid
after any detour.
"""

from __future__ import annotations

import contextlib
import io

import gymnasium as gym
import numpy as np
from loguru import logger
from minigrid.core.actions import Actions
from minigrid.envs.babyai.core.verifier import SeqInstr
from minigrid.utils.baby_ai_bot import BabyAIBot

from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.babyai import LEVELS
from rldojo.envs.text.babyai.navigate import Paths
from rldojo.envs.text.babyai.view import PICKABLE, SeenObject, describe, view_cells, visible_objects
from rldojo.envs.text.protocol import NOTHING_HAPPENS, TextEnv, WorldStep

HINT = (
    "Actions: turn left, turn right, move forward, go to <object>, pick up <object>, "
    "go through <door>, toggle, drop, check available actions."
)
_FILLER = {"the", "a", "an"}
_MAX_BOT_STACK = 16
# A replan pushes a handful of subgoals; after some detours the bot pushes and pops forever.
_MAX_BOT_PUSHES_PER_REPLAN = 64


class _BotLoopError(RuntimeError):
    """The bot kept replanning without settling on an action."""


class _GuardedStack(list):
    """The bot's plan stack, counting pushes so that a replan that never settles is stopped."""

    def __init__(self, items=()):
        super().__init__(items)
        self.pushes = 0

    def append(self, item) -> None:
        self.pushes += 1
        if self.pushes > _MAX_BOT_PUSHES_PER_REPLAN:
            raise _BotLoopError(f"more than {_MAX_BOT_PUSHES_PER_REPLAN} subgoals pushed in one replan")
        super().append(item)


_TEXT = {
    Actions.left: "turn left",
    Actions.right: "turn right",
    Actions.forward: "move forward",
    Actions.drop: "drop",
    Actions.toggle: "toggle",
}


def _leaves(instr) -> int:
    return _leaves(instr.instr_a) + _leaves(instr.instr_b) if isinstance(instr, SeqInstr) else 1


def _leaves_done(instr) -> int:
    """Parts of a sequenced mission that minigrid's verifier has marked done."""
    if not isinstance(instr, SeqInstr):
        return 0
    done = 0
    for part, flag in ((instr.instr_a, instr.a_done), (instr.instr_b, instr.b_done)):
        done += _leaves(part) if flag == "success" else _leaves_done(part)
    return done


class BabyAITextEnv(TextEnv):
    """One BabyAI level as a text world (see module docstring)."""

    has_expert = True

    def __init__(self, level: str = "GoToRedBall", max_turns: int | None = None, render_mode: str | None = None):
        super().__init__(max_turns=max_turns or 1, render_mode=render_mode)
        if level not in LEVELS:
            raise EnvInputError(f"BabyAI level '{level}' is not offered; choose one of: {', '.join(LEVELS)}")
        self.level = level
        self._turn_limit = max_turns
        self.world = gym.make(f"BabyAI-{level}-v0").unwrapped
        self._known = np.zeros((1, 1), dtype=bool)
        self._objects: list[SeenObject] = []
        self._paths: Paths | None = None
        self._bot: BabyAIBot | None = None
        self._bot_action: int | None = None
        self._parts = 1
        self._credit = 0.0

    # ---- protocol hooks -----------------------------------------------------------------------

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        with contextlib.redirect_stdout(io.StringIO()):  # minigrid prints its level-sampling retries
            self.world.reset(seed=task_id)
        self.max_turns = self._turn_limit or self.world.max_steps
        self._known = np.zeros((self.world.width, self.world.height), dtype=bool)
        self._parts = _leaves(self.world.instrs)
        self._credit = 0.0
        self._bot = None
        self._bot_action = None
        view = self._look()
        return f"Your mission: {self.world.mission}.", view

    def _step_world(self, action: str) -> WorldStep:
        words = [w for w in action.lower().strip(" .!").split() if w not in _FILLER]
        command = " ".join(words)
        if command in ("check available actions", "check actions", "available actions"):
            return WorldStep("You can: " + ", ".join(self._available_actions()) + ".")
        plan, problem = self._plan(command)
        if plan is None:
            return WorldStep(f"{NOTHING_HAPPENS} {problem}", valid=False)
        return self._execute(plan, command)

    def _available_actions(self) -> list[str]:
        actions = ["turn left", "turn right"]
        fwd = self._front()
        if fwd is None or fwd.can_overlap():
            actions.append("move forward")
        carrying = self.world.carrying
        for obj in self._objects:
            if self._paths.to_face(obj.pos) is None:
                continue
            actions.append(f"go to {obj.name}")
            if obj.kind in PICKABLE and carrying is None:
                actions.append(f"pick up {obj.name}")
            if obj.kind == "door" and obj.state == "open" and self._paths.onto(obj.pos) is not None:
                actions.append(f"go through {obj.name}")
        if fwd is not None and fwd.type in ("door", "box"):
            actions.append("toggle")
        if carrying is not None and fwd is None:
            actions.append("drop")
        actions.append("check available actions")
        return actions

    def _expert_action(self) -> str | None:
        try:
            if self._bot is None:
                self._bot = BabyAIBot(self.world)
                self._bot.stack = _GuardedStack(self._bot.stack)
                self._bot.vis_mask |= self._known  # what the agent has seen, the bot knows
                self._bot_action = self._bot.replan()
        except Exception as exc:  # noqa: BLE001 - the bot asserts on states it cannot plan from
            logger.debug("BabyAI bot could not plan: {}", exc)
            self._bot = None
            return None
        action = self._bot_action
        if action == Actions.pickup:
            front = next((o for o in self._objects if (o.ahead, o.right) == (1, 0)), None)
            return f"pick up {front.name}" if front is not None else None
        return _TEXT.get(action)

    def _native_score(self) -> float:
        return self._credit

    def _action_hint(self) -> str:
        return HINT

    # ---- actions ------------------------------------------------------------------------------

    def _front(self):
        x, y = self.world.front_pos
        return self.world.grid.get(int(x), int(y))

    def _look(self) -> str:
        cells = view_cells(self.world)
        for x, y, _, _ in cells:
            self._known[x, y] = True
        self._objects = visible_objects(self.world, cells)
        self._paths = Paths(self.world, self._known)
        return describe(self.world, cells, self._objects)

    def _find(self, phrase: str) -> SeenObject | None:
        """The visible object a phrase names ('red ball', 'blue door 2', 'closed red door', 'ball')."""
        words = [w for w in phrase.split() if w not in ("open", "closed", "locked")]
        number = int(words.pop()) if words and words[-1].isdigit() else 1
        matches = [o for o in self._objects if words and words[-1] == o.kind and set(words[:-1]) <= {o.color}]
        return matches[number - 1] if 0 < number <= len(matches) else None

    def _plan(self, command: str) -> tuple[list[int] | None, str]:
        """Primitive actions for a command, or None and why it cannot be done."""
        simple = {
            "turn left": Actions.left,
            "left": Actions.left,
            "turn right": Actions.right,
            "right": Actions.right,
            "move forward": Actions.forward,
            "forward": Actions.forward,
            "go forward": Actions.forward,
            "toggle": Actions.toggle,
            "drop": Actions.drop,
        }
        fwd = self._front()
        if command in simple:
            action = simple[command]
            if action == Actions.forward and fwd is not None and not fwd.can_overlap():
                return None, "There is something in front of you; you cannot move forward."
            if action == Actions.toggle and (fwd is None or fwd.type not in ("door", "box")):
                return None, "There is nothing to toggle in front of you."
            if action == Actions.drop:
                if self.world.carrying is None:
                    return None, "You are not carrying anything."
                if fwd is not None:
                    return None, "There is already something in front of you."
            return [int(action)], ""
        for verb in ("go through", "go to", "pick up", "pickup", "open", "toggle"):
            if command.startswith(verb + " "):
                target = command[len(verb) + 1 :]
                obj = self._find(target)
                if obj is None:
                    return None, f"You do not see {target} here. {HINT}"
                return self._plan_for(verb, obj)
        return None, HINT

    def _plan_for(self, verb: str, obj: SeenObject) -> tuple[list[int] | None, str]:
        if verb == "go through":
            if obj.kind != "door":
                return None, f"The {obj.name} is not a door."
            if obj.state != "open":
                return None, f"The {obj.name} is {obj.state}; go to it and toggle it first."
            path = self._paths.onto(obj.pos)
            return (path, "") if path is not None else (None, f"There is no known path to the {obj.name}.")
        path = self._paths.to_face(obj.pos)
        if path is None:
            return None, f"There is no known path to the {obj.name}."
        if verb in ("pick up", "pickup"):
            if obj.kind not in PICKABLE:
                return None, f"You cannot pick up the {obj.name}."
            if self.world.carrying is not None:
                return None, "You are already carrying something; drop it first."
            return path + [int(Actions.pickup)], ""
        if verb in ("open", "toggle"):
            return path + [int(Actions.toggle)], ""
        return path, ""

    def _execute(self, plan: list[int], command: str) -> WorldStep:
        through = command.startswith("go through")
        plan = list(plan)
        reward = 0.0
        won = ended = truncated = False
        while plan:
            action = plan.pop(0)
            _, env_reward, terminated, truncated, _ = self.world.step(action)
            self._advise_bot(action)
            done_parts = _leaves_done(self.world.instrs)
            credit = done_parts / self._parts
            if terminated and env_reward > 0:
                won = True
                credit = (self._parts - 1 + float(env_reward)) / self._parts
            if credit > self._credit:
                reward += credit - self._credit
                self._credit = credit
            if terminated or truncated:
                ended = terminated and not won
                break
            if through and not plan:
                # Standing in the doorway: step out into the next room when the way is free.
                through = False
                fwd = self._front()
                if fwd is None or (fwd.can_overlap() and fwd.type != "lava"):
                    plan.append(int(Actions.forward))
        view = self._look()
        result = "The task is completed." if won else ("The episode is over." if ended or truncated else "")
        return WorldStep(
            f"{result}\n{view}" if result else view, reward=reward, won=won, done=ended, truncated=truncated and not won
        )

    def _advise_bot(self, action: int) -> None:
        """Keep the bot's plan in step with the primitive action actually taken."""
        if self._bot is None:
            return
        try:
            self._bot.stack.pushes = 0
            self._bot_action = self._bot.replan(None if action == self._bot_action else action)
        except Exception as exc:  # noqa: BLE001 - as above
            logger.debug("BabyAI bot lost track: {}", exc)
            self._bot = None
            return
        # Each detour pushes "undo" subgoals; after a long random walk start a fresh plan instead.
        if len(self._bot.stack) > _MAX_BOT_STACK:
            self._bot = None

"""What the model reads and how it must answer: the reply templates (act, ReAct, raw).

A template gives the system prompt, turns an env observation (plus the available actions) into
the user message, and writes an action the way the model is asked to (SFT demonstrations use
that form, so imitation and generation agree).
"""

from __future__ import annotations

from dataclasses import dataclass

ACTION_MARKER = "Action:"

_SYSTEM = {
    "act": f"You act in a text world. Answer each observation with one action, written as `{ACTION_MARKER} <action>`.",
    "react": "You act in a text world. Answer each observation with one short line `Thought: <reasoning>` "
    f"and then `{ACTION_MARKER} <action>`.",
    "raw": "Solve the task. Answer with the solution only.",
}


@dataclass(frozen=True)
class PromptTemplate:
    """One reply format and the text around it."""

    kind: str
    """act, react or raw."""
    system: str
    """The system prompt."""
    show_actions: bool = True
    """Whether observations list the available actions."""

    def user_message(self, observation: str, available_actions: list[str]) -> str:
        if self.show_actions and available_actions:
            return f"{observation}\nActions: {' | '.join(available_actions)}"
        return observation

    def write_action(self, action: str, thought: str | None = None) -> str:
        """The reply that carries `action` in this template's form (a demonstration's text)."""
        if self.kind == "raw":
            return action
        if self.kind == "react":
            return f"Thought: {thought or 'this action moves me toward the goal.'}\n{ACTION_MARKER} {action}"
        return f"{ACTION_MARKER} {action}"


def make_template(kind: str, system: str | None, show_actions: bool, single_turn: bool) -> PromptTemplate:
    """The template for a spec's `prompt` section; `auto` is raw for single-turn envs, act otherwise."""
    if kind == "auto":
        kind = "raw" if single_turn else "act"
    return PromptTemplate(kind=kind, system=system if system is not None else _SYSTEM[kind], show_actions=show_actions)

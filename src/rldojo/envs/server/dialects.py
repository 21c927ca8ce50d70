"""AgentGym's per-world dialects of the env server's API: the answers each world's client reads.

AgentGym's clients share endpoint paths but differ by world (agentenv/agentenv/envs/<world>.py):

    WebShop    names the session `env_idx`; /create -> int; /reset {"session_id"} -> [observation,
               null]; /step -> "state", "reward", "done"; /observation -> str;
               /available_actions -> {"has_search_bar", "clickables"}
    TextCraft  names it `id`; /create -> {"id", "observation", "done", "reward"}; /reset {"data_idx"}
               -> {"id", "observation", "done", "reward"}; /step -> {"observation", "reward", "done"}
    BabyAI     `id`; /create -> {"id"}; /reset {"data_idx"} -> {"observation", "reward", "score",
               "deleted", "done"}; /step -> {"observation", "reward", "score", "done"};
               /observation -> {"observation", "reward", "score", "done", "deleted"}
    ALFWorld   `id`; /create -> {"id"}; /reset {"game", "world_type"} -> {"id", "observation",
               "available_actions", "task_type"}; /step -> {"observation", "reward",
               "available_actions", "done"}
    SciWorld   `id`; /create -> {"id"}; /reset {"data_idx"} -> {"task_name", "var_num",
               "task_description", "observation", "reward", "score", "deleted", "done"};
               /step -> {"observation", "reward", "score", "done"} (ScienceWorld's 0-100 scale)
    /close -> true/false for the `id` worlds.

rldojo's own shapes (what `RemoteTextEnv` reads) are WebShop's plus terminated, truncated and info.
A server speaks its world's dialect (`dialect_for`): /create answers in it, and a request that
names its session `id` gets the world's AgentGym shapes; one that names it `env_idx` gets rldojo's
(WebShop's client is told apart by its /reset naming the task `session_id`).
"""

from __future__ import annotations

from typing import Any

from rldojo.envs.errors import EnvInputError
from rldojo.envs.server.sessions import Session

AGENTGYM_WORLDS = ("webshop", "textcraft", "babyai", "alfworld", "sciworld")
DIALECTS = ("rldojo", *AGENTGYM_WORLDS)
# Worlds whose AgentGym client names the session `id` (WebShop's names it `env_idx`, as rldojo does).
ID_WORLDS = frozenset({"textcraft", "babyai", "alfworld", "sciworld"})


def dialect_for(env_id: str, dialect: str | None = None) -> str:
    """The dialect a server of `env_id` speaks: `dialect` if given, else the world's own
    (dojo/BabyAI-GoToLocal-v0 -> babyai), else rldojo's."""
    if dialect is not None:
        if dialect not in DIALECTS:
            raise EnvInputError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}")
        return dialect
    namespace, _, name = env_id.rpartition("/")
    world = name.split("-", 1)[0].lower()
    return world if namespace == "dojo" and world in AGENTGYM_WORLDS else "rldojo"


def create_answer(dialect: str, env_idx: int, session: Session) -> Any:
    if dialect not in ID_WORLDS:
        return env_idx
    if dialect == "textcraft":  # AgentGym's TextCraft server starts a task on /create
        return {"id": env_idx, "observation": session.observation, "done": False, "reward": 0}
    return {"id": env_idx}


def reset_answer(dialect: str, env_idx: int, session: Session) -> dict[str, Any]:
    """AgentGym's /reset answer of an `id` world."""
    info = session.info
    if dialect == "textcraft":
        return {"id": env_idx, "observation": session.observation, "done": False, "reward": 0}
    if dialect == "babyai":
        score = float(info.get("score", 0.0))
        return {"observation": session.observation, "reward": 0.0, "score": score, "deleted": False, "done": False}
    if dialect == "alfworld":
        return {
            "id": env_idx,
            "observation": session.observation,
            "available_actions": _actions(info),
            "task_type": _task_type(session),
        }
    # sciworld: its client shows task_description + "\n" + observation, so the view goes without
    # the instruction the observation starts with.
    instruction = str(info.get("instruction", ""))
    view = session.observation
    if instruction and view.startswith(instruction + "\n"):
        view = view[len(instruction) + 1 :]
    return {
        "task_name": info.get("task_family", ""),
        "var_num": info.get("variation", info.get("task_id")),
        "task_description": instruction,
        "observation": view,
        "reward": 0,
        "score": _raw_score(info),
        "deleted": False,
        "done": False,
    }


def webshop_reset_answer(session: Session) -> list[Any]:
    """AgentGym's WebShop /reset answer (its client then replaces item 0 with GET /observation)."""
    return [session.observation, None]


def step_answer(dialect: str, session: Session, previous_info: dict[str, Any]) -> dict[str, Any]:
    """AgentGym's /step answer of an `id` world."""
    info = session.info
    answer: dict[str, Any] = {"observation": session.observation, "reward": session.reward}
    if dialect == "babyai":
        answer["score"] = float(info.get("score", 0.0))
    elif dialect == "alfworld":
        answer["available_actions"] = _actions(info)
    elif dialect == "sciworld":
        score = _raw_score(info)
        answer["reward"] = score - _raw_score(previous_info)
        answer["score"] = score
    answer["done"] = session.done
    return answer


def observation_answer(dialect: str, session: Session, agentgym: bool) -> Any:
    if agentgym and dialect == "babyai":
        info = session.info
        return {
            "observation": session.observation,
            "reward": session.reward,
            "score": float(info.get("score", 0.0)),
            "done": session.done,
            "deleted": False,
        }
    return session.observation


def available_actions_answer(dialect: str, session: Session) -> Any:
    actions = _actions(session.info)
    if dialect != "webshop":
        return actions
    # The original WebShop's page listing: its search button counts as a clickable.
    has_search_bar = any(a.startswith("search[") for a in actions)
    clicks = [a[len("click[") : -1] for a in actions if a.startswith("click[") and a.endswith("]")]
    return {"has_search_bar": has_search_bar, "clickables": (["search"] if has_search_bar else []) + clicks}


def close_answer(agentgym: bool, closed: bool) -> Any:
    return closed if agentgym else {"closed": closed}


def _actions(info: dict[str, Any]) -> list[str]:
    return [str(a) for a in info.get("available_actions", [])]


def _raw_score(info: dict[str, Any]) -> int | float:
    raw = info.get("raw_score")
    return raw if isinstance(raw, (int, float)) else round(100 * float(info.get("score", 0.0)))


def _task_type(session: Session) -> str:
    goal = getattr(session.env.unwrapped, "goal", None)
    return str(getattr(goal, "task_type", "") or "")

"""Workflows: a named ordering of defence priorities that shapes blue's reward.

A workflow lists hosts and subnets (`User`, `Enterprise`, `Operational`) in the order blue should
protect them, or names a preset. Item r of K (counting from 0) weighs (K - r) / K: the first
weighs 1, the last 1/K; a host takes the weight of the first item that names it (itself or its
subnet), and hosts the workflow does not name weigh 0. `uniform` weighs every host 1. User0 weighs
0 in every workflow: it is red's foothold, held from the first step, so a term for it would only
shift every return by a constant.

Each step the shaping term is

    shaping = -workflow_weight * sum over hosts of weight(host) * access(host)

with access 0.5 where red holds a user-level session and 1 where it holds root/SYSTEM (the true
state, which blue does not observe: shaping is a training signal, never an observation). The env
returns native reward + shaping and reports both apart in `info` (`native_reward`, `shaping`).

`workflow_features` describes a workflow by the mean weight each kind of host gets (user
workstations, enterprise hosts, operational hosts, the operational server): numbers that place
workflows near each other when they protect alike, which is what a search over workflows (GP-UCB's
kernel) needs to carry what it learnt from one workflow over to the next.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rldojo.envs.cyber.scenario import HOSTS, SUBNETS
from rldojo.envs.errors import EnvInputError

#: Named workflows: a priority order of subnets (or hosts), or None for `uniform`.
PRESETS: dict[str, tuple[str, ...] | None] = {
    "uniform": None,
    "operational_first": ("Operational", "Enterprise", "User"),
    "enterprise_first": ("Enterprise", "Operational", "User"),
    "user_first": ("User", "Enterprise", "Operational"),
    "op_server_first": ("Op_Server0", "Enterprise", "Operational", "User"),
}
#: Red's foothold: weight 0 in every workflow.
FOOTHOLD = "User0"
#: Kinds of host a workflow's features describe, each with its hosts (User0 left out: it weighs 0).
HOST_KINDS: dict[str, tuple[str, ...]] = {
    "user": ("User1", "User2", "User3", "User4"),
    "enterprise": ("Enterprise0", "Enterprise1", "Enterprise2", "Defender"),
    "op_host": ("Op_Host0", "Op_Host1", "Op_Host2"),
    "op_server": ("Op_Server0",),
}
#: Red's access levels -> the share of a host's weight the shaping term charges.
ACCESS_SHARE = np.array([0.0, 0.5, 1.0])


def workflow_items(workflow: str | Sequence[str]) -> tuple[str, ...] | None:
    """The priority order of `workflow` (a preset name or a list of host/subnet names); None for uniform."""
    if isinstance(workflow, str):
        if workflow not in PRESETS:
            raise EnvInputError(
                f"workflow '{workflow}' is not a preset; presets: {', '.join(PRESETS)}. A workflow may also be a list "
                f"of subnets ({', '.join(SUBNETS)}) and hosts ({', '.join(HOSTS)}) in priority order."
            )
        return PRESETS[workflow]
    items = tuple(workflow)
    unknown = [item for item in items if item not in SUBNETS and item not in HOSTS]
    if unknown or not items:
        raise EnvInputError(
            f"workflow {list(items)} names {', '.join(map(repr, unknown)) if unknown else 'nothing'}; a workflow lists "
            f"subnets ({', '.join(SUBNETS)}) and hosts ({', '.join(HOSTS)}) in priority order, or names a preset "
            f"({', '.join(PRESETS)})."
        )
    if len(set(items)) != len(items):
        raise EnvInputError(f"workflow {list(items)} names an item twice; list each subnet or host once.")
    return items


def workflow_weights(workflow: str | Sequence[str]) -> np.ndarray:
    """Weight of each host of `HOSTS` (observation order) under `workflow` (see the module docstring)."""
    items = workflow_items(workflow)
    weights = np.zeros(len(HOSTS))
    if items is None:
        weights[:] = 1.0
    else:
        count = len(items)
        for host_index, host in enumerate(HOSTS):
            for rank, item in enumerate(items):
                if item == host or host in SUBNETS.get(item, ()):
                    weights[host_index] = (count - rank) / count
                    break
    weights[HOSTS.index(FOOTHOLD)] = 0.0
    return weights


def workflow_features(workflow: str | Sequence[str]) -> dict[str, float]:
    """The mean weight `workflow` gives each kind of host (`HOST_KINDS`), rounded to 4 places:
    {"user": ..., "enterprise": ..., "op_host": ..., "op_server": ...}."""
    weights = dict(zip(HOSTS, workflow_weights(workflow)))
    return {kind: round(float(np.mean([weights[host] for host in hosts])), 4) for kind, hosts in HOST_KINDS.items()}


def shaping_term(weights: np.ndarray, access: np.ndarray, workflow_weight: float) -> float:
    """The step's shaping: -workflow_weight * sum(weights * share of red's access level)."""
    return -workflow_weight * float(weights @ ACCESS_SHARE[access])

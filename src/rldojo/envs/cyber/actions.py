"""Blue's action sets: CAGE-2's full 145 actions, or the reduced 54 most blue agents train on.

`full`: CybORG's enumeration, as CAGE-2 scores it: Sleep, Monitor, then Analyse, Remove, eight
decoy kinds and Restore on each of the 13 hosts (index order as CybORG's `EnumActionWrapper`).

`reduced` (the default): Sleep, Monitor, then per host (in observation order) Analyse, Remove,
Restore and one `Decoy`, which places the most luring decoy that still fits the host (its port
free, its OS right; see `cyborg.DECOYS_BY_LURE`) and sleeps when none does. Decoys of a kind that
cannot go on a host are never worth a separate action; this is the shape of the reduced action
spaces that CAGE-2's strongest blue agents used (one decoy choice per host instead of eight).
"""

from __future__ import annotations

from rldojo.envs.cyber.scenario import HOSTS

ACTION_SETS: tuple[str, ...] = ("reduced", "full")
HOST_ACTIONS: tuple[str, ...] = ("Analyse", "Remove", "Restore", "Decoy")

#: Names of the reduced actions, in index order.
REDUCED_ACTIONS: tuple[str, ...] = ("Sleep", "Monitor") + tuple(
    f"{kind} {host}" for host in HOSTS for kind in HOST_ACTIONS
)

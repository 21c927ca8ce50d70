"""The simulator behind NetDefense: CybORG (the `csle-cyborg` package on PyPI), driven as CAGE-2 is.

`BlueSeat` builds CybORG's simulation from a scenario dict, with a scripted red agent and green
users, and gives blue the CAGE-2 interface of CybORG's `ChallengeWrapper`: the blue table as a
52-float vector, the 145 enumerated blue actions, the CAGE-2 reward. It also reads the true state
the way CybORG's reward does (which hosts red holds, at which privilege), for tests, shaping and
rendering.

Two things of the package are worked around here:

- CybORG draws every random number from Python's global `random` module. Each seat keeps its own
  `random` state and swaps it in around every call into the simulator, so envs in one process
  (a sync vector env) stay independent and a seed replays an episode exactly. The swap is not
  thread-safe; rldojo's engines run envs in processes, never threads.
- `csle_cyborg.agents` imports stable-baselines3 (and with it torch) at import time for one agent
  NetDefense never uses (a trained-policy loader). Unless stable-baselines3 is already imported, a
  placeholder stands in for the duration of the import only: an env worker stays small (about
  50 MB instead of 300 MB) and quick to start, and a later `import stable_baselines3` gets the
  real package.
"""

from __future__ import annotations

import importlib
import importlib.util
import random
import sys
import types
from contextlib import contextmanager
from typing import Any

import numpy as np

from rldojo.envs.cyber.scenario import HOSTS
from rldojo.envs.errors import EnvInputError

#: Decoys by how strongly they draw red's exploit: CybORG's exploit choice prefers the ports in the
#: order FTP 21, SMTP 25, HTTPS 443, HTTP 80, SMB 139, RDP 3389, SSH 22 (CybORG's vsftpd decoy
#: listens on port 80, like its Apache decoy).
DECOYS_BY_LURE: tuple[str, ...] = (
    "DecoyFemitter",
    "DecoyHarakaSMPT",
    "DecoyTomcat",
    "DecoyApache",
    "DecoyVsftpd",
    "DecoySmss",
    "DecoySvchost",
    "DecoySSHD",
)
#: The red agents NetDefense offers -> CybORG's agent class names.
RED_AGENTS: dict[str, str] = {"b_line": "B_lineAgent", "meander": "RedMeanderAgent", "sleep": "SleepAgent"}


def import_cyborg() -> types.SimpleNamespace:
    """CybORG's classes NetDefense uses, or an EnvInputError saying how to install the package."""
    if importlib.util.find_spec("csle_cyborg") is None:
        raise EnvInputError(
            "dojo/NetDefense-v0 runs on the CybORG simulator, which is not installed: "
            "pip install 'rldojo[cyber]' (the csle-cyborg package)."
        )
    placeholder = None
    if "stable_baselines3" not in sys.modules:  # absent, or installed but not worth importing torch for
        placeholder = types.ModuleType("stable_baselines3")
        placeholder.PPO = None  # only CybORG's BlueLoadAgent uses it, and NetDefense never builds one
        sys.modules["stable_baselines3"] = placeholder
    try:
        agents = importlib.import_module("csle_cyborg.agents")
        main = importlib.import_module("csle_cyborg.main")
        challenge = importlib.import_module("csle_cyborg.agents.wrappers.challenge_wrapper")
    finally:
        if placeholder is not None and sys.modules.get("stable_baselines3") is placeholder:
            del sys.modules["stable_baselines3"]
    return types.SimpleNamespace(Main=main.Main, ChallengeWrapper=challenge.ChallengeWrapper, agents=agents)


class BlueSeat:
    """Blue's seat in one CybORG simulation: reset, step by CAGE-2 action index, the true state."""

    def __init__(self, scenario: dict[str, Any], red_agent: str, green: bool) -> None:
        cyborg = import_cyborg()
        self._random_state = random.Random(0).getstate()
        red = getattr(cyborg.agents, RED_AGENTS[red_agent])
        green_agent = cyborg.agents.GreenAgent if green else cyborg.agents.SleepAgent
        with self.own_random():
            self.main = cyborg.Main(scenario, "sim", agents={"Red": red, "Green": green_agent})
            self.challenge = cyborg.ChallengeWrapper(env=self.main, agent_name="Blue")
        self.controller = self.main.environment_controller
        self.scenario = scenario
        # Steps go to the blue table below the ChallengeWrapper: its enumeration layer rebuilds all
        # 145 action objects on every step (a tenth of a step's time); NetDefense builds the one it plays.
        self.table = self.challenge.env.env.env
        # CybORG reads the whole true state (every process, interface and user of every host) after
        # each step, for the reward alone: most of a step's time. The reward needs less: sessions and
        # OS of every host, and the processes of the hosts running the OTService that Impact stops.
        # Steps ask for that much; resets still take the whole state (the agents learn the network from it).
        ot_hosts = {host for host, info in scenario["Hosts"].items() if "OTService" in info.get("Services", {})}
        self._reward_state_request = {
            host: {"System info": "All", "Sessions": "All", **({"Processes": ["All"]} if host in ot_hosts else {})}
            for host in scenario["Hosts"]
        }
        actions = list(self.challenge.possible_actions)
        self._action_args = [(type(action), _action_kwargs(action)) for action in actions]
        #: "<Action> <host>" (or "<Action>") of each of the 145 CAGE-2 blue actions, in index order.
        self.action_names: list[str] = [_action_name(action) for action in actions]
        self._index = {name: i for i, name in enumerate(self.action_names)}
        self._decoy_probe = {name: type(actions[self._index[f"{name} User0"]]) for name in DECOYS_BY_LURE}
        self._decoys_placed: dict[str, set[str]] = {host: set() for host in HOSTS}
        self._os_windows = {
            host: str(info["System info"]["OSType"]).upper() == "WINDOWS" for host, info in scenario["Hosts"].items()
        }

    @contextmanager
    def own_random(self):
        """Run simulator code on this seat's own `random` state (see the module docstring)."""
        outer = random.getstate()
        random.setstate(self._random_state)
        try:
            yield
        finally:
            self._random_state = random.getstate()
            random.setstate(outer)

    def index(self, name: str) -> int:
        """The CAGE-2 action index of `name` ("Restore Op_Server0", "Sleep")."""
        return self._index[name]

    def reset(self, seed: int) -> np.ndarray:
        self._random_state = random.Random(seed).getstate()
        self._decoys_placed = {host: set() for host in HOSTS}
        with self.own_random():
            self.challenge.step_counter = 0
            result = self.table.reset("Blue")
        return result.observation

    def step(self, index: int) -> tuple[np.ndarray, float]:
        kind, _, host = self.action_names[index].partition(" ")
        if kind.startswith("Decoy"):
            self._decoys_placed[host].add(kind)
        elif kind == "Restore":  # a Restore rebuilds the host from its backup: its decoys are gone
            self._decoys_placed[host].clear()
        action_class, kwargs = self._action_args[index]
        requests = self.controller.INFO_DICT
        whole_state = requests["True"]
        if self._service_hosts_known():
            requests["True"] = self._reward_state_request
        try:
            with self.own_random():
                result = self.table.step(agent="Blue", action=action_class(**kwargs))
        finally:
            requests["True"] = whole_state
        return result.observation, float(result.reward)

    def _service_hosts_known(self) -> bool:
        """Whether CybORG's availability reward has found the OTService hosts (it looks at every
        host's processes on the first step of an episode; later steps need only those hosts')."""
        availability = getattr(
            self.controller.agent_interfaces["Blue"].reward_calculator, "availability_calculator", None
        )
        return getattr(getattr(availability, "disrupt_rc", None), "ots", None) is not None

    def decoy_for(self, host: str) -> str | None:
        """The most luring decoy that can still go on `host`, or None: one not placed there since the
        host's last Restore, whose OS fits and whose port is free. (The port is the one the decoy
        opens: CybORG's own check of the vsftpd decoy tests port 21, and the decoy opens port 80.)"""
        live_host = self.controller.state.hosts[host]
        in_use = {state.get("local_port") for process in live_host.processes for state in process.get_state()}
        with self.own_random():
            for name in DECOYS_BY_LURE:
                if name in self._decoys_placed[host]:
                    continue
                for factory in self._decoy_probe[name](session=0, agent="Blue", hostname=host).candidate_decoys:
                    opens = {port["local_port"] for port in factory.make_decoy(live_host).open_ports}
                    if factory.is_host_compatible(live_host) and not opens & in_use:
                        return f"{name} {host}"
        return None

    def red_access(self) -> np.ndarray:
        """Per host of `HOSTS`: 0 red holds nothing, 1 a user-level session, 2 root/SYSTEM (the
        privilege CybORG's reward counts: root on Linux, SYSTEM on Windows)."""
        access = np.zeros(len(HOSTS), dtype=np.int8)
        row = {host: i for i, host in enumerate(HOSTS)}
        for session in self.controller.state.sessions["Red"].values():
            if not session.active or session.host not in row:
                continue
            privileged = session.username == ("SYSTEM" if self._os_windows[session.host] else "root")
            i = row[session.host]
            access[i] = max(access[i], 2 if privileged else 1)
        return access

    def ot_service_running(self) -> bool:
        """Whether the operational server's OTService still runs (red's Impact stops it)."""
        return any(p.name == "OTService" for p in self.controller.state.hosts["Op_Server0"].processes)

    def last_action(self, agent: str) -> str:
        """The last action of 'Red', 'Blue' or 'Green', as CybORG names it (e.g. 'Impact Op_Server0')."""
        return str(self.controller.action.get(agent, ""))


def _action_kwargs(action: Any) -> dict[str, Any]:
    """The constructor arguments of a blue action (session, agent and, for host actions, hostname)."""
    return {key: getattr(action, key) for key in ("session", "agent", "hostname") if hasattr(action, key)}


def _action_name(action: Any) -> str:
    hostname = getattr(action, "hostname", None)
    return type(action).__name__ if hostname is None else f"{type(action).__name__} {hostname}"

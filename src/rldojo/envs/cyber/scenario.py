"""Scenario files in CybORG's format: rldojo's own (`scenario/netdefense.yaml`) or the user's.

A scenario names its hosts, subnets and agents; each host names an `image`, which CybORG resolves
through `images/images.yaml` in the scenario's folder (a name -> `{path: <file without .yaml>}`)
and the image file's `Test_Host` (system info, users, processes, services). `load_scenario` does
that resolution once per file and returns the merged dict the simulator is built from, so a
user's `Scenario2.yaml` from a CybORG checkout (with its `images/` folder beside it) loads the same
way as rldojo's.

The env needs the 13 hosts of the CAGE-2 network under their CAGE-2 names: the 52-float
observation has one row per host, and the scripted red agents walk the network by those names.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from rldojo.envs.errors import EnvInputError

#: rldojo's scenario, shipped with the package.
DEFAULT_SCENARIO = Path(__file__).with_name("scenario") / "netdefense.yaml"

#: The hosts of the CAGE-2 network, in the order of the observation's rows (CybORG's table order).
HOSTS: tuple[str, ...] = (
    "Defender",
    "Enterprise0",
    "Enterprise1",
    "Enterprise2",
    "Op_Host0",
    "Op_Host1",
    "Op_Host2",
    "Op_Server0",
    "User0",
    "User1",
    "User2",
    "User3",
    "User4",
)
#: Subnet of each host.
SUBNETS: dict[str, tuple[str, ...]] = {
    "User": ("User0", "User1", "User2", "User3", "User4"),
    "Enterprise": ("Enterprise0", "Enterprise1", "Enterprise2", "Defender"),
    "Operational": ("Op_Server0", "Op_Host0", "Op_Host1", "Op_Host2"),
}
_AGENTS = ("Blue", "Green", "Red")


def _read_yaml(path: Path, what: str) -> Any:
    try:
        with path.open() as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise EnvInputError(f"{what} '{path}' does not exist.") from None
    except (OSError, yaml.YAMLError) as exc:
        raise EnvInputError(f"{what} '{path}' cannot be read as YAML: {exc}") from None


def _resolve_image(host: str, entry: dict, images_dir: Path, index: dict | None) -> dict:
    name = entry["image"]
    if index is None:
        raise EnvInputError(
            f"host '{host}' names the image '{name}', but there is no image index at '{images_dir / 'images.yaml'}'. "
            "CybORG's layout keeps the images in an images/ folder beside the scenario file."
        )
    if name not in index:
        raise EnvInputError(
            f"host '{host}' names the image '{name}', which '{images_dir / 'images.yaml'}' does not list; "
            f"it lists: {', '.join(sorted(index))}."
        )
    image = index[name]
    if not isinstance(image, dict) or "path" not in image:  # an image given inline in the index
        return {**copy.deepcopy(image), **{k: v for k, v in entry.items() if k != "image"}}
    content = _read_yaml(images_dir / f"{image['path']}.yaml", f"image file of '{name}'")
    if not isinstance(content, dict) or "Test_Host" not in content:
        raise EnvInputError(f"image file '{images_dir / image['path']}.yaml' has no Test_Host section.")
    return {**{k: v for k, v in entry.items() if k != "image"}, **content["Test_Host"]}


@functools.lru_cache(maxsize=8)
def _load(path: Path) -> dict[str, Any]:
    scenario = _read_yaml(path, "scenario file")
    if not isinstance(scenario, dict):
        raise EnvInputError(f"scenario file '{path}' is not a mapping of Agents, Hosts and Subnets.")
    missing_sections = [key for key in ("Agents", "Hosts", "Subnets") if key not in scenario]
    if missing_sections:
        raise EnvInputError(
            f"scenario file '{path}' lacks {', '.join(missing_sections)}; a CybORG scenario has Agents, Hosts and Subnets."
        )
    missing_hosts = [host for host in HOSTS if host not in scenario["Hosts"]]
    extra_hosts = [host for host in scenario["Hosts"] if host not in HOSTS]
    missing_agents = [agent for agent in _AGENTS if agent not in scenario["Agents"]]
    if missing_hosts or extra_hosts or missing_agents:
        raise EnvInputError(
            f"scenario file '{path}' is not CAGE-2 shaped: it lacks the host(s) {', '.join(missing_hosts) or '-'} "
            f"and the agent(s) {', '.join(missing_agents) or '-'}, and has the extra host(s) "
            f"{', '.join(map(str, extra_hosts)) or '-'}. NetDefense needs exactly the hosts {', '.join(HOSTS)} "
            "(one observation row each; the red agents walk them by name) and the agents Blue, Green and Red."
        )
    # CybORG orders the blue table (the observation's rows) as the scenario lists its hosts.
    scenario["Hosts"] = {host: scenario["Hosts"][host] for host in HOSTS}
    images_dir = path.parent / "images"
    index_file = images_dir / "images.yaml"
    index = _read_yaml(index_file, "image index") if index_file.exists() else None
    for host, entry in scenario["Hosts"].items():
        if isinstance(entry, dict) and "image" in entry:
            scenario["Hosts"][host] = _resolve_image(host, entry, images_dir, index)
    return scenario


def load_scenario(path: str | Path | None = None) -> dict[str, Any]:
    """The scenario at `path` (None: rldojo's own) with every host's image merged in: a fresh
    dict the caller may hand to the simulator (which keeps and reads it)."""
    resolved = DEFAULT_SCENARIO if path is None else Path(path).expanduser().resolve()
    return copy.deepcopy(_load(resolved))


def host_value(scenario: dict[str, Any], host: str, key: str) -> float:
    """A host's ConfidentialityValue or AvailabilityValue on CybORG's scale (None 0, Low 0.1,
    Medium 1, High 10); a host without one is Low, as in CybORG."""
    scale = {"None": 0.0, "Low": 0.1, "Medium": 1.0, "High": 10.0}
    return scale[str(scenario["Hosts"][host].get(key, "Low"))]

"""ALFWorld's own game files, where they are present (`source: alfworld`), and export to that format.

ALFWorld's data (`$ALFWORLD_DATA`, made by `alfworld-download`) holds one folder per trial:
`json_2.1.1/<split>/<task>/<trial>/traj_data.json` (task type, `pddl_params`) and `game.tw-pddl`
(JSON: `pddl_domain`, `grammar` with the task line "UNKNOWN GOAL", `pddl_problem`, `solvable`).
Splits are ALFWorld's: `train`, `valid_seen` (its in-distribution evaluation) and `valid_unseen`
(out of distribution). Games are collected as ALFWorld's `AlfredTWEnv` does: trials of movable-
receptacle or sliced tasks are skipped, so are games marked unsolvable or lacking the mark; the
task sentence is filled in from the task type's templates and `pddl_params`.

`write_alfworld_game` writes a generated scene in the same layout, so generated games can be kept
on disk by task id and the loader is tested without ALFWorld's download.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.alfworld.scenes import TASK_TYPES, Goal, Scene, grammar_text

SPLITS: tuple[str, ...] = ("train", "valid_seen", "valid_unseen")


@dataclass(frozen=True)
class GameFile:
    """One of ALFWorld's games: its folder, task type and goal parameters."""

    folder: Path
    goal: Goal

    def load(self) -> dict:
        with open(self.folder / "game.tw-pddl") as handle:
            return json.load(handle)


def data_root(data_path: str | os.PathLike | None) -> Path:
    """ALFWorld's data folder: `data_path`, else `$ALFWORLD_DATA`; EnvInputError if neither exists."""
    raw = data_path if data_path is not None else os.environ.get("ALFWORLD_DATA")
    if not raw:
        raise EnvInputError(
            "source 'alfworld' plays ALFWorld's own game files, but no data path was given and "
            "$ALFWORLD_DATA is not set; pass data_path=<folder of alfworld-download> (or set "
            "$ALFWORLD_DATA), or use source 'generated' (rldojo's offline scenes)."
        )
    root = Path(os.path.expandvars(os.path.expanduser(str(raw))))
    if not root.is_dir():
        raise EnvInputError(
            f"ALFWorld data path {str(root)!r} is not a folder; pass the folder that "
            f"alfworld-download filled (it holds json_2.1.1/)."
        )
    return root


def split_folder(root: Path, split: str) -> Path:
    if split not in SPLITS:
        raise EnvInputError(f"unknown ALFWorld split {split!r}; allowed: {', '.join(SPLITS)}")
    for candidate in (root / "json_2.1.1" / split, root / split):
        if candidate.is_dir():
            return candidate
    raise EnvInputError(
        f"ALFWorld data at {str(root)!r} has no {split!r} split (looked for json_2.1.1/{split}/ and {split}/)."
    )


def collect_games(root: Path, split: str, task_types: tuple[str, ...]) -> list[GameFile]:
    """The split's playable games of the given task types, in sorted folder order."""
    games = []
    for traj in sorted(split_folder(root, split).rglob("traj_data.json")):
        folder = traj.parent
        if "movable" in str(folder) or "Sliced" in str(folder):
            continue
        if not (folder / "game.tw-pddl").is_file():
            continue
        try:
            traj_data = json.loads(traj.read_text())
            task_type = traj_data["task_type"]
            params = traj_data["pddl_params"]
        except (OSError, ValueError, KeyError):
            continue
        if task_type not in task_types or params.get("object_sliced"):
            continue
        try:
            solvable = json.loads((folder / "game.tw-pddl").read_text()).get("solvable")
        except (OSError, ValueError):
            continue
        if not solvable:
            continue
        goal = Goal(
            task_type,
            str(params.get("object_target", "")).lower(),
            str(params.get("parent_target", "") or "").lower(),
            str(params.get("toggle_target", "") or "").lower(),
        )
        games.append(GameFile(folder, goal))
    return games


def write_alfworld_game(scene: Scene, folder: str | os.PathLike) -> Path:
    """Write `scene` as an ALFWorld trial folder (traj_data.json + game.tw-pddl); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    goal = scene.goal
    traj = {
        "task_type": goal.task_type,
        "task_id": f"rldojo_{scene.task_id}",
        "scene": {"room": scene.room},
        "pddl_params": {
            "object_target": goal.obj,
            "parent_target": goal.recep,
            "toggle_target": goal.toggle,
            "mrecep_target": "",
            "object_sliced": False,
        },
    }
    game = {
        "pddl_domain": scene.game()["pddl_domain"],
        "grammar": grammar_text(),
        "pddl_problem": scene.problem,
        "solvable": True,
    }
    (folder / "traj_data.json").write_text(json.dumps(traj, indent=1))
    (folder / "game.tw-pddl").write_text(json.dumps(game))
    return folder


__all__ = ["SPLITS", "TASK_TYPES", "GameFile", "collect_games", "data_root", "write_alfworld_game"]

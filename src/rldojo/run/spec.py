"""Specs: YAML/JSON files validated by pydantic, with `${var}` placeholders and `--set` overrides.

A spec file holds one spec, or a mapping of named specs picked with `file.yaml:name`. Loading goes
raw file -> `--set` overrides -> `${var}` substitution -> validation, and every failure becomes a
`SpecError` naming the field path, the bad value and what is allowed.
"""

from __future__ import annotations

import codecs
import difflib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from yaml.reader import ReaderError

from rldojo.algos.registry import ALGOS
from rldojo.algos.stages import STAGES
from rldojo.config import StrictModel
from rldojo.envs.atari import AtariOptions, is_atari_id
from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.shaping import ShapingConfig
from rldojo.errors import SpecError
from rldojo.run.search_spec import SearchSpec


class AtariSpec(StrictModel):
    """`env.atari:` preprocessing of ALE ids (gymnasium's AtariPreprocessing and FrameStackObservation)."""

    noop_max: int = Field(30, ge=0)
    """Up to this many no-op actions at reset (random starts)."""
    frame_skip: int = Field(4, ge=1)
    """Each action is repeated this many frames (the observation is the max of the last two)."""
    screen_size: int = Field(84, ge=36)
    """Observations are resized to screen_size x screen_size."""
    grayscale: bool = True
    """Grayscale frames (False: RGB, channels last)."""
    frame_stack: int = Field(4, ge=1)
    """The observation is the last frame_stack frames, stacked first: (frame_stack, 84, 84)."""
    terminal_on_life_loss: bool = False
    """Training episodes end at the first life lost (gymnasium restarts the game then). Evaluation
    always plays whole games."""
    clip_reward: bool = True
    """The agent learns from the sign of each reward (-1, 0, 1), as in the DQN paper; reported returns
    are the game's score."""

    def options(self) -> AtariOptions:
        return AtariOptions(
            noop_max=self.noop_max,
            frame_skip=self.frame_skip,
            screen_size=self.screen_size,
            grayscale=self.grayscale,
            terminal_on_life_loss=self.terminal_on_life_loss,
            frame_stack=self.frame_stack,
        )


class EnvSpec(StrictModel):
    """`env:` which world to train in, and how to vectorize it."""

    id: str = Field(min_length=1)
    """Gymnasium id (CartPole-v1, LunarLander-v3, Pendulum-v1, ...) or an rldojo id (dojo/<Name>-v0).
    Language-model agents may instead give `worlds:` (a list of {id, weight, kwargs}) to train on
    several worlds at once (they become dojo/Mixture-v0)."""
    num_envs: int = Field(8, ge=1, le=4096)
    """Copies of the env stepped together as one vector env."""
    vectorize: Literal["auto", "sync", "workers", "pool", "ray", "async", "native", "envpool"] = "auto"
    """Vector engine: `sync` in-process; `workers` worker processes with shared memory and crash
    recovery; `ray` Ray actors (local, or the cluster at `ray_address`); `native` the env's own
    numpy-vectorised implementation (gymnasium's `vector_entry_point`, e.g. CartPole-v1); `envpool`
    envpool's C++ envs (Atari, MuJoCo, classic control; the `envpool` extra); `auto` times the env's
    step and picks sync or workers and how many, and times `native` (or `envpool` for Atari) too
    where it fits, keeping the fastest; `async` gymnasium's AsyncVectorEnv (for comparison). `pool`
    (EnvPool-style batches of whichever envs are ready) is for custom loops through
    `rldojo.envs.make_vec`: the trainers step every env each time."""
    workers: int | None = Field(None, ge=1)
    """Worker processes (Ray actors for `ray`); None: one per usable CPU core (under `auto`: a cap on its pick)."""
    step_timeout: float | None = Field(60.0, gt=0)
    """Seconds a worker may take for one step before it counts as hung and is replaced (None: wait forever)."""
    max_restarts: int = Field(3, ge=0)
    """Crashes or hangs of one env that are recovered from; one more stops the run with an error naming the env."""
    ray_address: str | None = None
    """Ray cluster for `vectorize: ray` (e.g. `auto` or `ray://head:10001`); None: the running Ray, else a local one."""
    max_episode_steps: int | None = Field(None, ge=1)
    """Override the env's time limit (None: the registered one)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for `gymnasium.make` (e.g. {continuous: true})."""
    shaping: ShapingConfig | None = None
    """Text worlds only: dense bonuses (or, with negative weights, penalties) added to the training
    reward: valid_action, state_change, task_keyword, time_efficiency, action_efficiency,
    invalid_action, failure (all 0 unless set), and episode_bonus_cap. `won` is never changed and
    evaluation always reports the native reward. None: no shaping."""
    atari: bool | AtariSpec = True
    """ALE ids (ALE/Pong-v5, ...): `true` preprocesses with the defaults below (no-op starts, frame skip 4,
    84x84 grayscale, 4 stacked frames, rewards clipped for learning), a mapping sets them, `false` gives
    the raw env. Ignored for other ids. With preprocessing, max_episode_steps counts raw frames."""
    normalize_obs: bool = False
    """Standardise observations with running mean and std of the training observations (float Box
    observations only). The statistics are saved in checkpoints and frozen in evaluation."""
    normalize_obs_clip: float = Field(10.0, gt=0)
    """Normalised observations are clipped to +-this."""
    normalize_reward: bool = False
    """Divide training rewards by the running std of the discounted return (SB3 VecNormalize's scheme;
    the agent's gamma). Reported and evaluation returns stay the env's own."""
    normalize_reward_clip: float = Field(10.0, gt=0)
    """Normalised rewards are clipped to +-this."""

    def atari_options(self) -> AtariOptions | bool:
        """What `make_vec(atari=...)` takes: options for ALE ids, False for none."""
        if self.atari is False or not is_atari_id(self.id):
            return False
        return (self.atari if isinstance(self.atari, AtariSpec) else AtariSpec()).options()

    def clips_atari_rewards(self) -> bool:
        options = self.atari_options()
        return options is not False and (self.atari if isinstance(self.atari, AtariSpec) else AtariSpec()).clip_reward

    @field_validator("id")
    @classmethod
    def _current_id(cls, value: str) -> str:
        # An id from an older tutorial becomes its current one here, so the Atari preprocessing
        # and every later step see the id that runs (ids with no safe swap are refused).
        from rldojo.envs.registry import current_env_id

        try:
            return current_env_id(value)
        except EnvInputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("atari")
    @classmethod
    def _atari_ids_only(cls, value: bool | AtariSpec, info) -> bool | AtariSpec:
        env_id = info.data.get("id", "")
        if isinstance(value, AtariSpec) and not is_atari_id(env_id):
            raise ValueError(
                f"Atari settings apply to ALE ids (ALE/<Game>-v5) only, and '{env_id}' is not one; remove env.atari"
            )
        return value

    @field_validator("vectorize")
    @classmethod
    def _trainers_step_every_env(cls, value: str) -> str:
        if value == "pool":
            raise ValueError(
                "pool mode returns a different subset of envs each step (with their ids), but the "
                "trainers step every env each time; use `workers` (all envs, worker processes) or "
                "call rldojo.envs.make_vec(..., vectorize='pool') from your own loop"
            )
        return value


class TrainSpec(StrictModel):
    """`train:` the budget and how often to evaluate, log and checkpoint."""

    max_frames: int = Field(100_000, gt=0)
    """Frame budget: env steps summed over all envs."""
    eval_every: int = Field(10_000, ge=0)
    """Frames between evaluations with the greedy policy (0: no evaluation during training)."""
    eval_episodes: int = Field(10, ge=1)
    """Episodes per evaluation."""
    stop_at_eval_return: float | None = None
    """Stop a session early once an evaluation's mean return reaches this (None: use the budget)."""
    checkpoint_every: int = Field(20_000, ge=0)
    """Frames between `ckpt/last.pt` saves (0: only at the end)."""
    log_every: int = Field(2_000, gt=0)
    """Frames between metric rows in metrics.csv and TensorBoard."""
    return_window: int = Field(100, ge=1)
    """Episodes in the moving average `return_ma` (100, as the solved criteria use)."""
    iterations: int | None = Field(None, ge=1)
    """Language-model agents: iterations (batches of episode groups and their update) of each RL
    stage, e.g. GRPO. When set, eval_every and checkpoint_every count iterations, not frames
    (None: RL stages run until max_frames; frames are agent turns)."""


class MetaSpec(StrictModel):
    """`meta:` sessions, seeds and hardware."""

    sessions: int = Field(4, ge=1, le=256)
    """Independent sessions (seeds seed, seed+1, ...) aggregated into the trial."""
    seed: int = Field(0, ge=0, lt=2**32)
    """Seed of session 0 (below 2**32, the range every seeded library takes)."""
    max_parallel: int | None = Field(None, ge=1)
    """Sessions run at once in separate processes (None: one per CPU core)."""
    torch_threads: int = Field(1, ge=1)
    """Torch CPU threads per session (small nets run fastest on one)."""
    device: str = "auto"
    """Where nets, optimizer states and learning batches live: `auto` (a CUDA GPU when torch sees one,
    else the CPU), `cpu`, `cuda` (the current GPU) or `cuda:N`. Environments always run on the CPU.
    A GPU this machine lacks stops the run before it starts; a checkpoint loads on any device."""

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        name = value.strip().lower()
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", name):
            raise ValueError(f"'{value}' is not a device; allowed: auto, cpu, cuda or cuda:N (N a GPU index)")
        return name


class WandbSpec(StrictModel):
    """Weights & Biases logging (needs `pip install 'rldojo[wandb]'`)."""

    project: str = Field(min_length=1)
    """W&B project."""
    entity: str | None = None
    """W&B entity (team or user)."""
    mode: Literal["online", "offline", "disabled"] = "offline"
    """`offline` writes locally; `wandb sync` uploads later."""


class TrackSpec(StrictModel):
    """`track:` where metrics go besides metrics.csv."""

    tensorboard: bool = True
    """Write TensorBoard event files to s<i>/tb/."""
    plots: bool = True
    """Write curve.png per session and per trial."""
    wandb: WandbSpec | None = None
    """Log to Weights & Biases too."""
    video_every: int = Field(0, ge=0)
    """Film one greedy evaluation episode every this many frames, and at the end (0: never), as
    `s<i>/videos/frame_<N>.mp4` (a gif without the `video` extra), rendered headless; report.md
    links them. Needs an env that renders `rgb_array` frames (classic control, Box2D, MuJoCo, Atari)."""


AgentSpec = Annotated[
    Union[tuple(entry.config for entry in ALGOS.values())],  # noqa: UP007 - built from the registry
    Field(discriminator="algo"),
]


class Spec(StrictModel):
    """A whole experiment: env, agent, budget, sessions."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Run name: letters, digits, `_`, `.`, `-`; the run folder is runs/<name>_<timestamp>/."""
    description: str = ""
    """One line shown by `rldojo specs`."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Values for `${name}` placeholders elsewhere in the spec."""
    env: EnvSpec
    """The environment."""
    agent: AgentSpec
    """The algorithm and its hyperparameters; `algo` selects which."""
    train: TrainSpec = Field(default_factory=TrainSpec)
    """Budget, evaluation, logging, checkpoints."""
    meta: MetaSpec = Field(default_factory=MetaSpec)
    """Sessions, seeds, parallelism."""
    track: TrackSpec = Field(default_factory=TrackSpec)
    """TensorBoard, plots, W&B."""
    search: SearchSpec | None = None
    """Hyperparameter search with `rldojo search` (space, trials, metric, scheduler); `rldojo train`
    ignores it."""

    @model_validator(mode="before")
    @classmethod
    def _worlds_as_mixture(cls, data: Any) -> Any:
        # `env:` as a list of {id, weight} (or a mapping with `worlds:`) is one mixture env
        if not isinstance(data, dict):
            return data
        env = data.get("env")
        if isinstance(env, list):
            env = {"worlds": env}
        if isinstance(env, dict) and "worlds" in env:
            from rldojo.envs.text.mixture import MIXTURE_ID, check_worlds

            env = dict(env)
            if env.get("id", MIXTURE_ID) != MIXTURE_ID:
                raise ValueError(
                    f"env: give either `id` ({env['id']}) or `worlds` (a list of {{id, weight}}), not both"
                )
            try:
                worlds = check_worlds(env.pop("worlds"))
            except EnvInputError as exc:
                raise ValueError(f"env.worlds: {exc}") from None
            env["id"] = MIXTURE_ID
            env["kwargs"] = {**dict(env.get("kwargs") or {}), "worlds": worlds}
            data = {**data, "env": env}
        return data

    @model_validator(mode="after")
    def _refuse_keys_the_loop_ignores(self) -> Spec:
        loop = ALGOS[self.agent.algo].loop
        for (section, key), (used_by, why) in _LOOP_ONLY_KEYS.items():
            model = getattr(self, section)
            value = getattr(model, key)
            if used_by != loop and value != _default_of(type(model), key):
                raise ValueError(
                    f"{section}.{key}: {value!r} has no effect for algo '{self.agent.algo}': {why}. "
                    f"Remove {section}.{key}"
                )
        return self


_TENSOR_ONLY_ENV = (
    "language-model agents play whole episodes in text envs of their own, not through a vector engine "
    "or the tensor agents' observation and reward normalisation"
)
#: Keys only one loop reads: (section, key) -> (the loop that uses it, why the other ignores it).
_LOOP_ONLY_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    **{
        ("env", key): ("vector", _TENSOR_ONLY_ENV)
        for key in (
            "vectorize",
            "workers",
            "step_timeout",
            "max_restarts",
            "ray_address",
            "normalize_obs",
            "normalize_obs_clip",
            "normalize_reward",
            "normalize_reward_clip",
        )
    },
    ("train", "log_every"): ("vector", "language-model agents write a metric row after every step or iteration"),
    ("track", "video_every"): (
        "vector",
        "text worlds have no frames to film; `rldojo enjoy` shows a language-model agent's transcript",
    ),
    ("train", "stop_at_eval_return"): (
        "vector",
        "language-model agents run each stage to its budget (there is no early stop on an evaluation return)",
    ),
    ("train", "iterations"): (
        "episodes",
        "iterations count the RL stages of language-model agents; tensor agents train for train.max_frames",
    ),
}


def _default_of(model: type[StrictModel], key: str) -> Any:
    field = model.model_fields[key]
    return field.default_factory() if field.default_factory is not None else field.default


# ---------------------------------------------------------------------------------------------
# Loading


def split_spec_ref(ref: str) -> tuple[Path, str | None]:
    """`path.yaml:name` -> (path, name); a plain path -> (path, None)."""
    match = re.match(r"^(.*\.(?:ya?ml|json)):([A-Za-z0-9_.-]+)$", ref)
    if match:
        return Path(match.group(1)), match.group(2)
    return Path(ref), None


def read_spec_file(path: Path) -> Any:
    if not path.exists():
        raise SpecError(
            f"spec file '{path}' does not exist. Give a path to a .yaml/.json spec "
            "or the name of a shipped spec (`rldojo specs` lists them)."
        )
    if path.is_dir():
        raise SpecError(f"spec path '{path}' is a folder; give a .yaml or .json file.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"spec file '{path}' cannot be read: {exc.strerror or exc}.") from None
    text = _spec_text(path, data)
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"spec file '{path}' is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from None
    except ReaderError as exc:  # a character YAML refuses (control characters)
        line, column = _line_column(text, exc.position)
        raise SpecError(
            f"spec file '{path}' is not valid YAML: line {line}, column {column} holds the character "
            f"#x{exc.character:04x}, which YAML does not allow. A spec is plain text."
        ) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"spec file '{path}' is not valid YAML{where}: {' '.join(problem.split())}.") from None
    except RecursionError:
        raise SpecError(_too_deep(f"spec file '{path}'")) from None


_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _spec_text(path: Path, data: bytes) -> str:
    """The file's text, or a SpecError saying why it is not a UTF-8 text file."""
    if data.startswith(_WIDE_BOMS):
        raise SpecError(f"spec file '{path}' is UTF-16 or UTF-32 text; rldojo reads UTF-8 only. Save it as UTF-8.")
    if b"\x00" in data:
        raise SpecError(
            f"spec file '{path}' is not a text file (it holds binary data, e.g. NUL bytes). "
            "Give a .yaml or .json spec written as UTF-8 text."
        )
    try:
        return data.decode("utf-8-sig")  # -sig: a leading byte-order mark is not part of the spec
    except UnicodeDecodeError as exc:
        line, column = _line_column(data, exc.start)
        raise SpecError(
            f"spec file '{path}' is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column "
            f"{column} is not valid UTF-8 (a file saved in another encoding, or not text at all). "
            "Save the spec as UTF-8."
        ) from None


def _line_column(text: str | bytes, position: int) -> tuple[int, int]:
    """1-based line and column of `position` (characters of a str, bytes of bytes)."""
    before = text[:position]
    newline = "\n" if isinstance(text, str) else b"\n"
    return before.count(newline) + 1, position - (before.rfind(newline) + 1) + 1


def _too_deep(what: str) -> str:
    return f"{what} is nested too deeply to be a spec (lists or mappings inside each other hundreds of levels down)."


_SPEC_KEYS = {"env", "agent"}


def select_spec(raw: Any, path: Path, name: str | None) -> dict:
    """One spec out of a file that holds one spec or a mapping of named specs."""
    if not isinstance(raw, dict):
        raise SpecError(f"spec file '{path}' must hold a mapping (a spec, or specs by name), got {type(raw).__name__}.")
    if _SPEC_KEYS & raw.keys():
        if name is not None and raw.get("name") != name:
            raise SpecError(f"spec file '{path}' holds one spec named '{raw.get('name')}', not '{name}'.")
        return raw
    named = {key: value for key, value in raw.items() if isinstance(value, dict)}
    if not named or len(named) != len(raw):
        raise SpecError(
            f"spec file '{path}' is neither a spec (it has no env/agent keys) nor a mapping "
            f"of named specs. Top-level keys found: {', '.join(map(str, raw)) or 'none'}."
        )
    if name is None:
        if len(named) == 1:
            name = next(iter(named))
        else:
            raise SpecError(
                f"spec file '{path}' holds several specs; pick one with '{path}:NAME', NAME one of: {', '.join(named)}."
            )
    if name not in named:
        raise SpecError(f"spec file '{path}' has no spec named '{name}'; it has: {', '.join(named)}.")
    spec = dict(named[name])
    spec.setdefault("name", name)
    return spec


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], value parsed as a YAML scalar/flow value)."""
    if "=" not in text:
        raise SpecError(f"--set '{text}' needs the form dotted.path=value, e.g. --set agent.optim.lr=3e-4.")
    key, value_text = text.split("=", 1)
    path = [part for part in key.strip().split(".")]
    if not key.strip() or any(not part for part in path):
        raise SpecError(f"--set '{text}': '{key}' is not a dotted path like agent.optim.lr.")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError as exc:
        raise SpecError(f"--set '{text}': the value is not valid YAML ({exc}).") from None
    # YAML 1.1 reads 3e-4 as a string; users mean the number.
    if isinstance(value, str):
        try:
            value = float(value) if re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value) else value
        except ValueError:
            pass
    return path, value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        value = plain_data(value, f"--set '{text}'")
        node: Any = raw
        for depth, part in enumerate(path[:-1]):
            if isinstance(node, list):
                node = _list_item(node, part, path[: depth + 1], text)
                continue
            if part not in node or node[part] is None:
                node[part] = {}
            if not isinstance(node[part], (dict, list)):
                dotted = ".".join(path[: depth + 1])
                raise SpecError(f"--set '{text}': '{dotted}' is a value ({node[part]!r}), not a section.")
            node = node[part]
        last = path[-1]
        if isinstance(node, list):
            index = int(last) if last.isdigit() else -1
            _list_item(node, last, path, text)
            node[index] = value
        else:
            node[last] = value
    return raw


def _list_item(node: list, part: str, path: list[str], text: str) -> Any:
    if not part.isdigit() or int(part) >= len(node):
        raise SpecError(
            f"--set '{text}': '{'.'.join(path)}' indexes a list of {len(node)} items; use an index 0..{len(node) - 1}."
        )
    return node[int(part)]


_VAR = re.compile(r"\$\{([^}]*)\}")


def substitute_vars(node: Any, variables: dict[str, Any], where: str = "") -> Any:
    """Replace `${name}` (spec vars) and `${env:NAME}` (environment) placeholders.

    A string that is exactly one placeholder takes the variable's value and type; placeholders
    inside longer strings are formatted into them.
    """
    if isinstance(node, dict):
        return {
            key: substitute_vars(value, variables, f"{where}.{key}" if where else str(key))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [substitute_vars(value, variables, f"{where}.{i}") for i, value in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def lookup(name: str) -> Any:
        name = name.strip()
        if name.startswith("env:"):
            env_name = name[4:]
            if env_name not in os.environ:
                raise SpecError(
                    f"spec field '{where}' uses ${{{name}}} but the environment variable {env_name} is not set."
                )
            return os.environ[env_name]
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none defined"
            raise SpecError(
                f"spec field '{where}' uses ${{{name}}}, which is not defined. Define it "
                f"under `vars:` or with --set vars.{name}=VALUE (defined: {known})."
            )
        return variables[name]

    whole = _VAR.fullmatch(node)
    if whole:
        return lookup(whole.group(1))
    return _VAR.sub(lambda m: str(lookup(m.group(1))), node)


def _describe_location(loc: tuple) -> str:
    parts: list[str] = []
    for index, part in enumerate(loc):
        # the discriminator tag pydantic inserts for the agent union and a pipeline stage's union
        if isinstance(part, str) and part in ALGOS and parts and (parts[-1] == "agent" or _is_stage_index(loc, index)):
            continue
        parts.append(str(part))
    return ".".join(parts) or "(top level)"


def _is_stage_index(loc: tuple, index: int) -> bool:
    """loc[index - 1] is the index of a pipeline's `stages` list."""
    return index >= 2 and isinstance(loc[index - 1], int) and loc[index - 2] == "stages"


def _short(value: Any, limit: int = 120) -> str:
    """repr of a bad value, cut short: the error stays one readable paragraph."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


def _model_at(loc: tuple) -> type[StrictModel] | None:
    """The model class that owns the field at `loc` (to list allowed keys)."""
    model: Any = Spec
    previous = None
    for index, part in enumerate(loc[:-1]):
        if previous == "agent" and isinstance(part, str) and part in ALGOS:
            model, previous = ALGOS[part].config, part
            continue
        if isinstance(part, str) and part in STAGES and _is_stage_index(loc, index):
            model, previous = STAGES[part].params, part
            continue
        if isinstance(part, int) and previous == "stages":
            previous = part  # an item of the list: the next part is its stage kind
            continue
        previous = part
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = _model_from_annotation(annotation)
    return model


def _model_from_annotation(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, StrictModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, StrictModel):
            return arg
    return None  # a union of models (agent): resolved by the tag in the next loc part


def _override_behind(where: str, message: str, overrides: list[str]) -> str | None:
    """The last `--set` that wrote the failing field, a section around it or a key inside it (or, for
    a rule across sections, a key the message names); None when the spec file alone is to blame."""
    for text in reversed(overrides):  # the last --set of a key is the one that counts
        try:
            key = ".".join(parse_override(text)[0])
        except SpecError:
            continue
        if where == "(top level)":
            if re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", message):
                return text
        elif where == key or where.startswith(f"{key}.") or key.startswith(f"{where}."):
            return text
    return None


def format_validation_error(exc: ValidationError, source: str, overrides: list[str] | None = None) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = _describe_location(loc)
        kind = err["type"]
        count = len(lines)
        if kind == "extra_forbidden":
            owner = _model_at(loc)
            allowed = ", ".join(owner.model_fields) if owner else "see `rldojo specs --fields`"
            lines.append(f"{where}: unknown key. Allowed keys here: {allowed}.")
        elif kind == "union_tag_invalid":
            lines.append(
                f"{where}.algo: {_short(err['input'].get('algo'))} is not a known algorithm. "
                f"Allowed: {_allowed_tags(err)}."
            )
        elif kind == "union_tag_not_found":
            lines.append(f"{where}.algo: missing. Say which algorithm, one of: {_allowed_tags(err)}.")
        elif kind == "missing":
            lines.append(f"{where}: required but missing.")
        elif kind == "value_error" and not loc:  # a rule across sections: the message names the keys
            lines.append(err["msg"].removeprefix("Value error, ") + ".")
        else:
            lines.append(f"{where}: {_short(err['input'])} is not allowed: {err['msg'].removeprefix('Value error, ')}.")
        culprit = _override_behind(where, lines[-1], overrides or []) if len(lines) > count else None
        if culprit is not None:
            lines[-1] = lines[-1].removesuffix(".") + f" (from --set {culprit})."
    return f"invalid spec {source}: " + " ".join(lines)


def _allowed_tags(err: dict) -> str:
    """The algorithms the union at the error's place takes (a pipeline stage takes stage kinds only)."""
    expected = (err.get("ctx") or {}).get("expected_tags")
    if isinstance(expected, str):
        return expected.replace("'", "")
    loc = tuple(err["loc"])
    return ", ".join(STAGES if _is_stage_index(loc + ("",), len(loc)) else ALGOS)


def validate_spec(raw: dict, source: str = "", overrides: list[str] | None = None) -> Spec:
    try:
        return Spec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source, overrides)) from None


def shipped_specs_dir() -> Path:
    """specs/ shipped with rldojo (inside the wheel, or the repository's own in a checkout)."""
    packaged = Path(__file__).resolve().parents[1] / "specs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "specs"


def resolve_spec_path(ref: str) -> tuple[Path, str | None]:
    """A path, `path:name`, or a shipped spec's name (`ppo_cartpole`, `classic/ppo_cartpole`)."""
    path, name = split_spec_ref(ref)
    if path.exists():
        return path, name
    root = shipped_specs_dir()
    stem = ref.removesuffix(".yaml")
    candidates = [root / f"{stem}.yaml"] + sorted(root.glob(f"*/{stem}.yaml"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate, None
    return path, name


def load_spec(ref: str, overrides: list[str] | None = None) -> Spec:
    """Read, override, substitute and validate a spec (see the module docstring)."""
    path, name = resolve_spec_path(ref)
    if not path.exists():
        raise SpecError(_missing_spec_message(ref, path))
    raw = select_spec(read_spec_file(path), path, name)
    return spec_from_raw(raw, overrides or [], source=f"'{path}'" + (f":{name}" if name else ""))


def shipped_spec_names() -> list[str]:
    """Names of the shipped specs: `classic/ppo_cartpole`, ..."""
    root = shipped_specs_dir()
    return sorted(str(path.relative_to(root).with_suffix("")) for path in root.glob("**/*.yaml"))


def did_you_mean(word: str, options: list[str]) -> str:
    """' Did you mean X?' naming the closest of `options` (and any about as close), or ''."""
    scored = sorted(((difflib.SequenceMatcher(None, word, option).ratio(), option) for option in options), reverse=True)
    if not scored or scored[0][0] < 0.6:
        return ""
    close = [option for ratio, option in scored[:3] if ratio >= scored[0][0] - 0.02]
    return f" Did you mean {' or '.join(close)}?"


def _missing_spec_message(ref: str, path: Path) -> str:
    """'does not exist', with the closest shipped spec name when the reference looks like a typo of one."""
    names = shipped_spec_names()
    stem = ref.removesuffix(".yaml")
    # A name without its folder (ppo_cartpol) is compared with the names without theirs.
    candidates = names if "/" in stem else sorted({name.rsplit("/", 1)[-1] for name in names})
    hint = did_you_mean(stem, candidates)
    return (
        f"spec file '{path}' does not exist.{hint} Give a path to a .yaml/.json spec "
        "or the name of a shipped spec (`rldojo specs` lists them)."
    )


def spec_from_raw(raw: dict, overrides: list[str], source: str = "") -> Spec:
    try:
        raw = apply_overrides(plain_data(raw, source), overrides)
        variables = raw.get("vars") or {}
        if not isinstance(variables, dict):
            raise SpecError(f"invalid spec {source}: vars must be a mapping of names to values.")
        resolved = substitute_vars({k: v for k, v in raw.items() if k != "vars"}, variables)
        resolved["vars"] = variables
        return validate_spec(resolved, source, overrides)
    except RecursionError:
        raise SpecError(_too_deep(f"spec {source}".rstrip())) from None


#: More values than any spec holds: YAML aliases can expand a small file into billions.
_MAX_SPEC_VALUES = 1_000_000


def plain_data(raw: Any, source: str = "") -> Any:
    """A copy of parsed YAML/JSON as plain data: mappings with string keys, lists, and str, int,
    float, bool or None; other YAML values (dates, bytes, sets) become their text. Refuses an alias
    cycle (a section that contains itself) and an alias bomb."""
    count = 0
    inside: set[int] = set()  # the containers being copied, to catch a cycle

    def key_text(key: Any) -> str:
        # what a JSON round trip gives: 1 -> "1", True -> "true", None -> "null"
        return (
            key if isinstance(key, str) else json.dumps(key) if isinstance(key, (int, float, type(None))) else str(key)
        )

    def copy(node: Any) -> Any:
        nonlocal count
        count += 1
        if count > _MAX_SPEC_VALUES:
            raise SpecError(
                f"invalid spec {source}: it expands to more than {_MAX_SPEC_VALUES:,} values "
                "(YAML aliases repeated inside each other?); a spec is far smaller."
            )
        if isinstance(node, (dict, list, tuple)):
            if id(node) in inside:
                raise SpecError(
                    f"invalid spec {source}: a YAML alias (*name) refers to a section that contains it, "
                    "so the spec would be infinitely deep. Point aliases at sections outside themselves."
                )
            inside.add(id(node))
            try:
                if isinstance(node, dict):
                    return {key_text(key): copy(value) for key, value in node.items()}
                return [copy(value) for value in node]
            finally:
                inside.discard(id(node))
        if node is None or isinstance(node, (str, int, float, bool)):
            return node
        return str(node)

    return copy(raw)


def spec_to_yaml(spec: Spec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)

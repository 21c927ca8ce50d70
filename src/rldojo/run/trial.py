"""Trial: `meta.sessions` sessions of one spec (seeds seed+0..n-1), run in parallel processes when
there are cores, aggregated into trial.json, curve.png and report.md in the run folder."""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import queue
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from loguru import logger

from rldojo.envs.vector.cpus import usable_cpus
from rldojo.errors import UserError
from rldojo.run import interrupt
from rldojo.run.aggregate import mean_ci
from rldojo.run.distributed import broadcast, check_data_parallel, is_main, start_data_parallel
from rldojo.run.progress import TrialProgress
from rldojo.run.report import render_report
from rldojo.run.session import Session
from rldojo.run.spec import Spec, spec_from_raw, spec_to_yaml
from rldojo.track.files import write_json_atomic
from rldojo.track.log import setup_quiet_child
from rldojo.track.plots import plot_trial_curve
from rldojo.track.tracker import read_metrics

_VERSIONED = ("rldojo", "torch", "numpy", "gymnasium", "pydantic", "scipy")


# ---- run folder ---------------------------------------------------------------------------------
def new_run_dir(spec: Spec, runs_root: Path) -> Path:
    """runs/<name>_<YYYYmmdd-HHMMSS>/, never an existing folder (a data-parallel run's main process
    makes it and tells the others)."""
    start_data_parallel()
    if not is_main():
        return Path(broadcast(None))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_root) / f"{spec.name}_{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = Path(f"{base}-{n}"), n + 1
    candidate.mkdir(parents=True)
    return Path(broadcast(str(candidate)))


def provenance(spec: Spec, command: list[str] | None) -> dict[str, Any]:
    versions = {}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "created": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(command) if command else None,
        "git_revision": _git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
        "seeds": [spec.meta.seed + i for i in range(spec.meta.sessions)],
    }


def _git_revision() -> str | None:
    source = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_spec_file(run_dir: Path, spec: Spec, command: list[str] | None) -> None:
    if not is_main():  # one writer in a data-parallel run
        return
    text = (
        "# Resolved spec of this run (after --set and ${var}); `provenance` is ignored on resume.\n"
        + spec_to_yaml(spec)
        + yaml.safe_dump({"provenance": provenance(spec, command)}, sort_keys=False)
    )
    (run_dir / "spec.yaml").write_text(text)


def read_run_spec(run_dir: Path) -> Spec:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(
            f"run folder '{run_dir}' does not exist. Give a folder made by `rldojo train` (runs/<name>_<timestamp>/)."
        )
    path = run_dir / "spec.yaml"
    if not path.is_file():
        raise UserError(f"'{run_dir}' is not an rldojo run folder: it has no spec.yaml.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"'{path}' is not valid YAML ({exc}); the run folder is damaged.") from None
    if not isinstance(raw, dict):
        raise UserError(f"'{path}' does not hold a spec; the run folder is damaged.")
    raw.pop("provenance", None)
    return spec_from_raw(raw, [], source=f"'{path}'")


# ---- running ------------------------------------------------------------------------------------
#: Optional packages by top-level module: (the rldojo extra that installs it, its pip name).
_OPTIONAL_PACKAGES: dict[str, tuple[str, str]] = {
    "wandb": ("wandb", "wandb"),
    "ray": ("ray", "ray"),
    "ale_py": ("atari", "ale-py"),
    "cv2": ("atari", "opencv-python-headless"),
    "mujoco": ("mujoco", "mujoco"),
    "transformers": ("llm", "transformers"),
    "tokenizers": ("llm", "tokenizers"),
    "peft": ("llm", "peft"),
    "minigrid": ("text", "minigrid"),
    "textworld": ("text", "textworld"),
    "scienceworld": ("text", "scienceworld"),
    "bm25s": ("text", "bm25s"),
    "datasets": ("reason", "datasets"),
}
#: Packages a world needs, by the module prefix of its gymnasium entry point.
_WORLD_PACKAGES: dict[str, tuple[str, ...]] = {
    "gymnasium.envs.mujoco": ("mujoco",),
    "rldojo.envs.text.babyai": ("minigrid",),
    "rldojo.envs.text.alfworld": ("textworld",),
    "rldojo.envs.text.sciworld": ("scienceworld",),
    "rldojo.envs.text.webshop": ("bm25s",),
}


def optional_packages_needed(spec: Spec) -> list[tuple[str, str]]:
    """(module, what in the spec needs it) for each optional package the spec asks for."""
    import gymnasium as gym

    from rldojo.algos.registry import plays_episodes
    from rldojo.envs.atari import is_atari_id

    env = spec.env
    needs = []
    if spec.track.wandb is not None:
        needs.append(("wandb", "track.wandb (Weights & Biases logging)"))
    if env.vectorize == "ray":
        needs.append(("ray", "env.vectorize: ray"))
    if is_atari_id(env.id):
        needs.append(("ale_py", f"the Atari game {env.id}"))
        if env.atari_options() is not False:
            needs.append(("cv2", "Atari preprocessing (env.atari; `atari: false` plays the raw frames)"))
    entry_point = getattr(gym.registry.get(env.id), "entry_point", None)
    if isinstance(entry_point, str):
        for prefix, modules in _WORLD_PACKAGES.items():
            if entry_point.startswith(prefix):
                needs.extend((module, f"the env {env.id}") for module in modules)
    if plays_episodes(spec.agent.algo):
        needs.extend(
            (module, f"algo {spec.agent.algo} (a language model)") for module in ("transformers", "tokenizers")
        )
        if spec.agent.model.lora is not None:
            needs.append(("peft", "agent.model.lora (LoRA adapters)"))
    return needs


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or a module without a spec
        return False


def _missing_packages_error(missing: list[tuple[str, str]]) -> UserError:
    """One paragraph: each missing package, what in the spec needs it, and the pip command."""
    wants = "; ".join(f"{_OPTIONAL_PACKAGES[module][1]} for {what}" for module, what in missing)
    extras = ",".join(dict.fromkeys(_OPTIONAL_PACKAGES[module][0] for module, _ in missing))
    return UserError(
        f"this spec needs packages that are not installed: {wants}. Install them with "
        f"pip install 'rldojo[{extras}]' (or remove what asks for them from the spec). Nothing was written."
    )


def check_optional_packages(spec: Spec) -> None:
    """Raise a UserError naming the extra to install when the spec asks for a feature whose
    package is missing (W&B, Ray, Atari, MuJoCo, text worlds, language models, LoRA)."""
    missing = [(module, what) for module, what in optional_packages_needed(spec) if not _installed(module)]
    if missing:
        raise _missing_packages_error(missing)


def _missing_module(exc: BaseException) -> str | None:
    """The optional package an ImportError (or gymnasium's DependencyNotInstalled, raised from one) is about."""
    for error in (exc, exc.__cause__, exc.__context__):
        name = getattr(error, "name", None)
        if isinstance(error, ImportError) and name:
            top = name.split(".")[0]
            return top if top in _OPTIONAL_PACKAGES else None
    return None


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in str(exc) or "out of memory" in str(exc))
    )


def preflight(spec: Spec) -> None:
    """Fail before any folder is written: optional packages the spec asks for must be installed,
    the env must build and the agent must fit its spaces (and memory)."""
    import gymnasium as gym

    from rldojo.envs import make_env
    from rldojo.run.agents import build_agent

    check_optional_packages(spec)
    try:
        env = make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps, atari=spec.env.atari_options())
    except (ImportError, gym.error.DependencyNotInstalled) as exc:
        module = _missing_module(exc)
        if module is None:
            raise
        raise _missing_packages_error([(module, f"the env {spec.env.id}")]) from None
    try:
        if spec.env.shaping is not None:
            from rldojo.envs.text import TextEnv

            if not isinstance(env.unwrapped, TextEnv):
                raise UserError(
                    f"env.shaping adds text-world bonuses (valid actions, keywords of the instruction) "
                    f"and needs a text world such as dojo/TextCraft-v0; {spec.env.id} is not one. "
                    "Remove env.shaping, or shape rewards with a gymnasium wrapper of your own env."
                )
        build_agent(spec, env.observation_space, env.action_space, spec.env.num_envs, spec.meta.seed)
    except TypeError as exc:
        raise UserError(f"{spec.agent.algo} cannot run on {spec.env.id}: {exc}") from None
    except (MemoryError, RuntimeError) as exc:
        if not _is_out_of_memory(exc):
            raise
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"the {spec.agent.algo} agent of this spec does not fit in memory ({first_line}). Lower its "
            "sizes: net widths (net.hidden, cnn_features), buffer_size, num_envs or the batch sizes."
        ) from None
    finally:
        env.close()


def finished_sessions(spec: Spec, run_dir: Path) -> int:
    """How many of the run's sessions reached their budget (result.json with status done)."""
    done = 0
    for index in range(spec.meta.sessions):
        result = Path(run_dir) / f"s{index}" / "result.json"
        if result.exists() and json.loads(result.read_text()).get("status") == "done":
            done += 1
    return done


def check_resume(spec: Spec, run_dir: Path) -> None:
    """Before resuming anything, every unfinished session's checkpoint must load: a corrupt one
    stops the resume with nothing written."""
    from rldojo.run.checkpoint import load_checkpoint

    for index in range(spec.meta.sessions):
        session_dir = Path(run_dir) / f"s{index}"
        result = session_dir / "result.json"
        if result.exists() and json.loads(result.read_text()).get("status") == "done":
            continue
        ckpt = session_dir / "ckpt" / "last.pt"
        if ckpt.exists():
            load_checkpoint(ckpt)


def run_trial(
    spec: Spec, run_dir: Path, verbose: bool = False, show_progress: bool = True, hooks: list[Any] | None = None
) -> dict[str, Any]:
    """Run (or resume) every session of the trial and aggregate them. Sessions that finished are
    kept as they are; unfinished ones resume from their last checkpoint. `hooks`: training callbacks
    (see `Recorder`); they live in this process, so the sessions then run here, one after another."""
    sessions = spec.meta.sessions
    world = start_data_parallel()[1]
    check_data_parallel(spec)
    # data parallel: every process runs each session with the others, one session after another
    workers = 1 if hooks or world > 1 else min(sessions, spec.meta.max_parallel or usable_cpus())
    if hooks and sessions > 1 and spec.meta.max_parallel != 1:
        logger.info("callbacks run in this process: the {} sessions run one after another", sessions)
    progress = TrialProgress(spec, enabled=show_progress and is_main())
    # Signal handlers can only be set from the main thread; a trial run from another thread
    # (rldojo.train in a worker thread) trains without Ctrl-C handling rather than failing.
    handles_signals = threading.current_thread() is threading.main_thread()
    if handles_signals:
        interrupt.install()
    started = time.perf_counter()
    try:
        with progress:
            if workers <= 1:
                results = []
                for i in range(sessions):
                    session = Session(spec, run_dir, i, progress.update)
                    session.hooks = hooks  # read by the session's Recorder
                    results.append(session.run())
            else:
                results = _run_parallel(spec, run_dir, workers, progress, verbose)
    finally:
        if handles_signals:
            interrupt.restore()
    trial = aggregate_trial(spec, run_dir, results, wall_s=time.perf_counter() - started) if is_main() else None
    return broadcast(trial)


_progress_queue: Any = None


def _init_worker(progress_queue: Any, verbose: bool) -> None:
    global _progress_queue
    _progress_queue = progress_queue
    setup_quiet_child(verbose)
    interrupt.install()


def _send_progress(index: int, info: dict[str, Any]) -> None:
    _progress_queue.put((index, info))


def _session_worker(spec_json: str, run_dir: str, index: int) -> dict[str, Any]:
    spec = Spec.model_validate_json(spec_json)
    return Session(spec, Path(run_dir), index, _send_progress).run()


def _run_parallel(
    spec: Spec, run_dir: Path, workers: int, progress: TrialProgress, verbose: bool
) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")  # no forked torch/thread state in the workers
    progress_queue = ctx.Queue()
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            try:
                index, info = progress_queue.get(timeout=0.1)
            except queue.Empty:
                continue
            progress.update(index, info)

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    logger.info("running {} sessions, {} at a time in separate processes", spec.meta.sessions, workers)
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(progress_queue, verbose)
        ) as pool:
            futures = [
                pool.submit(_session_worker, spec.model_dump_json(), str(run_dir), i) for i in range(spec.meta.sessions)
            ]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()
                raise failed[0].exception()
            return [f.result() for f in futures]
    finally:
        stop.set()
        pump_thread.join()


# ---- aggregation --------------------------------------------------------------------------------
_AGGREGATED = (
    "final_return_ma",
    "best_return_ma",
    "success_ma",
    "best_eval_return",
    "fps",
    "train_seconds",
    "wall_s",
    "frames",
)


def aggregate_trial(spec: Spec, run_dir: Path, results: list[dict[str, Any]], wall_s: float | None) -> dict[str, Any]:
    statuses = {r.get("status") for r in results}
    # `stopped`: a callback ended sessions early (rldojo.train); resumable like `interrupted`.
    status = "done" if statuses <= {"done"} else "stopped" if statuses <= {"done", "stopped"} else "interrupted"
    trial = {
        "name": spec.name,
        "env": spec.env.id,
        "algo": spec.agent.algo,
        "status": status,
        "run_dir": str(run_dir),
        "trial_wall_s": wall_s,
        "sessions": results,
        "aggregate": {key: mean_ci([r.get(key) for r in results]) for key in _AGGREGATED},
    }
    write_json_atomic(run_dir / "trial.json", trial)
    metrics = [read_metrics(run_dir / f"s{r['session']}" / "metrics.csv") for r in results]
    if spec.track.plots:
        plot_trial_curve(metrics, run_dir / "curve.png", f"{spec.name}: {spec.agent.algo} on {spec.env.id}")
    (run_dir / "report.md").write_text(render_report(spec, run_dir, trial))
    return trial
